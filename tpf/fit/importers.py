"""Convert published energy measurements into the tpf measurement table.

* :func:`import_wilkins` reads the per-request sweeps of Wilkins, Keshav and
  Mortier 2024 ("Offline Energy-Optimal LLM Serving", grantwilkins/energy-inference):
  Llama-2-7B, Mistral-7B and Falcon-7B on an A100 (Swing AMD+A100). Rows whose
  ``Phase`` starts with ``start-inference`` are inference runs; ``Iteration 0``
  is a warm-up (kept, flagged ``warmup``). Runs are effectively batch 1 (the
  files' ``Batch Size`` column is a configured maximum). ``n_out_tokens`` is the
  requested ``max_new_tokens``; the sweeps set ``min_new_tokens = 0.9 *
  max_new_tokens``, so the true count lies within 10 % below it.
* :func:`import_mlenergy_v2` reads the ML.ENERGY leaderboard v2 configurations
  (vLLM, A100-40GB and H100): energy per request at an average batch size. The
  file has no input lengths, so the caller gives them per task.

* :func:`tpf.fit.mlenergy_v3.import_mlenergy_v3` reads the ML.ENERGY leaderboard v3
  configurations (vLLM 0.11, H100 and B200), each row checked (zero throughput,
  power above the GPU's TDP: refused, naming the line and column).

* :func:`import_mlenergy_v1` reads the ML.ENERGY leaderboard v1 (2023) per-request
  tables ``<GPU>_<task>_benchmark.csv`` (A40, A100, V100; roughly batch 1, one
  GPU per model): energy per request (J), latency (s), response length. No input
  lengths either: the caller gives them per task.

Importers take paths and return validated measurement tables; ``python -m
tpf.fit.importers`` writes them as CSV.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

from tpf.atomic import write_text_atomic
from tpf.cards import AccuracyCard, EnergyCard, load_card
from tpf.errors import CardError, ConfigError, DataError
from tpf.schema import read_csv_text, validate_measurements

WILKINS_COLUMNS = (
    "Phase", "Runtime (s)", "GPU Energy (J)", "Number of Input Tokens", "Iteration",
    "Model", "Number of GPUs", "System",
)
WILKINS_OUTPUT_COLUMNS = ("Number of Output Tokens", "Output Token Limit")
MLENERGY_V2_COLUMNS = (
    "task", "config", "Model", "GPU", "TP", "PP", "Energy/req (J)", "Avg TPOT (s)",
    "Avg Output Tokens", "Avg BS (reqs)",
)


#: raw published formats -> (their columns, the extra `tpf import` options they need)
RAW_FORMATS = {
    "wilkins": (WILKINS_COLUMNS, ""),
    "mlenergy-v2": (MLENERGY_V2_COLUMNS, " --n-in-tokens N"),
    "mlenergy-v3": (("task", "model_id", "gpu_model", "avg_power_watts", "output_throughput_tokens_per_sec"),
                    " --n-in-tokens N"),
}


def table_hint(path: str | os.PathLike[str], wanted: str) -> str | None:
    """What to do with ``path`` when it is not a ``wanted`` table (``measurement`` or
    ``accuracy``): the `tpf import` command of a raw published file, or the other fit."""
    try:
        header = set(pd.read_csv(path, nrows=0).columns)
    except (OSError, ValueError):
        return None
    for name, (columns, options) in RAW_FORMATS.items():
        if set(columns) <= header:
            return (f"{path} is a raw {name} file; convert it first: "
                    f"tpf import {name} {path}{options} --out measurements.csv, then fit measurements.csv")
    if wanted == "measurement" and ({"n_items", "n_correct"} <= header or {"item_id", "correct"} <= header):
        return f"{path} is an accuracy table; fit it with tpf fit accuracy"
    if wanted == "accuracy" and {"energy_j", "n_in_tokens"} <= header:
        return f"{path} is a measurement table; fit it with tpf fit energy"
    return None


def with_table_hint(error: DataError, path: str | os.PathLike[str], wanted: str) -> DataError:
    """``error`` with :func:`table_hint`'s advice appended, when there is any."""
    hint = table_hint(path, wanted)
    return DataError(f"{error}\nhint: {hint}") if hint else error


def _csv_files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    files: list[Path] = []
    for entry in map(Path, paths):
        if entry.is_dir():
            files.extend(sorted(entry.glob("*.csv")))
        elif entry.is_file():
            files.append(entry)
        else:
            raise DataError(f"{entry}: no such file or folder")
    if not files:
        raise DataError(f"no CSV files in {', '.join(map(str, paths))}")
    return files


def _require(frame: pd.DataFrame, columns: Iterable[str], where: Path, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DataError(
            f"{where}: not a {what} file: missing column(s) {', '.join(missing)}; "
            f"it has: {', '.join(frame.columns)}"
        )


def wilkins_model_name(name: str) -> str:
    """``Llama-2 (7B)`` -> ``Llama-2-7B``; other names pass through stripped."""
    match = re.fullmatch(r"\s*(.+?)\s*\((\d+(?:\.\d+)?[BM])\)\s*", name)
    return f"{match.group(1)}-{match.group(2)}" if match else name.strip()


def _wilkins_file(path: Path, hardware: str) -> pd.DataFrame:
    raw = read_csv_text(path)
    _require(raw, WILKINS_COLUMNS, path, "Wilkins et al. sweep")
    output_column = next((c for c in WILKINS_OUTPUT_COLUMNS if c in raw.columns), None)
    if output_column is None:
        raise DataError(f"{path}: needs one of the columns {', '.join(WILKINS_OUTPUT_COLUMNS)}")
    runs = raw[raw["Phase"].str.startswith("start-inference")]
    iteration = pd.to_numeric(runs["Iteration"], errors="coerce")
    return pd.DataFrame({
        "model": runs["Model"].map(wilkins_model_name),
        "hardware": hardware,
        "n_in_tokens": runs["Number of Input Tokens"],
        "n_out_tokens": runs[output_column],
        "batch_size": 1,
        "energy_j": runs["GPU Energy (J)"],
        "duration_s": runs["Runtime (s)"],
        "phase": "total",
        "gpu_count": runs["Number of GPUs"],
        "source": "wilkins2024:" + runs["System"],
        "run": runs["Phase"],
        "repetition": runs["Iteration"],
        "warmup": (iteration == 0).map({True: "true", False: "false"}),
        "source_file": path.name,
        "source_line": runs.index.to_series() + 2,
    })


def import_wilkins(
    paths: Iterable[str | os.PathLike[str]], hardware: str = "A100-40GB"
) -> pd.DataFrame:
    """Wilkins et al. 2024 sweep files (or folders of them) -> a measurement table.

    The same run appears in several of the published files (``independence.csv``
    holds both sweeps); a run is kept once, identified by model, phase,
    iteration, token counts, energy and runtime. ``hardware`` names the GPU
    (the Swing system's A100s have 40960 MB, per the sweep files).
    """
    files = _csv_files(paths)
    frames = [_wilkins_file(path, hardware) for path in files]
    table = pd.concat(frames, ignore_index=True)
    identity = ["model", "source", "run", "repetition", "n_in_tokens", "n_out_tokens", "energy_j", "duration_s"]
    table = table.drop_duplicates(subset=identity, keep="first").reset_index(drop=True)
    return validate_measurements(table, ", ".join(map(str, files)))


def mlenergy_hardware_name(gpu: str) -> str:
    """``NVIDIA A100-SXM4-40GB`` -> ``A100-SXM4-40GB``; ``NVIDIA H100 80GB HBM3`` -> ``H100-80GB-HBM3``."""
    return re.sub(r"\s+", "-", re.sub(r"^NVIDIA\s+", "", gpu.strip()))



def rows_of_tasks(rows: pd.DataFrame, tasks: Iterable[str] | None, n_in_tokens: float | Mapping[str, float],
                  file: Path) -> tuple[pd.DataFrame, Mapping[str, float]]:
    """The rows of ``tasks`` (all where None) and the input length of each of their tasks
    (``n_in_tokens``: one number for all, or one per task; a task without one is refused)."""
    if tasks is not None:
        rows = rows[rows["task"].isin(list(tasks))]
    lengths = n_in_tokens if isinstance(n_in_tokens, Mapping) else dict.fromkeys(set(rows["task"]), n_in_tokens)
    missing = sorted(set(rows["task"]) - set(lengths))
    if missing:
        raise DataError(f"{file}: no n_in_tokens given for task(s) {', '.join(missing)}")
    return rows, lengths

def import_mlenergy_v2(
    path: str | os.PathLike[str],
    n_in_tokens: float | Mapping[str, float],
    tasks: Iterable[str] | None = None,
) -> pd.DataFrame:
    """ML.ENERGY leaderboard v2 configurations -> a measurement table.

    One row per configuration: ``batch_size`` is the average running batch,
    ``energy_j`` the window energy (energy per request x batch size),
    ``n_out_tokens`` the average output length, ``duration_s`` the decode time
    of a request (average TPOT x output tokens), ``gpu_count = TP x PP``. The
    file holds no input lengths: ``n_in_tokens`` gives them, one number or one
    per task (e.g. ``{"chat": ..., "code": ...}``); the rows' ``source`` says so.
    """
    file = Path(path)
    raw = read_csv_text(file)
    _require(raw, MLENERGY_V2_COLUMNS, file, "ML.ENERGY v2 configuration")
    raw, lengths = rows_of_tasks(raw, tasks, n_in_tokens, file)
    number = {c: pd.to_numeric(raw[c], errors="coerce") for c in MLENERGY_V2_COLUMNS[4:]}
    table = pd.DataFrame({
        "model": raw["Model"],
        "hardware": raw["GPU"].map(mlenergy_hardware_name),
        "n_in_tokens": raw["task"].map(lengths),
        "n_out_tokens": number["Avg Output Tokens"],
        "batch_size": number["Avg BS (reqs)"],
        "energy_j": number["Energy/req (J)"] * number["Avg BS (reqs)"],
        "duration_s": number["Avg TPOT (s)"] * number["Avg Output Tokens"],
        "phase": "total",
        "gpu_count": number["TP"] * number["PP"],
        "source": "mlenergy_v2:" + raw["task"] + " (n_in_tokens assumed: not in the data)",
        "task": raw["task"],
        "config": raw["config"],
        "source_line": raw.index.to_series() + 2,
    })
    return validate_measurements(table.reset_index(drop=True), str(file))


MLENERGY_V1_COLUMNS = ("model", "throughput", "response_length", "latency", "energy")
_V1_FILE = re.compile(r"^(?P<gpu>[A-Za-z0-9]+)_(?P<task>[a-z-]+)_benchmark\.csv$")


def _v1_file(path: Path, lengths: Mapping[str, float] | float) -> pd.DataFrame:
    match = _V1_FILE.match(path.name)
    if not match:
        raise DataError(f"{path}: expected a file named <GPU>_<task>_benchmark.csv (ML.ENERGY v1)")
    raw = read_csv_text(path)
    _require(raw, MLENERGY_V1_COLUMNS, path, "ML.ENERGY v1 benchmark")
    task = match.group("task")
    n_in = lengths if not isinstance(lengths, Mapping) else lengths.get(task)
    if n_in is None:
        raise DataError(f"{path}: no n_in_tokens given for task {task!r}")
    number = {c: pd.to_numeric(raw[c], errors="coerce") for c in MLENERGY_V1_COLUMNS[1:]}
    return pd.DataFrame({
        "model": raw["model"], "hardware": match.group("gpu"), "n_in_tokens": float(n_in),
        "n_out_tokens": number["response_length"], "batch_size": 1.0, "energy_j": number["energy"],
        "duration_s": number["latency"], "phase": "total", "gpu_count": 1,
        "source": f"mlenergy_v1:{path.name} (batch about 1; n_in_tokens assumed: not in the data)",
        "task": task, "source_line": raw.index.to_series() + 2,
    })


def import_mlenergy_v1(paths: Iterable[str | os.PathLike[str]],
                       n_in_tokens: float | Mapping[str, float]) -> pd.DataFrame:
    """ML.ENERGY v1 per-request tables -> a measurement table (one row per model and file).

    ``energy_j`` is the energy of one request, ``duration_s`` its latency,
    ``n_out_tokens`` the mean response length, ``batch_size`` 1 (the leaderboard
    served requests about one at a time). ``n_in_tokens``: one number or one per
    task (``chat``, ``chat-concise``, ``instruct``, ``instruct-concise``).
    """
    files = [f for f in _csv_files(paths) if f.name.endswith("_benchmark.csv")]
    if not files:
        raise DataError(f"no <GPU>_<task>_benchmark.csv files in {', '.join(map(str, paths))}")
    tables = [_v1_file(f, n_in_tokens) for f in files]
    return validate_measurements(pd.concat(tables, ignore_index=True), ", ".join(f.name for f in files))


def _parse_lengths(text: str) -> float | dict[str, float]:
    """``N`` or ``task=N,task=M``; a ConfigError naming ``--n-in-tokens`` for anything else."""
    def number(value: str, task: str = "") -> float:
        place = f" for task {task!r}" if task else ""
        try:
            parsed = float(value)
        except ValueError:
            parsed = float("nan")
        if not (np.isfinite(parsed) and parsed > 0):
            raise ConfigError(f"--n-in-tokens: must be a number > 0{place} (N or task=N,task=M), got {value.strip()!r}")
        return parsed

    if "=" not in text:
        return number(text)
    lengths = {}
    for item in text.split(","):
        task, _, value = item.partition("=")
        if not task.strip() or not _:
            raise ConfigError(f"--n-in-tokens: each item must read task=N, got {item.strip()!r}")
        lengths[task.strip()] = number(value, task.strip())
    return lengths


def main(argv: list[str] | None = None) -> int:
    """``python -m tpf.fit.importers wilkins|mlenergy-v2|mlenergy-v3|mlenergy-v1 PATH... --out CSV``."""
    parser = argparse.ArgumentParser(prog="python -m tpf.fit.importers", description=__doc__.split("\n\n")[0])
    parser.add_argument("format", choices=["wilkins", "mlenergy-v2", "mlenergy-v3", "mlenergy-v1"])
    parser.add_argument("paths", nargs="+", help="files or folders to import")
    parser.add_argument("--out", required=True, help="measurement table CSV to write")
    parser.add_argument("--hardware", default="A100-40GB", help="wilkins: GPU name (default A100-40GB)")
    parser.add_argument("--n-in-tokens", help="mlenergy-v1/-v2/-v3: input tokens, N or chat=N,code=M")
    parser.add_argument("--task", action="append", help="mlenergy-v3: keep only this task (repeatable)")
    if argv and argv[0] == "import":  # called as `tpf import ...`
        parser.prog, argv = "tpf import", argv[1:]
    args = parser.parse_args(argv)
    try:
        if args.format == "wilkins":
            table = import_wilkins(args.paths, args.hardware)
        elif args.n_in_tokens is None:
            parser.error(f"{args.format} needs --n-in-tokens (the files hold no input lengths)")
        elif args.format == "mlenergy-v1":
            table = import_mlenergy_v1(args.paths, _parse_lengths(args.n_in_tokens))
        elif args.format == "mlenergy-v3":
            from tpf.fit.mlenergy_v3 import import_mlenergy_v3

            table = import_mlenergy_v3(args.paths[0], _parse_lengths(args.n_in_tokens), args.task)
        else:
            table = import_mlenergy_v2(args.paths[0], _parse_lengths(args.n_in_tokens))
    except DataError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return 1
    write_table(table, args.out)
    print(f"wrote {len(table)} rows to {args.out}")
    if "source_line" in table.columns and args.format != "wilkins":
        print(f"rows used: {args.paths[0]} lines {_line_ranges(table['source_line'])}")
    return 0


def _line_ranges(lines: pd.Series) -> str:
    """``2-9, 12, 15-20``: the file lines used, as ranges."""
    values, parts = sorted(int(v) for v in lines), []
    for value in values:
        if parts and value == parts[-1][1] + 1:
            parts[-1][1] = value
        else:
            parts.append([value, value])
    return ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in parts)


def write_table(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a CSV atomically (an existing file is replaced only when complete)."""
    return write_text_atomic(path, table.to_csv(index=False))


if __name__ == "__main__":
    sys.exit(main())


CardT = TypeVar("CardT", EnergyCard, AccuracyCard)


def load_card_as(path: str | Path, card_type: type[CardT], hint: str) -> CardT:
    """The card at ``path``, which must be a ``card_type``; else a CardError ending in ``hint``."""
    card = load_card(path)
    if not isinstance(card, card_type):
        raise CardError(f"{path}: is not an {card_type.__name__}; {hint}")
    return card
