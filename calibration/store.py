"""Crash-safe tables: metadata first, then one appended, fsynced row at a time.

A table is a CSV file beside a metadata JSON file (``<name>.meta.json``). The
metadata is written (atomically) before the first row; each row is written,
flushed and fsynced as it is taken, so a killed run loses at most the row it
was writing, and that row was not complete. Opening an existing table drops
such a partial last line, reads the rows already there (so the caller can skip
completed cells) and checks that the run is the same measurement (same model,
weights, dtype, hardware, meter source); it then appends.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from tpf.atomic import checked_target, write_text_atomic
from tpf.errors import CalibrationError

REPO_ROOT = Path(__file__).resolve().parent.parent
IDENTITY_KEYS = ("task", "model", "weights", "dtype", "hardware", "source")


def write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON to ``path`` atomically, fsynced before the rename."""
    write_text_atomic(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n", fsync=True)


def metadata_path(table_path: Path) -> Path:
    return table_path.with_name(table_path.stem + ".meta.json")


class AppendOnlyTable:
    """A CSV table opened for crash-safe appending. Use :func:`open_table`."""

    def __init__(self, path: Path, columns: Sequence[str], existing_rows: list[dict[str, str]]):
        self.path = path
        self.columns = list(columns)
        self.existing_rows = existing_rows
        self._stream = path.open("a", newline="")

    def append(self, row: dict[str, Any]) -> None:
        """Write one row, flush it and fsync it before returning."""
        unknown = set(row) - set(self.columns)
        if unknown:
            raise CalibrationError(f"{self.path}: row has columns not in the table: {sorted(unknown)}")
        buffer = io.StringIO()
        csv.writer(buffer, lineterminator="\n").writerow([_cell(row.get(c)) for c in self.columns])
        self._stream.write(buffer.getvalue())
        self._stream.flush()
        os.fsync(self._stream.fileno())

    def close(self) -> None:
        self._stream.close()

    def __enter__(self) -> AppendOnlyTable:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "" if value != value else repr(value)  # NaN -> empty
    return str(value)


def open_table(path: str | Path, columns: Sequence[str], metadata: dict[str, Any]) -> AppendOnlyTable:
    """Open (create or resume) the table at ``path``; metadata is on disk before any row."""
    table_path = checked_target(path)  # a regular file or absent; symlinks followed
    meta_path = metadata_path(table_path)
    if table_path.exists():
        existing = _resume(table_path, meta_path, columns, metadata)
    else:
        write_json_atomic(meta_path, {**metadata, "runs": [_run_stamp()]})
        _write_header(table_path, columns)
        existing = []
    return AppendOnlyTable(table_path, columns, existing)


def _write_header(path: Path, columns: Sequence[str]) -> None:
    with path.open("w", newline="") as stream:
        csv.writer(stream, lineterminator="\n").writerow(columns)
        stream.flush()
        os.fsync(stream.fileno())


def _resume(
    table_path: Path, meta_path: Path, columns: Sequence[str], metadata: dict[str, Any]
) -> list[dict[str, str]]:
    old_metadata = read_metadata(meta_path)
    differences = [
        f"{key}: table has {old_metadata.get(key)!r}, this run has {metadata.get(key)!r}"
        for key in IDENTITY_KEYS
        if key in metadata and key in old_metadata and old_metadata[key] != metadata[key]
    ]
    if differences:
        raise CalibrationError(
            f"{table_path} holds a different measurement; use another output folder or remove it:\n  "
            + "\n  ".join(differences)
        )
    _drop_partial_last_line(table_path)
    with table_path.open(newline="") as stream:
        reader = csv.DictReader(stream)
        if list(reader.fieldnames or []) != list(columns):
            raise CalibrationError(
                f"{table_path}: columns {reader.fieldnames} differ from this run's {list(columns)}"
            )
        rows = list(reader)
    check_rows_match(table_path, rows, metadata)
    runs = [*old_metadata.get("runs", []), _run_stamp(resumed_after_rows=len(rows))]
    write_json_atomic(meta_path, {**metadata, **{k: old_metadata[k] for k in IDENTITY_KEYS if k in old_metadata}, "runs": runs})
    return rows


def read_metadata(meta_path: Path) -> dict[str, Any]:
    """The metadata of an existing table ({} when the file is absent); a clear error when unreadable."""
    if not meta_path.exists():
        return {}
    try:
        data = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(
            f"{meta_path}: the table's metadata file is unreadable or corrupted ({exc}); "
            "restore it, or move the table and its metadata away to start a new measurement"
        ) from exc
    if not isinstance(data, dict):
        raise CalibrationError(f"{meta_path}: the table's metadata must be a JSON object, got {type(data).__name__}")
    return data


def check_rows_match(table_path: Path, rows: list[dict[str, str]], metadata: dict[str, Any]) -> None:
    """Refuse to append when the rows already there were measured differently.

    The rows' own identity columns (model, hardware, dtype, weights, source)
    are compared with this run's values, so a deleted or edited metadata file
    cannot hide a mismatch. The message names the column and the first row.
    """
    for key in IDENTITY_KEYS:
        if metadata.get(key) in (None, "") or not rows or key not in rows[0]:
            continue
        expected = _cell(metadata[key])
        for number, row in enumerate(rows, start=1):
            found = row.get(key) or ""
            if found and found != expected:
                raise CalibrationError(
                    f"{table_path}: row {number} (line {number + 1}), column {key}: the table holds {found!r} but this run "
                    f"measures {expected!r}; use another output folder, or rerun with {key}={found}"
                )


def _drop_partial_last_line(path: Path) -> None:
    """Cut a last line that lacks its newline: the row being written when the run died."""
    data = path.read_bytes()
    if not data or data.endswith(b"\n"):
        return
    with path.open("r+b") as stream:
        stream.truncate(data.rfind(b"\n") + 1)
        stream.flush()
        os.fsync(stream.fileno())


def _run_stamp(resumed_after_rows: int | None = None) -> dict[str, Any]:
    stamp: dict[str, Any] = {"started_utc": utc_now(), "git_commit": git_commit(), "host": platform.node()}
    if resumed_after_rows is not None:
        stamp["resumed_after_rows"] = resumed_after_rows
    return stamp


def utc_now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def git_commit() -> str:
    """The repository's commit, with ``+dirty`` if it has uncommitted changes; ``unknown`` outside git."""
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"], capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, check=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+dirty" if dirty else "")


def package_version(name: str) -> str | None:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return None


def software_versions() -> dict[str, str | None]:
    return {
        "python": platform.python_version(),
        "torch": package_version("torch"),
        "transformers": package_version("transformers"),
        "nvidia-ml-py": package_version("nvidia-ml-py"),
        "tpf": package_version("tpf"),
    }
