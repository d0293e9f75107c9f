"""Ratings as CSV, so a study run elsewhere (a spreadsheet, a crowd platform) is reported the same way.

- ``export_study``: the study as a task for another tool: ``items.csv`` (blind id, image file, action
  in words, subject in words, exemplar files), the images and exemplars re-encoded under blind names,
  and ``ratings.csv``, a template with one empty row per image.
- ``import_ratings``: a CSV with ``image_id``, ``action_shown``, ``subject_shown`` and ``rater`` (or
  one rater for the whole file), optionally ``time``; other columns are ignored. Every bad row is
  named on its own line and nothing is imported until the file is clean.
- ``export_ratings``: every rater's latest judgement of every image, with the method, action and
  subject unblinded for analysis; it imports back unchanged.

Text cells are written spreadsheet-safe (a leading ``'`` before ``=``, ``+``, ``-``, ``@``, tab or CR;
``actionbench.csvcells``) unless ``raw``; the import takes that apostrophe off again.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from actionbench.csvcells import restore, rows_csv
from actionbench.errors import ActionBenchError, first_few
from actionbench.fileio import atomic_write_bytes, atomic_write_text
from actionbench.rating.exemplars import exemplar_paths
from actionbench.rating.images import EXEMPLAR_PX, png_bytes
from actionbench.rating.store import Judgement, RatingsStore, check_rater, now
from actionbench.rating.study import Study, opaque_id

REQUIRED = ("image_id", "action_shown", "subject_shown")
EXPORT_COLUMNS = ["image_id", "rater", "action_shown", "subject_shown", "time", "source", "method", "action",
                  "subject", "seed", "image"]
TEMPLATE_COLUMNS = ["image_id", "rater", "action_shown", "subject_shown"]
ITEM_COLUMNS = ["image_id", "image", "action_description", "subject", "exemplars"]
SPELLINGS = {"yes": "yes", "y": "yes", "1": "yes", "true": "yes",
             "no": "no", "n": "no", "0": "no", "false": "no",
             "skip": "skip", "": "skip", "-": "skip", "n/a": "skip", "na": "skip"}


class ImportProblems(ActionBenchError):
    """An import with bad rows; ``lines`` names each one (the CLI prints them above the summary)."""

    def __init__(self, path: Path, lines: list[str]):
        self.lines = lines
        super().__init__(f"{path} has {len(lines)} bad row(s), listed above; nothing was imported",
                         "fix them and import again")


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


def parse_ratings(study: Study, path: Path, rater: str | None = None) -> list[Judgement]:
    """The judgements in a CSV file, checked against the run; ``ImportProblems`` lists every bad row."""
    path = Path(path)
    columns, rows = _read_rows(path)
    missing = [c for c in REQUIRED if c not in columns]
    if missing:
        raise ActionBenchError(f"{path} lacks the column(s) {', '.join(missing)}",
                               f"give it a header row with {', '.join(REQUIRED)} and rater")
    if "rater" not in columns and not rater:
        raise ActionBenchError(f"{path} has no rater column", "add one, or pass --rater NAME for the whole file")
    if rater:
        rater = check_rater(rater)
    problems, judgements = [], []
    stamp = now()
    for line, row in rows:
        if not any(row.values()):
            continue  # blank line
        where = f"{path.name} line {line}"
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
        if found:
            problems.extend(found)
            continue
        action, subject = answers["action"], answers["subject"]
        assert action is not None and subject is not None  # a None answer was reported above
        judgements.append(Judgement(image=image_id, rater=name, action=action, subject=subject,
                                    time=row.get("time") or stamp, source=f"import:{path.name}"))
    if problems:
        raise ImportProblems(path, problems)
    if not judgements:
        raise ActionBenchError(f"{path} holds no ratings", "add one row per rated image")
    return judgements


def import_ratings(study: Study, path: Path, rater: str | None = None) -> list[Judgement]:
    """Check the whole file, then append its judgements to the ratings store (all or nothing)."""
    judgements = parse_ratings(study, path, rater)
    RatingsStore(study.run_dir).append(judgements)
    return judgements
