"""``tpf card``: energy cards for hardware nobody measured (labelled estimates).

    tpf card roofline --model M --hardware H --out CARD.yaml [--gpus N] [--overhead-preset hf_generate] [efficiency options]
    tpf card transfer --card CARD.yaml --to H --out CARD.yaml
    tpf card operating --card CARD.yaml (--mlenergy-v2 CSV | --mlenergy-v3 CSV) --out CARD.yaml [--task chat]
    tpf card shipped [--out-dir DIR]     # regenerate tpf/data/cards/ (the shipped estimates)

A card is written only once it is complete; an existing file is replaced atomically.
"""

from __future__ import annotations

import argparse
import dataclasses

from tpf.cards import EnergyCard, load_card, save_card
from tpf.errors import CardError, ConfigError
from tpf.fit.roofline import (
    DEFAULT_FAMILY,
    RooflineAssumptions,
    preset_choices,
    roofline_assumptions,
    roofline_card,
    write_shipped_cards,
)
from tpf.fit.transfer import transfer_card
from tpf.specs import HardwareSpec, hardware_spec

_ASSUMPTION_HELP = {
    "compute_efficiency": "achieved / peak FLOP/s when compute-bound",
    "bandwidth_efficiency": "achieved / peak bandwidth when memory-bound",
    "compute_power_share": "share of tdp-idle drawn when compute-bound",
    "memory_power_share": "share of tdp-idle drawn when memory-bound",
    "step_overhead_s": "host/launch time per forward pass, s",
    "request_overhead_s": "host time per batch window, s",
    "overhead_power_share": "share of tdp-idle drawn during host time",
}


def _add_assumptions(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--overhead-preset", choices=preset_choices(), default="none",
                        help="host-overhead preset of a software stack and version (default none: pure "
                             "roofline; hf_generate: calibrated on Wilkins 2024 A100 HF generate, batch 1; "
                             "vllm-0.11: fitted on ML.ENERGY v3 Qwen3 H100/B200 chat rows; vllm: the newest "
                             "fitted vLLM version; vllm-mlenergy-v2: fitted on ML.ENERGY v2 A100 chat rows)")
    parser.add_argument("--no-kv-cache", action="store_true",
                        help="decode recomputes the whole sequence each step (use_cache=False)")
    for name, text in _ASSUMPTION_HELP.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=None,
                            help=f"{text} (default: the preset's, else {getattr(RooflineAssumptions(), name)})")


    for name in _SIZE_ASSUMPTIONS:
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=None,
                            help=f"{_SIZE_ASSUMPTIONS[name]} (default {getattr(RooflineAssumptions(), name)})")


_SIZE_ASSUMPTIONS = {
    "max_batch_cap": "upper bound on the card's max_batch_size",
    "reference_context_tokens": "context per request that sizes max_batch_size from the KV-cache memory",
}


def _assumptions(args: argparse.Namespace) -> RooflineAssumptions:
    names = (*_ASSUMPTION_HELP, *_SIZE_ASSUMPTIONS)
    overrides = {name: getattr(args, name) for name in names if getattr(args, name) is not None}
    if args.no_kv_cache:
        overrides["kv_cache"] = False
    return roofline_assumptions(args.overhead_preset, **overrides)


def _hardware(args: argparse.Namespace) -> HardwareSpec:
    """The catalog's GPU, with the power figures given on the command line."""
    spec = hardware_spec(args.hardware)
    changes = {name: value for name, value in (("tdp_w", args.tdp_w), ("idle_power_w", args.idle_power_w))
               if value is not None}
    problems = [f"--{name.replace('_', '-')}: must be > 0 W, got {value}"
                for name, value in changes.items() if not value > 0]
    if problems:
        raise ConfigError(problems)
    return dataclasses.replace(spec, **changes) if changes else spec


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpf card", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="kind", required=True)
    roof = sub.add_parser("roofline", help="analytic roofline card from the shipped specs")
    roof.add_argument("--model", required=True, help="model id or Hub id")
    roof.add_argument("--hardware", required=True, help="GPU id or NVML name")
    roof.add_argument("--out", required=True, help="card file to write")
    roof.add_argument("--gpus", type=int, default=1, help="GPUs per replica (tensor parallel)")
    roof.add_argument("--family", default=DEFAULT_FAMILY, help="curve family to fit")
    roof.add_argument("--tdp-w", type=float, default=None,
                      help="board power limit in W (default: the catalog's, tpf/data/hardware.yaml)")
    roof.add_argument("--idle-power-w", type=float, default=None,
                      help="idle power in W (default: the catalog's)")
    _add_assumptions(roof)
    transfer = sub.add_parser("transfer", help="rescale a card to another GPU by roofline ratios")
    transfer.add_argument("--card", required=True, help="energy card measured on one GPU")
    transfer.add_argument("--to", required=True, help="target GPU id or NVML name")
    transfer.add_argument("--out", required=True, help="card file to write")
    _add_assumptions(transfer)
    operating = sub.add_parser("operating", help="fit the card's vllm operating curve from ML.ENERGY v2 rows "
                                                  "(measured levels beyond the card's batch range widen it, "
                                                  "stated on the card)")
    operating.add_argument("--card", required=True, help="energy card of the same model, GPU and GPU count")
    table = operating.add_mutually_exclusive_group(required=True)
    table.add_argument("--mlenergy-v2", help="mlenergy_v2_llm_configs.csv (vLLM as ML.ENERGY v2 ran it)")
    table.add_argument("--mlenergy-v3", help="mlenergy_v3_llm_configs*.csv (vLLM 0.11)")
    operating.add_argument("--task", default=None,
                           help="ML.ENERGY task (default: chat for v2, lm-arena-chat for v3)")
    operating.add_argument("--out", required=True, help="card file to write")
    operating.add_argument("--clip-power-to-tdp", action="store_true",
                           help="clip measured power per GPU above the GPU's TDP (default: refuse such rows)")
    shipped = sub.add_parser("shipped", help="regenerate the shipped roofline cards")
    shipped.add_argument("--out-dir", help="directory (default: tpf/data/cards in the package)")
    return parser


def main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.kind == "shipped":
        for path in write_shipped_cards(args.out_dir):
            print(f"wrote {path}")
        return 0
    if args.kind == "operating":
        return _operating(args)
    if args.kind == "roofline":
        card = roofline_card(args.model, _hardware(args), args.gpus, _assumptions(args), args.family)
    else:
        loaded = load_card(args.card)
        if not isinstance(loaded, EnergyCard):
            raise CardError(f"{args.card}: an energy card is needed, got an accuracy card")
        card = transfer_card(loaded, args.to, _assumptions(args))
    path = save_card(card, args.out)
    quality = "; ".join(f"{k}: MAPE {v['mape']:.1%}" for k, v in card.fit_quality.items())
    print(f"wrote {path}: {card.model}@{card.hardware}, source={card.source} ({card.method}), "
          f"max_batch_size={card.max_batch_size}; {quality}")
    return 0


def _operating(args: argparse.Namespace) -> int:
    """Attach (or replace) the measured vllm curve of the card's model, GPU and GPU count."""
    from tpf.fit.operating_fit import (
        TABLE_ENGINE_VERSION,
        attach_curve,
        mlenergy_v2_curves,
        mlenergy_v3_curves,
    )

    card = load_card(args.card)
    if not isinstance(card, EnergyCard):
        raise CardError(f"{args.card}: an energy card is needed, got an accuracy card")
    kind, path = ("mlenergy-v3", args.mlenergy_v3) if args.mlenergy_v3 else ("mlenergy-v2", args.mlenergy_v2)
    task = args.task or {"mlenergy-v2": "chat", "mlenergy-v3": "lm-arena-chat"}[kind]
    version = TABLE_ENGINE_VERSION[kind]
    if card.engine_version not in ("", version):
        raise CardError(f"{args.card}: engine_version: the card describes {card.engine} {card.engine_version} "
                        f"but the {kind} rows were measured with vllm {version}; make the card with "
                        f"--overhead-preset vllm-{version}, or give rows of its version")
    curves = (mlenergy_v3_curves(path, models=[card.model]) if kind == "mlenergy-v3" else
              mlenergy_v2_curves(path, models=[card.model], clip_power_to_tdp=args.clip_power_to_tdp))
    found = [c for c in curves
             if c.hardware == card.hardware and c.gpus == card.gpus_per_replica and c.task == task]
    if not found:
        raise CardError(f"{path}: no {task} rows with >= 3 batch levels for "
                        f"{card.model} on {card.hardware} with {card.gpus_per_replica} GPU(s)")
    updated, note = attach_curve(dataclasses.replace(card, engine="vllm", engine_version=version), found[0].curve)
    curve = updated.operating_curve(found[0].curve.engine)
    path = save_card(updated, args.out)
    held = curve.heldout
    print(f"wrote {path}: {curve.engine} operating curve of {card.model}@{card.hardware}, batch "
          f"{curve.batch_size[0]:g}..{curve.batch_size[-1]:g}; leave-one-batch-out J/token MAPE "
          f"{held['j_per_token_mape']:.1%} (max {held['j_per_token_max_ape']:.1%}); rows: {curve.data_rows}"
          + (f"\nlevels outside the measured batch {curve.measured_batch_range[0]:g}.."
             f"{curve.measured_batch_range[1]:g} are extrapolated ({curve.extrapolation})"
             if curve.measured_batch_range else "")
          + (f"\nnote: {note}" if note else ""))
    return 0
