"""``tpf policy``: validate, show or export a routing policy file.

    tpf policy validate FILE [--models M1 M2 ...]
    tpf policy show FILE
    tpf policy export --format semantic-router FILE --out OUT.yaml [--hour H | --carbon-g-per-kwh X]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from tpf.errors import TpfError
from tpf.policy.format import Choice, Policy, PolicyClass
from tpf.policy.validate import load_policy


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpf policy", description="Validate, show or export a routing policy.")
    sub = parser.add_subparsers(dest="action", required=True)
    validate = sub.add_parser("validate", help="check schema and semantics; exit 1 listing every problem")
    validate.add_argument("file")
    validate.add_argument("--models", nargs="+", metavar="MODEL",
                          help="models the deployment serves; decisions naming others are refused")
    show = sub.add_parser("show", help="print a readable summary of a policy")
    show.add_argument("file")
    export = sub.add_parser("export", help="write a router's config from a policy")
    export.add_argument("file")
    export.add_argument("--format", required=True, choices=["semantic-router"])
    export.add_argument("--out", required=True, help="output YAML path")
    when = export.add_mutually_exclusive_group()
    when.add_argument("--hour", type=int, help="export the split of this hour (0-23) instead of the all-day split")
    when.add_argument("--carbon-g-per-kwh", type=float, help="export the split of this carbon-intensity band")
    export.add_argument("--max-model-refs", type=int, default=1,
                        help="modelRefs per decision, in decreasing weight (v0.1 uses the first; default 1)")
    return parser


def _rounded(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _split_text(choices: Iterable[Choice]) -> str:
    parts = []
    for choice in choices:
        d = choice.decision
        votes = f" x{d.votes}" if d.votes > 1 else ""
        parts.append(f"{choice.weight:6.1%} {d.model} {d.strategy}{votes} <= {d.max_new_tokens} tok")
    return ", ".join(parts)


def _class_lines(cls: PolicyClass) -> list[str]:
    upper = "inf" if cls.n_in_max_tokens is None else str(cls.n_in_max_tokens)
    lines = [f"  {cls.name}  category={cls.category}  n_in=[{cls.n_in_min_tokens}, {upper})"]
    if cls.expected is not None:
        e = cls.expected
        lines.append(f"    expected: accuracy {_rounded(e.accuracy, '.3f')}  "
                     f"energy {_rounded(e.energy_j_per_query, '.4g')} J/query  "
                     f"carbon {_rounded(e.carbon_g_per_query, '.4g')} gCO2/query  "
                     f"queries {_rounded(e.queries, ',.0f')}")
    lines.append(f"    all day: {_split_text(cls.choices)}")
    for entry in cls.by_hour:
        lines.append(f"    hours {','.join(map(str, entry.hours))}: {_split_text(entry.choices)}")
    for band in cls.by_carbon:
        upper_ci = "inf" if band.max_g_per_kwh is None else f"{band.max_g_per_kwh:g}"
        lines.append(f"    carbon [{band.min_g_per_kwh:g}, {upper_ci}) g/kWh: {_split_text(band.choices)}")
    return lines


def summary(policy: Policy) -> str:
    prov = policy.provenance
    lines = [
        f"policy {policy.name or '<unnamed>'} (format {policy.format_version})",
        f"  created {prov.created_utc} by tpf {prov.tpf_version}; scenario {prov.scenario}; "
        f"plan status {prov.plan_status}, objective {_rounded(prov.plan_objective, '.6g')} "
        f"{prov.plan_objective_unit or '(unit not recorded)'}",
        f"  cards: {', '.join(f'{c.name} ({c.sha256[:12]})' for c in prov.cards) or 'none recorded'}",
        f"  models: {', '.join(policy.models)}; default category: {policy.default_category}",
        f"classes ({len(policy.classes)}):",
    ]
    for cls in policy.classes:
        lines += _class_lines(cls)
    lines += [f"note: {note}" for note in policy.notes]
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> int:
    if args.action == "validate":
        policy = load_policy(args.file, models=args.models)
        print(f"{args.file}: valid policy (format {policy.format_version}, {len(policy.classes)} classes, "
              f"models {', '.join(policy.models)})")
    elif args.action == "show":
        print(summary(load_policy(args.file)))
    else:
        from tpf.policy.export_semantic_router import ExportOptions, write_semantic_router

        options = ExportOptions(hour=args.hour, carbon_g_per_kwh=args.carbon_g_per_kwh,
                                max_model_refs=args.max_model_refs)
        out = write_semantic_router(args.file, args.out, options)
        print(f"wrote {out} (semantic-router categories and decisions)")
    return 0


def main(argv: list[str]) -> int:
    """Entry point; ``argv[0]`` is the command name ``policy``."""
    args = _parser().parse_args(argv[1:])
    try:
        return _run(args)
    except TpfError as exc:
        print(f"tpf policy {args.action}: error: {exc}", file=sys.stderr)
        return 1
