"""The board a reader takes in at a glance: the paper's columns first, diagnostics and repeats folded,
controls greyed and never best, trade-off axes that vary, every run string drawn as plain text.

Runs are built by hand (``write_run``) with the score infos the built-in metrics declare, so the
board is laid out exactly as for a real run and every number is known.
"""

from __future__ import annotations

import dataclasses
import re
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from actionbench.metrics import METRICS
from actionbench.reports import make_report
from actionbench.reports.html_report import tradeoff_axes, tradeoff_plot
from actionbench.reports.leaderboard import OVERALL, control_methods, duplicate_scores, leaderboard, ordered_scores
from actionbench.reports.load import load_runs
from actionbench.store import RunStore
from test_report_paper import write_run

BUILTIN_METRICS = ("pose", "clip", "subject", "leakage", "judge")
METHODS = ("adi", "custom_diffusion", "dreambooth", "textual_inversion", "copy_exemplar", "blank")
CONTROLS = ("copy_exemplar", "blank")


def builtin_infos() -> dict[str, dict]:
    """scores.json as the runner writes it for the built-in metrics."""
    infos = {}
    for metric in BUILTIN_METRICS:
        for info in METRICS.get(metric).scores:
            declared = dataclasses.asdict(info)
            del declared["name"]
            infos[info.name] = {"metric": metric, **declared}
    return infos


INFOS = builtin_infos()
QUALITY = {"adi": 0.62, "custom_diffusion": 0.48, "dreambooth": 0.55, "textual_inversion": 0.40,
           "copy_exemplar": 0.95, "blank": 0.0}


def mini_like_values(method, action, subject, seed):
    """Like ActionBench-Mini today: the judge's Action is 0 for every real method (1 for the exemplar
    copy), pose OKS separates them; the judge's Subject is the subject metric's top-1, image for image."""
    rng = np.random.default_rng(zlib.crc32(f"{method}/{action}/{subject}/{seed}".encode()))
    quality = QUALITY[method]
    detected = float(method != "blank" and rng.random() < 0.8 + 0.2 * quality)
    oks = float(np.clip(quality + rng.normal(0, 0.1), 0, 1)) if detected else 0.0
    subject_right = float(method not in CONTROLS and rng.random() < 0.5 + quality / 2)
    action_right = float(method == "copy_exemplar")
    cosine = 0.2 + 0.1 * quality + rng.normal(0, 0.02)
    return {"action_correct": action_right, "subject_correct": subject_right,
            "total_correct": action_right * subject_right, "judged_by_pose": detected, "judge_threshold": 0.93,
            "pose_oks": oks, "pose_oks_detected": oks if detected else None, "pose_detected": detected,
            "clip_t": cosine, "clip_score": 100 * max(cosine, 0.0), "clip_i": 0.3 + 0.2 * quality,
            "subject_top1": subject_right, "subject_prob": 0.3 + 0.5 * subject_right,
            "leakage": 0.4 if method == "copy_exemplar" else 0.02 * quality, "context_similarity": 0.6}


def write_board_run(root: Path, methods=METHODS, controls=CONTROLS) -> Path:
    run = write_run(root, mini_like_values, methods=methods, infos=INFOS)
    store = RunStore(run)
    manifest = store.manifest()
    manifest["controls"] = list(controls)
    store.write_manifest(manifest)
    return run


@pytest.fixture(scope="module")
def board_run(tmp_path_factory) -> Path:
    return write_board_run(tmp_path_factory.mktemp("board") / "run")


@pytest.fixture(scope="module")
def html(board_run, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("report")
    make_report([board_run], out)
    return (out / "leaderboard.html").read_text()


def table_html(html: str, table_id: str) -> str:
    return re.search(f'<table class="board sortable" id="{table_id}">(.*?)</table>', html, re.S).group(1)


def header_scores(table: str) -> list[str]:
    return re.findall(r'data-score="([^"]+)"', table)


def test_the_headline_leads_with_the_papers_columns_and_folds_diagnostics_and_repeats(html):
    headline = header_scores(table_html(html, "board-overall"))
    assert headline[:3] == ["action_correct", "subject_correct", "total_correct"]
    assert headline[3:5] == ["pose_oks", "pose_oks_detected"]  # all images (no person = 0), then detected only
    folded = header_scores(table_html(html, "board-diagnostics"))
    diagnostics = {n for n, i in INFOS.items() if i["role"] == "diagnostic"}
    assert diagnostics == {"pose_detected", "judged_by_pose", "judge_threshold", "context_similarity"}
    assert set(folded) == diagnostics | {"subject_top1"} and not set(folded) & set(headline)
    assert set(headline) | set(folded) == set(INFOS)  # nothing is lost, only folded
    assert re.search(r'<details id="diagnostics">', html) and "<details id=\"diagnostics\" open" not in html
    assert "subject_top1 equals Subject on every image" in html
    # the header says what the number is: the paper's name, the score's label and its scale
    header = table_html(html, "board-overall").split("</thead>")[0]
    for text in ("Action", "Subject", "Total", "Pose OKS", "0–1, all images, no person = 0", "Pose OKS, detected",
                 "0–1, images with a person", "CLIPScore", "0–100", "CLIP-T", "cosine, −1–1"):
        assert text in header, text
    assert "torso-scaled OKS" in html  # the legend under the table, from the declared description


def test_the_duplicate_is_found_from_the_values_not_the_names(board_run, tmp_path):
    assert duplicate_scores(load_runs([board_run])) == {"subject_top1": "subject_correct"}

    def differs_once(method, action, subject, seed):
        values = mini_like_values(method, action, subject, seed)
        if (method, action, subject, seed) == ("adi", "cheer", "cat", 1):
            values["subject_top1"] = 1.0 - values["subject_top1"]
        return values

    run = write_run(tmp_path / "run", differs_once, methods=METHODS, infos=INFOS)
    assert duplicate_scores(load_runs([run])) == {}  # one image apart: both are shown
    # both are subject judgements, so neither takes the paper's name alone: each says which it is
    make_report([run], tmp_path / "report")
    header = table_html((tmp_path / "report" / "leaderboard.html").read_text(), "board-overall").split("</thead>")[0]
    assert re.search(r'data-score="subject_correct"[^>]*>Subject\s*<', header)
    assert re.search(r'data-score="subject_top1"[^>]*>Subject top-1\s*<', header)


def test_control_rows_are_grey_and_never_best(html, board_run):
    data = load_runs([board_run])
    assert control_methods(data) == set(CONTROLS)
    overall = table_html(html, "board-overall")
    rows = re.findall(r'<tr( class="control")?>\s*<td data-value="([^"]+)"', overall)
    assert {method for control, method in rows if control} == set(CONTROLS)
    assert {method for control, method in rows if not control} == set(METHODS) - set(CONTROLS)
    board = leaderboard(data)
    means = board[board["action"] == OVERALL].set_index(["method", "score"])["mean"]
    assert means[("copy_exemplar", "action_correct")] == 1.0  # the control is the top of this column...
    for control in CONTROLS:  # ...yet no control cell is marked best
        row = re.search(rf'<tr class="control">\s*<td data-value="{control}">.*?</tr>', overall, re.S).group(0)
        assert 'class="best"' not in row
    adi_row = re.search(r'<tr>\s*<td data-value="adi">.*?</tr>', overall, re.S).group(0)
    assert adi_row.count('class="best"') >= 3  # the best real method keeps its marks (pose, CLIP-I, ...)


def test_each_cell_is_the_mean_with_its_ci_beneath_and_n_on_hover(html, board_run):
    board = leaderboard(load_runs([board_run]))
    row = board[(board["action"] == OVERALL) & (board["method"] == "adi") & (board["score"] == "pose_oks")].iloc[0]
    cell = (f'<td data-value="{float(row["mean"])!r}" class="best" title="95% CI [{row["ci_low"]:.3f}, '
            f'{row["ci_high"]:.3f}], n = {row["n"]}')
    assert cell in html
    assert f'>{row["mean"]:.3f}<span class="ci">[{row["ci_low"]:.3f}, {row["ci_high"]:.3f}]</span></td>' in html


def test_tradeoff_axes_skip_a_judgement_that_is_the_same_for_every_method(board_run):
    data = load_runs([board_run])
    board = leaderboard(data)
    axes = tradeoff_axes(data, board, set(duplicate_scores(data)), control_methods(data))
    # Action is 0 for every real method (the exemplar copy's 1 does not count: it is a control)
    assert (axes.action, axes.subject) == ("pose_oks", "subject_correct")
    assert axes.note == "action_correct is the same for every method, so action fidelity is read from pose_oks"


def test_tradeoff_axes_take_the_judgement_when_it_separates_the_methods(tmp_path):
    def judged(method, action, subject, seed):
        values = mini_like_values(method, action, subject, seed)
        values["action_correct"] = float(seed < {"adi": 3, "dreambooth": 1}.get(method, 2))
        return values

    data = load_runs([write_run(tmp_path / "run", judged, methods=("adi", "dreambooth"), infos=INFOS)])
    axes = tradeoff_axes(data, leaderboard(data), set(duplicate_scores(data)))
    assert (axes.action, axes.subject, axes.note) == ("action_correct", "subject_correct", "")


def test_run_strings_are_drawn_as_plain_text_never_mathtext():
    """Issue 16: a '$' in a method name made matplotlib parse mathtext and the report die."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import mathtext

    hostile = r"evil$\write18{id}$"
    with pytest.raises(ValueError):  # what the report met: matplotlib's mathtext cannot parse it
        mathtext.MathTextParser("agg").parse(r"$\write18{id}$")
    rows = []
    for method, x, y in ((hostile, 0.5, 0.6), ("adi", 0.7, 0.4)):
        for score, mean in (("subject_correct", x), ("pose_oks", y)):
            rows.append({"method": method, "action": OVERALL, "score": score, "mean": mean, "ci_low": mean - 0.1,
                         "ci_high": mean + 0.1, "n": 3, "failures": 0, "higher_is_better": True, "kind": "continuous"})
    infos = {"pose_oks": {"description": r"costs $\frac{1}{0}$ and \$5 ^_^"},
             "subject_correct": {"description": r"$$ \badcommand{"}}
    labels = {"pose_oks": r"$x^$", "subject_correct": "Subject"}
    from actionbench.reports.html_report import TradeoffAxes

    uri = tradeoff_plot(pd.DataFrame(rows), TradeoffAxes("subject_correct", "pose_oks", ""), infos, labels,
                        controls={hostile})
    assert uri.startswith("data:image/png;base64,") and len(uri) > 1000
    assert plt.get_fignums() == []  # the figure was closed


def test_report_writes_the_board_with_tex_in_a_score_description(tmp_path):
    infos = {name: dict(info) for name, info in INFOS.items()}
    infos["pose_oks"]["description"] = r"torso-scaled $\write18{id}$ OKS"
    infos["pose_oks"]["label"] = r"Pose $\alpha"
    run = write_run(tmp_path / "run", mini_like_values, methods=("adi", "dreambooth"), infos=infos)
    paths = make_report([run], tmp_path / "out")
    text = paths.html.read_text()
    assert 'id="tradeoff"' in text and r"Pose $\alpha" in text
    assert ordered_scores(["pose_oks", "action_correct"], infos) == ["action_correct", "pose_oks"]


def test_continuous_scores_that_agree_on_a_run_stay_side_by_side(tmp_path):
    """Every image shows a person: pose OKS over all images equals the one over detected images, yet
    both are shown (they are defined apart, and the issue asks for them beside each other)."""
    def all_detected(method, action, subject, seed):
        values = mini_like_values(method, action, subject, seed)
        values.update(pose_detected=1.0, judged_by_pose=1.0, pose_oks=0.5 + 0.01 * seed, pose_oks_detected=0.5 + 0.01 * seed)
        return values

    data = load_runs([write_run(tmp_path / "run", all_detected, methods=("adi", "dreambooth"), infos=INFOS)])
    assert duplicate_scores(data) == {"subject_top1": "subject_correct"}


def test_a_score_declares_a_known_role_and_kind():
    from actionbench.metrics.base import ScoreInfo

    with pytest.raises(ValueError, match="score x: role 'diagnostics' is not one of"):
        ScoreInfo("x", "a typo", role="diagnostics")
    with pytest.raises(ValueError, match="score x: kind 'percent' is not one of continuous, binary"):
        ScoreInfo("x", "a typo", kind="percent")
    assert ScoreInfo("x", "fine", kind="binary", role="diagnostic").role == "diagnostic"
