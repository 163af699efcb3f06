"""Plan figures of every shipped scenario (and a few variants): objective, totals, shadow prices.

Prints one table row per (case, figure). With ``--save FILE`` it writes the
figures as JSON; with ``--compare FILE`` it compares against a saved JSON and
prints the largest relative difference per case (``max |a - b| / max(|a|, |b|, 1e-12)``),
exiting non-zero above ``--rtol`` (default 1e-9). Use it to prove that a
change of the planner's internals leaves every plan unchanged::

    python benchmarks/plan_identity.py --save /tmp/plan_before.json
    ... change the code ...
    python benchmarks/plan_identity.py --compare /tmp/plan_before.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.config.build import build_inputs  # noqa: E402
from tpf.config.compose import compose  # noqa: E402
from tpf.errors import InfeasiblePlanError  # noqa: E402

#: Every shipped scenario, plus variants that switch on the other constraints and objectives.
CASES: dict[str, list[str]] = {
    "paper_l40s": ["scenario=paper_l40s"],
    "carbon_whatif": ["scenario=carbon_whatif"],
    "power_capped": ["scenario=power_capped"],
    "capacity": ["scenario=capacity"],
    "carbon_whatif coal": ["scenario=carbon_whatif", "grid=coal_heavy"],
    "min_carbon": ["planner=min_carbon"],
    "max_accuracy it caps": ["planner=max_accuracy", "planner.it_power_kw=3.0",
                             "planner.it_energy_horizon_kwh=48"],
    "max_accuracy period cap floors": ["planner=max_accuracy", "planner.it_energy_period_kwh=2.8",
                                       "+planner.accuracy_floors.math=0.35"],
    "infeasible floor": ["planner=max_accuracy", "+planner.accuracy_floors.math=0.5"],
    "infeasible carbon": ["scenario=carbon_whatif", "planner.carbon_budget_kg=0.0001"],
}


def _plan(inputs):  # the scenario runner's plan step, wherever it lives (before: tpf.report.engines)
    try:
        from tpf.run.scenario import Problem
        from tpf.run.steps import plan_step
    except ImportError:
        from tpf.report.engines import plan_step  # type: ignore[no-redef]
        return plan_step(inputs, Path("."))
    return plan_step(Problem.of(inputs), inputs.config.planner, Path("."))


def figures(overrides: list[str]) -> dict[str, float | str]:
    """objective, totals.* and shadow_price.* of one case (``diagnosis`` when infeasible)."""
    inputs = build_inputs(compose(overrides + ["report.pareto_points=0"]))
    try:
        outcome = _plan(inputs)
    except InfeasiblePlanError as exc:
        return {"diagnosis": str(exc)}
    if outcome.diagnosis is not None:
        return {"diagnosis": outcome.diagnosis}
    result = outcome.result
    out: dict[str, float | str] = {"objective": float(result.objective)}
    out.update({f"totals.{k}": float(v) for k, v in result.totals.items()})
    out.update({f"shadow_price.{k}": float(v) for k, v in result.shadow_prices.items()})
    out["binding"] = ", ".join(result.binding_constraints)   # compared as a set (ties in any order)
    return out


def rel_diff(a: float | str | None, b: float | str | None, key: str = "") -> float:
    if key == "binding" and isinstance(a, str) and isinstance(b, str):   # ties in price: any order
        return 0.0 if sorted(a.split(", ")) == sorted(b.split(", ")) else math.inf
    if isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        return 0.0 if a == b else math.inf
    return abs(a - b) / max(abs(a), abs(b), 1e-12)


def brief(now: dict, before: dict, rtol: float) -> int:
    """One markdown row per case: objective, totals, shadow prices, largest relative difference."""
    print("| case | objective | accuracy | facility kWh | kgCO2 | shadow prices (non-zero) | max rel. diff |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    worst_overall = 0.0
    for case, values in now.items():
        saved = before.get(case, {})
        worst = max((rel_diff(values.get(k), saved.get(k), k) for k in set(values) | set(saved)), default=0.0)
        worst_overall = max(worst_overall, worst)
        if "diagnosis" in values:
            print(f"| {case} | infeasible: {str(values['diagnosis']).split(': ', 1)[-1]} | | | | | {worst:.1e} |")
            continue
        prices = [k for k in values if k.startswith("shadow_price.")]
        nonzero = sum(1 for k in prices if values[k] != 0)
        print(f"| {case} | {values['objective']:.10g} | {values['totals.accuracy']:.6g} | "
              f"{values['totals.facility_energy_kwh']:.6g} | {values['totals.carbon_kg']:.6g} | "
              f"{len(prices)} ({nonzero}) | {worst:.1e} |")
    print(f"\nlargest relative difference: {worst_overall:.3g} (tolerance {rtol:g})")
    return 0 if worst_overall <= rtol else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--save", type=Path)
    parser.add_argument("--compare", type=Path)
    parser.add_argument("--rtol", type=float, default=1e-9)
    parser.add_argument("--cases", nargs="*", default=list(CASES))
    parser.add_argument("--brief", action="store_true", help="one row per case (with --compare)")
    args = parser.parse_args(argv)
    now = {case: figures(CASES[case]) for case in args.cases}
    before = json.loads(args.compare.read_text()) if args.compare else {}
    if args.brief and args.compare:
        return brief(now, before, args.rtol)
    worst_overall = 0.0
    print(f"{'case':24s} {'figure':52s} {'value':>16s} {'rel diff':>10s}")
    for case, values in now.items():
        saved = before.get(case, {})
        keys = sorted(set(values) | set(saved)) if args.compare else sorted(values)
        worst = 0.0
        for key in keys:
            value = values.get(key)
            diff = rel_diff(value, saved.get(key), key) if args.compare else 0.0
            worst = max(worst, diff)
            shown = f"{value:16.10g}" if isinstance(value, float) else f"{str(value)[:40]:>16s}"
            mark = f"{diff:10.2e}" if args.compare else ""
            print(f"{case:24s} {key:52s} {shown} {mark}")
        if args.compare:
            print(f"{case:24s} {'MAX RELATIVE DIFFERENCE':52s} {'':16s} {worst:10.2e}")
        worst_overall = max(worst_overall, worst)
    if args.save:
        args.save.write_text(json.dumps(now, indent=1, sort_keys=True))
    if args.compare:
        print(f"largest relative difference over {len(now)} cases: {worst_overall:.3g} "
              f"(tolerance {args.rtol:g})")
        return 0 if worst_overall <= args.rtol else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
