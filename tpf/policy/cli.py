"""``tpf policy``: validate, show or export a routing policy file.

    tpf policy validate FILE [--models M1 M2 ...]
    tpf policy show FILE
    tpf policy export --format semantic-router FILE --out OUT.yaml [--providers P.yaml] [--map CAT=LABEL,...] [--estimator shipped|DIR]
                      [--hour H] [--carbon-g-per-kwh X]
    tpf policy export --format semantic-router FILE --bands --out DIR [--providers P.yaml] [--map ...]
    tpf policy export --format litellm|envoy-ai-gateway FILE --out OUT.yaml [--providers P.yaml]
                      [--hour H] [--carbon-g-per-kwh X]
    tpf policy band DIR/index.yaml [--hour H] [--carbon-g-per-kwh X]
    tpf policy route "question text" --policy FILE [--estimator shipped|DIR] [--hour H] [--carbon-g-per-kwh X]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable

from tpf.errors import PolicyError, TpfError
from tpf.policy.cli_route import add_route_parser, route_text_command
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
    export.add_argument("--format", required=True, choices=["semantic-router", *OTHER_FORMATS])
    export.add_argument("--out", required=True, help="output YAML path (a folder with --bands)")
    export.add_argument("--providers", help="YAML file of listeners and model endpoints (see docs/policy.md); "
                        "without it endpoints are ${TPF_SR_ENDPOINT_<MODEL>} placeholders")
    export.add_argument("--map", action="append", default=[], metavar="CATEGORY=LABEL[,LABEL]",
                        help="MMLU-Pro labels a category matches (adds to or overrides the built-in map)")
    export.add_argument("--estimator", metavar="shipped|FOLDER",
                        help="domains match this text estimator's classes (its card.yaml; 'shipped': the packaged one)")
    export.add_argument("--bands", action="store_true",
                        help="write one config per hour band and carbon band, plus index.yaml, into --out")
    export.add_argument("--hour", type=int, help="export the split of this hour (0-23) instead of the all-day split")
    export.add_argument("--carbon-g-per-kwh", type=float, help="export the split of this carbon intensity")
    band = sub.add_parser("band", help="print which config of a --bands export applies now")
    band.add_argument("index", help="index.yaml written by export --bands")
    band.add_argument("--hour", type=int, help="hour of day (default: the current local hour)")
    band.add_argument("--carbon-g-per-kwh", type=float, help="the grid's carbon intensity now")
    add_route_parser(sub)
    return parser


OTHER_FORMATS = ("litellm", "envoy-ai-gateway")


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


def _category_map(items: list[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    pairs = []
    for item in items:
        category, sep, labels = item.partition("=")
        if not sep or not category.strip() or not labels.strip():
            raise PolicyError(f"--map {item!r}: expected CATEGORY=LABEL[,LABEL]")
        pairs.append((category.strip(), tuple(label.strip() for label in labels.split(","))))
    return tuple(pairs)


def _check_bands_folder(out: str) -> None:
    """``--out`` of ``--bands`` is a folder: refuse a file, a FIFO or a device there, or a path inside a file."""
    from pathlib import Path

    from tpf.atomic import not_a_folder

    problem = not_a_folder(Path(out))
    if problem:
        raise PolicyError(f"--out: {out} {problem} not a folder (--bands writes one config per band "
                          "and index.yaml into a folder): give a new or existing folder")


def _export(args: argparse.Namespace) -> None:
    if args.format in OTHER_FORMATS:
        from tpf.policy.export_gateways import export_gateway

        print(export_gateway(args))
        return
    from tpf.policy.export_semantic_router import ExportOptions, write_semantic_router
    from tpf.policy.semantic_router_bands import write_semantic_router_bands
    from tpf.policy.semantic_router_estimator import load_estimator_labels

    options = ExportOptions(hour=args.hour, carbon_g_per_kwh=args.carbon_g_per_kwh,
                            category_map=_category_map(args.map),
                            estimator=None if args.estimator is None else load_estimator_labels(args.estimator))
    if args.bands:
        if args.hour is not None or args.carbon_g_per_kwh is not None:
            raise PolicyError("--bands writes every band: drop --hour and --carbon-g-per-kwh")
        _check_bands_folder(args.out)
        index = write_semantic_router_bands(args.file, args.out, args.providers, options)
        print(f"wrote {index} and one semantic-router v0.3 config per band beside it")
    else:
        out = write_semantic_router(args.file, args.out, options, args.providers)
        print(f"wrote {out} (semantic-router config v0.3)")


def _band(args: argparse.Namespace) -> None:
    from datetime import datetime
    from pathlib import Path

    from tpf.policy.semantic_router_bands import band_file, load_band_index

    hour = args.hour if args.hour is not None else datetime.now().hour
    name, why = band_file(load_band_index(args.index), hour=hour, carbon_g_per_kwh=args.carbon_g_per_kwh)
    print(f"{Path(args.index).parent / name}  ({why})")


def _run(args: argparse.Namespace) -> int:
    if args.action == "validate":
        policy = load_policy(args.file, models=args.models)
        print(f"{args.file}: valid policy (format {policy.format_version}, {len(policy.classes)} classes, "
              f"models {', '.join(policy.models)})")
    elif args.action == "show":
        print(summary(load_policy(args.file)))
    elif args.action == "band":
        _band(args)
    elif args.action == "route":
        print(route_text_command(args))
    else:
        _export(args)
    return 0


def main(argv: list[str]) -> int:
    """Entry point; ``argv[0]`` is the command name ``policy``."""
    args = _parser().parse_args(argv[1:])
    try:
        return _run(args)
    except TpfError as exc:
        print(f"tpf policy {args.action}: error: {exc}", file=sys.stderr)
        return 1
