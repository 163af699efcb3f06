"""``tpf policy route "question text" --policy policy.json``: the per-query decision for one text.

Prints the estimator's most probable label, the plan's category and class it
falls in (the value for the ``x-tpf-class`` header or the LiteLLM model group
``tpf-<class>``), and the option :class:`~tpf.policy.per_query.TextRouter`
picks with its estimated accuracy and energy (estimates, not measurements).
"""

from __future__ import annotations

import argparse
from typing import Any


def add_route_parser(sub: Any) -> None:
    route = sub.add_parser("route", help="route one question text with the policy's per-query router")
    route.add_argument("text", help="the question text")
    route.add_argument("--policy", required=True, help="policy.json written by tpf plan")
    route.add_argument("--estimator", default="shipped", metavar="shipped|FOLDER",
                       help="text estimator folder (default: the shipped one)")
    route.add_argument("--card", action="append", metavar="PATH",
                       help="card file (repeat); default: the packaged cards the policy names")
    route.add_argument("--batch", type=float, default=16.0, help="energy operating point: batch size (default 16)")
    route.add_argument("--hour", type=int, help="hour of day 0-23 (prices of that hour)")
    route.add_argument("--carbon-g-per-kwh", type=float, help="the grid's carbon intensity now")


def route_text_command(args: argparse.Namespace) -> str:
    """The lines ``tpf policy route`` prints."""
    from tpf.policy.per_query import TextRouter

    router = TextRouter.from_policy(args.policy, estimator=args.estimator, cards=args.card, batch_size=args.batch)
    chosen = router.route_text(args.text, hour=args.hour, carbon_g_per_kwh=args.carbon_g_per_kwh)
    probs = router.estimator.estimate(args.text).class_probs.tolist()
    label, n_in = chosen.category, chosen.input_tokens
    category = router.label_categories[label]
    class_name = router.policy_class(chosen)
    d = chosen.decision
    votes = f" x{d.votes}" if d.votes > 1 else ""
    return "\n".join([
        f"label: {label} (p={max(probs):.3f}) -> category {category} -> class {class_name} "
        f"(x-tpf-class: {class_name}; LiteLLM model group tpf-{class_name})",
        f"input tokens (estimated): {n_in:.0f}",
        f"decision: {d.model} {d.strategy}{votes} max_new_tokens={d.max_new_tokens}"
        + (f" (input fallback: {chosen.fallback})" if chosen.fallback else ""),
        f"estimated: accuracy {chosen.accuracy:.3f}, energy {chosen.energy_j:.4g} J (IT, per query)",
    ])
