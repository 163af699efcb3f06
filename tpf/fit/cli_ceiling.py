"""``tpf ceiling``: the token production function at one operating point.

    tpf ceiling --model llama-3.1-8b --hardware l40s --gpus 8 --facility-power-kw 10 \
        --pue 1.3 --utilization 0.6 --context-tokens 2048 --batch-size 16 [--card CARD.yaml] [--json]

Prints both ceilings (compute and energy), which binds and the resulting
tokens/s; with ``--json`` the same as one JSON object.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict

from tpf.cards import EnergyCard, load_card
from tpf.errors import CardError
from tpf.production import DECODE_TOKENS, ProductionCeiling, production_ceiling


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tpf ceiling",
        description="Token production function: tokens/s = min(K_eff/c_tok, P_IT/e_tok) * U, "
        "P_IT = P_facility / PUE; reports both ceilings and which binds.",
    )
    parser.add_argument("--model", required=True, help="model id or Hub id (see tpf/data/models.yaml)")
    parser.add_argument("--hardware", required=True, help="GPU id or NVML name (tpf/data/hardware.yaml)")
    parser.add_argument("--gpus", type=int, required=True, help="GPUs in the fleet")
    parser.add_argument("--facility-power-kw", type=float, required=True, help="facility power, kW")
    parser.add_argument("--pue", type=float, required=True, help="power usage effectiveness (>= 1)")
    parser.add_argument("--utilization", type=float, required=True, help="utilization U in (0, 1]")
    parser.add_argument("--context-tokens", type=float, required=True, help="context length, tokens")
    parser.add_argument("--batch-size", type=float, required=True, help="concurrent requests per GPU")
    parser.add_argument("--card", help="energy card for e_tok (default: roofline estimate)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def format_table(result: ProductionCeiling) -> str:
    estimate = " (ESTIMATE)" if result.is_estimate else ""
    rows = [
        ("model @ hardware", f"{result.model} @ {result.gpus} x {result.hardware}", ""),
        ("context, batch", f"{result.context_tokens:g} tokens, batch {result.batch_size:g}", ""),
        ("P_IT = P_facility / PUE", f"{result.it_power_w / 1e3:,.3f}",
         f"kW  ({result.facility_power_w / 1e3:g} kW / {result.pue:g})"),
        ("K_eff effective compute", f"{result.effective_flops_per_s / 1e12:,.1f}",
         f"TFLOP/s  (peak {result.peak_flops_per_s / 1e12:,.0f}; decode step "
         f"{result.decode_step_s * 1e3:.2f} ms)"),
        ("c_tok FLOPs per token", f"{result.flops_per_token / 1e9:,.3f}", "GFLOP/token"),
        ("e_tok energy per token", f"{result.energy_per_token_j:,.4f}",
         f"J/token  from {result.energy_per_token_source}, mean over {DECODE_TOKENS} decode steps"),
        ("compute ceiling K_eff/c_tok", f"{result.compute_ceiling_tokens_per_s:,.0f}", "tokens/s"),
        ("energy ceiling P_IT/e_tok", f"{result.energy_ceiling_tokens_per_s:,.0f}", "tokens/s"),
        ("binding", result.binding, ""),
        ("utilization U", f"{result.utilization:g}", ""),
        ("tokens/s = min(...) * U", f"{result.tokens_per_s:,.0f}", f"tokens/s{estimate}"),
        ("GPU power at compute ceiling", f"{result.gpu_power_at_compute_ceiling_w / 1e3:,.3f}",
         "kW  (compute ceiling * e_tok)"),
    ]
    width = max(len(name) for name, _, _ in rows)
    lines = [f"{name:<{width}}  {value:>14}  {unit}".rstrip() for name, value, unit in rows]
    if not result.in_card_range:
        lines.append("warning: the operating point lies outside the card's valid range")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    card = None
    if args.card:
        loaded = load_card(args.card)
        if not isinstance(loaded, EnergyCard):
            raise CardError(f"{args.card}: an energy card is needed, got an accuracy card")
        card = loaded
    result = production_ceiling(
        args.model, args.hardware, args.gpus, args.facility_power_kw * 1e3, args.pue,
        args.utilization, args.context_tokens, args.batch_size, card=card,
    )
    print(json.dumps(asdict(result), indent=2) if args.json else format_table(result))
    return 0
