"""``tpf policy route "question text" --policy policy.json``: the per-query decision for one text.

Prints the estimator's most probable label, the plan's category and class it
falls in (the value for the ``x-tpf-class`` header or the LiteLLM model group
``tpf-<class>``), and the decision: per query, the option
:class:`~tpf.policy.per_query.TextRouter` picks with its estimated accuracy and
energy (estimates, not measurements); per category, the plan's split for the
class drawn by the request id (:class:`~tpf.policy.Router`). ``--mode auto``
routes per query only where the estimator's card shows it winning
(:func:`tpf.estimator.default.default_routing`).
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
    route.add_argument("--mode", choices=("auto", "per_query", "per_category"), default="auto",
                       help="auto (default): per query only where the estimator's card shows per-query "
                            "routing beating per-category routing on held-out questions "
                            "(tpf.estimator.default.default_routing), else per category")
    route.add_argument("--request-id", default="0", help="request id the per-category draw hashes (default 0)")


def route_text_command(args: argparse.Namespace) -> str:
    """The lines ``tpf policy route`` prints."""
    from tpf.estimator.default import PER_QUERY, default_routing
    from tpf.policy.per_query import TextRouter
    from tpf.policy.router import Router

    router = TextRouter.from_policy(args.policy, estimator=args.estimator, cards=args.card, batch_size=args.batch)
    chosen = router.route_text(args.text, hour=args.hour, carbon_g_per_kwh=args.carbon_g_per_kwh)
    mode = default_routing(args.estimator) if args.mode == "auto" else args.mode
    why = "chosen" if args.mode != "auto" else (
        "the estimator's card shows per-query routing winning on held-out questions" if mode == PER_QUERY
        else "the estimator's card shows no per-query win with every interval above zero")
    probs = router.estimator.estimate(args.text).class_probs.tolist()
    label, n_in = chosen.category, chosen.input_tokens
    category = router.label_categories[label]
    class_name = router.policy_class(chosen)
    d = chosen.decision
    if mode != PER_QUERY:   # the plan's own split for the class, drawn by the request id
        d = Router(router.policy).decide(args.request_id, category, int(n_in), hour=args.hour,
                                         carbon_g_per_kwh=args.carbon_g_per_kwh)
    votes = f" x{d.votes}" if d.votes > 1 else ""
    lines = [
        f"label: {label} (p={max(probs):.3f}) -> category {category} -> class {class_name} "
        f"(x-tpf-class: {class_name}; LiteLLM model group tpf-{class_name})",
        f"input tokens (estimated): {n_in:.0f}",
        f"routing: {mode.replace('_', ' ')} ({why})",
        f"decision: {d.model} {d.strategy}{votes} max_new_tokens={d.max_new_tokens}"
        + (f" (input fallback: {chosen.fallback})" if chosen.fallback and mode == PER_QUERY else ""),
    ]
    if mode == PER_QUERY:
        lines.append(f"estimated: accuracy {chosen.accuracy:.3f}, energy {chosen.energy_j:.4g} J (IT, per query)")
    return "\n".join(lines)
