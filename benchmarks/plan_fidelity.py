"""Plan against the independent simulation, per scenario, with an older checkout's figures beside.

For every shipped scenario and the Azure LLM trace replays (conv and code,
each on the 8B-only fleet of 24 L40S at operating points 1..64 and on the
scenario's own fleet), ``tpf simulate`` runs with the event engine in a fresh
process; its summary.json gives the plan's and the simulation's facility kWh
and the simulation's p99 latency and time to first token; its
model_hourly.csv the model-hours whose planned batch did not form. With
``--old-root`` (a checkout of an earlier tpf) the same command runs on that
code too, and its plan and simulation figures are printed beside.

A scenario busier than ``--max-rate`` queries/s on average is run at that
rate (``workload.total_rate_per_s``), so the event engine holds at most about
2.6 million requests. Scenarios naming reference data (``../shared/data``) run
from a scratch folder whose ``../shared`` links to ``--shared``.

    python benchmarks/plan_fidelity.py --shared /work/shared --old-root /work/main
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parent.parent
TRACE = "{shared}/data/traces/azure_llm_2023/AzureLLMInferenceTrace_{name}.csv"
FLEET_8B = ["planner=max_accuracy", "planner.strategies=[zero_shot]",
            "fleet.entries=[{model: llama-3.1-8b, hardware: l40s, gpus: 24, utilization: 0.8}]",
            "cards.models=[llama-3.1-8b]", "planner.operating_points=[1,4,16,32,64]"]
SCENARIOS = ("paper_l40s", "capacity", "carbon_whatif", "power_capped", "two_sites")
TOLERANCE_PCT = 5.0


def cases(shared: str) -> dict[str, list[str]]:
    out = {name: [f"scenario={name}"] for name in SCENARIOS}
    for trace in ("conv", "code"):
        replay = ["workload=azure_conv", f"workload.trace.path={TRACE.format(shared=shared, name=trace)}",
                  "workload.trace.answer_tokens=trace"]
        out[f"azure_{trace} 8B x24"] = replay + FLEET_8B
        out[f"azure_{trace} paper fleet"] = replay
    return out


def run_case(root: Path, overrides: list[str], workdir: Path, out_dir: Path, reuse: Path | None = None) -> dict:
    if reuse is not None and (reuse / "summary.json").is_file():
        out_dir = reuse  # an earlier run of the same case (--reuse-old)
    else:
        env = {**os.environ, "PYTHONPATH": str(root)}
        command = [sys.executable, "-m", "tpf.cli", "simulate", *overrides, "simulate=event", "report=minimal",
                   "report.figures=false", f"hydra.run.dir={out_dir}"]
        done = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True)
        if done.returncode != 0 and not (out_dir / "summary.json").is_file():
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            return {"error": tail[0][:120]}
    summary = json.loads((out_dir / "summary.json").read_text())
    if summary.get("status") not in ("optimal", "feasible"):
        return {"error": f"plan {summary.get('status')}: {str(summary.get('diagnosis', ''))[:150]}"}
    sim = summary.get("simulation", {})
    figures = {"plan_kwh": summary["plan"]["facility_energy_kwh"], "sim_kwh": sim.get("facility_energy_kwh"),
               "p99_s": sim.get("latency_p99_s"), "ttft_p99_s": sim.get("ttft_p99_s")}
    model_hourly = out_dir / "model_hourly.csv"
    if model_hourly.is_file():
        table = pd.read_csv(model_hourly)
        figures["not_formed"] = int((~table["batch_formed"].astype(bool)).sum())
        figures["model_hours"] = len(table)
    return figures


def rate_capped(root: Path, overrides: list[str], max_rate: float) -> list[str]:
    code = ("import sys; from tpf.config.compose import compose; "
            "print(compose(sys.argv[1:]).workload.total_rate_per_s)")
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run([sys.executable, "-c", code, *overrides], env=env, capture_output=True, text=True)
    try:
        rate = float(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return overrides
    return overrides + [f"workload.total_rate_per_s={max_rate}"] if rate > max_rate else overrides


def _pct(new: float | None, base: float | None) -> str:
    if new is None or not base:
        return "-"
    return f"{100.0 * (new / base - 1.0):+.1f}%"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(REPO.parent / "shared"), help="folder holding data/")
    parser.add_argument("--old-root", default=None, help="an earlier tpf checkout to run beside")
    parser.add_argument("--max-rate", type=float, default=30.0)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="case names to run (default: all)")
    parser.add_argument("--reuse-old", default=None, help="run folder of an earlier call: read its old-side results")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="plan_fidelity_"))
    (scratch / "shared").symlink_to(Path(args.shared).resolve())
    (scratch / "cwd").mkdir()
    chosen = {k: v for k, v in cases(args.shared).items() if not args.only or k in args.only}
    roots = {"new": REPO} | ({"old": Path(args.old_root)} if args.old_root else {})
    jobs = [(case, side, root, rate_capped(root, overrides, args.max_rate))
            for case, overrides in chosen.items() for side, root in roots.items()]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda j: run_case(
            j[2], j[3], scratch / "cwd", scratch / f"{j[0].replace(' ', '_')}_{j[1]}",
            Path(args.reuse_old) / f"{j[0].replace(' ', '_')}_old" if args.reuse_old and j[1] == "old" else None),
            jobs))
    figures = {(case, side): result for (case, side, _, _), result in zip(jobs, results, strict=True)}
    header = (f"{'case':<26}{'old plan':>10}{'old sim':>10}{'old diff':>9}{'plan kWh':>10}{'sim kWh':>10}"
              f"{'diff':>8}{'<=5%':>6}{'p99 s':>9}{'TTFT99 s':>9}{'not formed':>12}")
    print(header)
    for case in chosen:
        old, new = figures.get((case, "old"), {}), figures[(case, "new")]
        if "error" in new:
            print(f"{case:<26} new: {new['error']}")
            continue
        diff = 100.0 * (new["sim_kwh"] / new["plan_kwh"] - 1.0) if new["plan_kwh"] else float("nan")
        old_cells = (f"{old['plan_kwh']:>10.4g}{old['sim_kwh']:>10.4g}{_pct(old['sim_kwh'], old['plan_kwh']):>9}"
                     if old and "error" not in old else f"{'-':>10}{'-':>10}{'-':>9}")
        formed = f"{new.get('not_formed', '-')}/{new.get('model_hours', '-')}"
        print(f"{case:<26}{old_cells}{new['plan_kwh']:>10.4g}{new['sim_kwh']:>10.4g}{diff:>+7.1f}%"
              f"{'yes' if abs(diff) <= TOLERANCE_PCT else 'NO':>6}{new['p99_s'] or float('nan'):>9.3g}"
              f"{new.get('ttft_p99_s') or float('nan'):>9.3g}{formed:>12}")
        if old and "error" in old:
            print(f"{'':<26} old: {old['error']}")
    print(f"\nrun folders: {scratch}")


if __name__ == "__main__":
    main()
