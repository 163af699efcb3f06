"""Readers and validators of the two tables that feed fitting.

* The **measurement table** (calibration or an importer -> ``tpf fit energy``):
  one row per measured request or batch window, see :data:`MEASUREMENT_COLUMNS`.
* The **accuracy table** (calibration or an importer -> ``tpf fit accuracy``):
  aggregated rows (``n_items``, ``n_correct``) or per-item rows (``item_id``,
  ``correct``), see :data:`ACCURACY_COLUMNS`.

The column catalogs are data: they drive validation and :func:`columns_markdown`
writes the documentation from them. Validation reports every problem at once,
each with its place: ``FILE: row 3 (line 4), column energy_j: must be a number
>= 0, got 'abc'`` ("row" counts data rows from 1; "line" is the line in the
CSV file, the header being line 1).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tpf.csvcheck import check_row_widths
from tpf.domain import STRATEGIES
from tpf.errors import DataError

PHASES = ("prefill", "decode", "total")
MAX_PROBLEMS_SHOWN = 25
_BLANKS = frozenset({"", "nan", "NaN", "NA", "N/A", "None", "null"})
_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


@dataclass(frozen=True)
class Column:
    """One column of a table: its kind, unit, allowed range and meaning.

    ``kind`` is ``text``, ``number``, ``integer``, ``bool`` or ``choice``.
    ``minimum`` bounds numbers (``strict`` makes it ``>``). A column with a
    ``default`` may be absent or blank; the default fills it.
    """

    name: str
    kind: str
    unit: str
    description: str
    required: bool = True
    minimum: float | None = None
    strict: bool = False
    choices: tuple[str, ...] = ()
    default: float | int | str | bool | None = None

    def allowed(self) -> str:
        if self.kind == "choice":
            return "one of " + "|".join(self.choices)
        if self.kind == "bool":
            return "true|false (or 1|0, yes|no)"
        noun = "an integer" if self.kind == "integer" else "a number"
        if self.kind == "text":
            return "text" if self.default is not None else "non-empty text"
        if self.minimum is None:
            return noun
        return f"{noun} {'>' if self.strict else '>='} {self.minimum:g}"


MEASUREMENT_COLUMNS: tuple[Column, ...] = (
    Column("model", "text", "-", "model name, e.g. Llama-3.1-8B"),
    Column("hardware", "text", "-", "accelerator name, e.g. A100-40GB"),
    Column("n_in_tokens", "number", "tokens", "input (prompt) tokens per request", minimum=0, strict=True),
    Column(
        "n_out_tokens", "number", "tokens",
        "output tokens per request (0 only on prefill rows)", minimum=0,
    ),
    Column("batch_size", "number", "requests", "requests served together in the window", minimum=1),
    Column(
        "energy_j", "number", "J",
        "GPU energy of the whole window (all batch_size requests)", minimum=0, strict=True,
    ),
    Column(
        "duration_s", "number", "s",
        "wall time of the window; may be blank where not measured", minimum=0, strict=True,
        default=float("nan"),
    ),
    Column("phase", "choice", "-", "which part of the request the row measures", False,
           choices=PHASES, default="total"),
    Column("gpu_count", "integer", "GPUs", "GPUs serving one model replica", False,
           minimum=1, default=1),
    Column("idle_power_w", "number", "W", "GPU power when idle, measured beside the run", False,
           minimum=0, default=float("nan")),
    Column("source", "text", "-", "where the row comes from (file, paper, run id)", False, default=""),
    Column("repetition", "integer", "-", "repetition index within its cell (0 = first)",
           False, minimum=0, default=float("nan")),
    Column("warmup", "bool", "-", "true for warm-up runs, which fitting drops", False, default=False),
    Column("strategy", "choice", "-", "decoding strategy measured", False,
           choices=STRATEGIES, default="zero_shot"),
)

_ACCURACY_KEYS: tuple[Column, ...] = (
    Column("model", "text", "-", "model name"),
    Column("category", "text", "-", "query category, e.g. an MMLU category"),
    Column("strategy", "choice", "-", "zero-shot, chain-of-thought or majority voting",
           choices=STRATEGIES),
    Column("budget_tokens", "number", "tokens", "token budget per answer (0: none)", False,
           minimum=0, default=0.0),
    Column("votes", "integer", "votes", "majority-vote count (1 unless strategy is mv)", False,
           minimum=1, default=1),
)
ACCURACY_AGGREGATED_COLUMNS: tuple[Column, ...] = (
    *_ACCURACY_KEYS,
    Column("n_items", "integer", "items", "graded items", minimum=1),
    Column("n_correct", "number", "items", "correct items (may be fractional: expected count)",
           minimum=0),
)
ACCURACY_PER_ITEM_COLUMNS: tuple[Column, ...] = (
    *_ACCURACY_KEYS,
    Column("item_id", "text", "-", "identifier of the graded item"),
    Column("correct", "bool", "-", "whether the answer was correct"),
)
ACCURACY_COLUMNS = ACCURACY_AGGREGATED_COLUMNS


# --- cell parsing ------------------------------------------------------------


def _as_text(series: pd.Series) -> pd.Series:
    filled = series.astype(object).where(series.notna(), "")
    text = filled.astype(str).str.strip()
    return text.where(~text.isin(_BLANKS), "")


def _parse_column(column: Column, text: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Parse one column's text cells: (values, mask of invalid non-blank cells)."""
    if column.kind == "text":
        return text, pd.Series(False, index=text.index)
    if column.kind == "choice":
        return text, (text != "") & ~text.isin(column.choices)
    if column.kind == "bool":
        lower = text.str.lower()
        bad = (lower != "") & ~lower.isin(_TRUE | _FALSE)
        return lower.isin(_TRUE), bad
    values = pd.to_numeric(text.where(text != "", None), errors="coerce").astype(float)
    bad = (text != "") & ~np.isfinite(values)
    if column.kind == "integer":
        bad |= np.isfinite(values) & (values != np.round(values))
    if column.minimum is not None:
        low = values <= column.minimum if column.strict else values < column.minimum
        bad |= low.fillna(False)
    return values, bad


def _flagged(mask: pd.Series) -> list[int]:
    """Index labels (data row positions in the file) where ``mask`` is true."""
    return [int(label) for label in mask[mask.fillna(False).astype(bool)].index]


def _row_place(index: int) -> str:
    return f"row {index + 1} (line {index + 2})"


def _problem(where: str, index: int, column: str, text: str) -> str:
    return f"{where}: {_row_place(index)}, column {column}: {text}"


def _header_junk(text_frame: pd.DataFrame) -> pd.Series:
    """Rows that repeat the header (files concatenated with their headers)."""
    hits = text_frame.eq(list(text_frame.columns)).sum(axis=1)
    return hits >= max(2, len(text_frame.columns) // 2)


def _validate_columns(
    text_frame: pd.DataFrame, columns: Iterable[Column], where: str, problems: list[str]
) -> pd.DataFrame:
    """Parse and check every catalogued column; append one problem per bad cell."""
    parsed = text_frame.copy()
    for column in columns:
        if column.name not in text_frame.columns:
            parsed[column.name] = column.default
            continue
        text = text_frame[column.name]
        values, bad = _parse_column(column, text)
        for index in _flagged(bad):
            problems.append(_problem(
                where, index, column.name, f"must be {column.allowed()}, got {text.loc[index]!r}"
            ))
        blank = text == ""
        if column.default is None:
            for index in _flagged(blank):
                problems.append(_problem(where, index, column.name, "missing value"))
        elif blank.any():
            values = values.where(~blank, column.default)
        parsed[column.name] = values
    return parsed


def _check_required(
    present: Iterable[str], columns: Iterable[Column], where: str, table: str
) -> None:
    present = list(present)
    missing = [c.name for c in columns if c.required and c.name not in present]
    if missing:
        raise DataError(
            f"{where}: missing required column(s) {', '.join(missing)} of the {table}; "
            f"the file has columns: {', '.join(present) or '(none)'}"
        )


def _problem_row(problem: str) -> int:
    """The data row a problem names (problems without a row sort first)."""
    marker = problem.find(": row ")
    if marker < 0:
        return 0
    digits = problem[marker + 6:].split(" ", 1)[0]
    return int(digits) if digits.isdigit() else 0


def _raise_problems(where: str, problems: list[str]) -> None:
    if not problems:
        return
    problems = sorted(problems, key=_problem_row)
    shown = problems[:MAX_PROBLEMS_SHOWN]
    more = len(problems) - len(shown)
    lines = shown + ([f"... and {more} more problems"] if more else [])
    head = f"{where}: {len(problems)} problem(s) in the data:" if len(problems) > 1 else ""
    raise DataError(shown[0] if len(problems) == 1 else head + "\n" + "\n".join(f"  - {p}" for p in lines))


# --- reading -----------------------------------------------------------------


def _read_header(path: Path) -> list[str]:
    with open(path, newline="", encoding="utf-8-sig") as handle:
        return next(csv.reader(handle), [])


def read_csv_text(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a CSV as stripped text cells, keeping file line numbers (blank lines kept).

    Raises :class:`DataError` naming the file when it cannot be read, has no
    header, has a column twice, or has no data rows.
    """
    file = Path(path)
    try:
        header = [name.strip() for name in _read_header(file)]
        raw = pd.read_csv(file, dtype=str, keep_default_na=False, skip_blank_lines=False, encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise DataError(f"{file}: cannot read as CSV: {exc}") from exc
    check_row_widths(raw, file)
    duplicated = sorted({name for name in header if header.count(name) > 1})
    if duplicated:
        raise DataError(f"{file}: column(s) {', '.join(duplicated)} appear more than once in the header")
    raw.columns = header
    text = raw.apply(_as_text)
    if text.empty or (text == "").all(axis=1).all():
        raise DataError(f"{file}: no data rows")
    return text


def _drop_blank_and_junk(text: pd.DataFrame, where: str, problems: list[str]) -> pd.DataFrame:
    """Report and drop rows repeating the header; drop fully blank rows (keeping line numbers)."""
    junk = _header_junk(text)
    for index in _flagged(junk):
        problems.append(
            f"{where}: {_row_place(index)}: repeats the header line "
            "(files concatenated with their headers?); remove it"
        )
    return text[~(text == "").all(axis=1) & ~junk]


def validate_measurements(frame: pd.DataFrame, where: str = "<table>") -> pd.DataFrame:
    """Check a measurement table; return it typed, optional columns filled with defaults.

    ``where`` names the table in messages (a file path). Raises
    :class:`DataError` listing every problem with its row and column.
    """
    _check_required(frame.columns, MEASUREMENT_COLUMNS, where, "measurement table")
    all_rows = len(frame)
    frame = _drop_failed_rows(frame)
    if all_rows and frame.empty:
        raise DataError(f"{where}: no usable rows: all {all_rows} rows have a status other than ok "
                        "(e.g. oom), and such rows carry no energy")
    problems: list[str] = []
    text = _drop_blank_and_junk(frame.apply(_as_text), where, problems)
    parsed = _validate_columns(text, MEASUREMENT_COLUMNS, where, problems)
    _check_zero_output(parsed, where, problems)
    _check_token_magnitude(parsed, where, problems)
    _raise_problems(where, problems)
    return _typed_measurements(parsed)


def _drop_failed_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Drop rows a calibration run recorded as failed (``status`` other than ``ok``, e.g. ``oom``).

    Such rows document what could not be measured and carry no energy; row
    numbers in messages stay those of the file.
    """
    if "status" not in frame.columns:
        return frame
    status = frame["status"].astype(str).str.strip().str.lower()
    return frame[status.isin(["ok", "", "nan", "none"])]


def _check_zero_output(parsed: pd.DataFrame, where: str, problems: list[str]) -> None:
    zero_out = (parsed["n_out_tokens"] == 0) & (parsed["phase"] != "prefill")
    for index in _flagged(zero_out):
        problems.append(_problem(
            where, index, "n_out_tokens",
            "must be > 0 (0 only on phase=prefill rows), got 0",
        ))


MAX_TOKENS_PER_REQUEST = 1e8


def _check_token_magnitude(parsed: pd.DataFrame, where: str, problems: list[str]) -> None:
    """Token counts beyond any context length (overflowing the fits' features) are refused."""
    for column in ("n_in_tokens", "n_out_tokens", "batch_size"):
        values = pd.to_numeric(parsed[column], errors="coerce")
        for index in _flagged(values > MAX_TOKENS_PER_REQUEST):
            problems.append(_problem(where, index, column,
                                     f"must be <= {MAX_TOKENS_PER_REQUEST:g}, got {values[index]:g}"))


def _typed_measurements(parsed: pd.DataFrame) -> pd.DataFrame:
    out = parsed.reset_index(drop=True)
    for column in MEASUREMENT_COLUMNS:
        if column.kind in ("number",):
            out[column.name] = out[column.name].astype(float)
        elif column.kind == "integer":
            values = out[column.name].astype(float)
            out[column.name] = values if values.isna().any() else values.astype(int)
        elif column.kind == "bool":
            out[column.name] = out[column.name].astype(bool)
        else:
            out[column.name] = out[column.name].astype(str)
    return out


def read_measurements(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate a measurement table CSV (see :data:`MEASUREMENT_COLUMNS`)."""
    return validate_measurements(read_csv_text(path), str(path))


def accuracy_layout(columns: Iterable[str], where: str = "<table>") -> str:
    """``aggregated`` (n_items, n_correct) or ``per_item`` (item_id, correct)."""
    names = set(columns)
    if {"n_items", "n_correct"} & names:
        return "aggregated"
    if {"item_id", "correct"} & names:
        return "per_item"
    raise DataError(
        f"{where}: the accuracy table needs columns n_items and n_correct (aggregated rows) "
        f"or item_id and correct (per-item rows); the file has: {', '.join(sorted(names))}"
    )


def validate_accuracy(frame: pd.DataFrame, where: str = "<table>") -> pd.DataFrame:
    """Check an accuracy table (either layout); return it typed. See :func:`accuracy_layout`."""
    layout = accuracy_layout(frame.columns, where)
    columns = ACCURACY_AGGREGATED_COLUMNS if layout == "aggregated" else ACCURACY_PER_ITEM_COLUMNS
    _check_required(frame.columns, columns, where, f"accuracy table ({layout} rows)")
    problems: list[str] = []
    text = _drop_blank_and_junk(frame.apply(_as_text), where, problems)
    parsed = _validate_columns(text, columns, where, problems)
    if not problems:
        _check_accuracy_rows(parsed, layout, where, problems)
    _raise_problems(where, problems)
    out = parsed.reset_index(drop=True)
    out["budget_tokens"] = out["budget_tokens"].astype(float)
    out["votes"] = out["votes"].astype(float).astype(int)
    if layout == "aggregated":
        out["n_items"] = out["n_items"].astype(float).astype(int)
        out["n_correct"] = out["n_correct"].astype(float)
    else:
        out["correct"] = out["correct"].astype(bool)
    return out


def _check_accuracy_rows(parsed: pd.DataFrame, layout: str, where: str, problems: list[str]) -> None:
    votes_bad = (parsed["votes"].astype(float) > 1) & (parsed["strategy"] != "mv")
    for index in _flagged(votes_bad):
        problems.append(_problem(where, index, "votes", "must be 1 unless strategy is mv"))
    if layout == "aggregated":
        over = parsed["n_correct"].astype(float) > parsed["n_items"].astype(float)
        for index in _flagged(over):
            problems.append(_problem(where, index, "n_correct", "must be <= n_items"))
    else:
        key = ["model", "category", "strategy", "budget_tokens", "votes", "item_id"]
        repeated = parsed.duplicated(subset=key, keep="first")
        for index in _flagged(repeated)[:10]:
            problems.append(_problem(where, index, "item_id",
                                     f"{parsed.loc[index, 'item_id']!r} repeats an earlier row with the same "
                                     "model, category, strategy, budget_tokens and votes (graded twice?)"))


def read_accuracy(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and validate an accuracy table CSV (aggregated or per-item rows)."""
    return validate_accuracy(read_csv_text(path), str(path))


def aggregate_accuracy(table: pd.DataFrame) -> pd.DataFrame:
    """Per-item rows -> aggregated rows (``n_items``, ``n_correct``); aggregated rows pass through."""
    if "n_items" in table.columns:
        return table
    keys = [c.name for c in _ACCURACY_KEYS]
    grouped = table.groupby(keys, sort=True)["correct"]
    return grouped.agg(n_items="size", n_correct="sum").reset_index().astype({"n_correct": float})


def columns_markdown(columns: Iterable[Column]) -> str:
    """A Markdown table of a column catalog (for the documentation)."""
    lines = ["| column | required | unit | allowed | meaning |", "| --- | --- | --- | --- | --- |"]
    for column in columns:
        lines.append(
            f"| `{column.name}` | {_requirement(column)} | {column.unit} | "
            f"{column.allowed().replace('|', chr(92) + '|')} | {column.description} |"
        )
    return "\n".join(lines)


def _requirement(column: Column) -> str:
    if column.default is None:
        return "yes" if column.required else "no"
    unset = isinstance(column.default, float) and np.isnan(column.default)
    if column.required:
        return "yes, may be blank" if unset else f"yes, blank = {column.default!r}"
    return "no" if unset or column.default == "" else f"no (default {column.default!r})"


# --- prediction points ---------------------------------------------------------

POINT_COLUMNS: tuple[Column, ...] = (
    Column("n_in_tokens", "number", "tokens", "input tokens per request", minimum=0, strict=True),
    Column("n_out_tokens", "number", "tokens", "output tokens per request", minimum=0, strict=True),
    Column("batch_size", "number", "requests", "requests served together", False, minimum=1,
           default=1.0),
)


def validate_points(frame: pd.DataFrame, where: str = "<table>") -> pd.DataFrame:
    """Check a table of points to predict at (:data:`POINT_COLUMNS`); other columns pass through.

    Returns the typed point columns, indexed like the non-blank input rows.
    """
    _check_required(frame.columns, POINT_COLUMNS, where, "prediction points")
    problems: list[str] = []
    text = _drop_blank_and_junk(frame.apply(_as_text), where, problems)
    parsed = _validate_columns(text, POINT_COLUMNS, where, problems)
    _raise_problems(where, problems)
    return parsed[[c.name for c in POINT_COLUMNS]].astype(float)
