"""A run directory accumulates: methods and actions run one invocation at a time give one board.

Every unit of a run shares its run-wide settings (seeds, metrics, scorers, base model, benchmark);
an invocation's manifest keeps the units of earlier ones while those hold and the unit's own
settings (its method's config, its action's data) were not replaced (`actionbench/carry.py`). A
unit whose settings the manifest no longer holds stays in the directory and off the board, named.
"""

from __future__ import annotations

import pandas as pd
from test_cli_e2e import PLUGIN

from actionbench.cli import main
from actionbench.reports.load import load_runs
from actionbench.store import RunStore


def run(benchmark, out, methods, actions, *extra):
    return main(["--plugins", PLUGIN, "run", "--benchmark", str(benchmark), "--methods", methods, "--actions",
                 actions, "--metrics", "brightness", "--seeds", "0", "--set", "text.num_inference_steps=4",
                 "--set", "plain.num_inference_steps=4", "--no-report", "--out", str(out), *extra])


def board_cells(out) -> set[tuple[str, str]]:
    board = pd.read_csv(out / "leaderboard.csv")
    return set(zip(board["method"], board["action"]))


def test_methods_and_actions_run_one_at_a_time_give_one_board(fixture_benchmark, tmp_path):
    out = tmp_path / "run"
    assert run(fixture_benchmark, out, "text", "arms_up") == 0
    assert run(fixture_benchmark, out, "text", "arms_out") == 0
    assert run(fixture_benchmark, out, "plain", "all") == 0
    manifest = RunStore(out).manifest()
    assert sorted(manifest["methods"]) == ["plain", "text"] and sorted(manifest["benchmark"]["actions"]) == [
        "arms_out", "arms_up"]
    data = load_runs([out])
    assert data.unfinished == [] and data.not_named == []
    assert main(["report", str(out), "--no-screenshot"]) == 0
    assert board_cells(out) >= {(m, a) for m in ("text", "plain") for a in ("arms_up", "arms_out", "overall")}


def test_a_method_rerun_with_other_settings_on_one_action_leaves_its_other_actions_off(fixture_benchmark,
                                                                                      tmp_path, capsys):
    """text at guidance 3 on arms_up beside text at the default on arms_out would be one 'text' row
    of two settings; the manifest now holds guidance 3, so arms_out is left off, named."""
    out = tmp_path / "run"
    assert run(fixture_benchmark, out, "text", "all") == 0
    assert run(fixture_benchmark, out, "text", "arms_up", "--set", "text.guidance_scale=3.0", "--replace") == 0
    data = load_runs([out])
    assert [(u.method, u.action, u.reason) for u in data.unfinished] == [
        ("text", "arms_out", "made under settings the run no longer holds (a later 'run' changed them)")]
    assert set(data.scores["action"]) == {"arms_up"} and data.incomplete_methods() == {"text": (1, 2)}
    assert main(["generate", str(out), "--method", "text", "--action", "arms_out", "--prompt", "a {action}"]) == 2
    assert "text/arms_out in run" in capsys.readouterr().err  # not drawn under settings it never had
    capsys.readouterr()
    assert run(fixture_benchmark, out, "text", "arms_out", "--set", "text.guidance_scale=3.0") == 2
    assert ("would discard: the images of text (1 unit); 1 of them made under settings the run no longer holds: "
            "pass --out") in capsys.readouterr().err  # images still on disk, not on the board: kept unless told
    assert run(fixture_benchmark, out, "text", "arms_out", "--set", "text.guidance_scale=3.0", "--replace") == 0
    assert load_runs([out]).unfinished == []


def test_a_run_wide_change_keeps_only_the_methods_it_ran(fixture_benchmark, tmp_path, capsys):
    out = tmp_path / "run"
    assert run(fixture_benchmark, out, "text", "all") == 0
    assert run(fixture_benchmark, out, "plain", "all", "--seeds", "0,1") == 0  # other seeds: other images
    data = load_runs([out])
    assert set(data.scores["method"]) == {"plain"} and data.not_named == ["text"]
