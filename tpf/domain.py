"""Typed domain objects shared by the planner, the simulator and the CLI.

Library code takes these dataclasses, never a Hydra ``DictConfig``. Each has a
``validate()`` that reports every problem at once, each with its place
(``workload.classes[3].rate_per_s[5]: must be >= 0, got -2``).
Units: SI, other units in the names.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tpf.errors import ConfigError

#: Joules in one kilowatt-hour: the one conversion between SI energy and kWh.
J_PER_KWH = 3.6e6

#: Test-time strategies, the one list every part of tpf checks against.
STRATEGIES = ("zero_shot", "cot", "mv")

#: The 14 MMLU-Pro categories: the labels an MMLU-Pro domain classifier emits.
MMLU_PRO_CATEGORIES = (
    "biology", "business", "chemistry", "computer science", "economics", "engineering", "health",
    "history", "law", "math", "other", "philosophy", "physics", "psychology",
)

#: The EuroMLSys'25 Table 1 categories -> the MMLU-Pro categories they cluster. The
#: accuracy card takes its CoT curve shapes from these, and the router export matches
#: each category on these classifier labels.
MMLU_PRO_CATEGORY_MAP: dict[str, tuple[str, ...]] = {
    "computer_science": ("computer science",),
    "economics": ("economics",),
    "engineering": ("engineering",),
    "health": ("health",),
    "humanities": ("history", "philosophy", "law"),
    "math": ("math",),
    "natural_sciences": ("biology", "chemistry", "physics"),
    "sociology": ("psychology",),
}


@dataclass(frozen=True)
class QueryClass:
    """A class of queries: an MMLU-style category and an input-length bucket.

    ``rate_per_s`` holds one arrival rate per period (queries/s); a single value
    applies to every period. ``n_answer_tokens`` is what a zero-shot answer
    generates (1 for a multiple-choice letter). ``deadline_h`` > 0 makes the
    class deferrable: a query arriving in period a may be served in any period
    up to ``deadline_h`` hours later (0: served in its arrival period).
    ``interruptible`` records whether a query's work may be split across
    periods; a query lasts seconds, so an hourly plan treats it as atomic and
    the flag does not change a plan.
    """

    name: str
    category: str
    n_in_tokens: float
    rate_per_s: tuple[float, ...]
    n_answer_tokens: float = 1.0
    deadline_h: float = 0.0
    interruptible: bool = False

    def deadline_periods(self, period_s: float) -> int:
        """Whole periods a query may wait after its arrival period (0 when not deferrable)."""
        return int(np.floor(self.deadline_h * 3600.0 / period_s + 1e-9))

    def rate_at(self, period: int) -> float:
        return self.rate_per_s[0] if len(self.rate_per_s) == 1 else self.rate_per_s[period]

    def problems(self, where: str, n_periods: int) -> list[str]:
        out = []
        if not self.name:
            out.append(f"{where}.name: must be a non-empty string")
        if not self.n_in_tokens > 0:
            out.append(f"{where}.n_in_tokens: must be > 0, got {self.n_in_tokens}")
        if not self.n_answer_tokens >= 1:
            out.append(f"{where}.n_answer_tokens: must be >= 1, got {self.n_answer_tokens}")
        if not (self.deadline_h >= 0 and np.isfinite(self.deadline_h)):
            out.append(f"{where}.deadline_h: must be a finite number of hours >= 0, got {self.deadline_h}")
        if len(self.rate_per_s) not in (1, n_periods):
            out.append(
                f"{where}.rate_per_s: needs 1 or {n_periods} values (one per period), "
                f"got {len(self.rate_per_s)}"
            )
        for i, rate in enumerate(self.rate_per_s):
            if not rate >= 0:
                out.append(f"{where}.rate_per_s[{i}]: must be >= 0, got {rate}")
        return out


@dataclass(frozen=True)
class Workload:
    classes: tuple[QueryClass, ...]
    n_periods: int = 24
    period_s: float = 3600.0

    def validate(self) -> Workload:
        problems = []
        if not self.classes:
            problems.append("workload.classes: must list at least one query class, got none")
        if self.n_periods < 1:
            problems.append(f"workload.n_periods: must be >= 1, got {self.n_periods}")
        if not self.period_s > 0:
            problems.append(f"workload.period_s: must be > 0, got {self.period_s}")
        names = [c.name for c in self.classes]
        for dup in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"workload.classes: duplicate class name {dup!r}")
        for i, cls in enumerate(self.classes):
            problems += cls.problems(f"workload.classes[{i}]", self.n_periods)
        if problems:
            raise ConfigError(problems)
        return self


def per_period_problems(where: str, values: tuple[float, ...], n_periods: int, low: float) -> list[str]:
    """A constant or per-period series: 1 or ``n_periods`` values, each ``>= low``."""
    problems = []
    if len(values) not in (1, n_periods):
        problems.append(f"{where}: needs 1 or {n_periods} values, got {len(values)}")
    for i, value in enumerate(values):
        if not value >= low:
            problems.append(f"{where}[{i}]: must be >= {low}, got {value}")
    return problems


@dataclass(frozen=True)
class Facility:
    """Data-centre side: PUE (>= 1, constant or per period) and an optional facility power cap."""

    pue: tuple[float, ...] = (1.3,)
    power_cap_w: float | None = None

    def pue_at(self, period: int) -> float:
        return self.pue[0] if len(self.pue) == 1 else self.pue[period]

    def validate(self, n_periods: int) -> Facility:
        problems = per_period_problems("facility.pue", self.pue, n_periods, 1.0)
        if self.power_cap_w is not None and not self.power_cap_w > 0:
            problems.append(f"facility.power_cap_w: must be > 0, got {self.power_cap_w}")
        if problems:
            raise ConfigError(problems)
        return self


@dataclass(frozen=True)
class Grid:
    """Hourly grid carbon intensity in gCO2/kWh (one value or one per period)."""

    carbon_g_per_kwh: tuple[float, ...] = (400.0,)
    source: str = "constant"

    def intensity_at(self, period: int) -> float:
        values = self.carbon_g_per_kwh
        return values[0] if len(values) == 1 else values[period]

    def validate(self, n_periods: int) -> Grid:
        problems = per_period_problems("grid.carbon_g_per_kwh", self.carbon_g_per_kwh, n_periods, 0)
        if problems:
            raise ConfigError(problems)
        return self


@dataclass(frozen=True)
class FleetEntry:
    """GPUs available to serve one model on one hardware type (an upper bound per period)."""

    model: str
    hardware: str
    gpus: int
    utilization: float = 0.8
    embodied_kg_per_gpu_h: float = 0.0   # manufacturing carbon per powered GPU-hour (an estimate)

    def problems(self, where: str) -> list[str]:
        out = []
        if self.gpus < 0:
            out.append(f"{where}.gpus: must be >= 0, got {self.gpus}")
        if not 0 < self.utilization <= 1:
            out.append(f"{where}.utilization: must be in (0, 1], got {self.utilization}")
        return out


@dataclass(frozen=True)
class Fleet:
    entries: tuple[FleetEntry, ...] = field(default_factory=tuple)

    def validate(self) -> Fleet:
        problems = []
        for i, entry in enumerate(self.entries):
            problems += entry.problems(f"fleet.entries[{i}]")
        if problems:
            raise ConfigError(problems)
        return self
