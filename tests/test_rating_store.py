"""The rating study (blind ids, sampling, order) and the ratings store (durable lines, concurrency, CSV)."""

from __future__ import annotations

import csv
import errno
import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest

from actionbench.cli import main
from actionbench.errors import ActionBenchError
from actionbench.rating.csvio import export_ratings, import_ratings
from actionbench.rating.store import Judgement, NotSaved, RatingsStore, check_rater, rater_file_name
from actionbench.rating.study import load_study, open_study, ratings_dir
from rating_helpers import METHODS, N_IMAGES, copy_run


@pytest.fixture(scope="module")
def run(tmp_path_factory, tiny_pipeline_path):
    return copy_run(tmp_path_factory, "rating-store")


@pytest.fixture()
def fresh(run, tmp_path):
    """A copy of the run without any study or ratings."""
    target = tmp_path / "run"
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("ratings"))
    return target


def judgement(image: str, rater: str = "ana", action: str = "yes", subject: str = "no") -> Judgement:
    return Judgement(image=image, rater=rater, action=action, subject=subject, time="2025-01-01T00:00:00.000Z")


def test_a_study_covers_every_image_under_blind_ids(fresh):
    study = open_study(fresh)
    assert len(study.images) == N_IMAGES
    assert {i.method for i in study.images} == set(METHODS)
    for image in study.images:
        assert re.fullmatch(r"[0-9a-f]{12}", image.id)
        assert image.image_id not in image.id and image.method not in image.id
    assert len(set(study.ids)) == N_IMAGES
    again = load_study(fresh)
    assert again.ids == study.ids  # the salt is recorded: ids are stable across launches
    other = open_study(shutil.copytree(fresh, fresh.parent / "other", ignore=shutil.ignore_patterns("ratings")))
    assert set(other.ids).isdisjoint(study.ids)  # another study, another salt


def test_images_of_a_unit_the_last_run_left_stale_are_not_rated(fresh):
    """A run whose last invocation changed text's generation settings and stopped before it reached
    text on arms_up: those images are not what the run now asks for, and no rater sees them."""
    manifest = json.loads((fresh / "manifest.json").read_text())
    manifest["stage_keys"]["text/arms_up"]["generate"] = "the key of the new settings"
    (fresh / "manifest.json").write_text(json.dumps(manifest))
    study = open_study(fresh)
    assert len(study.images) == N_IMAGES - 4  # 2 subjects x 2 seeds of text on arms_up left out
    assert ("text", "arms_up") not in {(i.method, i.action) for i in study.images}


def test_per_cell_sampling_is_even_paired_and_recorded(fresh):
    study = open_study(fresh, per_cell=1, seed=7)
    cells = [i.cell for i in study.images]
    assert len(cells) == len(set(cells)) == N_IMAGES // 2  # one image in each of 8 cells
    picked = {(i.method, i.action, i.subject): i.seed for i in study.images}
    for (method, action, subject), seed in picked.items():
        assert picked[(METHODS[0], action, subject)] == seed  # the same seed for every method: paired
    settings = json.loads((ratings_dir(fresh) / "study.json").read_text())
    assert settings["per_cell"] == 1 and settings["seed"] == 7 and len(settings["sample"]) == 8
    assert load_study(fresh).ids == study.ids
    with pytest.raises(ActionBenchError) as error:
        open_study(fresh, per_cell=2)
    assert str(error.value) == (
        f"this run's rating study was drawn with --per-cell 1 and --seed 7, not --per-cell 2: leave out "
        f"--per-cell to continue it, or move {ratings_dir(fresh)} away to start a new study.")


def test_more_per_cell_than_there_are_images_takes_them_all(fresh):
    assert len(open_study(fresh, per_cell=5).images) == N_IMAGES


def test_each_rater_gets_a_fixed_shuffled_order(fresh):
    study = open_study(fresh)
    assert study.order("ana") == study.order("ana")
    assert sorted(study.order("ana")) == sorted(study.ids)
    assert study.order("ana") != study.order("bob")
    assert study.order("ana") != sorted(study.ids)


def test_bad_settings_and_a_run_without_images(fresh, tmp_path):
    with pytest.raises(ActionBenchError) as error:
        open_study(fresh, per_cell=0)
    assert str(error.value) == ("--per-cell must be at least 1 (got 0): pass the number of images to rate per "
                                "method x action x subject.")
    empty = tmp_path / "empty"
    shutil.copytree(fresh, empty, ignore=shutil.ignore_patterns("units"))
    with pytest.raises(ActionBenchError) as error:
        open_study(empty)
    assert str(error.value) == (f"{empty} has no generated images to rate: run 'actionbench run' until at least "
                                f"one unit has generated.")
    with pytest.raises(ActionBenchError, match="is not a run directory"):
        open_study(tmp_path / "nowhere")


def test_lines_are_appended_whole_and_the_latest_judgement_wins(fresh):
    store = RatingsStore(fresh)
    store.append([judgement("a1"), judgement("a2")])
    store.append([judgement("a1", action="no")])
    lines = store.path("ana").read_text().splitlines()
    assert [json.loads(line)["image"] for line in lines] == ["a1", "a2", "a1"]
    assert json.loads(lines[0]) == {"image": "a1", "rater": "ana", "answers": {"action": "yes", "subject": "no"},
                                    "time": "2025-01-01T00:00:00.000Z", "source": "page"}
    assert store.latest()[("ana", "a1")].action == "no"


def test_a_line_cut_short_by_a_kill_is_ignored_and_moved_aside_not_deleted(fresh):
    store = RatingsStore(fresh)
    store.append([judgement("a1")])
    torn = '{"image": "a2", "rater": "ana", "answ'
    with open(store.path("ana"), "a") as handle:
        handle.write(torn)  # a write the kill interrupted
    assert [j.image for j in store.judgements()] == ["a1"]
    store.append([judgement("a3")])
    assert [j.image for j in store.judgements()] == ["a1", "a3"]
    assert store.path("ana").read_text().count("\n") == 2
    assert (store.folder / "ana.jsonl.torn").read_text() == torn + "\n"  # its bytes are kept, beside the file


def test_a_last_judgement_without_its_newline_is_read_and_kept(fresh):
    """A whole judgement whose newline is missing (a file edited by hand, or copied) was ignored when read
    and deleted at the next append."""
    store = RatingsStore(fresh)
    store.append([judgement("a1"), judgement("a2", action="no")])
    path = store.path("ana")
    path.write_text(path.read_text().rstrip("\n"))
    assert [j.image for j in store.judgements()] == ["a1", "a2"]
    assert store.latest()[("ana", "a2")].action == "no"
    store.append([judgement("a3")])
    assert [j.image for j in store.judgements()] == ["a1", "a2", "a3"]
    assert path.read_text().count("\n") == 3 and not (store.folder / "ana.jsonl.torn").exists()


def test_the_judgement_with_the_latest_time_wins_not_the_last_line(fresh):
    store = RatingsStore(fresh)
    newer = Judgement(image="a1", rater="ana", action="yes", subject="yes", time="2025-02-01T00:00:00.000Z")
    older = Judgement(image="a1", rater="ana", action="no", subject="no", time="2025-01-01T00:00:00.000Z")
    store.append([newer])
    store.append([older])  # appended later, given earlier (an older export imported again)
    assert store.latest()[("ana", "a1")] == newer
    tie = Judgement(image="a1", rater="ana", action="skip", subject="no", time="2025-02-01T01:00:00+01:00")
    store.append([tie])  # the same moment as ``newer``: the later line wins
    assert store.latest()[("ana", "a1")] == tie


def test_a_failed_append_undoes_every_file_it_wrote(fresh, monkeypatch):
    """A disk that fills up between two raters' files: the first file is cut back, the second not left."""
    store = RatingsStore(fresh)
    store.append([judgement("a1")])
    before = store.path("ana").read_bytes()
    real_write, calls = os.write, []

    def write(handle: int, data: bytes) -> int:
        calls.append(handle)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(handle, data)

    monkeypatch.setattr(os, "write", write)
    with pytest.raises(NotSaved) as error:
        store.append([judgement("a2", rater="ana"), judgement("a2", rater="bob")])
    monkeypatch.undo()
    assert re.fullmatch(rf"out of space writing {re.escape(str(store.path('bob')))} \(No space left on device; "
                        rf".* free\): nothing was saved: free space or make it a writable file, then try again\.",
                        str(error.value))
    assert store.path("ana").read_bytes() == before and not store.path("bob").exists()


def test_a_corrupt_line_in_the_middle_is_an_error(fresh):
    store = RatingsStore(fresh)
    store.append([judgement("a1")])
    with open(store.path("ana"), "a") as handle:
        handle.write("garbage\n")
    with pytest.raises(ActionBenchError, match=r"ana.jsonl line 2 is not a judgement .*: repair or remove that line"):
        store.judgements()


def test_two_raters_writing_at_once_lose_no_line(fresh):
    store = RatingsStore(fresh)
    per_thread = 60

    def rate(rater: str, part: int) -> None:
        for n in range(per_thread):
            RatingsStore(fresh).append([judgement(f"{part}-{n}", rater=rater)])

    threads = [threading.Thread(target=rate, args=(rater, part)) for part, rater in enumerate(["ana", "bob", "ana"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    judgements = store.judgements()
    assert len(judgements) == 3 * per_thread
    assert sum(j.rater == "ana" for j in judgements) == 2 * per_thread
    for path in (store.path("ana"), store.path("bob")):
        for line in path.read_text().splitlines():
            json.loads(line)  # every line whole


def test_any_rater_name_gets_a_safe_file_name():
    assert rater_file_name("ana") == "ana.jsonl"
    hostile = "../../etc/passwd <script>"
    name = rater_file_name(hostile)
    assert re.fullmatch(r"[A-Za-z0-9_]+-[0-9a-f]{8}\.jsonl", name) and "/" not in name
    assert rater_file_name("Ana Lopez") != rater_file_name("Ana_Lopez")
    with pytest.raises(ActionBenchError) as error:
        check_rater("  ")
    assert str(error.value) == ("no rater name given: pass --rater NAME (or add ?rater=NAME to the page's "
                                "address).")
    with pytest.raises(ActionBenchError, match="^the rater name holds control characters: use printable text only"):
        check_rater("ana\nbob")


def write_csv(path, rows, columns=("image_id", "rater", "action_shown", "subject_shown")):
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(columns)
        writer.writerows(rows)
    return path


def test_import_accepts_common_spellings_and_export_round_trips(fresh, tmp_path):
    study = open_study(fresh)
    first, second = study.ids[:2]
    source = write_csv(tmp_path / "in.csv", [(first, "ana", "Yes", "0"), (second, "", "n", "")],)
    with pytest.raises(ActionBenchError, match="in.csv has 1 bad row"):
        import_ratings(study, source)  # the second row has no rater
    assert RatingsStore(fresh).judgements() == []  # all or nothing
    imported = import_ratings(study, source, rater="bob").added
    assert [(j.image, j.rater, j.action, j.subject, j.source) for j in imported] == [
        (first, "ana", "yes", "no", "import:in.csv"), (second, "bob", "no", "skip", "import:in.csv")]
    exported = tmp_path / "out.csv"
    assert export_ratings(study, exported) == (2, 0)
    with open(exported) as handle:
        rows = list(csv.DictReader(handle))
    by_id = {i.id: i for i in study.images}
    assert {(r["image_id"], r["method"], r["action"], r["subject"]) for r in rows} == {
        (i, by_id[i].method, by_id[i].action, by_id[i].subject) for i in (first, second)}
    again = tmp_path / "again"
    shutil.copytree(fresh, again)
    for path in (again / "ratings").glob("*.jsonl"):
        path.unlink()
    import_ratings(load_study(again), exported)  # an export imports back unchanged
    assert {(j.image, j.rater, j.action, j.subject) for j in RatingsStore(again).judgements()} == {
        (j.image, j.rater, j.action, j.subject) for j in imported}


def test_import_names_every_bad_row_on_its_own_line(fresh, tmp_path, capsys):
    study = open_study(fresh)
    good = study.ids[0]
    source = write_csv(tmp_path / "ratings.csv", [(good, "ana", "yes", "no"), ("feedbeef0000", "ana", "yes", "no"),
                                                  (good, "ana", "maybe", "no"), (good, "", "yes", "perhaps")])
    assert main(["rate", str(fresh), "--import", str(source)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "actionbench: ratings.csv line 3: unknown image_id 'feedbeef0000' (not an image of this run)",
        "actionbench: ratings.csv line 4: action_shown 'maybe' is not yes, no or skip",
        "actionbench: ratings.csv line 5: subject_shown 'perhaps' is not yes, no or skip",
        "actionbench: ratings.csv line 5: no rater name given: pass --rater NAME (or add ?rater=NAME to the "
        "page's address).",
        f"actionbench: error: {source} has 3 bad row(s), listed above; nothing was imported: fix them and import "
        f"again.",
    ]
    assert RatingsStore(fresh).judgements() == []


def test_import_refuses_files_it_cannot_use(fresh, tmp_path, capsys):
    no_study = tmp_path / "no-study"
    shutil.copytree(fresh, no_study)
    source = write_csv(tmp_path / "r.csv", [("x", "ana", "yes", "no")])
    assert main(["rate", str(no_study), "--import", str(source)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"actionbench: error: {no_study} has no rating study yet (no {no_study / 'ratings' / 'study.json'}): rate "
        f"with 'actionbench rate {no_study}' or export one with --export-study FOLDER.")
    open_study(fresh)
    columns = write_csv(tmp_path / "c.csv", [("x", "yes")], columns=("image", "action"))
    assert main(["rate", str(fresh), "--import", str(columns)]) == 2
    assert capsys.readouterr().err.strip() == (
        f"actionbench: error: {columns} lacks the column(s) image_id, action_shown, subject_shown: give it a "
        f"header row with image_id, action_shown, subject_shown and rater.")
    assert main(["rate", str(fresh), "--import", str(tmp_path / "absent.csv")]) == 2
    assert capsys.readouterr().err.strip() == (
        f"actionbench: error: {tmp_path / 'absent.csv'} does not exist: pass the CSV file of ratings to import.")


TIMED = ("image_id", "rater", "action_shown", "subject_shown", "time")


def test_an_older_export_imported_again_does_not_override_newer_answers(fresh, tmp_path, capsys):
    study = open_study(fresh)
    ids = study.ids[:3]
    new = write_csv(tmp_path / "new.csv", [(i, "ana", "yes", "yes", "2025-02-01T00:00:00Z") for i in ids], TIMED)
    old = write_csv(tmp_path / "old.csv", [(i, "ana", "no", "no", "2025-01-01 00:00") for i in ids], TIMED)
    assert main(["rate", str(fresh), "--import", str(new)]) == 0
    capsys.readouterr()
    assert main(["rate", str(fresh), "--import", str(old)]) == 0
    out, err = capsys.readouterr()
    assert out == f"imported 3 judgements by 1 rater(s) into {fresh / 'ratings'}; 0 already there\n"
    assert err == ("actionbench: note: 3 imported judgement(s) are older than the rater's latest judgement of that "
                   "image, which still counts (the latest time wins)\n")
    latest = RatingsStore(fresh).latest()
    assert {latest[("ana", i)].action for i in ids} == {"yes"}
    assert {latest[("ana", i)].time for i in ids} == {"2025-02-01T00:00:00.000Z"}
    exported = tmp_path / "export.csv"
    export_ratings(study, exported)
    with open(exported) as handle:
        assert {row["action_shown"] for row in csv.DictReader(handle)} == {"yes"}


def test_importing_a_file_twice_adds_nothing_the_second_time(fresh, tmp_path, capsys):
    study = open_study(fresh)
    ids = study.ids[:4]
    timed = write_csv(tmp_path / "timed.csv", [(i, "ana", "yes", "no", "2025-01-31T12:00:00+01:00") for i in ids],
                      TIMED)
    untimed = write_csv(tmp_path / "untimed.csv", [(i, "bob", "no", "skip") for i in ids])
    for source in (timed, untimed):
        assert main(["rate", str(fresh), "--import", str(source)]) == 0
    capsys.readouterr()
    for source in (timed, untimed):
        assert main(["rate", str(fresh), "--import", str(source)]) == 0
        assert capsys.readouterr().out == f"imported 0 judgements by 0 rater(s) into {fresh / 'ratings'}; 4 already there\n"
    assert len(RatingsStore(fresh).judgements()) == 8
    exported = tmp_path / "export.csv"
    export_ratings(study, exported)
    assert main(["rate", str(fresh), "--import", str(exported)]) == 0  # an export is there already, too
    assert capsys.readouterr().out.endswith("; 8 already there\n")
    assert len(RatingsStore(fresh).judgements()) == 8


def test_an_import_that_cannot_write_a_rater_file_writes_none(fresh, tmp_path, capsys):
    """A folder where one rater's file should be: a traceback, after the other raters' lines were appended."""
    study = open_study(fresh)
    RatingsStore(fresh).append([judgement(study.ids[0], rater="zed")])
    before = RatingsStore(fresh).path("zed").read_bytes()
    (ratings_dir(fresh) / "zzz.jsonl").mkdir()
    source = write_csv(tmp_path / "r.csv", [(study.ids[1], rater, "yes", "no") for rater in ("aaa", "zed", "zzz")])
    assert main(["rate", str(fresh), "--import", str(source)]) == 2
    err = capsys.readouterr().err
    assert re.fullmatch(rf"actionbench: error: cannot write {re.escape(str(ratings_dir(fresh) / 'zzz.jsonl'))} "
                        rf"\(Is a directory; .* free\): nothing was saved: free space or make it a writable file, "
                        rf"then try again\.\n", err), err
    assert not RatingsStore(fresh).path("aaa").exists()
    assert RatingsStore(fresh).path("zed").read_bytes() == before


def test_a_rater_name_that_is_not_text_is_refused_before_any_file_is_made(fresh, tmp_path, capsys):
    study = open_study(fresh)
    with pytest.raises(ActionBenchError) as error:
        check_rater("bad\udcff")  # --rater $'bad\xff', as Python decodes it
    assert str(error.value) == ("the rater name is not valid text (it holds bytes that are not UTF-8): type the "
                                "name again as UTF-8 text.")
    source = write_csv(tmp_path / "r.csv", [(study.ids[0], "yes", "no")], ("image_id", "action_shown", "subject_shown"))
    assert main(["rate", str(fresh), "--import", str(source), "--rater", "bad\udcff"]) == 2
    assert capsys.readouterr().err == f"actionbench: error: {error.value}\n"
    assert sorted(p.name for p in ratings_dir(fresh).iterdir()) == [".study.lock", "study.json"]


def test_import_takes_only_the_images_of_a_sampled_study(fresh, tmp_path, capsys):
    """The page refuses images outside a sampled study; the import took any image of the run."""
    study = open_study(fresh, per_cell=1)
    outside = sorted(set(study.by_id) - set(study.ids))
    assert len(outside) == 8
    source = write_csv(tmp_path / "r.csv", [(i, "ana", "yes", "no") for i in [study.ids[0], *outside]])
    assert main(["rate", str(fresh), "--import", str(source)]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: {source} rates 8 image(s) of the run that are not in its rating study ({outside[0]}, "
        f"{outside[1]}, {outside[2]} and 5 more): import only the study's 8 images (the rows of the ratings.csv "
        f"that --export-study wrote).\n")
    assert RatingsStore(fresh).judgements() == []


def test_import_refuses_a_column_twice_and_times_that_are_not_iso_8601(fresh, tmp_path, capsys):
    study = open_study(fresh)
    twice = write_csv(tmp_path / "twice.csv", [(study.ids[0], "ana", "yes", "no", "feedbeef0000")],
                      ("image_id", "rater", "action_shown", "subject_shown", "image_id"))
    assert main(["rate", str(fresh), "--import", str(twice)]) == 2
    assert capsys.readouterr().err == (f"actionbench: error: {twice} has the column(s) image_id more than once: keep "
                                       f"one column of each name.\n")
    times = write_csv(tmp_path / "times.csv", [(study.ids[0], "ana", "yes", "no", "yesterday"),
                                               (study.ids[1], "ana", "yes", "no", "2025-01-31")], TIMED)
    assert main(["rate", str(fresh), "--import", str(times)]) == 2
    assert capsys.readouterr().err.splitlines()[0] == (
        "actionbench: times.csv line 2: time 'yesterday' is not an ISO 8601 time (such as 2025-01-31T12:00:00Z)")
    assert RatingsStore(fresh).judgements() == []


def test_a_file_of_many_bad_rows_lists_the_first_few(fresh, tmp_path, capsys):
    open_study(fresh)
    source = write_csv(tmp_path / "bad.csv", [("feedbeef0000", "ana", "yes", "no")] * 500)
    assert main(["rate", str(fresh), "--import", str(source)]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 22
    assert err[0] == "actionbench: bad.csv line 2: unknown image_id 'feedbeef0000' (not an image of this run)"
    assert err[-2:] == ["actionbench: and 480 more",
                        f"actionbench: error: {source} has 500 bad row(s), the first 20 problems listed above; "
                        f"nothing was imported: fix them and import again."]


def test_export_study_writes_a_blinded_task_that_imports_back(fresh, tmp_path, capsys):
    folder = tmp_path / "task"
    assert main(["rate", str(fresh), "--export-study", str(folder), "--per-cell", "1"]) == 0
    with open(folder / "items.csv") as handle:
        items = list(csv.DictReader(handle))
    study = load_study(fresh)
    assert sorted(r["image_id"] for r in items) == sorted(study.ids) and len(items) == 8
    text = (folder / "items.csv").read_text() + (folder / "ratings.csv").read_text()
    for image in study.images:
        assert image.image_id not in text
    assert not re.search(r"\b(%s)\b" % "|".join(METHODS), text)
    assert not re.search(r"units/|brightness|is_dark|judge_", text)
    for row in items:
        assert (folder / row["image"]).is_file() and row["image"] == f"images/{row['image_id']}.png"
        assert all((folder / e).is_file() for e in row["exemplars"].split(";"))
    with open(folder / "ratings.csv") as handle:
        template = list(csv.DictReader(handle))
    for row in template:
        row.update(rater="crowd-7", action_shown="yes", subject_shown="no")
    filled = write_csv(tmp_path / "filled.csv", [list(r.values()) for r in template], columns=list(template[0]))
    capsys.readouterr()
    assert main(["rate", str(fresh), "--import", str(filled)]) == 0
    assert capsys.readouterr().out.strip() == f"imported 8 judgements by 1 rater(s) into {fresh / 'ratings'}; 0 already there"
    assert len(RatingsStore(fresh).judgements("crowd-7")) == 8


def test_export_study_never_overwrites_a_folder_with_files(fresh, tmp_path, capsys):
    """Exported again into its folder, the study overwrote the ratings.csv a rater had filled in (and
    into any folder, anyone's items.csv): only a new or empty folder is written."""
    folder = tmp_path / "task"
    assert main(["rate", str(fresh), "--export-study", str(folder)]) == 0
    filled = (folder / "ratings.csv").read_text().replace(",,,", ",ana,yes,no")
    (folder / "ratings.csv").write_text(filled)
    capsys.readouterr()
    assert main(["rate", str(fresh), "--export-study", str(folder)]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: --export-study {folder} is not empty (it holds exemplars, images, items.csv and 1 "
        "more): export the study into a new or empty folder (a ratings.csv filled in there would be overwritten).\n")
    assert (folder / "ratings.csv").read_text() == filled



def test_export_study_refuses_an_image_reached_through_a_symlink_that_leaves_the_run(fresh, tmp_path, capsys):
    image = next(iter(open_study(fresh).images))
    outside = tmp_path / "elsewhere.png"
    outside.write_bytes(image.path.read_bytes())
    image.path.unlink()
    image.path.symlink_to(outside)
    assert main(["rate", str(fresh), "--export-study", str(tmp_path / "task")]) == 2
    assert capsys.readouterr().err == (
        f"actionbench: error: {image.path} leads outside the run directory {fresh} (to {outside}): replace the link "
        f"with the image itself, or regenerate it with 'actionbench run'.\n")
    assert not (tmp_path / "task" / "items.csv").exists()

def test_runs_record_their_exemplars_and_older_runs_fall_back_to_the_benchmark(fresh):
    from actionbench.rating.exemplars import exemplar_paths

    manifest = json.loads((fresh / "manifest.json").read_text())
    recorded = manifest["action_exemplars"]
    assert sorted(recorded) == ["arms_out", "arms_up"]
    assert all(len(paths) == 3 and all(Path(p).is_file() for p in paths) for paths in recorded.values())
    older = {k: v for k, v in manifest.items() if k != "action_exemplars"}  # a run from before the field
    assert exemplar_paths(older, ["arms_up"]) == {"arms_up": [Path(p) for p in recorded["arms_up"]]}
    changed = {**older, "benchmark": {**older["benchmark"], "actions": {"arms_up": "another-version"}}}
    with pytest.raises(ActionBenchError) as error:
        exemplar_paths(changed, ["arms_up"])
    assert str(error.value) == (f"the exemplars of action 'arms_up' are no longer those the run used (benchmark "
                                f"{manifest['config']['benchmark']} has changed): re-run 'actionbench run' on the "
                                f"current data, then rate.")
    gone = {**manifest, "action_exemplars": {"arms_up": [str(fresh / "nowhere.png")]}}
    with pytest.raises(ActionBenchError, match="^exemplar .*nowhere.png of action 'arms_up' is missing"):
        exemplar_paths(gone, ["arms_up"])


def _append_many(run_dir: str, part: int, count: int) -> None:
    store = RatingsStore(run_dir)
    for n in range(count):
        store.append([judgement(f"p{part}-{n}", rater="shared")])


def test_two_processes_appending_for_one_rater_lose_no_line(fresh):
    import multiprocessing

    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_append_many, args=(str(fresh), part, 40)) for part in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    images = [j.image for j in RatingsStore(fresh).judgements("shared")]
    assert sorted(images) == sorted(f"p{part}-{n}" for part in range(2) for n in range(40))
