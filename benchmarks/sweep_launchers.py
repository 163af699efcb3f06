"""Run one tpf multirun under several Hydra launchers; print each wall time and whether the
results agree.

Usage::

    python benchmarks/sweep_launchers.py --out DIR [--workers 2] [--launchers joblib,ray] \\
        -- sweep scenario=carbon_whatif grid.scale=0.5,1,2,4 report=minimal

Everything after ``--`` is the tpf command line (``sweep ...`` or ``replan --multirun ...``).
Each launcher runs it in a fresh process (``tpf ...``) with ``hydra.sweep.dir=DIR/<launcher>``
and the same number of workers: joblib ``hydra.launcher.n_jobs=N``; ray a local instance of
``hydra.launcher.ray.init.num_cpus=N`` started by the launcher (its start is in the wall time);
basic runs the points one after another in process. The agreement check compares every point's
``summary.json`` (keys starting ``wall_s`` left out: wall times), the point folders, and the
sweep's ``sweep_summary.csv`` byte for byte against the first launcher's.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

WORKER_SETTINGS = {
    "joblib": lambda n: [f"hydra.launcher.n_jobs={n}"],
    "ray": lambda n: [f"+hydra.launcher.ray.init.num_cpus={n}"],
    "basic": lambda n: [],
}


def points(sweep_dir: Path) -> dict[str, object]:
    """Each point folder's summary.json without wall times (None where it has none)."""
    out: dict[str, object] = {}
    for folder in sorted((p for p in sweep_dir.iterdir() if (p / ".hydra").is_dir()), key=lambda p: p.name):
        path = folder / "summary.json"
        summary = json.loads(path.read_text()) if path.is_file() else None
        out[folder.name] = summary and {k: v for k, v in summary.items() if not k.startswith("wall_s")}
    return out


def run(tpf: str, command: list[str], launcher: str, workers: int, sweep_dir: Path) -> tuple[float, int]:
    argv = [tpf, *command, f"hydra/launcher={launcher}", *WORKER_SETTINGS[launcher](workers),
            f"hydra.sweep.dir={sweep_dir}"]
    log = sweep_dir.with_suffix(".log")
    start = time.perf_counter()
    with log.open("w") as handle:
        code = subprocess.call(argv, stdout=handle, stderr=subprocess.STDOUT)
    return time.perf_counter() - start, code


def main(argv: list[str]) -> int:
    split = argv.index("--") if "--" in argv else len(argv)
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="folder for one sweep folder per launcher")
    parser.add_argument("--workers", type=int, default=2, help="parallel points per launcher (default 2)")
    parser.add_argument("--launchers", default="joblib,ray", help="comma-separated: joblib, ray, basic")
    parser.add_argument("--tpf", default=shutil.which("tpf") or "tpf", help="the tpf executable")
    args = parser.parse_args(argv[:split])
    command = argv[split + 1:]
    if not command:
        parser.error("give the tpf command line after --")
    launchers = [name.strip() for name in args.launchers.split(",") if name.strip()]
    unknown = [name for name in launchers if name not in WORKER_SETTINGS]
    if unknown:
        parser.error(f"--launchers: unknown {unknown}; valid: {', '.join(WORKER_SETTINGS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    first: tuple[dict[str, object], str] | None = None
    agree = True
    for launcher in launchers:
        sweep_dir = args.out / launcher
        wall_s, code = run(args.tpf, command, launcher, args.workers, sweep_dir)
        table_path = sweep_dir / "sweep_summary.csv"
        result = (points(sweep_dir), table_path.read_text() if table_path.is_file() else "")
        same = "" if first is None else (
            f"; points {'identical' if result[0] == first[0] else 'DIFFER'}, "
            f"table {'identical' if result[1] == first[1] else 'DIFFERS'} to {launchers[0]}'s")
        agree = agree and (first is None or result == first)
        first = first or result
        print(f"{launcher}: {wall_s:.1f} s wall, {args.workers} workers, exit {code}, "
              f"{len(result[0])} point folders{same} ({sweep_dir})", flush=True)
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
