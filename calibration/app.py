"""``tpf calibrate [overrides]``: the calibration stage as a Hydra app.

Configs live in ``calibration/conf/`` (primary ``calibrate.yaml``; groups
``sweep_grid/``, ``meter/``, ``accuracy/``). Hydra stops here: the composed
config becomes the typed settings of :mod:`calibration.pipeline`, which the
argparse entry (``python -m calibration.run``) builds too. Examples::

    tpf calibrate model.name=llama-3.1-8b                       # energy sweep, NVML
    tpf calibrate model.name=tiny-llama sweep_grid=smoke meter=estimate
    tpf calibrate engine=vllm model.name=smollm2-135m-shape sweep_grid=engine_cpu   # a serving engine
    tpf calibrate task=accuracy model.name=/models/Llama-3.1-8B-Instruct \\
        model.weights=pretrained accuracy.items=mmlu.jsonl
    tpf calibrate task=import_lm_eval model.name=llama-3.1-8b \\
        'lm_eval.samples=[samples_mmlu_x.jsonl]' lm_eval.out=acc.csv
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from calibration.models import ModelSpec
from calibration.pipeline import AccuracySettings, MeterSettings, SweepSettings
from calibration.sweep import SweepGrid
from tpf.errors import ConfigError, TpfError

CONF_DIR = Path(__file__).resolve().parent / "conf"
TASKS = ("sweep", "accuracy", "import_lm_eval")


def _tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


def settings_from_config(cfg: dict[str, Any]) -> SweepSettings | AccuracySettings | dict[str, Any]:
    """Typed settings of a resolved config (a plain dict); every problem reported at once."""
    task = cfg.get("task")
    if task not in TASKS:
        raise ConfigError(f"task: must be one of {TASKS}, got {task!r}")
    if task == "import_lm_eval":
        return dict(cfg["lm_eval"], model=cfg["model"]["name"])
    model = ModelSpec(**cfg["model"])
    meter_cfg = dict(cfg["meter"])
    meter_cfg["gpu_indices"] = _tuple(meter_cfg.get("gpu_indices", (0,)))
    meter = MeterSettings(**meter_cfg)
    if task == "sweep":
        grid_cfg = cfg["sweep_grid"]
        grid = SweepGrid(_tuple(grid_cfg["n_in_tokens"]), _tuple(grid_cfg["n_out_tokens"]),
                         _tuple(grid_cfg["batch_sizes"]), grid_cfg["repetitions"], grid_cfg["warmup"])
        if cfg.get("engine", "transformers") != "transformers":
            from calibration.engine_cli import engine_sweep_settings

            return engine_sweep_settings(cfg, model, meter, grid)
        return SweepSettings(model, cfg["out_dir"], grid, meter, cfg["hardware"], bool(cfg["progress"]))
    acc = cfg["accuracy"]
    return AccuracySettings(
        model, cfg["out_dir"], acc["items"], meter, _tuple(acc["strategies"]), _tuple(acc["budgets_tokens"]),
        _tuple(acc["votes"]), float(acc["temperature"]), acc["limit_per_category"],
        bool(acc["forced_answer"]), bool(acc["allow_random_weights"]), cfg["hardware"], bool(cfg["progress"]),
    )


def run_config(cfg: dict[str, Any]) -> str:
    """Run what a resolved config asks for; returns a one-line summary."""
    from calibration import pipeline

    settings = settings_from_config(cfg)
    if type(settings).__name__ == "EngineSweepSettings":
        from calibration.engine_sweep import run_engine_sweep

        return f"engine sweep: table {run_engine_sweep(settings)}"  # type: ignore[arg-type]
    if isinstance(settings, SweepSettings):
        if cfg.get("dry_run"):
            from calibration.run import print_plan

            print_plan(settings, settings.meter.estimate_hardware or (None if cfg["hardware"] == "auto" else cfg["hardware"]))
            return "dry run: nothing measured"
        summary = pipeline.run_sweep(settings)
        return (f"energy sweep: {summary.rows_written} rows written, {summary.rows_skipped} already measured, "
                f"{len(summary.oom_cells)} cells out of memory")
    if isinstance(settings, AccuracySettings):
        return f"accuracy: {pipeline.run_accuracy_eval(settings)} item rows written"
    from calibration.run import main as run_main

    options = ["import-lm-eval", *settings["samples"], "--model", settings["model"], "--out", str(settings["out"])]
    for key, flag in (("strategy", "--strategy"), ("metric", "--metric"), ("filter_name", "--filter")):
        if settings.get(key):
            options += [flag, str(settings[key])]
    options += ["--budget-tokens", str(settings["budget_tokens"]), "--votes", str(settings["votes"])]
    run_main(options)
    return "lm-eval import done"


def main(argv: list[str]) -> int:
    """``argv[0]`` is ``calibrate``; the rest are Hydra overrides and flags."""
    from omegaconf import OmegaConf

    from tpf.app import run_hydra_app
    from tpf.config.safety import hydra_argument_problems
    from tpf.errors import ConfigError, debug_enabled, unexpected_message

    problems = hydra_argument_problems(argv[1:])
    if problems:
        raise ConfigError(problems)
    failures: list[str] = []

    def task(cfg: Any) -> None:
        try:
            plain = OmegaConf.to_container(cfg, resolve=True, throw_on_missing=True)
            print(f"[tpf calibrate] {run_config(plain)}", file=sys.stderr)  # type: ignore[arg-type]
        except TpfError as exc:
            failures.append(str(exc))
            print(f"tpf calibrate: error: {exc}", file=sys.stderr)
        except Exception as exc:
            missing = type(exc).__name__ == "MissingMandatoryValue"
            if debug_enabled() and not missing:
                raise
            failures.append(str(exc))
            what = "a required value is missing: " if missing else ""
            print(f"tpf calibrate: error: {what}{exc if missing else unexpected_message(exc)}", file=sys.stderr)

    code = run_hydra_app(task, CONF_DIR, "calibrate", ["tpf calibrate", *argv[1:]])
    return code or (1 if failures else 0)
