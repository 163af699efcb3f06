"""Run settings and the two runs (energy sweep, accuracy) from typed settings.

Both entry points (:mod:`calibration.run`, argparse; :mod:`calibration.app`,
Hydra) build these dataclasses and call :func:`run_sweep` or
:func:`run_accuracy_eval`. Settings are validated before anything loads,
every problem reported at once with its place. The meter is made before the
model is loaded, so a machine without NVML is told so at once.

Output layout (``{hardware}`` in ``out_dir`` becomes the hardware label):
``<out_dir>/<model>/energy.csv`` (+ ``energy.meta.json``) and
``<out_dir>/<model>/accuracy.csv`` (+ ``accuracy.meta.json``).
"""

from __future__ import annotations

import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from calibration.meters import EstimateMeter, Meter, ReplayMeter, Window
from calibration.models import LoadedModel, ModelSpec, load_model, resolve_architecture
from calibration.store import open_table, software_versions, utc_now
from calibration.sweep import (
    MEASUREMENT_COLUMNS,
    RowContext,
    Sweep,
    SweepGrid,
    SweepSummary,
    completed_keys,
)
from tpf.domain import STRATEGIES
from tpf.errors import ConfigError
from tpf.specs import ModelArch

METER_KINDS = ("nvml", "replay", "estimate")
DEFAULT_GRID = SweepGrid(
    n_in_tokens=(1, 64, 256, 1024, 2048, 4096),
    n_out_tokens=(1, 16, 64, 256, 1024),
    batch_sizes=(1, 4, 16, 64),
    repetitions=3,
    warmup=1,
)


@dataclass(frozen=True)
class MeterSettings:
    """Which meter: ``nvml`` (measures), ``replay`` (a recorded log), ``estimate`` (roofline, labelled)."""

    kind: str = "nvml"
    gpu_indices: tuple[int, ...] = (0,)
    replay_log: str | None = None
    estimate_hardware: str | None = None
    sampling_interval_s: float = 0.02
    force_sampling: bool = False
    idle_s: float = 5.0

    def problems(self, where: str = "meter") -> list[str]:
        out = []
        if self.kind not in METER_KINDS:
            out.append(f"{where}.kind: must be one of {METER_KINDS}, got {self.kind!r}")
        if self.kind == "replay" and not self.replay_log:
            out.append(f"{where}.replay_log: required when {where}.kind is replay")
        if self.kind == "estimate" and not self.estimate_hardware:
            out.append(f"{where}.estimate_hardware: required when {where}.kind is estimate (e.g. h100_sxm)")
        if not self.sampling_interval_s > 0:
            out.append(f"{where}.sampling_interval_s: must be > 0, got {self.sampling_interval_s}")
        if not self.idle_s >= 0:
            out.append(f"{where}.idle_s: must be >= 0, got {self.idle_s}")
        if not self.gpu_indices or any(i < 0 for i in self.gpu_indices):
            out.append(f"{where}.gpu_indices: must list device indices >= 0, got {list(self.gpu_indices)}")
        return out


@dataclass(frozen=True)
class SweepSettings:
    model: ModelSpec
    out_dir: str
    grid: SweepGrid = DEFAULT_GRID
    meter: MeterSettings = field(default_factory=MeterSettings)
    hardware: str = "auto"
    progress: bool = True


@dataclass(frozen=True)
class AccuracySettings:
    model: ModelSpec
    out_dir: str
    items: str
    meter: MeterSettings = field(default_factory=MeterSettings)
    strategies: tuple[str, ...] = STRATEGIES
    budgets_tokens: tuple[int, ...] = (64, 256, 1024)
    votes: tuple[int, ...] = (5,)
    temperature: float = 0.7
    limit_per_category: int | None = None
    forced_answer: bool = True
    allow_random_weights: bool = False
    hardware: str = "auto"
    progress: bool = True


def model_slug(name: str) -> str:
    """A folder name for a model: its last path component, lower case, safe characters."""
    last = Path(name.rstrip("/")).name or name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", last).strip("-").lower() or "model"


def output_folder(out_dir: str, hardware: str) -> Path:
    """``out_dir`` with ``{hardware}`` replaced by the hardware label."""
    return Path(out_dir.replace("{hardware}", hardware))


def _arch_for_estimate(spec: ModelSpec) -> ModelArch:
    try:
        return resolve_architecture(spec.name)
    except ConfigError as exc:
        raise ConfigError(f"meter.kind=estimate: {exc}") from exc


def build_meter(settings: MeterSettings, spec: ModelSpec) -> Meter:
    """The meter of ``settings`` (raises a clear error where NVML is missing)."""
    if settings.kind == "replay":
        return ReplayMeter(str(settings.replay_log))
    if settings.kind == "estimate":
        return EstimateMeter(_arch_for_estimate(spec), str(settings.estimate_hardware))
    from calibration.nvml import NvmlMeter

    return NvmlMeter(settings.gpu_indices, sampling_interval_s=settings.sampling_interval_s,
                     force_sampling=settings.force_sampling)


def hardware_label(requested: str, meter: Meter) -> str:
    """``requested`` unless ``auto``: then the shipped spec id of the GPU, or its name as a slug."""
    if requested != "auto":
        return requested
    info = meter.device_info()
    if "hardware_spec" in info:
        return str(info["hardware_spec"])
    name = str(info.get("gpu_name", "replay" if isinstance(meter, ReplayMeter) else "unknown"))
    return _known_hardware(name) or model_slug(name)


def _torch_info(loaded: LoadedModel) -> dict[str, Any]:
    import torch

    info: dict[str, Any] = {"device": loaded.device, "cuda": torch.version.cuda}
    if loaded.device.startswith("cuda"):
        info["cuda_device_name"] = torch.cuda.get_device_name(loaded.device)
    return info


def _metadata(task: str, loaded: LoadedModel, meter: Meter, hardware: str, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "task": task,
        "model": loaded.metadata["model"],
        "weights": loaded.metadata["weights"],
        "dtype": loaded.dtype,
        "hardware": hardware,
        "source": meter.source,
        "method": meter.method,
        "created_utc": utc_now(),
        "meter": meter.device_info(),
        "model_info": loaded.metadata,
        "torch": _torch_info(loaded),
        "software": software_versions(),
        "command": sys.argv,
        **extra,
    }


def _progress_bar(enabled: bool, total: float, description: str, unit: str) -> Any:
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=description, unit=unit, dynamic_ncols=True,
                bar_format="{l_bar}{bar}| [{elapsed} elapsed, {remaining} left]")


def estimated_cost(arch: ModelArch | None, hardware: str | None) -> Any:
    """A window -> estimated seconds function for the progress bar's ETA (None where unknown)."""
    if arch is None or hardware is None:
        return None
    from calibration.estimate import estimate_window, roofline_assumptions

    try:
        assumptions = roofline_assumptions(arch)  # needs tpf.fit.roofline (numpy, scipy)
    except ImportError:
        return None
    return lambda window: estimate_window(arch, hardware, window, assumptions)[0]


def run_sweep(settings: SweepSettings, runner_factory: Any = None, meter: Meter | None = None) -> SweepSummary:
    """Measure the energy sweep of ``settings``; resumes a table already in the output folder."""
    problems = settings.model.problems() + settings.grid.problems() + settings.meter.problems()
    if problems:
        raise ConfigError(problems)
    meter = meter or build_meter(settings.meter, settings.model)
    loaded = load_model(settings.model)
    settings.grid.validate(max_positions=loaded.max_positions)
    from calibration.generation import TorchRunner

    runner = (runner_factory or TorchRunner)(loaded, settings.model.seed)
    idle_power_w = meter.idle_power_w(settings.meter.idle_s)
    hardware = hardware_label(settings.hardware, meter)
    table_path = output_folder(settings.out_dir, hardware) / model_slug(loaded.metadata["model"]) / "energy.csv"
    extra = {"grid": asdict(settings.grid), "idle_power_w": idle_power_w, "gpu_count": len(settings.meter.gpu_indices)}
    with open_table(table_path, MEASUREMENT_COLUMNS, _metadata("energy_sweep", loaded, meter, hardware, extra)) as table:
        context = RowContext(loaded.metadata["model"], hardware, loaded.dtype, loaded.metadata["weights"],
                             len(settings.meter.gpu_indices), idle_power_w)
        arch = resolve_architecture(settings.model.name) if settings.model.weights == "random-init" else None
        spec_hw = getattr(getattr(meter, "hardware", None), "key", None) or _known_hardware(hardware)
        sweep = Sweep(runner, meter, settings.grid, table, context, cost_s=estimated_cost(arch, spec_hw))
        done = completed_keys(table.existing_rows)
        unit = "s (est.)" if sweep.cost_s else "windows"
        sweep.progress = _progress_bar(settings.progress, sweep.planned_cost(done), "energy sweep", unit)
        try:
            return sweep.run(done)
        finally:
            if sweep.progress is not None:
                sweep.progress.close()
            meter.close()


def _known_hardware(label: str) -> str | None:
    from tpf.specs import hardware_spec

    try:
        return hardware_spec(label).key
    except ConfigError:
        return None


def sweep_plan(grid: SweepGrid, arch: ModelArch, hardware: str) -> dict[str, float]:
    """Cells, windows and the estimated duration (s) of a sweep: an ESTIMATE from the roofline."""
    from calibration.estimate import estimate_window, roofline_assumptions
    from calibration.sweep import key_window, pending_cells

    assumptions = roofline_assumptions(arch)
    cells = sum(1 for _ in grid.cells())
    windows = 0
    seconds = 0.0
    # the sweep's own accounting: a prefill window shared by cells is measured once
    for (n_in, n_out, batch), keys in pending_cells(grid, set()):
        cell_windows = [key_window(k) for k in keys]
        cell_windows += [Window("total", n_in, n_out, batch)] * grid.warmup
        windows += len(cell_windows)
        seconds += sum(estimate_window(arch, hardware, w, assumptions)[0] for w in cell_windows)
        if n_out > 1:  # split runs re-run the prefill before a decode window (unmeasured after the first)
            seconds += estimate_window(arch, hardware, Window("prefill", n_in, 1, batch), assumptions)[0] * grid.repetitions
    return {"cells": cells, "windows": windows, "estimated_duration_s": seconds}


def run_accuracy_eval(settings: AccuracySettings, meter: Meter | None = None) -> int:
    """Evaluate the items of ``settings`` with every strategy config; returns rows written."""
    from calibration.accuracy import (
        ACCURACY_COLUMNS,
        Evaluator,
        eval_configs,
        load_items,
        run_accuracy,
    )
    from calibration.models import tokenizer_for

    problems = settings.model.problems() + settings.meter.problems()
    if not settings.items:
        problems.append("accuracy.items: required (a JSONL file of multiple-choice items)")
    if settings.model.weights == "random-init" and not settings.allow_random_weights:
        problems.append(
            "model.weights: accuracy needs pretrained weights (a random-init model's accuracy means "
            "nothing); set allow_random_weights only to check the pipeline"
        )
    if problems:
        raise ConfigError(problems)
    configs = eval_configs(settings.strategies, settings.budgets_tokens, settings.votes)
    items = load_items(settings.items, settings.limit_per_category)
    meter = meter or build_meter(settings.meter, settings.model)
    loaded = load_model(settings.model)
    from calibration.generation import TorchRunner

    runner = TorchRunner(loaded, settings.model.seed)
    hardware = hardware_label(settings.hardware, meter)
    extra = {
        "items_file": settings.items, "n_items": len(items), "configs": [asdict(c) for c in configs],
        "temperature": settings.temperature, "forced_answer": settings.forced_answer,
        "idle_power_w": meter.idle_power_w(settings.meter.idle_s),
    }
    table_path = output_folder(settings.out_dir, hardware) / model_slug(loaded.metadata["model"]) / "accuracy.csv"
    evaluator = Evaluator(loaded, tokenizer_for(loaded), meter, settings.temperature,
                          settings.forced_answer, settings.model.seed)
    context = {"model": loaded.metadata["model"], "hardware": hardware,
               "weights": loaded.metadata["weights"], "synchronize": runner.synchronize}
    with open_table(table_path, ACCURACY_COLUMNS, _metadata("accuracy", loaded, meter, hardware, extra)) as table:
        progress = _progress_bar(settings.progress, len(items) * len(configs) - len(table.existing_rows),
                                 "accuracy", "items")
        try:
            return run_accuracy(evaluator, items, configs, table, context, progress)
        finally:
            if progress is not None:
                progress.close()
            meter.close()
