"""Energy sweeps: input tokens x output tokens x batch size, each phase measured.

For every cell ``(n_in, n_out, batch)`` the sweep runs ``warmup`` unrecorded-
for-fitting windows (rows with ``warmup = true``), then ``repetitions`` times:

* a split run: the prefill (one forward over the prompts, yielding the first
  token) in one window, row ``phase = prefill`` with ``n_out_tokens = 1``
  (measured once per ``(n_in, batch)``), then the ``n_out - 1`` decode steps in
  a second window, row ``phase = decode``;
* a whole run: prefill and decode in one window, row ``phase = total``.

The device is synchronized before each window opens and before it closes.
An out-of-memory error ends the cell: its remaining rows are written with
``status = oom`` and the sweep goes on. Rows already in the table (a resumed
run) are skipped, so a killed run loses nothing and measures nothing twice.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from calibration.meters import Measurement, Meter, Window
from calibration.store import AppendOnlyTable
from tpf.errors import ConfigError

MEASUREMENT_COLUMNS = (
    "model", "hardware", "n_in_tokens", "n_out_tokens", "batch_size", "energy_j", "duration_s",
    "phase", "gpu_count", "idle_power_w", "source", "repetition", "warmup", "status", "method",
    "avg_power_w", "gpu_util_pct", "sm_clock_mhz", "mem_clock_mhz", "power_limit_w",
    "dtype", "weights", "error",
)
DONE_STATUSES = ("ok", "oom")


@dataclass(frozen=True)
class SweepGrid:
    """The cells of a sweep and how often each is measured."""

    n_in_tokens: tuple[int, ...]
    n_out_tokens: tuple[int, ...]
    batch_sizes: tuple[int, ...]
    repetitions: int = 3
    warmup: int = 1

    def problems(self, where: str = "grid", max_positions: int | None = None) -> list[str]:
        """Every problem of the grid, each with its place."""
        out: list[str] = []
        for name in ("n_in_tokens", "n_out_tokens", "batch_sizes"):
            values = getattr(self, name)
            if len(values) == 0:
                out.append(f"{where}.{name}: must list at least one value")
            out += [
                f"{where}.{name}[{i}]: must be an integer >= 1, got {v!r}"
                for i, v in enumerate(values)
                if isinstance(v, bool) or not isinstance(v, int) or v < 1
            ]
        if isinstance(self.repetitions, bool) or not isinstance(self.repetitions, int) or self.repetitions < 1:
            out.append(f"{where}.repetitions: must be an integer >= 1, got {self.repetitions!r}")
        if isinstance(self.warmup, bool) or not isinstance(self.warmup, int) or self.warmup < 0:
            out.append(f"{where}.warmup: must be an integer >= 0, got {self.warmup!r}")
        if max_positions is not None and not out:
            longest = max(self.n_in_tokens) + max(self.n_out_tokens)
            if longest > max_positions:
                out.append(
                    f"{where}: max(n_in_tokens) + max(n_out_tokens) = {longest} exceeds the model's "
                    f"max_position_embeddings = {max_positions}"
                )
        return out

    def validate(self, where: str = "grid", max_positions: int | None = None) -> None:
        problems = self.problems(where, max_positions)
        if problems:
            raise ConfigError(problems)

    def cells(self) -> Iterator[tuple[int, int, int]]:
        """``(n_in, n_out, batch)`` from the cheapest to the dearest input length."""
        for n_in in sorted(set(self.n_in_tokens)):
            for batch in sorted(set(self.batch_sizes)):
                for n_out in sorted(set(self.n_out_tokens)):
                    yield n_in, n_out, batch


@dataclass(frozen=True)
class RowContext:
    """Columns every row of one sweep shares."""

    model: str
    hardware: str
    dtype: str
    weights: str
    gpu_count: int = 1
    idle_power_w: float = math.nan


class Runner(Protocol):
    """What the sweep needs from a model runner (:class:`calibration.generation.TorchRunner`)."""

    def synchronize(self) -> None: ...
    def prefill(self, n_in_tokens: int, batch_size: int) -> Any: ...
    def decode(self, state: Any, steps: int) -> None: ...
    def release(self) -> None: ...


Key = tuple[str, int, int, int, int]  # phase, n_in, n_out, batch, repetition


@dataclass
class SweepSummary:
    rows_written: int = 0
    rows_skipped: int = 0
    oom_cells: list[tuple[int, int, int]] = field(default_factory=list)


def completed_keys(rows: Iterable[dict[str, str]]) -> set[Key]:
    """Keys of the measured (not warm-up) rows already in a table."""
    done: set[Key] = set()
    for row in rows:
        if row.get("warmup") == "true" or row.get("status") not in DONE_STATUSES:
            continue
        done.add((row["phase"], int(row["n_in_tokens"]), int(row["n_out_tokens"]),
                  int(row["batch_size"]), int(row["repetition"])))
    return done


def cell_keys(n_in: int, n_out: int, batch: int, repetitions: int) -> list[Key]:
    keys: list[Key] = []
    for rep in range(repetitions):
        keys.append(("prefill", n_in, 1, batch, rep))
        if n_out > 1:
            keys.append(("decode", n_in, n_out, batch, rep))
        keys.append(("total", n_in, n_out, batch, rep))
    return keys


def all_keys(grid: SweepGrid) -> set[Key]:
    return {k for n_in, n_out, batch in grid.cells() for k in cell_keys(n_in, n_out, batch, grid.repetitions)}


def pending_cells(grid: SweepGrid, done: set[Key]) -> list[tuple[tuple[int, int, int], list[Key]]]:
    """Cells with windows left, each with the keys it measures (a prefill key goes to its first cell)."""
    claimed = set(done)
    cells = []
    for n_in, n_out, batch in grid.cells():
        keys = [k for k in cell_keys(n_in, n_out, batch, grid.repetitions) if k not in claimed]
        claimed.update(keys)
        if keys:
            cells.append(((n_in, n_out, batch), keys))
    return cells


def window_key(window: Window, repetition: int) -> Key:
    return (window.phase, window.n_in_tokens, window.n_out_tokens, window.batch_size, repetition)


def key_window(key: Key) -> Window:
    """The window a key measures (its repetition dropped)."""
    return Window(key[0], key[1], key[2], key[3])


def make_row(
    context: RowContext, meter: Meter, window: Window, repetition: int, warmup: bool,
    measurement: Measurement | None, status: str = "ok", error: str = "",
) -> dict[str, Any]:
    """One measurement-table row."""
    m = measurement or Measurement(math.nan, math.nan, math.nan, method=meter.method)
    return {
        "model": context.model, "hardware": context.hardware,
        "n_in_tokens": window.n_in_tokens, "n_out_tokens": window.n_out_tokens,
        "batch_size": window.batch_size, "energy_j": m.energy_j, "duration_s": m.duration_s,
        "phase": window.phase, "gpu_count": context.gpu_count, "idle_power_w": context.idle_power_w,
        "source": meter.source, "repetition": repetition, "warmup": warmup, "status": status,
        "method": m.method or meter.method, "avg_power_w": m.avg_power_w,
        "gpu_util_pct": m.gpu_util_pct, "sm_clock_mhz": m.sm_clock_mhz,
        "mem_clock_mhz": m.mem_clock_mhz, "power_limit_w": m.power_limit_w,
        "dtype": context.dtype, "weights": context.weights, "error": error,
    }


class _CellRun:
    """Measures one cell's pending windows, writing each row as it is taken."""

    def __init__(self, sweep: Sweep, n_in: int, n_out: int, batch: int, pending: set[Key]):
        self.sweep, self.n_in, self.n_out, self.batch, self.pending = sweep, n_in, n_out, batch, pending

    def measure(self, window: Window, run: Callable[[], Any], repetition: int, warmup: bool) -> Any:
        sweep = self.sweep
        sweep.runner.synchronize()
        sweep.meter.begin_window(window)
        result = run()
        sweep.runner.synchronize()
        measurement = sweep.meter.end_window()
        sweep.write(make_row(sweep.context, sweep.meter, window, repetition, warmup, measurement))
        if not warmup:
            self.pending.discard(window_key(window, repetition))
        return result

    def whole(self, repetition: int, warmup: bool) -> None:
        runner = self.sweep.runner
        window = Window("total", self.n_in, self.n_out, self.batch)
        self.measure(window, lambda: runner.decode(runner.prefill(self.n_in, self.batch), self.n_out - 1),
                     repetition, warmup)

    def split(self, repetition: int) -> None:
        runner = self.sweep.runner
        prefill = Window("prefill", self.n_in, 1, self.batch)
        if ("prefill", self.n_in, 1, self.batch, repetition) in self.pending:
            state = self.measure(prefill, lambda: runner.prefill(self.n_in, self.batch), repetition, False)
        else:
            state = runner.prefill(self.n_in, self.batch)
        decode = Window("decode", self.n_in, self.n_out, self.batch)
        if (decode.phase, self.n_in, self.n_out, self.batch, repetition) in self.pending:
            self.measure(decode, lambda: runner.decode(state, self.n_out - 1), repetition, False)

    def run(self) -> None:
        for warm in range(self.sweep.grid.warmup):
            self.whole(warm, warmup=True)
        for rep in range(self.sweep.grid.repetitions):
            if {("prefill", self.n_in, 1, self.batch, rep), ("decode", self.n_in, self.n_out, self.batch, rep)} & self.pending:
                self.split(rep)
            if ("total", self.n_in, self.n_out, self.batch, rep) in self.pending:
                self.whole(rep, warmup=False)


@dataclass
class Sweep:
    """A sweep over ``grid`` with ``runner`` measured by ``meter`` into ``table``."""

    runner: Runner
    meter: Meter
    grid: SweepGrid
    table: AppendOnlyTable
    context: RowContext
    progress: Any = None
    cost_s: Callable[[Window], float] | None = None
    summary: SweepSummary = field(default_factory=SweepSummary)
    done: set[Key] = field(default_factory=set)

    def write(self, row: dict[str, Any]) -> None:
        self.table.append(row)
        self.summary.rows_written += 1
        if not row["warmup"]:
            self.done.add((row["phase"], row["n_in_tokens"], row["n_out_tokens"], row["batch_size"], row["repetition"]))
        if self.progress is not None:
            self.progress.update(self._cost(Window(row["phase"], row["n_in_tokens"], row["n_out_tokens"],
                                                   row["batch_size"])))

    def _cost(self, window: Window) -> float:
        return 1.0 if self.cost_s is None else self.cost_s(window)

    def planned_cost(self, done: set[Key]) -> float:
        """Work left (windows, or estimated seconds where ``cost_s`` is given) for the progress bar."""
        total = 0.0
        for (n_in, n_out, batch), keys in pending_cells(self.grid, done):
            windows = [key_window(k) for k in keys] + [Window("total", n_in, n_out, batch)] * self.grid.warmup
            total += sum(self._cost(w) for w in windows)
        return total

    def run(self, done: set[Key]) -> SweepSummary:
        """Measure every window not in ``done``; out-of-memory cells are recorded and skipped."""
        self.done = set(done)
        self.summary.rows_skipped = len(self.done & all_keys(self.grid))
        for (n_in, n_out, batch), _ in pending_cells(self.grid, done):
            pending = {k for k in cell_keys(n_in, n_out, batch, self.grid.repetitions) if k not in self.done}
            if not pending:
                continue
            try:
                _CellRun(self, n_in, n_out, batch, pending).run()
            except Exception as exc:
                self.meter.cancel_window()
                if not _is_oom(exc):
                    raise
                self.runner.release()
                self._record_oom(n_in, n_out, batch, pending, exc)
        return self.summary

    def _record_oom(self, n_in: int, n_out: int, batch: int, pending: set[Key], exc: BaseException) -> None:
        self.summary.oom_cells.append((n_in, n_out, batch))
        message = " ".join(f"{type(exc).__name__}: {exc}".split())[:300]
        for key in sorted(pending, key=lambda k: (k[4], k[0])):
            self.write(make_row(self.context, self.meter, key_window(key), key[4], False, None, "oom", message))


def _is_oom(exc: BaseException) -> bool:
    from calibration.generation import is_out_of_memory

    return is_out_of_memory(exc)
