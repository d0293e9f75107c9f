"""``actionbench report`` with human ratings: numbers checked against values computed by hand.

The judge (tests/plugins/judge_metric.py) says: action shown <=> the subject is the man; subject
shown <=> seed 0; Total = both. Two raters are imported from CSV:

- r1: action as the judge, except plain / cat / arms_up -> yes; subject always yes.
- r2: action as r1, except text / cat / arms_out -> yes; subject yes for seed 0 only.

Each method has 8 images (2 actions x 2 subjects x 2 seeds); the hand computations are in each test.
"""

from __future__ import annotations

import csv
import math
import re
import shutil

import pandas as pd
import pytest

from actionbench.cli import main
from actionbench.rating.store import Judgement, RatingsStore
from actionbench.rating.study import open_study
from actionbench.stats import bootstrap_ci
from rating_helpers import copy_run

HOSTILE_RATER = "r3 <script>alert(5)</script>"


def r1(image) -> tuple[str, str]:
    action = image.subject == "man" or (image.method, image.subject, image.action) == ("plain", "cat", "arms_up")
    return ("yes" if action else "no"), "yes"


def r2(image) -> tuple[str, str]:
    action = r1(image)[0] == "yes" or (image.method, image.subject, image.action) == ("text", "cat", "arms_out")
    return ("yes" if action else "no"), ("yes" if image.seed == 0 else "no")


@pytest.fixture(scope="module")
def rated(tmp_path_factory, tiny_pipeline_path):
    """The run with r1 and r2 imported (through the CLI), then reported."""
    run = copy_run(tmp_path_factory, "rating-report")
    study = open_study(run)
    rows = [{"image_id": image.id, "rater": name, "action_shown": rule(image)[0], "subject_shown": rule(image)[1]}
            for name, rule in (("r1", r1), ("r2", r2)) for image in study.images]
    source = run.parent / "ratings.csv"
    with open(source, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    assert main(["rate", str(run), "--import", str(source)]) == 0
    assert main(["report", str(run), "--no-screenshot"]) == 0
    return run


@pytest.fixture(scope="module")
def human(rated) -> pd.DataFrame:
    return pd.read_csv(rated / "human.csv", keep_default_na=False, na_values=[""])


def row(human: pd.DataFrame, method: str, question: str, judge: str | float = "") -> pd.Series:
    part = human[(human["method"] == method) & (human["question"] == question)]
    if judge:
        part = part[part["judge"] == judge]
    assert len(part) >= 1, (method, question, judge)
    return part.iloc[0]


def test_human_csv_has_a_row_per_method_question_and_judge(human):
    assert list(human.columns[:3]) == ["benchmark", "method", "question"]
    assert set(human["method"]) == {"text", "plain", "all"}
    subject_judges = set(human[(human["method"] == "all") & (human["question"] == "subject")]["judge"])
    assert subject_judges == {"is_dark", "judge_subject"}  # every binary subject score is a judge
    assert set(human[human["question"] == "total"]["judge"]) == {"judge_action & judge_subject"}
    assert set(human[human["question"] == "action"]["judge"]) == {"judge_action"}


def test_human_action_rates_with_their_bootstrap_cis(human):
    # text: man (4 images) 1, cat arms_up (2) 0, cat arms_out (2) r1 no / r2 yes -> 0.5: mean 5/8
    text = row(human, "text", "action")
    shares = [1, 1, 1, 1, 0, 0, 0.5, 0.5]
    expected = bootstrap_ci(shares)
    assert text["human_mean"] == pytest.approx(5 / 8)
    assert (text["human_ci_low"], text["human_ci_high"]) == pytest.approx((expected.low, expected.high))
    assert text["images"] == 8 and text["judgements"] == 16 and text["raters"] == 2
    # plain: man 1, cat arms_up 1 (both said yes), cat arms_out 0: mean 6/8
    assert row(human, "plain", "action")["human_mean"] == pytest.approx(6 / 8)
    assert row(human, "all", "action")["human_mean"] == pytest.approx(11 / 16)


def test_judge_agreement_accuracy_and_kappa(human):
    # text: the 2 tied images (cat arms_out) are left out; the other 6 agree with the judge:
    # accuracy 1, and kappa 1 (4 yes, 2 no on both sides)
    text = row(human, "text", "action")
    assert text["agreement_images"] == 6 and text["accuracy"] == pytest.approx(1.0) and text["kappa"] == pytest.approx(1.0)
    # plain: 8 images; the raters say yes to cat arms_up, the judge no: accuracy 6/8;
    # judge yes 4/8, humans yes 6/8: p_e = 1/2 * 3/4 + 1/2 * 1/4 = 1/2; kappa = (3/4 - 1/2) / (1/2) = 1/2
    plain = row(human, "plain", "action")
    assert plain["agreement_images"] == 8 and plain["accuracy"] == pytest.approx(0.75)
    assert plain["kappa"] == pytest.approx(0.5)
    assert plain["judge_mean"] == pytest.approx(0.5)
    # all: 14 images, 12 agree; judge yes 8/14, humans yes 10/14:
    # p_e = (8 * 10 + 6 * 4) / 196 = 104/196; kappa = (168/196 - 104/196) / (92/196) = 64/92
    pooled = row(human, "all", "action")
    assert pooled["accuracy"] == pytest.approx(12 / 14) and pooled["kappa"] == pytest.approx(64 / 92)


def test_kappa_is_undefined_where_judge_and_raters_use_one_class_only(human):
    # subject: r1 always yes, r2 yes on seed 0: seed-1 images tie and are left out; on the 4 seed-0
    # images both the judge and the majority say yes: accuracy 1, kappa undefined (p_e = 1)
    subject = row(human, "text", "subject", "judge_subject")
    assert subject["human_mean"] == pytest.approx(6 / 8)
    assert subject["agreement_images"] == 4 and subject["accuracy"] == pytest.approx(1.0)
    assert math.isnan(subject["kappa"])


def test_inter_rater_alpha(human):
    # text action: 4 x (1,1), 2 x (0,0), 2 x (0,1): o_11 = 8, o_00 = 4, o_01 = o_10 = 2; n_1 = 10, n_0 = 6
    # D_o = 4/16, D_e = 2 * 10 * 6 / (16 * 15) = 1/2: alpha = 1/2
    assert row(human, "text", "action")["alpha"] == pytest.approx(0.5)
    assert row(human, "plain", "action")["alpha"] == pytest.approx(1.0)  # the raters agree everywhere
    # all action: 10 x (1,1), 4 x (0,0), 2 x (0,1): n_1 = 22, n_0 = 10, n = 32; D_o = 4/32,
    # D_e = 440/992: alpha = 1 - 31/110 = 79/110
    assert row(human, "all", "action")["alpha"] == pytest.approx(79 / 110)
    # subject, per method: 4 x (1,1), 4 x (1,0): n_1 = 12, n_0 = 4: D_o = 8/16, D_e = 96/240: alpha = -1/4
    assert row(human, "text", "subject")["alpha"] == pytest.approx(-0.25)
    assert row(human, "all", "subject")["alpha_images"] == 16


def test_total_needs_both_answers_from_one_rater(human):
    # text: man seed 0 -> (1,1); man seed 1 -> r1 1, r2 0; cat arms_up -> 0; cat arms_out seed 0 ->
    # r1 0, r2 1; cat arms_out seed 1 -> 0: mean (2 + 1 + 0.5) / 8 = 7/16; the 3 ties are left out
    # and the 5 others agree with the judge's total (man and seed 0)
    total = row(human, "text", "total")
    assert total["human_mean"] == pytest.approx(7 / 16)
    assert total["agreement_images"] == 5 and total["accuracy"] == pytest.approx(1.0)
    assert total["kappa"] == pytest.approx(1.0)


def test_the_board_shows_the_human_section_beside_the_judge(rated):
    html = (rated / "leaderboard.html").read_text()
    assert 'id="board-human"' in html and 'id="board-agreement"' in html and 'id="board-alpha"' in html
    assert 'href="human.csv"' in html
    section = html[html.index('id="board-human"'):html.index('id="board-agreement"')]
    assert "62.5 [" in section  # text's human Action in %
    assert re.search(r"Action \(judge\)", section)


def test_report_prints_the_human_table(rated, capsys):
    assert main(["report", str(rated), "--no-screenshot"]) == 0
    out = capsys.readouterr().out
    assert "human ratings (judge on the same images; agreement with the raters' majority)" in out
    assert f"human ratings (CSV): {rated / 'human.csv'}" in out


def test_one_rater_gives_no_alpha_a_hostile_name_is_escaped_and_skips_count_nowhere(rated, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(rated, run)
    for path in (run / "ratings").glob("*.jsonl"):
        path.unlink()
    study = open_study(run)
    first, second = study.images[:2]
    RatingsStore(run).append([
        Judgement(first.id, HOSTILE_RATER, "yes", "no", "2025-01-01T00:00:00.000Z"),
        Judgement(second.id, HOSTILE_RATER, "skip", "skip", "2025-01-01T00:00:01.000Z")])
    assert main(["report", str(run), "--no-screenshot"]) == 0
    human = pd.read_csv(run / "human.csv", keep_default_na=False, na_values=[""])
    assert human["alpha"].isna().all() and (human["alpha_images"] == 0).all()
    pooled = row(human, "all", "action")
    assert pooled["images"] == 1 and pooled["judgements"] == 1 and pooled["human_mean"] == 1.0
    html = (run / "leaderboard.html").read_text()
    assert 'id="board-alpha"' not in html
    assert "r3 &lt;script&gt;alert(5)&lt;/script&gt;" in html and "<script>alert(5)" not in html


def test_ratings_of_regenerated_images_are_left_out_with_a_note(rated, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(rated, run)
    marker = run / "units" / "text" / "arms_up" / "generate.json"
    marker.write_text(marker.read_text().replace('"key": "', '"key": "changed-'))  # as a regeneration would
    capsys.readouterr()
    assert main(["report", str(run), "--no-screenshot"]) == 0
    assert ("actionbench: note: 8 human judgement(s) of images no longer in the run (regenerated since, or "
            "their method left the run) were left out") in capsys.readouterr().err
    human = pd.read_csv(run / "human.csv", keep_default_na=False, na_values=[""])
    assert row(human, "text", "action")["images"] == 4


def test_no_ratings_means_no_human_table(rated, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(rated, run)
    shutil.rmtree(run / "ratings")
    assert main(["report", str(run), "--no-screenshot"]) == 0
    assert not (run / "human.csv").exists()
    assert 'id="board-human"' not in (run / "leaderboard.html").read_text()


def test_a_damaged_ratings_file_costs_the_human_table_not_the_board(rated, tmp_path, capsys):
    run = tmp_path / "run"
    shutil.copytree(rated, run)
    with open(run / "ratings" / "r1.jsonl", "a") as handle:
        handle.write("not json\n")
    capsys.readouterr()
    assert main(["report", str(run), "--no-screenshot"]) == 0
    err = capsys.readouterr().err
    assert f"actionbench: note: human ratings left out: {run / 'ratings' / 'r1.jsonl'} line 17 is not a judgement" in err
    assert (run / "leaderboard.html").is_file() and not (run / "human.csv").exists()
