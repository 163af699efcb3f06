"""Per-query routing by text against the class-level plan, on held-out questions.

    python benchmarks/estimator_split.py ../shared/data/accuracy/mmlu_pro_questions/train.jsonl.gz --out /tmp/mmlu_split
    PYTHONPATH=. tpf estimator fit --data /tmp/mmlu_split/train.jsonl.gz --out /tmp/est
    PYTHONPATH=. tpf card roofline --model llama-3.1-70b --hardware l40s --gpus 4 \\
        --overhead-preset hf_generate --out /tmp/llama70b_l40s.yaml
    python benchmarks/per_query_routing.py --estimator /tmp/est --train /tmp/mmlu_split/train.jsonl.gz \\
        --test /tmp/mmlu_split/test.jsonl.gz --card-70b /tmp/llama70b_l40s.yaml --out /tmp/pq

Options: Llama-3.1-8B and -70B, chain of thought with budgets of 128 to 2048
tokens. A question's outcome under an option is read from the data: correct if
the model answered it correctly within the budget (its recorded chain of
thought, at 1.33 tokens per word, fits), otherwise 1 / number of options (a
guess); output tokens are the recorded length capped at the budget. IT energy of
every query comes from the same energy surfaces (8B: the shipped L40S card; 70B:
a roofline estimate on 4 L40S) at batch ``--batch``. Energies are estimates.

Printed:
1. the class-level plan (a share per category and option, fitted on the
   training rows by an LP at a mean energy budget) against the per-query router
   at the same budget, with the plan's energy dual as its price, after a bisection
   on estimated (not realized) energy, and along the whole accuracy-energy curve;
2. the plan when its classes come from the estimator instead of being given
   (the cost of misrouting), planned naively or with the estimator's confusion
   (:mod:`tpf.estimator.confusion`): planned against delivered accuracy;
3. a simulated day whose category mix drifts all day toward long-answer
   subjects (math, physics, chemistry, engineering, computer science):
   energy against the budget for the per-query router at the price met on the
   nominal mix, fixed and with the online price update (windows of
   ``--window`` queries, on observed energy), and for the class-level plan.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import linprog

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.cards import load_card  # noqa: E402
from tpf.estimator.confusion import confusion_counts, misrouting_cost, true_given_predicted  # noqa: E402
from tpf.estimator.data import QuestionTable, read_questions  # noqa: E402
from tpf.estimator.energy import EnergySurface, input_tokens  # noqa: E402
from tpf.estimator.model import TOKENS_PER_WORD, load_estimator  # noqa: E402
from tpf.policy.format import Decision, Prices  # noqa: E402
from tpf.policy.per_query import PriceController, TextRouter, text_options  # noqa: E402

BUDGETS_TOKENS = (128, 256, 512, 1024, 2048)
MODELS = {"8b": "llama-3.1-8b", "70b": "llama-3.1-70b"}
LONG_ANSWER = {"math", "physics", "chemistry", "engineering", "computer science"}


def realized(table: QuestionTable, decisions: list[Decision], surfaces: dict[str, EnergySurface]) -> tuple[np.ndarray, np.ndarray]:
    """(accuracy, energy_j), each (n_queries, n_options), from the recorded outcomes."""
    tag_of = {model: tag for tag, model in MODELS.items()}
    n_in = np.array([input_tokens(text) for text in table.texts])
    chance = 1.0 / np.maximum(table.n_options, 1)
    accuracy = np.zeros((len(table), len(decisions)))
    energy = np.zeros_like(accuracy)
    for j, decision in enumerate(decisions):
        tag = tag_of[decision.model]
        tokens = table.cot_words[tag] * TOKENS_PER_WORD
        within = tokens <= decision.max_new_tokens
        accuracy[:, j] = np.where(within, table.correct[tag], chance)
        n_out = np.minimum(tokens, decision.max_new_tokens)
        surface = surfaces[decision.model]
        energy[:, j] = [surface.energy_j(a, b) for a, b in zip(n_in, n_out, strict=True)]
    return accuracy, energy


def class_figures(categories: list[str], accuracy: np.ndarray, energy: np.ndarray,
                  names: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mix, accuracy, energy) per category in ``names`` order: shares of rows and mean figures."""
    labels = np.array(categories)
    mix = np.array([np.mean(labels == c) for c in names])
    return (mix, np.array([accuracy[labels == c].mean(axis=0) for c in names]),
            np.array([energy[labels == c].mean(axis=0) for c in names]))


def solve_shares(weights: np.ndarray, acc: np.ndarray, eng: np.ndarray, budget_j: float) -> tuple[np.ndarray, float]:
    """LP: max sum_c w_c x_c . acc_c subject to sum_c w_c x_c . eng_c <= budget, x_c a split; and the dual."""
    n_cat, n_opt = acc.shape
    equality = np.kron(np.eye(n_cat), np.ones(n_opt))
    result = linprog(-(weights[:, None] * acc).ravel(), A_ub=(weights[:, None] * eng).ravel()[None, :],
                     b_ub=[budget_j], A_eq=equality, b_eq=np.ones(n_cat), bounds=(0, None), method="highs")
    if result.status != 0:
        raise SystemExit(f"class plan at {budget_j:.0f} J/query: {result.message}")
    return result.x.reshape(n_cat, n_opt), float(-result.ineqlin.marginals[0])


def class_plan(categories: list[str], accuracy: np.ndarray, energy: np.ndarray,
               budget_j: float) -> tuple[dict[str, np.ndarray], float]:
    """Shares per category maximizing mean accuracy at mean energy <= budget_j; and the energy dual."""
    names = sorted(set(categories))
    shares, dual = solve_shares(*class_figures(categories, accuracy, energy, names), budget_j)
    return {c: shares[i] for i, c in enumerate(names)}, dual


def confusion_plans(train: QuestionTable, test: QuestionTable, predicted: list[str], classes: list[str],
                    figures: tuple[np.ndarray, ...], budget_j: float) -> dict[str, dict[str, float]]:
    """Plans on estimated classes, naive and with the confusion: planned against delivered accuracy.

    The confusion is counted on the even test rows, delivery measured on the odd ones.
    """
    train_acc, train_energy, test_acc, test_energy = figures
    mix, acc, eng = class_figures(train.categories, train_acc, train_energy, classes)
    even, odd = np.arange(0, len(test), 2), np.arange(1, len(test), 2)
    counts = confusion_counts([test.categories[i] for i in even], [predicted[i] for i in even], classes)
    posterior = true_given_predicted(counts, mix)
    routed_mix = (counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)).T @ mix
    out = {}
    for name, (weights, plan_acc, plan_eng) in {
        "naive": (mix, acc, eng),
        "with_confusion": (routed_mix, posterior @ acc, posterior @ eng),
    }.items():
        shares, _ = solve_shares(weights, plan_acc, plan_eng, budget_j)
        by_class = {c: shares[i] for i, c in enumerate(classes)}
        delivered, delivered_j = plan_outcome(by_class, [predicted[i] for i in odd], test_acc[odd], test_energy[odd])
        out[name] = {"planned": float(weights @ np.sum(shares * plan_acc, axis=1)), "delivered": delivered,
                     "delivered_j": delivered_j,
                     "misrouting_cost": misrouting_cost(shares, acc, counts, mix)}
    return out


def plan_outcome(shares: dict[str, np.ndarray], categories: list[str], accuracy: np.ndarray,
                 energy: np.ndarray) -> tuple[float, float]:
    mix = np.array([shares[c] for c in categories])
    return float(np.mean(np.sum(mix * accuracy, axis=1))), float(np.mean(np.sum(mix * energy, axis=1)))


def per_query_choices(router: TextRouter, figures: list, price: float) -> np.ndarray:
    return np.array([int(np.argmax([a - price * e for a, _, e in options])) for options in figures])


def bisect_price(router: TextRouter, figures: list, budget_j: float, low: float, high: float) -> float:
    """The price at which the *estimated* mean energy meets the budget (60 halvings in log space)."""
    estimated = np.array([[e for _, _, e in options] for options in figures])
    rows = np.arange(len(figures))
    for _ in range(60):
        middle = np.sqrt(low * high)
        spent = estimated[rows, per_query_choices(router, figures, middle)].mean()
        low, high = (middle, high) if spent > budget_j else (low, middle)
    return high


def drifting_day(router: TextRouter, figures: list, categories: list[str], accuracy: np.ndarray,
                 energy: np.ndarray, shares: dict[str, np.ndarray], price: float, budget_j: float,
                 args: argparse.Namespace) -> dict[str, float]:
    rng = np.random.default_rng(args.seed)
    labels = np.array(categories)
    long_answer = np.isin(labels, sorted(LONG_ANSWER))
    totals = {"fixed_j": 0.0, "controlled_j": 0.0, "plan_j": 0.0, "budget_j": 0.0,
              "fixed_acc": 0.0, "controlled_acc": 0.0, "plan_acc": 0.0, "queries": 0}
    router.price_scale = 1.0
    controller = PriceController(router, step=args.step)
    fixed_choice = per_query_choices(router, figures, price)
    for hour in range(24):
        tilt = args.drift * hour / 23  # the mix moves toward long-answer subjects all day
        weights = np.exp(np.where(long_answer, tilt, -tilt))
        rows = rng.choice(len(labels), size=args.per_hour, p=weights / weights.sum())
        for start in range(0, len(rows), args.window):
            window = rows[start:start + args.window]
            picks = per_query_choices(router, [figures[i] for i in window], price * router.price_scale)
            spent = energy[window, picks].sum()  # observed (here: recorded) energy of the window
            controller.update(float(spent), budget_j * len(window))
            totals["controlled_j"] += spent
            totals["controlled_acc"] += accuracy[window, picks].sum()
        totals["fixed_j"] += energy[rows, fixed_choice[rows]].sum()
        totals["fixed_acc"] += accuracy[rows, fixed_choice[rows]].sum()
        mix = np.array([shares[c] for c in labels[rows]])
        totals["plan_j"] += np.sum(mix * energy[rows])
        totals["plan_acc"] += np.sum(mix * accuracy[rows])
        totals["budget_j"] += budget_j * len(rows)
        totals["queries"] += len(rows)
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--estimator", required=True)
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--card-8b", default=str(Path(__file__).resolve().parent.parent / "tpf/data/cards/llama-3.1-8b@l40s.yaml"))
    parser.add_argument("--card-70b", required=True)
    parser.add_argument("--batch", type=float, default=16.0, help="operating point: batch size (default 16)")
    parser.add_argument("--budget-shares", type=float, nargs="+", default=[0.25, 0.5, 0.75],
                        help="budgets between the cheapest and the most accurate class plan")
    parser.add_argument("--per-hour", type=int, default=400)
    parser.add_argument("--window", type=int, default=50)
    parser.add_argument("--drift", type=float, default=0.8)
    parser.add_argument("--step", type=float, default=0.5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embed-cache", help="sentence-embedding cache of an embedding estimator (npz)")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    estimator = load_estimator(args.estimator)
    if args.embed_cache and hasattr(estimator, "embed_cache"):
        estimator.embed_cache = args.embed_cache
    train, test = read_questions(args.train), read_questions(args.test)
    surfaces = {MODELS["8b"]: EnergySurface.from_card(load_card(args.card_8b), args.batch),
                MODELS["70b"]: EnergySurface.from_card(load_card(args.card_70b), args.batch)}
    decisions = [Decision(m, "cot", b) for m in MODELS.values() for b in BUDGETS_TOKENS]
    train_acc, train_energy = realized(train, decisions, surfaces)
    test_acc, test_energy = realized(test, decisions, surfaces)
    router = TextRouter(estimator, text_options(decisions, estimator, surfaces, lambda d, c: None,
                                                lambda d, c: None), Prices((0.0,)))
    started = time.perf_counter()
    figures = [router.option_figures(text)[2] for text in test.texts]
    print(f"estimated {len(test)} x {len(decisions)} options in {time.perf_counter() - started:.2f} s")
    cheapest = float(train_energy.min(axis=1).mean())
    richest = plan_outcome(class_plan(train.categories, train_acc, train_energy, 1e12)[0],
                           train.categories, train_acc, train_energy)[1]
    predicted = [estimator.classes[int(np.argmax(f))] for f in
                 estimator.estimate_many(test.texts)["class_probs"]]
    rows = []
    for share in args.budget_shares:
        budget = cheapest + share * (richest - cheapest)
        shares, dual = class_plan(train.categories, train_acc, train_energy, budget)
        plan_acc, plan_j = plan_outcome(shares, test.categories, test_acc, test_energy)
        mis_acc, mis_j = plan_outcome(shares, predicted, test_acc, test_energy)
        dual_pick = per_query_choices(router, figures, dual)
        tuned = bisect_price(router, figures, budget, 1e-9, 1.0)
        tuned_pick = per_query_choices(router, figures, tuned)
        index = np.arange(len(test))
        rows.append({
            "budget_j_per_query": budget, "plan_price_accuracy_per_j": dual,
            "class_plan": {"accuracy": plan_acc, "energy_j": plan_j},
            "class_plan_estimated_classes": {"accuracy": mis_acc, "energy_j": mis_j},
            "per_query_plan_price": {"accuracy": float(test_acc[index, dual_pick].mean()),
                                     "energy_j": float(test_energy[index, dual_pick].mean())},
            "per_query_budget_price": {"price": tuned, "accuracy": float(test_acc[index, tuned_pick].mean()),
                                       "energy_j": float(test_energy[index, tuned_pick].mean())},
        })
        shares_mid = shares
        rows[-1]["estimated_classes"] = confusion_plans(
            train, test, predicted, list(estimator.classes), (train_acc, train_energy, test_acc, test_energy), budget)
    curve = _curves(router, figures, train, test, train_acc, train_energy, test_acc, test_energy)
    day = drifting_day(router, figures, test.categories, test_acc, test_energy, shares_mid,
                       rows[-1]["per_query_budget_price"]["price"], rows[-1]["budget_j_per_query"], args)
    report = {"budgets": rows, "curve": curve, "day": day,
              "surface_max_relative_error": {m: s.max_relative_error for m, s in surfaces.items()}}
    (out / "per_query_routing.json").write_text(json.dumps(report, indent=2) + "\n")
    _print(report)
    _figure(curve, out / "accuracy_vs_energy.png")


def _curves(router, figures, train, test, train_acc, train_energy, test_acc, test_energy) -> dict[str, list]:
    cheapest = float(train_energy.min(axis=1).mean())
    richest = plan_outcome(class_plan(train.categories, train_acc, train_energy, 1e12)[0],
                           train.categories, train_acc, train_energy)[1]
    plan_points, query_points = [], []
    index = np.arange(len(test))
    for budget in np.linspace(cheapest * 1.001, richest, 12):
        plan_points.append(plan_outcome(class_plan(train.categories, train_acc, train_energy, budget)[0],
                                        test.categories, test_acc, test_energy))
    for price in np.geomspace(1e-7, 1e-2, 40):
        pick = per_query_choices(router, figures, price)
        query_points.append((float(test_acc[index, pick].mean()), float(test_energy[index, pick].mean())))
    return {"class_plan": plan_points, "per_query": query_points}


def _print(report: dict) -> None:
    print("\nat equal budget (held-out; accuracy 0-1, IT energy J per query, estimates):")
    print(f"{'budget J':>9} {'plan acc':>9} {'plan J':>8} {'plan(est cls)':>14} {'pq@plan price':>15} "
          f"{'pq J':>7} {'pq@budget':>10} {'pq J':>7}")
    for row in report["budgets"]:
        print(f"{row['budget_j_per_query']:9.1f} {row['class_plan']['accuracy']:9.4f} "
              f"{row['class_plan']['energy_j']:8.1f} {row['class_plan_estimated_classes']['accuracy']:14.4f} "
              f"{row['per_query_plan_price']['accuracy']:15.4f} {row['per_query_plan_price']['energy_j']:7.1f} "
              f"{row['per_query_budget_price']['accuracy']:10.4f} {row['per_query_budget_price']['energy_j']:7.1f}")
    print("\nclass plans on estimated classes (confusion from even test rows, delivery on odd rows):")
    for row in report["budgets"]:
        for name, got in row["estimated_classes"].items():
            print(f"  {row['budget_j_per_query']:7.1f} J {name:>15}: planned {got['planned']:.4f}, delivered "
                  f"{got['delivered']:.4f} at {got['delivered_j']:.1f} J, misrouting cost "
                  f"{100 * got['misrouting_cost']:.2f} points")
    query = np.array(report["curve"]["per_query"])
    order = np.argsort(query[:, 1])
    print("\nalong the curve: per-query accuracy interpolated at each class plan's energy")
    for acc, energy in report["curve"]["class_plan"]:
        at = float(np.interp(energy, query[order, 1], query[order, 0]))
        print(f"  {energy:8.1f} J: plan {acc:.4f}, per-query {at:.4f} ({100 * (at - acc):+.2f} points)")
    day = report["day"]
    print(f"\ndrifting day ({day['queries']} queries): budget {day['budget_j'] / 3.6e6:.4f} kWh")
    for name in ("fixed", "controlled", "plan"):
        print(f"  {name:>10}: {day[name + '_j'] / 3.6e6:.4f} kWh ({100 * (day[name + '_j'] / day['budget_j'] - 1):+.2f} %), "
              f"accuracy {day[name + '_acc'] / day['queries']:.4f}")


def _figure(curve: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, style in (("class_plan", "o-"), ("per_query", ".-")):
        points = np.array(curve[name])
        order = np.argsort(points[:, 1])
        ax.plot(points[order, 1], points[order, 0], style, label=name.replace("_", " "))
    ax.set_xlabel("IT energy per query (J, estimate)")
    ax.set_ylabel("held-out accuracy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"figure -> {path}")


if __name__ == "__main__":
    main()
