"""From the typed scenario config to the library's domain objects.

Everything here takes the dataclasses of :mod:`tpf.config.schema` (never a
``DictConfig``) and returns :mod:`tpf.domain` objects and loaded cards. Unit
conversions happen here, once: kW -> W, kg -> g stay named in the fields.
:func:`validate` reports every problem at once, each with its key path.
"""

from __future__ import annotations

import dataclasses
import math
import warnings
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tpf.cards import AccuracyCard, EnergyCard, load_card
from tpf.config.catalog import check_ranges
from tpf.config.names import canonical_hardware, canonical_model, hardware_problems, with_idle_power
from tpf.config.paths import resolve_path
from tpf.config.schema import (
    CardsConfig,
    FacilityConfig,
    FleetConfig,
    GridConfig,
    TpfConfig,
    WorkloadConfig,
)
from tpf.domain import Facility, Fleet, FleetEntry, Grid, QueryClass, Workload
from tpf.errors import CardError, ConfigError, DataError

HOURS_PER_DAY = 24
# Best source first: the order in which energy cards are preferred.
SOURCE_RANK = ("measured", "published", "transferred estimate", "roofline estimate", "estimate")


# --- validation -------------------------------------------------------------


def _workload_problems(workload: WorkloadConfig) -> list[str]:
    problems = []
    if len(workload.hourly_profile) not in (1, HOURS_PER_DAY):
        problems.append(
            f"workload.hourly_profile: needs 1 or {HOURS_PER_DAY} values (per hour of day), "
            f"got {len(workload.hourly_profile)}"
        )
    by_share = [c for c in workload.classes if c.rate_per_s is None]
    total_share = sum(c.share for c in by_share)
    if by_share and not math.isclose(total_share, 1.0, abs_tol=1e-6):
        problems.append(
            f"workload.classes[].share: the shares of classes without rate_per_s must sum to 1, "
            f"got {total_share:.6g}"
        )
    return problems


def _planner_problems(config: TpfConfig) -> list[str]:
    planner, problems = config.planner, []
    if planner.objective != "max_accuracy" and planner.accuracy_target is None:
        problems.append(
            f"planner.accuracy_target: required for objective {planner.objective}, got null"
        )
    if planner.objective == "max_accuracy" and planner.accuracy_target is not None:
        problems.append(
            f"planner.accuracy_target: objective max_accuracy maximizes accuracy and has no target, "
            f"got {planner.accuracy_target}; set it null, use planner.accuracy_floors for "
            "per-class minimums, or pick planner=min_energy|min_carbon"
        )
    class_names = {c.name for c in config.workload.classes}
    for name in planner.accuracy_floors:
        if name not in class_names:
            problems.append(
                f"planner.accuracy_floors.{name}: unknown class; valid: {', '.join(sorted(class_names))}"
            )
    return problems


def _fleet_problems(config: TpfConfig) -> list[str]:
    problems = []
    models = set(config.cards.models)
    known = {canonical_model(m) for m in models}
    for index, entry in enumerate(config.fleet.entries):
        if canonical_model(entry.model) not in known:
            problems.append(
                f"fleet.entries[{index}].model: {entry.model!r} has no card in cards.models; "
                f"valid: {', '.join(sorted(models))}"
            )
    if not config.fleet.entries:
        problems.append("fleet.entries: must list at least one model and its GPUs, got none")
    return problems


def _grid_problems(grid: GridConfig, n_periods: int) -> list[str]:
    if grid.kind == "profile" and len(grid.hourly_g_per_kwh) not in (HOURS_PER_DAY, n_periods):
        return [
            f"grid.hourly_g_per_kwh: needs {HOURS_PER_DAY} values (per hour of day) "
            f"or {n_periods} (per period) for kind=profile, got {len(grid.hourly_g_per_kwh)}"
        ]
    if grid.kind == "electricitymaps" and not grid.csv_path:
        return ["grid.csv_path: required for kind=electricitymaps, got null"]
    return []


def _trace_problems(workload: WorkloadConfig) -> list[str]:
    from tpf.config.trace import trace_path_problem

    problem = trace_path_problem(workload.trace)
    return [problem] if problem else []


def validate(config: TpfConfig) -> TpfConfig:
    """Check ranges (from the parameter catalog) and cross-field rules; raise every problem."""
    problems = check_ranges(asdict(config))
    problems += _workload_problems(config.workload)
    problems += _planner_problems(config)
    problems += hardware_problems(config.hardware)
    problems += _fleet_problems(config)
    problems += _grid_problems(config.grid, config.workload.n_periods)
    problems += _trace_problems(config.workload)
    if config.facility.hourly_pue and len(config.facility.hourly_pue) != config.workload.n_periods:
        problems.append(
            f"facility.hourly_pue: needs {config.workload.n_periods} values (one per period), "
            f"got {len(config.facility.hourly_pue)}"
        )
    if problems:
        raise ConfigError(problems)
    return config


# --- domain objects ---------------------------------------------------------


def _cyclic(values: list[float], start_hour: int, n_periods: int) -> tuple[float, ...]:
    """Per-period values from a 24-hour profile read cyclically from ``start_hour``."""
    if len(values) == 1:
        return (float(values[0]),) * n_periods
    if len(values) == n_periods and len(values) != HOURS_PER_DAY:
        return tuple(float(v) for v in values)
    return tuple(float(values[(start_hour + p) % len(values)]) for p in range(n_periods))


def build_workload(workload: WorkloadConfig) -> Workload:
    profile = _cyclic(workload.hourly_profile, workload.start_hour, workload.n_periods)
    classes = []
    for cls in workload.classes:
        if cls.rate_per_s is not None:
            rates = tuple(float(r) for r in cls.rate_per_s)
        else:
            rates = tuple(workload.total_rate_per_s * cls.share * m for m in profile)
        classes += deferrable_split(
            QueryClass(cls.name, cls.category, float(cls.n_in_tokens), rates, float(cls.n_answer_tokens),
                       float(cls.deadline_h), bool(cls.interruptible)),
            workload.deferrable_share, workload.deadline_h)
    return Workload(tuple(classes), workload.n_periods, float(workload.period_s)).validate()


#: Suffix of the deferrable part of a class split by ``workload.deferrable_share``.
DEFERRED_SUFFIX = "~deferred"


def deferrable_split(cls: QueryClass, share: float, deadline_h: float) -> list[QueryClass]:
    """``cls`` alone, or (when ``share`` > 0 and ``deadline_h`` > 0) its served-on-arrival part and
    its deferrable part ``<name>~deferred`` carrying ``share`` of the rate and the deadline."""
    if not (share > 0 and deadline_h > 0) or cls.deadline_h > 0:
        return [cls]
    now = replace(cls, rate_per_s=tuple(r * (1.0 - share) for r in cls.rate_per_s))
    later = replace(cls, name=cls.name + DEFERRED_SUFFIX, rate_per_s=tuple(r * share for r in cls.rate_per_s),
                    deadline_h=float(deadline_h))
    return [now, later] if share < 1 else [later]


def build_facility(facility: FacilityConfig, n_periods: int) -> Facility:
    pue = tuple(facility.hourly_pue) if facility.hourly_pue else (float(facility.pue),)
    cap_w = None if facility.power_cap_kw is None else facility.power_cap_kw * 1000.0
    return Facility(pue=pue, power_cap_w=cap_w).validate(n_periods)


def build_grid(grid: GridConfig, workload: WorkloadConfig) -> Grid:
    n_periods = workload.n_periods
    note = ""
    if grid.kind == "constant":
        values: tuple[float, ...] = (float(grid.carbon_g_per_kwh),)
    elif grid.kind == "profile":
        values = _cyclic(grid.hourly_g_per_kwh, workload.start_hour, n_periods)
    else:
        values, note = read_electricitymaps(resolve_path(str(grid.csv_path)), grid.column, grid.start_utc,
                                            n_periods, grid.time_zone, grid.dst)
    scaled = tuple(v * grid.scale for v in values)
    source = grid.source or grid.kind
    return Grid(carbon_g_per_kwh=scaled, source=f"{source} ({note})" if note else source).validate(n_periods)


def read_electricitymaps(path: Path, column: str, start_utc: str | None, n_periods: int,
                         time_zone: str = "UTC", dst: str = "refuse") -> tuple[tuple[float, ...], str]:
    """``n_periods`` hourly intensities from a carbon CSV, through the one reader :mod:`tpf.carbon`,
    and a note on how they were obtained (interval conversion, filled gaps; empty when none)."""
    from tpf.carbon import parse_start, read_carbon_series, window

    start = parse_start(start_utc, "grid.start_utc")
    series = read_carbon_series(path, column, time_zone, dst)
    try:
        values = window(series.hourly, start, n_periods)
    except DataError as exc:
        raise DataError(f"{path}: grid.start_utc={start_utc or 'first row'}: {exc}") from exc
    return tuple(float(v) for v in values), series.note()


def embodied_kg_per_gpu_h(hardware: str) -> float:
    """The hardware catalog's embodied carbon per GPU-hour (an estimate), 0 for hardware it lacks."""
    from tpf.specs import hardware_spec

    try:
        return hardware_spec(hardware).embodied_kg_per_gpu_h
    except ConfigError:
        return 0.0


def build_fleet(fleet: FleetConfig, models: list[str]) -> Fleet:
    """The fleet, each model spelt as in ``models`` (its energy card's name) whatever alias it uses."""
    spelling = {canonical_model(m): m for m in models}
    entries = tuple(
        FleetEntry(spelling.get(canonical_model(e.model), e.model), e.hardware, int(e.gpus), float(e.utilization),
                   embodied_kg_per_gpu_h(e.hardware))
        for e in fleet.entries
    )
    return Fleet(entries).validate()


# --- cards ------------------------------------------------------------------


def card_source_label(card: EnergyCard) -> str:
    """measured | published | transferred estimate | roofline estimate | estimate."""
    if card.source != "estimate":
        return card.source
    method = card.method.lower()
    if "transfer" in method:
        return "transferred estimate"
    if "roofline" in method:
        return "roofline estimate"
    return "estimate"


@dataclass
class LoadedCards:
    """The cards a scenario plans with, and where each came from."""

    energy: dict[str, EnergyCard]
    accuracy: AccuracyCard
    energy_paths: dict[str, Path]
    accuracy_path: Path


class InvalidCardWarning(UserWarning):
    """A card in a search folder could not be used; the message names it and its problems."""


def _energy_candidates(cards: CardsConfig) -> list[tuple[Path, EnergyCard]]:
    found = []
    for text in cards.search_dirs:
        folder = resolve_path(text)
        for path in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                card = load_card(path)
            except CardError as exc:
                warnings.warn(f"cards.search_dirs: skipped {exc}", InvalidCardWarning, stacklevel=2)
                continue
            if isinstance(card, EnergyCard):
                found.append((path, card))
    return found


def _explicit_energy(cards: CardsConfig) -> list[tuple[Path, EnergyCard]]:
    found = []
    for index, text in enumerate(cards.energy_paths):
        path = resolve_path(text)
        card = load_card(path)
        if not isinstance(card, EnergyCard):
            raise ConfigError(f"cards.energy_paths[{index}]: {path} is not an energy card")
        found.append((path, card))
    return found


def load_cards(cards: CardsConfig) -> LoadedCards:
    """The best energy card per model for ``cards.hardware``, and the accuracy card."""
    pool = _explicit_energy(cards) if cards.energy_paths else _energy_candidates(cards)
    energy: dict[str, EnergyCard] = {}
    paths: dict[str, Path] = {}
    problems = []
    hardware = canonical_hardware(cards.hardware)
    for model in cards.models:
        matching = [
            (path, card) for path, card in pool
            if canonical_model(card.model) == canonical_model(model)
            and (cards.energy_paths or canonical_hardware(card.hardware) == hardware)
        ]
        matching.sort(key=lambda item: SOURCE_RANK.index(card_source_label(item[1])))
        if not matching:
            where = "cards.energy_paths" if cards.energy_paths else f"cards.search_dirs {cards.search_dirs}"
            problems.append(
                f"cards.models: no energy card for {model}@{hardware} in {where}; estimate one with "
                f"`tpf card roofline --model {model} --hardware {hardware} --out cards/{model}@{hardware}.yaml` "
                "(./cards is searched) or fit one from measurements with `tpf fit energy`"
            )
            continue
        path, card = matching[0]  # the plan names the model as its card does
        paths[card.model], energy[card.model] = path, card
    if problems:
        raise ConfigError(problems)
    accuracy_path = resolve_path(cards.accuracy_path)
    accuracy = load_card(accuracy_path)
    if not isinstance(accuracy, AccuracyCard):
        raise ConfigError(f"cards.accuracy_path: {accuracy_path} is not an accuracy card")
    return LoadedCards(energy, align_model_names(accuracy, list(energy)), paths, accuracy_path)


def align_model_names(accuracy: AccuracyCard, models: list[str]) -> AccuracyCard:
    """The accuracy card with its model names spelt as in ``models`` (``Llama-3.1-8B`` ->
    ``llama-3.1-8b``), so that energy and accuracy cards of one model meet."""
    by_key = {canonical_model(m): m for m in models}
    curves = [
        dataclasses.replace(curve, model=by_key.get(canonical_model(curve.model), curve.model))
        for curve in accuracy.curves
    ]
    return dataclasses.replace(accuracy, curves=curves)


@dataclass
class ScenarioInputs:
    """Everything a run needs, as typed library objects."""

    config: TpfConfig
    workload: Workload
    facility: Facility
    grid: Grid
    fleet: Fleet
    cards: LoadedCards
    extras: dict[str, Any] = field(default_factory=dict)

    def pue_per_period(self) -> list[float]:
        return [self.facility.pue_at(t) for t in range(self.workload.n_periods)]

    def intensity_per_period(self) -> list[float]:
        """Grid carbon intensity of each period (gCO2/kWh)."""
        return [self.grid.intensity_at(t) for t in range(self.workload.n_periods)]


def build_trace(config: TpfConfig, workload: Workload) -> tuple[Workload, dict[str, Any]]:
    """With ``workload.trace.path``: the replayed requests (``extras["requests"]``) and,
    with ``plan_from_trace``, the workload whose demand is counted from them."""
    from tpf.config.trace import replay_requests, trace_workload

    spec = config.workload
    if not spec.trace.path:
        return workload, {}
    profile = _cyclic(spec.hourly_profile, spec.start_hour, spec.n_periods)
    requests = replay_requests(spec, profile, config.simulate.seed, config.simulate.max_queries)
    if spec.trace.plan_from_trace:
        workload = trace_workload(workload, requests, spec.trace.answer_tokens == "trace")
    return workload, {"requests": requests}


def check_categories(workload: WorkloadConfig, cards: LoadedCards) -> None:
    """Every workload class's category must have accuracy curves in the accuracy card."""
    known = sorted({curve.category for curve in cards.accuracy.curves})
    problems = [
        f"workload.classes[{index}].category: {cls.category!r} (class {cls.name!r}) is not in the "
        f"accuracy card {cards.accuracy_path}; it has: {', '.join(known)}"
        for index, cls in enumerate(workload.classes) if cls.category not in known
    ]
    if problems:
        raise ConfigError(problems)


def _with_hardware(cards: LoadedCards, config: TpfConfig) -> LoadedCards:
    """The cards with the ``hardware`` group's idle-power override applied."""
    return dataclasses.replace(cards, energy=with_idle_power(cards.energy, config.hardware))


def build_inputs(config: TpfConfig) -> ScenarioInputs:
    """Validate the config, then build every domain object and load the cards."""
    validate(config)
    workload, extras = build_trace(config, build_workload(config.workload))
    cards = load_cards(config.cards)
    check_categories(config.workload, cards)


    cards = _with_hardware(load_cards(config.cards), config)
    return ScenarioInputs(
        config=config,
        workload=workload,
        facility=build_facility(config.facility, workload.n_periods),
        grid=build_grid(config.grid, config.workload),
        fleet=build_fleet(config.fleet, list(cards.energy)),
        cards=cards,
        extras=extras,
    )
