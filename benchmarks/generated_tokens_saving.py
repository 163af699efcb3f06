"""Energy saved at 95% of the best single configuration's accuracy, charging generated tokens.

    python benchmarks/generated_tokens_saving.py ../shared/data/accuracy [--preset vllm] [--batch 64] [--n-in 1000]

Options: Llama-3.1-8B-Instruct and Llama-3.1-70B-Instruct with chain-of-thought
at the MMLU-Pro truncation budgets (21 to 1,362 tokens), one query class per
MMLU-Pro category (share = its question count). Accuracy per (model, category,
budget) from ``mmlu_pro_truncation_budget_curves.csv`` (monotone interpolated
curves); the CoT length distribution per (model, category) from
``mmlu_pro_llama31_{8b,70b}/per_question.csv`` (words x 1.33 tokens, an
estimate). Energy: roofline cards on the H100 SXM (8B on 1 GPU, 70B on 4,
tensor parallel; ``--preset``), at ``--batch`` and ``--n-in`` input tokens:
ESTIMATES, so the savings are relative figures.

For two accountings of a CoT answer's output, (a) the generated tokens
``min(L, b)`` integrated over the length distribution and (b) the whole budget
``b`` (``cot_used_fraction = 1``), it prints: the best single configuration
(one model and budget for every class: the highest accuracy), the target
(95% of its accuracy), the cheapest single configuration meeting the target,
and the planner's mix (min IT energy at the target): energy per query and the
saving against both.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.domain import Facility, Fleet, Grid, QueryClass, Workload  # noqa: E402
from tpf.fit.accuracy import fit_accuracy  # noqa: E402
from tpf.fit.roofline import roofline_assumptions, roofline_card  # noqa: E402
from tpf.lengths import attach_lengths, lengths_from_per_question  # noqa: E402
from tpf.plan import PlannerSettings, build_options, plan  # noqa: E402
from tpf.plan.options import StrategySpec  # noqa: E402

MODELS = {  # data name -> (tpf model id, folder, GPUs per replica)
    "Llama-3.1-8B-Instruct": ("llama-3.1-8b", "mmlu_pro_llama31_8b", 1),
    "Llama-3.1-70B-Instruct": ("llama-3.1-70b", "mmlu_pro_llama31_70b", 4),
}
HARDWARE = "h100_sxm"


def accuracy_card(data_dir: Path):
    curves = pd.read_csv(data_dir / "mmlu_pro_truncation_budget_curves.csv")
    curves = curves[(curves["category"] != "ALL") & (curves["budget_words"] > 0)]
    table = pd.DataFrame({
        "model": curves["model"].map(lambda m: MODELS[m][0]), "category": curves["category"],
        "strategy": "cot", "budget_tokens": curves["approx_budget_tokens"].astype(float), "votes": 1,
        "n_items": curves["n"].astype(int), "n_correct": curves["n"] * curves["accuracy_truncated"],
    })
    card = fit_accuracy(table, family="interpolated")
    lengths = {}
    for model, folder, _ in MODELS.values():
        path = data_dir / folder / "per_question.csv"
        for category, dist in lengths_from_per_question(pd.read_csv(path), where=str(path)).items():
            lengths[(model, category)] = dist
    shares = curves.groupby("category")["n"].first()
    budgets = sorted(int(b) for b in curves["approx_budget_tokens"].unique())
    return attach_lengths(card, lengths), (shares / shares.sum()).to_dict(), budgets


def single_configurations(options: pd.DataFrame, shares: dict[str, float]) -> pd.DataFrame:
    weighted = options.assign(share=options["class_name"].map(shares))
    weighted["w_acc"] = weighted["share"] * weighted["accuracy"]
    weighted["w_energy"] = weighted["share"] * weighted["energy_j"]
    return weighted.groupby("option_id")[["w_acc", "w_energy"]].sum().rename(
        columns={"w_acc": "accuracy", "w_energy": "energy_j_per_query"})


def evaluate(options: pd.DataFrame, workload: Workload, shares: dict[str, float], label: str) -> dict:
    singles = single_configurations(options, shares)
    best = singles["accuracy"].idxmax()
    target = 0.95 * float(singles.loc[best, "accuracy"])
    meeting = singles[singles["accuracy"] >= target]
    cheapest = meeting["energy_j_per_query"].idxmin()
    settings = PlannerSettings(objective="min_it_energy", accuracy_target=target, gpu_capacity=False,
                               facility_power=False)
    result = plan(options, workload, Facility((1.0,)), Grid((400.0,)), Fleet(()), settings)
    total_queries = sum(c.rate_per_s[0] for c in workload.classes) * workload.period_s
    mix_j = float(result.totals["it_energy_kwh"]) * 3.6e6 / total_queries
    best_j, cheap_j = float(singles.loc[best, "energy_j_per_query"]), float(singles.loc[cheapest, "energy_j_per_query"])
    print(f"\n[{label}]")
    print(f"  best single   {best:28s} accuracy {singles.loc[best, 'accuracy']:.4f}  {best_j:9.2f} J/query")
    print(f"  target        95% of best = {target:.4f}")
    print(f"  cheapest single meeting it  {cheapest:14s} accuracy {singles.loc[cheapest, 'accuracy']:.4f}  "
          f"{cheap_j:9.2f} J/query")
    queries = result.allocation.groupby("option_id")["queries"].sum()
    top = ", ".join(f"{k} {v / queries.sum():.0%}" for k, v in queries.sort_values(ascending=False).head(4).items())
    print(f"  planner mix   accuracy {float(result.totals['accuracy']):.4f}  {mix_j:9.2f} J/query  ({top})")
    print(f"  saving vs best single: {100 * (1 - mix_j / best_j):.1f}%   "
          f"vs cheapest single meeting the target: {100 * (1 - mix_j / cheap_j):.1f}%")
    return {"best_j": best_j, "cheapest_j": cheap_j, "mix_j": mix_j}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("accuracy_dir", type=Path, help="../shared/data/accuracy")
    parser.add_argument("--preset", default="vllm", help="roofline overhead preset (default: %(default)s)")
    parser.add_argument("--batch", type=float, default=64.0, help="batch size (default: %(default)s)")
    parser.add_argument("--n-in", type=float, default=1000.0,
                        help="input tokens per query, an estimate of a 5-shot MMLU-Pro prompt (default: %(default)s)")
    args = parser.parse_args()
    card, shares, budgets = accuracy_card(args.accuracy_dir)
    assumptions = roofline_assumptions(args.preset)
    energy = {model: roofline_card(model, HARDWARE, gpus, assumptions) for model, _, gpus in MODELS.values()}
    workload = Workload(tuple(QueryClass(c, c, args.n_in, (share,)) for c, share in shares.items()), 1)
    print(f"{len(shares)} MMLU-Pro categories; budgets {budgets} tokens; {HARDWARE}, preset {args.preset}, "
          f"batch {args.batch:g}, n_in {args.n_in:g} (energy cards: roofline ESTIMATES)")
    for label, fraction, lengths_on in (("generated tokens min(L, b), integrated", 1.0, True),
                                        ("whole budget charged (cot_used_fraction = 1)", 1.0, False)):
        acc = card if lengths_on else dataclasses.replace(
            card, curves=[dataclasses.replace(c, lengths=None) for c in card.curves])
        spec = StrategySpec(zero_shot=False, cot_budgets_tokens=tuple(budgets), cot_used_fraction=fraction)
        options = build_options(workload, energy, acc, spec, batch_size=args.batch).table
        evaluate(options, workload, shares, label)
    return 0


if __name__ == "__main__":
    sys.exit(main())
