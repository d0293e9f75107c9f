"""A hostile benchmark folder, run end to end through the CLI: every name that would become a path
outside the run is refused on one line (exit 2), and nothing beside the run is written or removed.
Hostile text ($, LaTeX, HTML) in descriptions, templates and subject texts is data, not a name: the run
succeeds and the board shows it escaped.

A '$' in a *method* name is refused when the plugin registers it (below), so it never reaches the
board's plot; matplotlib's reading of '$' in other drawn strings is issue 16 item 4 (html_report.py).
"""

import hashlib
import tomllib
from pathlib import Path

import pytest
import tomli_w
from fixtures import write_action, write_benchmark

from actionbench.cli import main
from actionbench.names import NAME_RULE

PLUGIN = str(Path(__file__).parent / "plugins" / "dummy_metric.py")
RULE = NAME_RULE + "."


def snapshot(root: Path, skip: Path) -> dict[str, str]:
    """Every file and folder under ``root`` except ``skip``, with the content hash of each file."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path == skip or skip in path.parents:
            continue
        found[str(path.relative_to(root))] = (hashlib.sha256(path.read_bytes()).hexdigest()
                                              if path.is_file() and not path.is_symlink() else "folder/link")
    return found


@pytest.fixture()
def world(tmp_path):
    """A benchmark, a run folder to be, and a victim folder beside the run that must not be touched."""
    work = tmp_path / "work"
    bench = write_benchmark(work / "bench")
    victim = work / "victim"
    for name in ("artifact/keep.bin", "images/keep.png", "images.jsonl", "scores.jsonl", "keep.txt"):
        (victim / name).parent.mkdir(parents=True, exist_ok=True)
        (victim / name).write_text("precious")
    return work, bench, work / "run"


def edit_toml(path: Path, change) -> None:
    spec = tomllib.loads(path.read_text())
    change(spec)
    path.write_text(tomli_w.dumps(spec))


def run_cli(bench: Path, run: Path, *extra: str) -> list[str]:
    return ["--plugins", PLUGIN, "run", "--benchmark", str(bench), "--methods", "text", "--actions", "all",
            "--metrics", "brightness", "--out", str(run), *extra]


def refused(capsys, args: list[str], tmp_path: Path, run: Path) -> str:
    """Run the CLI, expecting one refusal line and exit 2, with nothing changed outside the run."""
    before = snapshot(tmp_path, run)
    capsys.readouterr()
    assert main(args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.count("\n") == 1 and err.startswith("actionbench: error: ")
    assert snapshot(tmp_path, run) == before
    assert not (run / "units").exists()
    return err.removeprefix("actionbench: error: ").rstrip("\n")


def set_action_name(name):
    return lambda spec: spec.update(name=name)


def test_traversal_action_name_is_refused(world, tmp_path, capsys):
    _, bench, run = world
    edit_toml(bench / "arms_up" / "action.toml", set_action_name("../../../victim"))
    assert refused(capsys, run_cli(bench, run), tmp_path, run) == (
        f"the action name '../../../victim' in {bench}/arms_up/action.toml contains a path separator or '..': {RULE}")


def test_traversal_subject_name_is_refused(world, tmp_path, capsys):
    _, bench, run = world
    edit_toml(bench / "benchmark.toml", lambda s: s["protocol"]["subjects"][0].update(name="../../../../x"))
    assert refused(capsys, run_cli(bench, run), tmp_path, run) == (
        f"the subject name '../../../../x' in {bench}/benchmark.toml contains a path separator or '..': {RULE}")


def test_traversal_in_the_benchmark_action_list_is_refused(world, tmp_path, capsys):
    _, bench, run = world
    edit_toml(bench / "benchmark.toml", lambda s: s.update(actions=["arms_up", "../victim"]))
    assert refused(capsys, run_cli(bench, run), tmp_path, run) == (
        f"the action name '../victim' in {bench}/benchmark.toml contains a path separator or '..': {RULE}")


@pytest.mark.parametrize("name, problem", [
    ("/abs", "contains a path separator or '..'"),
    ("a\\b", "contains a path separator or '..'"),
    ("x$\\write18{id}", "contains a path separator or '..'"),
    (".hidden", "is not a plain name"),
    ("<script>", "is not a plain name"),
    ("cheer up", "is not a plain name"),
    ("x" * 65, "is not a plain name"),
])
def test_names_that_are_not_plain_are_refused(name, problem, world, tmp_path, capsys):
    _, bench, run = world
    edit_toml(bench / "arms_up" / "action.toml", set_action_name(name))
    shown = repr(name)[1:-1]  # as the error shows it: escaped, cut after 60 characters
    shown = shown[:60] + "..." if len(shown) > 60 else shown
    assert refused(capsys, run_cli(bench, run), tmp_path, run) == (
        f"the action name '{shown}' in {bench}/arms_up/action.toml {problem}: {RULE}")


@pytest.mark.parametrize("name, expected", [
    ("", "the action name in {where} is empty: give a name: " + RULE),
    ("all", "the action name 'all' in {where} is reserved ('all' selects every action): choose another name."),
])
def test_empty_and_reserved_names_are_refused(name, expected, world, tmp_path, capsys):
    _, bench, run = world
    edit_toml(bench / "arms_up" / "action.toml", set_action_name(name))
    where = f"{bench}/arms_up/action.toml"
    assert refused(capsys, run_cli(bench, run), tmp_path, run) == expected.format(where=where)


def test_actions_differing_only_by_case_are_refused(world, tmp_path, capsys):
    _, bench, run = world
    write_action(bench / "Arms_Up", "arms_up", "raising both arms, again")
    edit_toml(bench / "Arms_Up" / "action.toml", set_action_name("Arms_Up"))
    edit_toml(bench / "benchmark.toml", lambda s: s.update(actions=["arms_up", "arms_out", "Arms_Up"]))
    assert refused(capsys, run_cli(bench, run), tmp_path, run) == (
        f"the actions 'arms_up' and 'Arms_Up' in {bench}/benchmark.toml differ only by case: "
        "rename one of them (action names compare case-insensitively).")


def test_subjects_differing_only_by_case_or_twice_are_refused(world, tmp_path, capsys):
    _, bench, run = world
    def subjects(spec):
        return spec["protocol"]["subjects"]

    edit_toml(bench / "benchmark.toml", lambda s: subjects(s).append({"name": "Cat", "text": "a big cat", "kind": "animal"}))
    assert refused(capsys, run_cli(bench, run), tmp_path, run) == (
        f"the subjects 'cat' and 'Cat' in {bench}/benchmark.toml differ only by case: "
        "rename one of them (subject names compare case-insensitively).")
    edit_toml(bench / "benchmark.toml", lambda s: subjects(s)[-1].update(name="cat"))
    assert refused(capsys, run_cli(bench, run), tmp_path, run) == (
        f"the subject 'cat' is listed twice in {bench}/benchmark.toml: remove one of them.")


def test_hand_edited_custom_action_with_a_traversal_name_is_refused(world, tmp_path, capsys, monkeypatch):
    _, bench, run = world
    home = tmp_path / "home"
    monkeypatch.setenv("ACTIONBENCH_HOME", str(home))
    write_action(home / "actions" / "wave", "arms_up", "waving")
    edit_toml(home / "actions" / "wave" / "action.toml", set_action_name("../../../victim"))
    assert refused(capsys, run_cli(bench, run), tmp_path, run) == (
        f"the action name '../../../victim' in {home}/actions/wave/action.toml contains a path separator "
        f"or '..': {RULE}")


def test_custom_action_differing_by_case_from_a_benchmark_action_is_refused(world, tmp_path, capsys, monkeypatch):
    _, bench, run = world
    home = tmp_path / "home"
    monkeypatch.setenv("ACTIONBENCH_HOME", str(home))
    write_action(home / "actions" / "ARMS_UP", "arms_up", "waving")
    edit_toml(home / "actions" / "ARMS_UP" / "action.toml", set_action_name("ARMS_UP"))
    assert refused(capsys, run_cli(bench, run), tmp_path, run) == (
        f"custom action(s) ARMS_UP clash with fixture's actions: rename them under {home / 'actions'}.")


@pytest.mark.parametrize("name, expected", [
    ("../evil", "the method name '../evil' in the registration of 'Evil' contains a path separator or '..': " + RULE),
    ("TEXT", ("the methods 'text' and 'TEXT' differ only by case: rename one of them "
              "(method names compare case-insensitively).")),
    ("x$y", "the method name 'x$y' in the registration of 'Evil' is not a plain name: " + RULE),
])
def test_a_plugin_registering_a_bad_method_name_is_refused(name, expected, world, tmp_path, capsys):
    _, bench, run = world
    plugin = tmp_path / f"evil_{abs(hash(name))}.py"
    plugin.write_text("from actionbench.methods import METHODS\n"
                      f"@METHODS.register({name!r})\nclass Evil:\n    pass\n")
    from actionbench.methods import METHODS

    METHODS.names()  # the built-ins are declared before the plugin loads
    args = run_cli(bench, run)
    args[1] = f"{plugin},{PLUGIN}"
    assert refused(capsys, args, tmp_path, run) == expected
    assert name not in METHODS.names()


def test_a_link_planted_in_the_run_is_refused_before_anything_is_written(world, tmp_path, capsys):
    work, bench, run = world
    (run / "units").mkdir(parents=True)
    (run / "units" / "text").symlink_to(work / "victim", target_is_directory=True)
    before = snapshot(tmp_path, run)
    assert main(run_cli(bench, run)) == 2
    err = capsys.readouterr().err
    assert err == (f"actionbench: error: {run}/units/text/arms_up leads outside the run directory {run} "
                   f"(to {work}/victim/arms_up): remove the link or name that leads there; "
                   "nothing was written or removed.\n")
    assert snapshot(tmp_path, run) == before


def test_invalidate_never_follows_a_link_out_of_the_run(tmp_path):
    from actionbench.errors import ActionBenchError
    from actionbench.store import RunStore, Unit

    victim = tmp_path / "victim"
    (victim / "artifact").mkdir(parents=True)
    (victim / "artifact" / "keep.bin").write_text("precious")
    store = RunStore(tmp_path / "run")
    (tmp_path / "run" / "units" / "m").mkdir(parents=True)
    (tmp_path / "run" / "units" / "m" / "a").symlink_to(victim, target_is_directory=True)
    with pytest.raises(ActionBenchError, match="leads outside the run directory"):
        store.invalidate(Unit("m", "a"), "train")
    unit = Unit("m", "b")
    store.unit_dir(unit).mkdir(parents=True)
    (store.unit_dir(unit) / "artifact").symlink_to(victim / "artifact", target_is_directory=True)
    store.invalidate(unit, "train")  # the link itself is removed, never what it points to
    assert not (store.unit_dir(unit) / "artifact").exists()
    assert (victim / "artifact" / "keep.bin").read_text() == "precious"


def test_hostile_text_is_data_the_run_succeeds_and_the_board_escapes_it(world, tmp_path, capsys):
    _, bench, run = world
    hostile = "$\\write18{id}$ <script>alert(1)</script> &amp; 100%"
    edit_toml(bench / "benchmark.toml", lambda s: [subject.update(text=f"{subject['text']} {hostile}")
                                                   for subject in s["protocol"]["subjects"]])

    def action_text(spec):
        spec["description"] = f"raising arms {hostile}"
        for exemplar in spec["exemplars"]:
            exemplar["template"] = f"a photo {hostile} of a person {{}}"
            exemplar["context"] = f"a person {hostile}"

    edit_toml(bench / "arms_up" / "action.toml", action_text)
    before = snapshot(tmp_path, run)
    assert main(run_cli(bench, run) + ["--actions", "arms_up"]) == 0
    assert snapshot(tmp_path, run) == before  # only the run was written
    html = (run / "leaderboard.html").read_text()
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_out_into_someone_elses_folder_is_refused_unless_forced(world, tmp_path, capsys):
    _, bench, run = world
    (run / "thesis").mkdir(parents=True)
    (run / "notes.txt").write_text("mine")
    before = snapshot(tmp_path, tmp_path / "nothing")
    capsys.readouterr()
    assert main(run_cli(bench, run, "--actions", "arms_up", "--no-report")) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: --out {run} is not empty and is not a run directory (it holds notes.txt, thesis): "
        "choose a new or empty folder, or pass --force to write the run beside those files.\n")
    assert snapshot(tmp_path, tmp_path / "nothing") == before

    assert main(run_cli(bench, run, "--actions", "arms_up", "--no-report", "--force")) == 0
    assert (run / "notes.txt").read_text() == "mine" and (run / "manifest.json").is_file()
    assert main(run_cli(bench, run, "--actions", "arms_up", "--no-report")) == 0  # now a run: it resumes


def test_out_that_is_a_file_is_refused(world, tmp_path, capsys):
    _, bench, run = world
    run.write_text("not a folder")
    assert main(run_cli(bench, run)) == 2
    assert capsys.readouterr().err == f"actionbench: error: --out {run} is a file, not a folder: choose a folder for the run.\n"
