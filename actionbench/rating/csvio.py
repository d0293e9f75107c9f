"""Ratings as CSV, so a study run elsewhere (a spreadsheet, a crowd platform) is reported the same way.

- ``export_study``: the study as a task for another tool: ``items.csv`` (blind id, image file, action
  in words, subject in words, exemplar files), the images and exemplars re-encoded under blind names,
  and ``ratings.csv``, a template with one empty row per image.
- ``import_ratings``: a CSV with ``image_id``, ``action_shown``, ``subject_shown`` and ``rater`` (or
  one rater for the whole file), optionally ``time`` (ISO 8601); other columns are ignored. Only the
  study's images are taken (the page's rule). Every bad row is named on its own line (the first
  ``LISTED``) and nothing is imported until the file is clean. A judgement already stored is skipped,
  so importing a file twice adds nothing; the rest is appended all or nothing.
- ``export_ratings``: every rater's latest judgement of every image, with the method, action and
  subject unblinded for analysis; it imports back unchanged.

Text cells are written spreadsheet-safe (a leading ``'`` before ``=``, ``+``, ``-``, ``@``, tab or CR;
``actionbench.csvcells``) unless ``raw``; the import takes that apostrophe off again.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from dataclasses import dataclass
from pathlib import Path

from actionbench.csvcells import restore, rows_csv
from actionbench.errors import ActionBenchError, first_few
from actionbench.fileio import atomic_write_bytes, atomic_write_text
from actionbench.rating.exemplars import exemplar_paths
from actionbench.rating.images import EXEMPLAR_PX, png_bytes
from actionbench.rating.store import (Judgement, RatingsStore, check_rater, format_time, latest_judgements,
                                      now, parse_time)
from actionbench.rating.study import Study, opaque_id

REQUIRED = ("image_id", "action_shown", "subject_shown")
READ_COLUMNS = (*REQUIRED, "rater", "time")
LISTED = 20  # bad rows named one per line; a file of 200,000 bad rows gets these and "and N more"
EXPORT_COLUMNS = ["image_id", "rater", "action_shown", "subject_shown", "time", "source", "method", "action",
                  "subject", "seed", "image"]
TEMPLATE_COLUMNS = ["image_id", "rater", "action_shown", "subject_shown"]
ITEM_COLUMNS = ["image_id", "image", "action_description", "subject", "exemplars"]
SPELLINGS = {"yes": "yes", "y": "yes", "1": "yes", "true": "yes",
             "no": "no", "n": "no", "0": "no", "false": "no",
             "skip": "skip", "": "skip", "-": "skip", "n/a": "skip", "na": "skip"}


class ImportProblems(ActionBenchError):
    """An import with bad rows; ``lines`` names each one (the CLI prints them above the summary)."""

    def __init__(self, path: Path, lines: list[str], rows: int):
        self.lines = first_few(lines, LISTED, sep="\n").split("\n")
        listed = "listed above" if len(lines) <= LISTED else f"the first {LISTED} problems listed above"
        super().__init__(f"{path} has {rows} bad row(s), {listed}; nothing was imported", "fix them and import again")


@dataclass
class Imported:
    """What an import did: judgements added, rows already stored (skipped), added ones that are older than
    the rater's latest judgement of that image (kept, but that later judgement still counts)."""

    added: list[Judgement]
    already: int
    older: int


def export_ratings(study: Study, out: Path, raw: bool = False) -> tuple[int, int]:
    """Write every rater's latest judgements; returns (rows written, judgements of images no longer in the run)."""
    rows, stale = [], 0
    for (rater, image_id), judgement in sorted(RatingsStore(study.run_dir).latest().items()):
        image = study.by_id.get(image_id)
        if image is None:
            stale += 1
            continue
        rows.append({"image_id": image_id, "rater": rater, "action_shown": judgement.action,
                     "subject_shown": judgement.subject, "time": judgement.time, "source": judgement.source,
                     "method": image.method, "action": image.action, "subject": image.subject,
                     "seed": image.seed, "image": image.path.relative_to(study.run_dir).as_posix()})
    atomic_write_text(out, rows_csv(EXPORT_COLUMNS, rows, raw))
    return len(rows), stale


def check_study_folder(folder: Path) -> None:
    """The study is exported into a new or empty folder only: a ratings.csv already filled in there,
    or anyone's files, would be overwritten."""
    if folder.is_file():
        raise ActionBenchError(f"--export-study {folder} is a file", "export the study into a new or empty folder")
    held = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
    if held:
        raise ActionBenchError(f"--export-study {folder} is not empty (it holds {first_few(held, 3)})",
                               "export the study into a new or empty folder (a ratings.csv filled in there would "
                               "be overwritten)")


def export_study(study: Study, folder: Path, raw: bool = False) -> Path:
    """Write the blinded task for another tool into ``folder`` (new or empty); returns the path of ``items.csv``."""
    check_study_folder(folder)
    manifest = study.store.manifest()
    descriptions = manifest.get("action_descriptions", {})
    exemplars = exemplar_paths(manifest, sorted({i.action for i in study.images}))
    exemplar_files = {}
    for action, paths in exemplars.items():
        names = []
        for number, path in enumerate(paths):
            name = f"exemplars/{opaque_id(study.salt, 'exemplar', action, number)}.png"
            atomic_write_bytes(folder / name, png_bytes(path, EXEMPLAR_PX))
            names.append(name)
        exemplar_files[action] = ";".join(names)
    items, template = [], []
    for image_id in study.order(""):
        image = study.by_id[image_id]
        name = f"images/{image_id}.png"
        atomic_write_bytes(folder / name, png_bytes(image.path, within=study.run_dir))
        items.append({"image_id": image_id, "image": name,
                      "action_description": descriptions.get(image.action, image.action),
                      "subject": image.subject_text, "exemplars": exemplar_files.get(image.action, "")})
        template.append({"image_id": image_id, "rater": "", "action_shown": "", "subject_shown": ""})
    atomic_write_text(folder / "items.csv", rows_csv(ITEM_COLUMNS, items, raw))
    atomic_write_text(folder / "ratings.csv", rows_csv(TEMPLATE_COLUMNS, template, raw))
    return folder / "items.csv"


def _read_rows(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ActionBenchError(f"{path} does not exist", "pass the CSV file of ratings to import") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ActionBenchError(f"{path} cannot be read ({' '.join(str(error).split())[:100]})",
                               "save the ratings as a UTF-8 CSV file") from None
    try:
        dialect = csv.Sniffer().sniff(text[:4096], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    reader = csv.DictReader(io.StringIO(text), dialect=dialect)
    columns = [restore(c.strip()) for c in (reader.fieldnames or [])]
    reader.fieldnames = columns
    rows = []
    try:
        for row in reader:
            rows.append((reader.line_num, {k: restore((v or "").strip()) for k, v in row.items() if isinstance(k, str)}))
    except csv.Error as error:
        raise ActionBenchError(f"{path} is not a valid CSV file ({error})", "save it again as CSV") from None
    return columns, rows


def _check_columns(path: Path, columns: list[str], rater: str | None) -> None:
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ActionBenchError(f"{path} lacks the column(s) {', '.join(missing)}",
                               f"give it a header row with {', '.join(REQUIRED)} and rater")
    if "rater" not in columns and not rater:
        raise ActionBenchError(f"{path} has no rater column", "add one, or pass --rater NAME for the whole file")
    twice = [c for c in READ_COLUMNS if columns.count(c) > 1]  # a CSV reader would silently keep the last
    if twice:
        raise ActionBenchError(f"{path} has the column(s) {', '.join(twice)} more than once",
                               "keep one column of each name")


def _check_in_study(study: Study, path: Path, rows: list[tuple[int, dict[str, str]]]) -> None:
    """A sampled study takes ratings of its own images only, as the page does (images of the run outside
    the sample would be counted by the report)."""
    ids = set(study.ids)
    outside = sorted({r["image_id"] for _, r in rows if r["image_id"] in study.by_id and r["image_id"] not in ids})
    if outside:
        raise ActionBenchError(
            f"{path} rates {len(outside)} image(s) of the run that are not in its rating study "
            f"({first_few(outside, 3)})", f"import only the study's {len(ids)} images (the rows of the ratings.csv "
                                          f"that --export-study wrote)")


def _time(value: str) -> tuple[str, str | None]:
    """(the time as the store writes it or "" when not given, a problem or None)."""
    if not value:
        return "", None
    moment = parse_time(value)
    if moment is None:
        return "", f"time {value[:40]!r} is not an ISO 8601 time (such as 2025-01-31T12:00:00Z)"
    return format_time(moment), None


def _row(study: Study, where: str, row: dict[str, str], rater: str | None,
         source: str) -> tuple[Judgement | None, list[str]]:
    """One row as a judgement, or every problem it has (each naming ``where``)."""
    found = []
    image_id = row["image_id"]
    if image_id not in study.by_id:
        found.append(f"{where}: unknown image_id {image_id!r} (not an image of this run)")
    answers = {}
    for question in ("action", "subject"):
        value = row[f"{question}_shown"]
        answers[question] = SPELLINGS.get(value.lower())
        if answers[question] is None:
            found.append(f"{where}: {question}_shown {value[:40]!r} is not yes, no or skip")
    name = row.get("rater") or rater or ""
    try:
        name = check_rater(name)
    except ActionBenchError as error:
        found.append(f"{where}: {error}")
    time, problem = _time(row.get("time", ""))
    if problem:
        found.append(f"{where}: {problem}")
    action, subject = answers["action"], answers["subject"]
    if found or action is None or subject is None:
        return None, found
    return Judgement(image=image_id, rater=name, action=action, subject=subject, time=time, source=source), []


def parse_ratings(study: Study, path: Path, rater: str | None = None) -> list[Judgement]:
    """The judgements in a CSV file, checked against the study; ``ImportProblems`` lists every bad row.

    A row without a time gets ``time`` "" (``import_ratings`` stamps it).
    """
    path = Path(path)
    if rater:
        rater = check_rater(rater)
    columns, rows = _read_rows(path)
    _check_columns(path, columns, rater)
    rows = [(line, row) for line, row in rows if any(row.values())]  # blank lines left out
    _check_in_study(study, path, rows)
    problems, judgements, bad_rows = [], [], 0
    for line, row in rows:
        judgement, found = _row(study, f"{path.name} line {line}", row, rater, f"import:{path.name}")
        if judgement is None:
            problems.extend(found)
            bad_rows += 1
        else:
            judgements.append(judgement)
    if problems:
        raise ImportProblems(path, problems, bad_rows)
    if not judgements:
        raise ActionBenchError(f"{path} holds no ratings", "add one row per rated image")
    return judgements


def _same_as_latest(judgement: Judgement, latest: dict[tuple[str, str], Judgement]) -> bool:
    held = latest.get(judgement.key)
    return held is not None and (held.action, held.subject) == (judgement.action, judgement.subject)


def import_ratings(study: Study, path: Path, rater: str | None = None) -> Imported:
    """Check the whole file, then append the judgements not stored yet (all or nothing)."""
    judgements = parse_ratings(study, path, rater)
    store = RatingsStore(study.run_dir)
    held = store.judgements()
    stored, latest = {j.identity() for j in held}, latest_judgements(held)
    stamp = now()
    added: list[Judgement] = []
    for judgement in judgements:
        # already there: the same judgement (rater, image, answers, time); a row without a time, when its
        # answers are the rater's latest ones for that image
        timeless = not judgement.time
        judgement = dataclasses.replace(judgement, time=judgement.time or stamp)
        if judgement.identity() in stored or (timeless and _same_as_latest(judgement, latest)):
            continue
        stored.add(judgement.identity())
        added.append(judgement)
    if added:
        store.append(added)
    older = sum(1 for j in added if j.key in latest and latest[j.key].instant > j.instant)
    return Imported(added=added, already=len(judgements) - len(added), older=older)
