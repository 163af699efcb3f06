"""Each class's shares as real routers would carry them out, against the plan, for every shipped scenario;
and the number of distinct hourly configs before and after tie-breaking.

Per scenario of ``scenarios/`` (full size unless ``--periods``):

1. plans it twice, with ties left to the solver (``solve(..., stable_ties=False)``)
   and broken by the documented rule (:mod:`tpf.plan.ties`, the default), and
   counts the configs ``tpf policy export --bands`` writes (hour bands, carbon
   bands; 1 when the split never changes) and the objective of each;
2. on the stable plan, every band (all day, each hour band and carbon band):
   * semantic router: the option each of the 100 buckets of each class gets
     under the router's selection rules (:mod:`tpf.policy.semantic_router_selection`),
     against the plan's share, largest gap in points;
   * LiteLLM (with ``--litellm-python``): ``N`` draws per model group by a real
     ``litellm.Router`` (``tests/policy/litellm_draw.py``), largest gap in points;
   * Envoy AI Gateway: the AIGatewayRoute resources checked against the
     vendored CRD schema (problems found).

    python benchmarks/router_shares.py [--periods N] [--litellm-python /venvs/litellm/bin/python] [--draws 20000]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import tpf.run.steps as steps  # noqa: E402
from tpf.config.compose import compose  # noqa: E402
from tpf.config.paths import scenario_names  # noqa: E402
from tpf.errors import TpfError  # noqa: E402
from tpf.plan.solve import solve  # noqa: E402
from tpf.policy.export_envoy_ai_gateway import envoy_routes  # noqa: E402
from tpf.policy.export_litellm import api_base, drawn_shares, litellm_config  # noqa: E402
from tpf.policy.semantic_router_bands import band_exports, carbon_bands, hour_bands  # noqa: E402
from tpf.policy.semantic_router_providers import Providers  # noqa: E402
from tpf.policy.shares import semantic_router_rows  # noqa: E402
from tpf.policy.validate import load_policy  # noqa: E402
from tpf.run import run_scenario  # noqa: E402

DRAW_SCRIPT = REPO_ROOT / "tests" / "policy" / "litellm_draw.py"


def plan(scenario: str, run_dir: Path, periods: int | None, stable: bool) -> tuple[object, float | None]:
    overrides = [f"scenario={scenario}", "report=minimal"]
    if periods is not None:
        overrides.append(f"workload.n_periods={periods}")
    original = steps.solve
    steps.solve = functools.partial(solve, stable_ties=stable)
    try:
        run_scenario(compose(overrides), "plan", scenario, run_dir)
    finally:
        steps.solve = original
    policy = load_policy(run_dir / "policy.json")
    return policy, policy.provenance.plan_objective


def n_configs(policy: object) -> tuple[int, int]:
    """(hour bands, carbon bands) as --bands writes them; 1 where the split never changes."""
    return max(1, len(hour_bands(policy))), len(carbon_bands(policy))


def litellm_gap(policy: object, python: str, draws: int, work: Path) -> float:
    """Largest |drawn - planned| share in points over every band, class and deployment."""
    gap = 0.0
    for band, options in band_exports(policy).items():
        config, _ = litellm_config(policy, options)
        path = work / f"litellm-{band}.json"
        path.write_text(json.dumps(config))
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True",
               **{api_base(m, Providers()).removeprefix("os.environ/"): "http://127.0.0.1:9/v1"
                  for m in policy.models}}
        done = subprocess.run([python, str(DRAW_SCRIPT), str(path), str(draws), "0"], env=env,
                              capture_output=True, text=True, check=True)
        counts = json.loads(done.stdout.strip().splitlines()[-1])["counts"]
        for _, planned, share in drawn_shares(policy, options, counts, draws):
            gap = max(gap, abs(share - planned) * 100)
    return gap


def envoy_resources(policy: object) -> int:
    """AIGatewayRoute resources written over every band; envoy_routes raises on any CRD schema problem."""
    return sum(len(envoy_routes(policy, options)[0]) for options in band_exports(policy).values())


def scenario_report(scenario: str, out: Path, args: argparse.Namespace) -> dict:
    started = time.perf_counter()
    before, objective_before = plan(scenario, out / scenario / "ties_solver", args.periods, stable=False)
    after, objective_after = plan(scenario, out / scenario / "ties_broken", args.periods, stable=True)
    rows = semantic_router_rows(after)
    worst = max(rows, key=lambda r: r.gap_points)
    report = {"scenario": scenario, "configs_before": n_configs(before), "configs_after": n_configs(after),
              "objective_before": objective_before, "objective_after": objective_after,
              "semantic_router_rows": len(rows), "semantic_router_max_gap_points": worst.gap_points,
              "semantic_router_worst": f"{worst.band} {worst.class_name} {worst.option}: plan "
                                       f"{worst.planned:.4%}, router {worst.routed:.0%}",
              "envoy_resources_checked": envoy_resources(after)}
    if args.litellm_python:
        report["litellm_max_gap_points"] = litellm_gap(after, args.litellm_python, args.draws, out / scenario)
        report["litellm_draws_per_group"] = args.draws
    report["seconds"] = round(time.perf_counter() - started, 1)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--periods", type=int, help="plan this many hours instead of the scenario's")
    parser.add_argument("--litellm-python", help="a Python with litellm installed (its own venv)")
    parser.add_argument("--draws", type=int, default=20_000, help="LiteLLM draws per model group and band")
    parser.add_argument("--out", help="folder for runs (default: a temporary folder)")
    parser.add_argument("--scenario", action="append", help="only these scenarios (default: all shipped)")
    args = parser.parse_args()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="tpf-shares-"))
    reports = []
    for scenario in args.scenario or scenario_names():
        try:
            report = scenario_report(scenario, out, args)
        except (TpfError, FileNotFoundError) as exc:
            print(f"{scenario}: skipped ({exc})")
            continue
        reports.append(report)
        print(json.dumps(report))
    print("\nscenario | configs before (hour, carbon) | after | objective before -> after | "
          "semantic-router max gap (points) | LiteLLM max gap (points)")
    for r in reports:
        print(f"{r['scenario']} | {r['configs_before']} | {r['configs_after']} | "
              f"{r['objective_before']:.6g} -> {r['objective_after']:.6g} | {r['semantic_router_max_gap_points']:.3f} | "
              f"{r.get('litellm_max_gap_points', float('nan')):.3f}")
    (out / "router_shares.json").write_text(json.dumps(reports, indent=1))
    print(f"\nruns and router_shares.json under {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
