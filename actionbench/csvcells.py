"""CSV cells a spreadsheet shows instead of runs (CSV or formula injection).

Excel, LibreOffice and Google Sheets read a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or
a carriage return as a formula: a method, subject or rater named ``=HYPERLINK("http://x","y")`` in
``leaderboard.csv`` or ``items.csv`` would become a live link (or worse) on the machine of whoever
opens the file. Every CSV the suite writes therefore puts an apostrophe in front of such a text cell,
as spreadsheet-safe writers do (OWASP's advice); plain numbers such as ``-0.5`` or ``+1e-3`` stay
numbers. A cell that already starts with apostrophes before such a character gets one more, so the
suite's own readers (``check``'s baseline, the ratings import) take exactly one off and read back
what was meant. ``raw=True`` (the commands' ``--raw-csv``) writes every cell as it is.
"""

from __future__ import annotations

import csv
import io
import re
from typing import TYPE_CHECKING, Any, Iterable

if TYPE_CHECKING:  # pandas is imported by the callers that have frames; the CLI's parser must stay light
    import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
RAW_CSV_HELP = ("write CSV cells as they are: without it a text cell starting with = + - @ (tab, CR) gets a "
                "leading ' so spreadsheets do not run it as a formula (numbers stay numbers; docs/run-store.md)")
QUOTE = "'"
PLAIN_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _guarded(text: str) -> bool:
    """Whether ``text`` carries (or, written safe, would carry) the protecting apostrophe."""
    return text.lstrip(QUOTE).startswith(FORMULA_STARTS)


def neutralise(value: Any) -> Any:
    """``value`` as a safe cell: text that a spreadsheet would run gets one apostrophe in front."""
    if not isinstance(value, str) or not _guarded(value) or PLAIN_NUMBER.fullmatch(value):
        return value
    return QUOTE + value


def restore(value: Any) -> Any:
    """The cell as it was before ``neutralise`` (one apostrophe off a guarded cell)."""
    if isinstance(value, str) and value.startswith(QUOTE) and _guarded(value):
        return value[1:]
    return value


def _text_columns(frame: "pd.DataFrame") -> list:
    """Columns that may hold text (object or string dtype); numeric and boolean columns are written as they are."""
    from pandas.api.types import is_bool_dtype, is_numeric_dtype

    return [c for c in frame.columns if not (is_numeric_dtype(frame[c]) or is_bool_dtype(frame[c]))]


def safe_frame(frame: "pd.DataFrame", raw: bool = False) -> "pd.DataFrame":
    """A copy of ``frame`` whose text cells are neutralised (numeric columns are left untouched)."""
    if raw:
        return frame
    table = frame.copy()
    for column in _text_columns(table):
        table[column] = table[column].map(neutralise)
    table.columns = [neutralise(str(column)) for column in table.columns]
    return table


def restored_frame(frame: "pd.DataFrame") -> "pd.DataFrame":
    """A CSV the suite wrote, read back: apostrophes added by ``safe_frame`` taken off again."""
    table = frame.copy()
    for column in _text_columns(table):
        table[column] = table[column].map(restore)
    table.columns = [restore(str(column)) for column in table.columns]
    return table


def frame_csv(frame: "pd.DataFrame", raw: bool = False, **to_csv: Any) -> str:
    """``frame.to_csv(index=False, ...)`` with safe cells unless ``raw``."""
    return safe_frame(frame, raw).to_csv(index=False, **to_csv)


def rows_csv(columns: list[str], rows: Iterable[dict], raw: bool = False, **writer_options: Any) -> str:
    """Rows of dicts as CSV text with a header, safe cells unless ``raw``."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n", **writer_options)
    writer.writeheader()
    for row in rows:
        writer.writerow(row if raw else {key: neutralise(value) for key, value in row.items()})
    return buffer.getvalue()
