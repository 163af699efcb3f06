"""One check shared by the CSV readers: a data row with more fields than the header.

pandas reads such a file by silently turning its first columns into the
index (or, with ``index_col=False``, by dropping the extra fields), so every
value lands in the wrong column. :func:`check_row_widths` turns that into a
:class:`~tpf.errors.DataError` naming the file and the first such row.
"""

from __future__ import annotations

import csv
import os

import pandas as pd

from tpf.errors import DataError


def plain(value: object) -> object:
    """A cell as plain Python (a numpy scalar becomes an int or float), for messages."""
    item = getattr(value, "item", None)
    return item() if callable(item) and getattr(value, "ndim", None) == 0 else value


def first_wide_row(path: str | os.PathLike[str], width: int) -> tuple[int, int] | None:
    """(1-based data row, its field count) of the first row with more than ``width`` fields."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as handle:
        reader = csv.reader(handle)
        next(reader, None)
        for number, row in enumerate(reader, start=1):
            if len(row) > width:
                return number, len(row)
    return None


def check_row_widths(frame: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    """Raise when pandas moved columns into the index: some row is wider than the header."""
    if isinstance(frame.index, pd.RangeIndex):
        return
    found = first_wide_row(path, len(frame.columns))
    where = f"row {found[0]} has {found[1]} fields" if found else "a row has more fields"
    raise DataError(f"{path}: {where} but the header has {len(frame.columns)} columns "
                    f"({', '.join(map(str, frame.columns))}); a stray comma?")
