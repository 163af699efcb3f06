"""Options and entry of ``python -m calibration.run sweep --engine vllm|fake`` and ``engine-card``."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from typing import Any

from calibration.engine import ENGINES, LOAD_FORMATS, EngineSettings
from calibration.models import ModelSpec
from calibration.pipeline import MeterSettings
from calibration.sweep import SweepGrid
from tpf.errors import ConfigError


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--engine", default="transformers", choices=("transformers", *ENGINES),
                        help="transformers (eager generate, the default), vllm (a serving engine), fake (tests)")
    parser.add_argument("--load-format", default="dummy", choices=LOAD_FORMATS,
                        help="--engine vllm: dummy (random weights from a config.json written for --model) or auto")
    parser.add_argument("--model-dir", default="outputs/engine-model", help="folder the config.json is written to")
    parser.add_argument("--max-num-seqs", type=int, default=32, help="the engine's batch limit")
    parser.add_argument("--max-model-len", type=int, default=2048)
    parser.add_argument("--kv-cache-gib", type=float, default=2.0, help="KV-cache size on a CPU (GiB)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.9)
    parser.add_argument("--sweep-mode", default="batch", choices=("batch", "steady"),
                        help="batch: a level's requests at once; steady: the running batch held with staggered "
                             "requests (engine_<engine>_steady.csv)")
    parser.add_argument("--fake-step", default="{}", help="--engine fake: JSON of step_base_s, step_per_seq_s, "
                        "prefill_per_token_s")


def _meter_kind(requested: str | None) -> str:
    """``nvml`` where NVML answers, else ``none`` (time only); an explicit choice is kept."""
    if requested is not None:
        return requested
    try:
        import pynvml

        pynvml.nvmlInit()
        count = pynvml.nvmlDeviceGetCount()
        pynvml.nvmlShutdown()
        return "nvml" if count > 0 else "none"
    except Exception:  # no module, no driver, no GPU: time only
        return "none"


def engine_settings(args: argparse.Namespace) -> EngineSettings:
    try:
        fake = json.loads(args.fake_step)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--fake-step: must be a JSON object, got {args.fake_step!r} ({exc})") from exc
    if not isinstance(fake, dict):
        raise ConfigError(f"--fake-step: must be a JSON object, got {args.fake_step!r}")
    return EngineSettings(args.engine, args.model, args.model_dir, args.load_format, args.dtype, args.max_num_seqs,
                          args.max_model_len, args.kv_cache_gib, args.gpu_memory_utilization, args.seed, fake)


def engine_sweep_settings(cfg: dict[str, Any], model: ModelSpec, meter: MeterSettings, grid: SweepGrid) -> Any:
    """``tpf calibrate engine=vllm|fake``: the engine sweep settings of a resolved config."""
    from calibration.engine_sweep import EngineSweepSettings

    options = dict(cfg.get("engine_options") or {})
    requested = options.get("meter", "auto")
    if meter.kind in ("estimate", "replay"):
        kind = meter.kind  # an explicit meter group wins over auto
    else:
        kind = _meter_kind(None if requested == "auto" else requested)
    engine = EngineSettings(cfg["engine"], model.name, str(options.get("model_dir", "outputs/engine-model")),
                            str(options.get("load_format", "dummy")), model.dtype,
                            int(options.get("max_num_seqs", 32)), int(options.get("max_model_len", 2048)),
                            float(options.get("kv_cache_gib", 2.0)), float(options.get("gpu_memory_utilization", 0.9)),
                            model.seed, dict(options.get("fake_step") or {}))
    meter = replace(meter, kind=kind, idle_s=meter.idle_s if kind == "nvml" else 0.0)
    return EngineSweepSettings(engine, cfg["out_dir"], grid, meter, cfg["hardware"], bool(cfg["progress"]),
                               str(options.get("sweep_mode", "batch")))


def run_engine_sweep_args(args: argparse.Namespace) -> int:
    from calibration.engine_sweep import EngineSweepSettings, run_engine_sweep

    kind = _meter_kind(args.meter)
    meter = MeterSettings(kind, tuple(args.gpus), args.replay_log, args.estimate_hardware,
                          force_sampling=args.force_sampling, idle_s=args.idle_s if kind == "nvml" else 0.0)
    problems = meter.problems("meter") if kind != "none" else []
    if problems:
        raise ConfigError(problems)
    grid = SweepGrid(tuple(args.n_in), tuple(args.n_out), tuple(args.batch), args.repetitions, args.warmup)
    settings = EngineSweepSettings(engine_settings(args), args.out, grid, meter, args.hardware, not args.no_progress,
                                   args.sweep_mode)
    path = run_engine_sweep(settings)
    print(f"engine sweep table: {path}")
    return 0


def fit_card_args(args: argparse.Namespace) -> int:
    from calibration.engine_card import fit_engine_card, level_table, read_engine_table
    from tpf.cards import save_card

    levels = level_table(read_engine_table(args.table))
    print(levels.to_string(index=False, float_format=lambda v: f"{v:.4g}"))

    card = fit_engine_card(args.table, assumed_power_w=args.assumed_power_w)
    save_card(card, args.out)
    print(f"card {card.model}@{card.hardware} ({card.method}) written to {args.out}: {card.notes}")
    return 0
