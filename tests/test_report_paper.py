"""The board in the forms papers use: the LaTeX table, the paired comparison, the qualitative grids.

These tests build run directories by hand (``write_run``) so every score is known: no pipeline runs.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from actionbench.cli import main
from actionbench.errors import ActionBenchError
from actionbench.reports import make_report
from actionbench.reports.compare import compare_methods
from actionbench.reports.grids import action_grid, grid_file_name
from actionbench.reports.latex_report import latex_escape, latex_table
from actionbench.reports.leaderboard import leaderboard
from actionbench.reports.load import load_runs
from actionbench.stats import paired_difference
from report_helpers import INFOS, colour, write_run

# -- the paired comparison ------------------------------------------------------------------------

def known_difference(method, action, subject, seed):
    """B's clip varies a lot between images; A is B + 0.1 + small noise: a paired test sees 0.1 clearly."""
    rng = np.random.default_rng(zlib.crc32(f"{action}/{subject}/{seed}".encode()))
    base, noise = rng.normal(0.5, 0.3), rng.normal(0.0, 0.02)
    clip = base + 0.1 + noise if method == "adi" else base
    return {"clip": clip, "leak": 0.25, "judge_action": float(seed == 0 or method == "adi")}


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory) -> Path:
    # "text" has an image more than "adi" per action (owl, seed 9): unpaired, it must be left out.
    return write_run(tmp_path_factory.mktemp("compare") / "run", known_difference, seeds=range(10),
                     skip=lambda method, image_id: method == "adi" and image_id == "owl-s9-0")


def test_compare_recovers_a_known_difference(compare_run):
    data = load_runs([compare_run])
    table = compare_methods(data, "adi", "text").set_index(["action", "score"])

    clip = table.loc[("overall", "clip")]
    assert clip["n"] == 2 * 4 * 10 - 2  # two actions x four subjects x ten seeds, less the unpaired image
    assert clip["difference"] == pytest.approx(0.1, abs=0.01)
    assert clip["ci_low"] < 0.1 < clip["ci_high"] and clip["ci_low"] > 0.09
    assert clip["p_value"] < 0.01
    # The numbers are stats.paired_difference on the pairs, joined by action + image id.
    pairs = data.scores[data.scores["score"] == "clip"].pivot_table(
        index=["action", "image_id"], columns="method", values="value").dropna()
    expected = paired_difference(pairs["adi"].to_numpy(), pairs["text"].to_numpy())
    assert (clip["difference"], clip["ci_low"], clip["ci_high"], clip["p_value"]) == pytest.approx(
        (expected.difference, expected.low, expected.high, expected.p_value))

    leak = table.loc[("overall", "leak")]  # identical scores: no difference, p = 1
    assert (leak["difference"], leak["ci_low"], leak["ci_high"], leak["p_value"]) == (0.0, 0.0, 0.0, 1.0)
    assert not leak["higher_is_better"]

    action = table.loc[("cheer", "judge_action")]  # adi always 1; text only on seed 0 (4 of the 39 pairs)
    assert action["n"] == 39 and action["difference"] == pytest.approx(35 / 39)
    assert action["mean_a"] == 1.0 and action["mean_b"] == pytest.approx(4 / 39)
    assert list(table.index.get_level_values("score").unique()) == ["judge_action", "clip", "leak"]


def test_report_compare_writes_terminal_table_csv_and_html(compare_run, tmp_path, capsys):
    out = tmp_path / "board"
    assert main(["report", str(compare_run), "--out", str(out), "--compare", "adi", "text", "--no-screenshot"]) == 0
    printed = capsys.readouterr().out
    assert "Paired comparison adi vs text" in printed
    overall_clip = next(line for line in printed.splitlines() if line.startswith("overall") and " clip " in line)
    assert re.search(r"\s78\s.*\+0\.1\d\d\s+\[\+0\.\d{3}, \+0\.1\d\d\]\s+1\.0e-03$", overall_clip), overall_clip

    csv = pd.read_csv(out / "comparison.csv")
    row = csv[(csv["action"] == "overall") & (csv["score"] == "clip")].iloc[0]
    assert row["method_a"] == "adi" and row["method_b"] == "text" and row["difference"] == pytest.approx(0.1, abs=0.01)
    assert len(csv) == 3 * 3  # three scores x (overall + two actions)

    html = (out / "leaderboard.html").read_text()
    assert "Paired comparison: adi &minus; text" in html
    section = html[html.index('id="board-comparison"'):]
    assert "<td>+89.7</td>" in section  # judge_action on cheer, in percentage points (35/39)
    assert 'href="comparison.csv"' in html


@pytest.mark.parametrize("pair, message", [
    (("adi", "dreambooth"), "method 'dreambooth' is not on this board (methods: adi, text): "
                            "pass two of the listed methods to --compare."),
    (("adi", "adi"), "--compare needs two different methods (got 'adi' twice): pass two different method names."),
])
def test_report_compare_bad_names(compare_run, tmp_path, capsys, pair, message):
    out = tmp_path / "board"
    assert main(["report", str(compare_run), "--out", str(out), "--compare", *pair, "--no-screenshot"]) == 2
    assert capsys.readouterr().err == f"actionbench: error: {message}\n"
    assert not out.exists()  # nothing half-written


def test_compare_methods_without_shared_images(tmp_path):
    run = write_run(tmp_path / "run", known_difference, seeds=range(2),
                    skip=lambda method, image_id: method == "adi" and image_id.startswith(("man", "cat")) or
                    method == "text" and image_id.startswith(("dog", "owl")))
    with pytest.raises(ActionBenchError) as error:
        compare_methods(load_runs([run]), "adi", "text")
    assert str(error.value) == ("methods 'adi' and 'text' share no images (same action, subject, seed and index): "
                                "compare methods run on the same actions with the same protocol and seeds.")


# -- the LaTeX table ------------------------------------------------------------------------------

HOSTILE = 'x_1 & 50% $y$ #2 ~ ^ \\ {z} <a> | "q"'
PAPER_MEANS = {  # method -> (action, subject, total, clip, leak) for every image
    "adi": (1.0, 0.0, 1.0, 0.30, 0.50),
    "plain": (0.0, 1.0, 0.0, 0.20, 0.10),
    "text": (0.0, 1.0, 0.0, 0.40, 0.90),
}


def paper_values(method, action, subject, seed):
    action_ok, subject_ok, total, clip, leak = PAPER_MEANS[method]
    jitter = 0.01 * seed  # CIs of positive width
    return {"judge_action": action_ok, "judge_subject": subject_ok, "judge_total": total, "clip": clip + jitter,
            "leak": leak + jitter}


@pytest.fixture(scope="module")
def paper_run(tmp_path_factory) -> Path:
    return write_run(tmp_path_factory.mktemp("paper") / "run", paper_values, methods=("adi", "plain", "text"),
                     benchmark=(HOSTILE, "v1"))


def test_latex_escape_every_special_character():
    assert latex_escape(HOSTILE) == (r"x\_1 \& 50\% \$y\$ \#2 \textasciitilde{} \textasciicircum{} \textbackslash{} "
                                     r'\{z\} \textless{}a\textgreater{} \textbar{} "q"')
    assert latex_escape("two\nlines") == "two lines"


def test_latex_table_in_the_papers_layout(paper_run):
    data = load_runs([paper_run])
    tex = latex_table(leaderboard(data), data)
    lines = tex.splitlines()
    assert r"\begin{tabular}{lrrrrr}" in lines and lines.count(r"\toprule") == 1 and lines.count(r"\bottomrule") == 1
    header = lines[lines.index(r"\toprule") + 1]
    assert header == (r"Method & Action (\%) $\uparrow$ & Subject (\%) $\uparrow$ & Total (\%) $\uparrow$ & "
                      r"clip $\uparrow$ & leak $\downarrow$ \\")
    body = lines[lines.index(r"\midrule") + 1:lines.index(r"\bottomrule")]
    rows = {line.split(" & ")[0]: line.removesuffix(r" \\").split(" & ")[1:] for line in body}
    assert list(rows) == ["adi", "plain", "text"]
    # clip 0.30 + 0.01 * seed over seeds 0-2 has mean 0.31; binary judgements in %.
    assert rows["adi"][0] == r"\textbf{100.0}\,{\scriptsize[100.0, 100.0]}"
    assert rows["adi"][3].startswith(r"0.310\,{\scriptsize[0.30")
    bold = {method: [i for i, cell in enumerate(cells) if cell.startswith(r"\textbf")] for method, cells in rows.items()}
    # Best per column: adi on Action and Total; plain and text tie on Subject; text on clip; plain on leak
    # (lower is better).
    assert bold == {"adi": [0, 2], "plain": [1, 4], "text": [1, 3]}
    assert latex_escape(HOSTILE) in tex and HOSTILE not in tex


def test_latex_sets_controls_and_unfinished_rows_apart_and_never_bold(tmp_path):
    """As on the HTML board: a control (here `plain`, Subject 100 and the lowest leak) sits below a
    rule in italics and is never bold, a method over fewer actions than the others (`text`, whose
    cheer was not scored) carries a dagger the caption explains and is never bold, and diagnostics
    stay in the CSV."""
    infos = {**INFOS, "threshold": {"metric": "judge", "description": "the judge's threshold",
                                    "higher_is_better": True, "kind": "continuous", "role": "diagnostic"}}
    run = write_run(tmp_path / "run", lambda *a: {**paper_values(*a), "threshold": 0.8},
                    methods=("adi", "plain", "text"), infos=infos, manifest={"controls": ["plain"]})
    for name in ("score.json", "scores.jsonl"):
        (run / "units" / "text" / "cheer" / name).unlink()
    data = load_runs([run])
    lines = latex_table(leaderboard(data), data).splitlines()
    assert "Judge threshold" not in lines[lines.index(r"\toprule") + 1] and "threshold" not in "".join(lines)
    body = lines[lines.index(r"\toprule") + 2:lines.index(r"\bottomrule")]
    assert [line.split(" & ")[0] for line in body] == [r"\midrule", "adi", r"text$^\dagger$", r"\midrule",
                                                       r"\textit{plain}"]
    rows = {line.split(" & ")[0]: line.removesuffix(r" \\").split(" & ")[1:] for line in body}
    assert rows[r"\textit{plain}"][1] == r"\textit{100.0\,{\scriptsize[100.0, 100.0]}}"
    assert not any(r"\textbf" in cell for cell in rows[r"\textit{plain}"] + rows[r"text$^\dagger$"])
    assert [i for i, cell in enumerate(rows["adi"]) if cell.startswith(r"\textbf")] == [0, 1, 2, 3, 4]
    caption = next(line for line in lines if line.startswith(r"\caption"))
    assert "Below the rule, in italics: controls" in caption
    assert r"$^\dagger$Not finished: text over 1 of 2 actions" in caption


def test_method_names_are_escaped(tmp_path):
    run = write_run(tmp_path / "run", lambda *a: {"clip": 0.5}, methods=("dream_booth&co#1",), infos={"clip": INFOS["clip"]})
    data = load_runs([run])
    tex = latex_table(leaderboard(data), data)
    assert r"dream\_booth\&co\#1 & \textbf{0.500}" in tex


def latex_engine() -> str:
    engine = shutil.which("pdflatex")
    if engine is None:
        if os.environ.get("ACTIONBENCH_REQUIRE_LATEX"):
            pytest.fail("ACTIONBENCH_REQUIRE_LATEX is set but pdflatex is absent (apt-get install texlive-latex-base "
                        "texlive-latex-recommended)")
        pytest.skip("no LaTeX engine: pdflatex is absent (Debian: apt-get install texlive-latex-base "
                    "texlive-latex-recommended)")
    return engine


def test_report_latex_compiles(paper_run, tmp_path, capsys):
    engine = latex_engine()
    out = tmp_path / "board"
    assert main(["report", str(paper_run), "--out", str(out), "--latex", "--no-screenshot"]) == 0
    assert f"LaTeX table: {out / 'leaderboard.tex'}" in capsys.readouterr().out
    (out / "paper.tex").write_text("\\documentclass{article}\n\\usepackage{booktabs}\n\\begin{document}\n"
                                   "\\input{leaderboard.tex}\n\\end{document}\n")
    result = subprocess.run([engine, "-interaction=nonstopmode", "-halt-on-error", "paper.tex"], cwd=out,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout[-2000:]
    assert (out / "paper.pdf").stat().st_size > 1000
    log = (out / "paper.log").read_text(errors="replace")
    assert "Missing character" not in log and "Undefined control sequence" not in log


# -- the qualitative grids and the board's links --------------------------------------------------

def test_grid_has_methods_as_rows_and_subjects_as_columns(paper_run):
    data = load_runs([paper_run])
    images = data.images[data.images["action"] == "cheer"]
    grid = action_grid(images, "cheer: doing a cheer")
    assert grid.methods == ["adi", "plain", "text"]
    assert grid.subjects == ["man", "cat", "dog", "owl"]  # the protocol's order, not sorted
    pixels = np.asarray(grid.image)
    for (method, subject), (left, top, right, bottom) in grid.boxes.items():
        cell = pixels[top:bottom, left:right].reshape(-1, 3)
        assert (cell == colour(method, subject)).all(), (method, subject)
    lefts = sorted({box[0] for box in grid.boxes.values()})
    tops = sorted({box[1] for box in grid.boxes.values()})
    assert len(lefts) == 4 and len(tops) == 3  # four columns, three rows
    assert all(grid.boxes[(m, s)][1] == tops[grid.methods.index(m)] for m, s in grid.boxes)
    assert grid.cell_px == 128  # 32 px images are enlarged to stay readable
    assert grid.image.width > lefts[-1] + 128 and grid.image.height > tops[-1] + 128


def test_grids_are_written_and_linked_from_the_board(paper_run, tmp_path):
    paths = make_report([paper_run], tmp_path / "board")
    assert sorted(paths.grids) == ["cheer", "salute"]
    html = paths.html.read_text()
    for action, path in paths.grids.items():
        assert path == tmp_path / "board" / "grids" / f"{action}.png"
        assert Image.open(path).size[1] > 3 * 128
        assert f'href="grids/{action}.png"' in html  # relative: the folder can be moved or zipped
    assert paths.tex is None and paths.comparison_csv is None and paths.screenshot is None
    # Everything but those links is embedded: no src or href points at a file.
    sources = re.findall(r'(?:src|href)="([^"]*)"', html)
    assert sources and all(s.startswith(("data:image/png;base64,", "grids/")) or s == "leaderboard.csv" for s in sources)


def test_grid_file_names_are_portable():
    assert grid_file_name("cheer") == "cheer.png"
    odd = grid_file_name("../a b/c")
    assert re.fullmatch(r"___a_b_c-[0-9a-f]{8}\.png", odd) and odd != grid_file_name("../a b?c")


def test_report_without_a_browser_notes_the_missing_screenshot(paper_run, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ACTIONBENCH_CHROMIUM", str(tmp_path / "no-chromium"))
    out = tmp_path / "board"
    assert main(["report", str(paper_run), "--out", str(out), "--no-screenshot"]) == 0  # an older board
    (out / "leaderboard.png").write_bytes(b"an older screenshot")
    capsys.readouterr()
    assert main(["report", str(paper_run), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.err == (f"actionbench: note: no screenshot (leaderboard.png): no chromium at "
                            f"{tmp_path / 'no-chromium'} (Debian: apt-get install chromium, as root)\n")
    assert (out / "leaderboard.html").is_file() and not (out / "leaderboard.png").exists()


def test_small_images_are_enlarged_in_whole_pixel_blocks_never_smoothed():
    from actionbench.reports.grids import fit, to_box
    from actionbench.reports.html_report import THUMBNAIL_PX, thumbnail

    checker = np.indices((32, 32)).sum(axis=0) % 2  # every neighbouring pixel differs: smoothing would blur it
    small = Image.fromarray((checker[..., None] * np.array([250, 10, 10]) + 5).astype(np.uint8))
    big = np.asarray(to_box(small, 128))
    assert big.shape == (128, 128, 3)
    assert np.array_equal(big, np.asarray(small).repeat(4, axis=0).repeat(4, axis=1))  # each pixel a 4x4 block
    odd = np.asarray(fit(small, 150))  # 150 // 32 = 4: a 128 px image centred in the cell, still blocks
    assert np.array_equal(odd[11:139, 11:139], big)
    photo = Image.new("RGB", (512, 384), (1, 2, 3))
    assert to_box(photo, 256).size == (256, 192)  # larger images are shrunk, aspect kept

    import base64
    import io
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        small.save(f"{folder}/x.png")
        data = base64.b64decode(thumbnail(f"{folder}/x.png").split(",", 1)[1])
    shown = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    factor = THUMBNAIL_PX // 32
    assert np.array_equal(shown, np.asarray(small).repeat(factor, axis=0).repeat(factor, axis=1))


def test_pages_ask_the_browser_for_pixelated_upscaling():
    from pathlib import Path

    import actionbench.rating
    import actionbench.reports

    page_css = (Path(actionbench.rating.__file__).parent / "page.css").read_text()
    assert re.search(r"#image \{[^}]*image-rendering: pixelated", page_css)
    assert re.search(r"img\.exemplar \{[^}]*image-rendering: pixelated", page_css)
    board = (Path(actionbench.reports.__file__).parent / "leaderboard.html.j2").read_text()
    assert re.search(r"\.thumbs img \{[^}]*image-rendering: pixelated", board)
