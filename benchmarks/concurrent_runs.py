"""Start N ``tpf plan`` runs at once in one folder; check each got its own, self-consistent run folder.

    python3 benchmarks/concurrent_runs.py [--runs 10] [--folder DIR]

Each run gets a distinct PUE (``facility.pue=1.30, 1.31, ...``). A run folder is
self-consistent when its ``.hydra/overrides.yaml`` and ``.hydra/config.yaml``
carry the PUE of one run, and its ``summary.json`` has facility kWh / IT kWh
equal to that same PUE (facility energy = IT energy x PUE). Prints one line
per folder and a verdict; exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def launch(folder: Path, runs: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "tpf.cli", "plan", "workload=small", "workload.n_periods=2", "report=minimal"]
    return [subprocess.Popen([*command, f"facility.pue={1.30 + 0.01 * i:.2f}"], cwd=folder, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for i in range(runs)]


def check(run_dir: Path) -> tuple[float | None, list[str]]:
    problems = []
    overrides = yaml.safe_load((run_dir / ".hydra" / "overrides.yaml").read_text())
    pues = [float(o.split("=", 1)[1]) for o in overrides if o.startswith("facility.pue=")]
    config_pue = float(yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())["facility"]["pue"])
    summary = json.loads((run_dir / "summary.json").read_text())
    ratio = summary["facility_energy_kwh"] / summary["it_energy_kwh"]
    if len(pues) != 1:
        return None, [f"overrides.yaml holds {len(pues)} PUE overrides"]
    if abs(config_pue - pues[0]) > 1e-9:
        problems.append(f"config.yaml PUE {config_pue} != overrides {pues[0]}")
    if abs(ratio - pues[0]) > 1e-6:
        problems.append(f"summary facility/IT = {ratio:.6f} != PUE {pues[0]}")
    for name in ("report.md", "plan.csv", "policy.json"):
        if not (run_dir / name).is_file():
            problems.append(f"{name} missing")
    return pues[0], problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--folder", type=Path, default=None)
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="tpf-concurrent-"))
    start = time.perf_counter()
    processes = launch(folder, args.runs)
    codes = [p.wait() for p in processes]
    print(f"{args.runs} runs in {folder}: exit codes {codes}, {time.perf_counter() - start:.1f} s")
    run_dirs = sorted(p for p in (folder / "outputs" / "plan").iterdir() if p.is_dir())
    seconds = {d.name.split("_")[0] + "_" + d.name.split("_")[1] for d in run_dirs}
    failures, seen = 0, []
    for run_dir in run_dirs:
        pue, problems = check(run_dir)
        seen.append(pue)
        failures += bool(problems)
        print(f"  {run_dir.name}: PUE {pue}: {'consistent' if not problems else '; '.join(problems)}")
    distinct = len(set(seen)) == len(seen) == args.runs
    print(f"{len(run_dirs)} run folders ({len(seconds)} distinct start seconds), "
          f"{len(set(seen))} distinct runs, {failures} inconsistent; "
          f"{'OK' if distinct and not failures and not any(codes) else 'FAILED'}")
    return 0 if distinct and not failures and not any(codes) else 1


if __name__ == "__main__":
    sys.exit(main())
