"""The engine sweep: a serving engine over batch levels and input/output lengths.

Per level (``n_in_tokens`` x ``n_out_tokens`` x ``batch_size``) and repetition,
``batch_size`` requests of distinct random prompts are submitted to the engine
at once and served by its own scheduler. One row per window records the
window's wall time (``duration_s``, until the last request finishes), the time
to first token (mean and max over the requests), the time per output token
(mean over requests), the decode step time (``(duration - max TTFT) /
(n_out - 1)``: one decode iteration of the running batch), output tokens/s,
the engine's running batch (its scheduler's count at each engine
iteration in the window: mean and max) and the energy of the window where a meter
exists (``meter=nvml`` on a GPU). ``meter=none`` measures time only: the
energy column stays empty and the metadata says so.

The table is the calibration stage's crash-safe store (:mod:`calibration.store`)
and a superset of the measurement table ``tpf fit energy`` reads; rows with
energy fit with it, time-only rows with :mod:`calibration.engine_card`.
"""

from __future__ import annotations

import asyncio
import math
import platform
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibration.engine import EngineSettings, RequestTiming, ServingEngine, build_engine
from calibration.meters import Measurement, Meter, Window
from calibration.pipeline import (
    MeterSettings,
    build_meter,
    hardware_label,
    model_slug,
    output_folder,
)
from calibration.store import open_table, software_versions, utc_now
from calibration.sweep import SweepGrid
from tpf.errors import ConfigError

ENGINE_COLUMNS = (
    "model", "hardware", "engine", "engine_version", "n_in_tokens", "n_out_tokens", "batch_size",
    "energy_j", "duration_s", "phase", "gpu_count", "idle_power_w", "source", "repetition", "warmup", "status",
    "method", "ttft_mean_s", "ttft_max_s", "tpot_mean_s", "step_s", "output_tokens_per_s",
    "running_batch_mean", "running_batch_max", "avg_power_w", "dtype", "weights", "machine_load_1min", "error",
)
ENGINE_METERS = ("none", "nvml", "estimate", "replay")


class NoMeter(Meter):
    """No energy meter (a CPU): every window has its wall time only."""

    source = "measured"
    method = "time_only_no_meter"

    def begin_window(self, window: Window) -> None:
        self._start = None

    def end_window(self) -> Measurement:
        return Measurement(duration_s=math.nan, energy_j=math.nan, avg_power_w=math.nan, method=self.method)

    def device_info(self) -> dict[str, object]:
        return {"meter": "none", "method": self.method, "source": self.source,
                "energy": "not measured: no energy meter on this device (time only)"}


SWEEP_MODES = ("batch", "steady")


@dataclass(frozen=True)
class EngineSweepSettings:
    """``mode``: ``batch`` (a level's requests submitted at once) or ``steady`` (a level's
    running batch held by ``batch`` workers with staggered phases; see :func:`serve_steady`)."""

    engine: EngineSettings
    out_dir: str
    grid: SweepGrid
    meter: MeterSettings = field(default_factory=lambda: MeterSettings(kind="none"))
    hardware: str = "auto"
    progress: bool = True
    mode: str = "batch"


def cpu_label() -> str:
    """``cpu-<model name slug>`` from /proc/cpuinfo (``cpu`` where it cannot be read)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "cpu"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    if not match:
        return "cpu"
    slug = re.sub(r"\(r\)|\(tm\)|cpu|@.*$|processor", "", match.group(1).lower())
    return "cpu-" + re.sub(r"[^a-z0-9]+", "-", slug).strip("-")


def machine_load_1min() -> float:
    """The 1-minute load average of this machine (NaN where unknown)."""
    try:
        return float(Path("/proc/loadavg").read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return math.nan


def _meter(settings: EngineSweepSettings) -> Meter:
    if settings.meter.kind not in ENGINE_METERS:
        raise ConfigError(f"meter.kind: must be one of {ENGINE_METERS} for an engine sweep, got {settings.meter.kind!r}")
    if settings.meter.kind == "none":
        return NoMeter()
    from calibration.models import ModelSpec

    return build_meter(settings.meter, ModelSpec(settings.engine.model))


def _label(settings: EngineSweepSettings, meter: Meter) -> str:
    if settings.hardware != "auto":
        return settings.hardware
    if isinstance(meter, NoMeter):
        return cpu_label()
    return hardware_label("auto", meter)


async def serve_level(engine: ServingEngine, prompts: list[list[int]], n_out: int, tag: str) -> list[RequestTiming]:
    """Submit all prompts at once; their timings."""
    return list(await asyncio.gather(*(engine.generate(f"{tag}-{i}", p, n_out) for i, p in enumerate(prompts))))


async def serve_steady(engine: ServingEngine, prompts: list[list[int]], n_out: int,
                       tag: str) -> tuple[list[RequestTiming], float, float]:
    """Hold ``len(prompts)`` requests in the engine; the timings of a round served at that running batch.

    Worker ``i`` of ``B`` first sends a phase request of ``1 + i * n_out // B``
    tokens (so the workers' requests end at staggered times, as under
    continuous arrivals), then two requests of ``n_out`` tokens. The first of
    those is recorded: while it runs every other worker is busy (in its phase,
    first or second request), so it is served at a running batch of ``B``,
    with other prompts' prefills mixed into its decode steps. Returns the
    recorded timings and the start and end of the recorded round.
    """
    batch = len(prompts)

    async def worker(i: int) -> RequestTiming:
        await engine.generate(f"{tag}-p{i}", prompts[i], 1 + i * n_out // batch)
        timing = await engine.generate(f"{tag}-a{i}", prompts[i], n_out)
        await engine.generate(f"{tag}-b{i}", prompts[(i + 1) % batch], n_out)
        return timing

    timings = list(await asyncio.gather(*(worker(i) for i in range(batch))))
    return timings, min(t.submit_s for t in timings), max(t.finish_s for t in timings)


def steady_row(timings: list[RequestTiming], running: list[int]) -> dict[str, Any]:
    """Per-level figures at a steady running batch: ``duration_s`` is the median request latency."""
    latency = sorted(t.latency_s for t in timings)
    duration = latency[len(latency) // 2] if len(latency) % 2 else sum(latency[len(latency) // 2 - 1:][:2]) / 2
    ttft = [t.ttft_s for t in timings]
    tpot = [t.tpot_s for t in timings]
    n_out = timings[0].n_out_tokens
    return {
        "duration_s": duration, "ttft_mean_s": sum(ttft) / len(ttft), "ttft_max_s": max(ttft),
        "tpot_mean_s": sum(tpot) / len(tpot) if n_out > 1 else math.nan,
        "step_s": sum(tpot) / len(tpot) if n_out > 1 else math.nan,
        "output_tokens_per_s": len(timings) * n_out / duration,
        "running_batch_mean": sum(running) / len(running) if running else math.nan,
        "running_batch_max": max(running) if running else math.nan,
    }


def running_in(engine: ServingEngine, start_s: float, end_s: float) -> list[int]:
    """The scheduler's running count at each engine iteration between ``start_s`` and ``end_s``."""
    return [running for clock_s, running, *_ in engine.iterations if start_s <= clock_s <= end_s]


def level_row(timings: list[RequestTiming], running: list[int], start_s: float, end_s: float) -> dict[str, Any]:
    """The per-window figures of one level (times in s)."""
    n_out = timings[0].n_out_tokens
    duration = end_s - start_s
    ttft = [t.first_token_s - start_s for t in timings]
    tpot = [t.tpot_s for t in timings]
    step = (end_s - max(t.first_token_s for t in timings)) / (n_out - 1) if n_out > 1 else math.nan
    return {
        "duration_s": duration, "ttft_mean_s": sum(ttft) / len(ttft), "ttft_max_s": max(ttft),
        "tpot_mean_s": sum(tpot) / len(tpot) if n_out > 1 else math.nan, "step_s": step,
        "output_tokens_per_s": sum(t.n_out_tokens for t in timings) / duration,
        "running_batch_mean": sum(running) / len(running) if running else math.nan,
        "running_batch_max": max(running) if running else math.nan,
    }


def _cells(grid: SweepGrid) -> list[tuple[int, int, int, int, bool]]:
    cells = []
    for n_in in grid.n_in_tokens:
        for n_out in grid.n_out_tokens:
            for batch in grid.batch_sizes:
                cells += [(n_in, n_out, batch, r, True) for r in range(grid.warmup)]
                cells += [(n_in, n_out, batch, r, False) for r in range(grid.repetitions)]
    return cells


def _done_keys(rows: list[dict[str, str]]) -> set[tuple[int, int, int, int, bool]]:
    return {(int(float(r["n_in_tokens"])), int(float(r["n_out_tokens"])), int(float(r["batch_size"])),
             int(r["repetition"]), r["warmup"] == "true") for r in rows if r.get("status") == "ok"}


def _metadata(settings: EngineSweepSettings, engine: ServingEngine, meter: Meter, hardware: str,
              idle_w: float) -> dict[str, Any]:
    info = engine.describe()
    return {
        "task": "engine_sweep", "model": settings.engine.model, "weights": info.get("weights"),
        "dtype": info.get("dtype"), "hardware": hardware, "source": meter.source, "engine": engine.name,
        "engine_version": engine.version, "engine_info": info, "meter": meter.device_info(),
        "energy": "measured per window" if not isinstance(meter, NoMeter) else "none: no energy meter (time only)",
        "idle_power_w": idle_w, "grid": settings.grid.__dict__, "mode": settings.mode,
        "host": platform.node(), "machine_load_1min_at_start": machine_load_1min(),
        "software": {**software_versions(), engine.name: engine.version}, "created_utc": utc_now(),
    }


def _prompts(rng: random.Random, vocab: int, n_in: int, batch: int) -> list[list[int]]:
    # distinct random prompts: no prefix is shared between requests
    return [[rng.randrange(1, vocab) for _ in range(n_in)] for _ in range(batch)]


async def _sweep(settings: EngineSweepSettings, engine: ServingEngine, meter: Meter, table: Any,
                 base: dict[str, Any]) -> int:
    done = _done_keys(table.existing_rows)
    todo = [c for c in _cells(settings.grid) if c not in done]
    rng = random.Random(settings.engine.seed)
    for index, (n_in, n_out, batch, repetition, warmup) in enumerate(todo):
        prompts = _prompts(rng, engine.vocab_size(), n_in, batch)
        meter.begin_window(Window("total", n_in, n_out, batch))
        start = engine.clock()
        try:
            if settings.mode == "steady":
                timings, first, last = await serve_steady(engine, prompts, n_out, f"s{index}")
            else:
                timings = await serve_level(engine, prompts, n_out, f"s{index}")
        except Exception:
            meter.cancel_window()
            raise
        end = engine.clock()
        measured = meter.end_window()
        if settings.mode == "steady":
            figures = steady_row(timings, running_in(engine, first, last))
            # the window's energy: the level's average power over one request latency at this batch
            energy = measured.energy_j / (end - start) * figures["duration_s"]
        else:
            figures, energy = level_row(timings, running_in(engine, start, end), start, end), measured.energy_j
        row = {**base, "n_in_tokens": n_in, "n_out_tokens": n_out, "batch_size": batch, "repetition": repetition,
               "warmup": warmup, "status": "ok", "energy_j": energy, "avg_power_w": measured.avg_power_w,
               "method": measured.method or meter.method, "machine_load_1min": machine_load_1min(), **figures}
        table.append(row)
        if settings.progress:
            print(f"[{index + 1}/{len(todo)}] n_in {n_in} n_out {n_out} batch {batch} rep {repetition}"
                  f"{' warm-up' if warmup else ''}: {row['duration_s']:.3f} s, "
                  f"{row['output_tokens_per_s']:.1f} tok/s, running {row['running_batch_mean']:.1f}", flush=True)
    return len(todo)


async def run_engine_sweep_async(settings: EngineSweepSettings, engine: ServingEngine) -> Path:
    """Run (or resume) the sweep on a running ``engine`` inside the caller's event loop; the table's path.

    An asynchronous engine (vLLM's AsyncLLM) is bound to the event loop that
    first served it: a caller that replays traces afterwards keeps one loop.
    """
    settings.grid.validate()
    if settings.mode not in SWEEP_MODES:
        raise ConfigError(f"mode: must be one of {SWEEP_MODES}, got {settings.mode!r}")
    meter = _meter(settings)
    try:
        hardware = _label(settings, meter)
        idle_w = meter.idle_power_w(settings.meter.idle_s) if settings.meter.idle_s > 0 else math.nan
        metadata = _metadata(settings, engine, meter, hardware, idle_w)
        folder = output_folder(settings.out_dir, hardware) / model_slug(settings.engine.model)
        path = folder / f"engine_{engine.name}{'_steady' if settings.mode == 'steady' else ''}.csv"
        base = {"model": settings.engine.model, "hardware": hardware, "engine": engine.name,
                "engine_version": engine.version, "phase": "total", "gpu_count": len(settings.meter.gpu_indices),
                "idle_power_w": idle_w, "source": meter.source, "dtype": metadata["dtype"],
                "weights": metadata["weights"]}
        with open_table(path, ENGINE_COLUMNS, metadata) as table:
            written = await _sweep(settings, engine, meter, table, base)
        if settings.progress:
            print(f"engine sweep: {written} windows measured into {path}")
        return path
    finally:
        meter.close()


def run_engine_sweep(settings: EngineSweepSettings, engine: ServingEngine | None = None) -> Path:
    """Run (or resume) the sweep in its own event loop; returns the table's path.

    The engine is built from ``settings.engine`` and closed at the end, unless one is given.
    """
    settings.grid.validate()
    owned = engine is None
    engine = engine or build_engine(settings.engine)
    try:
        return asyncio.run(run_engine_sweep_async(settings, engine))
    finally:
        if owned:
            engine.close()
