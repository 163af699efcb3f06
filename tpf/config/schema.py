"""Structured-config schemas: one dataclass per Hydra config group.

Each group in ``conf/`` is one domain choice (STYLE item 5); its YAML files
only add values to the schema registered here as ``base_<group>``, so a
misspelt key or a wrong type is refused when the config is composed. The
schemas are plain data: converting them to the library's domain objects is
:mod:`tpf.config.build`'s job, checking ranges is :mod:`tpf.config.catalog`'s.

Units: SI inside, any other unit in the name (``power_cap_kw``,
``carbon_g_per_kwh``); the conversion to W/J happens once, in ``build``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING

GROUPS = (
    "hardware", "fleet", "cards", "workload", "grid", "facility", "planner", "simulate", "report",
)


@dataclass
class HardwareConfig:
    """One accelerator type, by its id or an alias in ``tpf/data/hardware.yaml``.

    The figures (TDP, idle power, memory, peaks) come from that catalog, one
    source for every fact. ``idle_power_w`` overrides the catalog's (and every
    energy card's) idle power for this run: the planner's idle term and the
    simulator both use it. ``tdp_w`` is accepted only at the catalog's value:
    the cards' energy curves fix the power drawn, so another TDP needs its own
    card and is refused with a message saying how to make one.
    """

    name: str = MISSING
    idle_power_w: float | None = None
    tdp_w: float | None = None


@dataclass
class FleetEntryConfig:
    """GPUs of one hardware type serving one model (an upper bound per period)."""

    model: str = MISSING
    hardware: str = MISSING
    gpus: int = MISSING
    utilization: float = 0.8


@dataclass
class FleetConfig:
    name: str = MISSING
    entries: list[FleetEntryConfig] = field(default_factory=list)


@dataclass
class CardsConfig:
    """Which TPF cards to plan with.

    For every model in ``models`` the energy card for ``hardware`` is looked
    up in ``search_dirs`` and the best source wins (measured, then published,
    then transferred from another GPU, then roofline); ``energy_paths`` names
    card files explicitly and bypasses the search.
    """

    name: str = MISSING
    models: list[str] = field(default_factory=list)
    hardware: str = MISSING
    search_dirs: list[str] = field(default_factory=list)
    energy_paths: list[str] = field(default_factory=list)
    accuracy_path: str = MISSING


@dataclass
class QueryClassConfig:
    """A query class: category, input length, share of the total arrival rate.

    ``rate_per_s`` (one value per period, or one for all) replaces
    ``share * total_rate_per_s * hourly_profile`` when given.
    """

    name: str = MISSING
    category: str = MISSING
    n_in_tokens: float = MISSING
    share: float = 0.0
    n_answer_tokens: float = 1.0
    rate_per_s: list[float] | None = None
    deadline_h: float = 0.0
    interruptible: bool = False
    max_network_ms: float | None = None
    sites: list[str] | None = None


@dataclass
class TraceConfig:
    """A request trace replayed instead of synthetic arrivals (``path`` null: none).

    ``format``: ``azure`` (``TIMESTAMP, ContextTokens, GeneratedTokens``),
    ``generic`` (CSV or JSONL ``arrival_s, n_in_tokens, n_out_tokens[, category]``),
    ``mooncake`` (JSONL ``timestamp`` in ms, ``input_length, output_length``),
    ``vidur`` (``arrived_at, num_prefill_tokens, num_decode_tokens``) or ``auto``
    (from the columns). ``arrival_column``, ``n_in_column``, ``n_out_column``,
    ``category_column`` and ``time_unit`` (s, ms, us, ns, datetime) override the
    format's column names and time unit (null: the format's). Arrival times are multiplied by
    ``time_scale``; with ``tile`` the trace's first period is repeated over the
    horizon at the workload's hourly profile. ``answer_tokens``: ``class`` (a
    zero-shot answer has the class's ``n_answer_tokens``) or ``trace`` (the
    trace's generated tokens). ``plan_from_trace``: the plan's demand per class
    and period, and the classes' mean input tokens, are counted from the replay.
    """

    path: str | None = None
    format: str = "auto"
    arrival_column: str | None = None
    n_in_column: str | None = None
    n_out_column: str | None = None
    category_column: str | None = None
    time_unit: str | None = None
    time_scale: float = 1.0
    tile: bool = True
    answer_tokens: str = "class"
    plan_from_trace: bool = True


@dataclass
class WorkloadConfig:
    name: str = MISSING
    n_periods: int = 24
    period_s: float = 3600.0
    start_hour: int = 0
    total_rate_per_s: float = 30.0
    hourly_profile: list[float] = field(default_factory=lambda: [1.0])
    classes: list[QueryClassConfig] = field(default_factory=list)
    trace: TraceConfig = field(default_factory=TraceConfig)
    deferrable_share: float = 0.0
    deadline_h: float = 0.0
    deferred_max_network_ms: float | None = None
    max_network_ms: float | None = None


@dataclass
class GridConfig:
    """Carbon intensity: a constant, a 24-hour profile, or an Electricity Maps CSV."""

    name: str = MISSING
    kind: str = "constant"
    carbon_g_per_kwh: float = 400.0
    hourly_g_per_kwh: list[float] = field(default_factory=list)
    csv_path: str | None = None
    column: str = "direct"
    start_utc: str | None = None
    time_zone: str = "UTC"
    dst: str = "refuse"
    scale: float = 1.0
    source: str = ""


@dataclass
class FacilityConfig:
    name: str = MISSING
    pue: float = 1.3
    hourly_pue: list[float] = field(default_factory=list)
    power_cap_kw: float | None = None


@dataclass
class PlannerConfig:
    """Objective and constraints; each cap is on when set and off when null.

    Keys carry the names of the constraints they bound: ``it_energy_period_kwh``
    (it_energy_period), ``it_energy_horizon_kwh`` (it_energy_horizon),
    ``it_power_kw`` (it_power), ``carbon_budget_kg`` (carbon_budget),
    ``accuracy_floors`` (accuracy_floors, empty: none), ``ttft_p99_slo_s``
    (ttft_p99_slo), ``e2e_p99_slo_s`` (e2e_p99_slo), ``keep_fleet_on`` (keep_fleet_on);
    ``replicas`` (integer: whole replicas per model, operating point and hour, a MILP;
    relaxed: fractional), ``batch_fill_min`` (batch_forms rows); the facility power cap
    is ``facility.power_cap_kw`` (facility_power_cap). ``gpu_capacity`` bounds each model's GPU time
    by its fleet. ``accuracy_target`` is the floor of the min_* objectives.
    ``estimator`` (``shipped`` or an estimator folder): classes are read from
    the query text, so the plan goes through the estimator's confusion
    (:mod:`tpf.estimator.planning`); ``estimator_classes`` maps a workload class
    to its estimator classes where the names differ.
    """

    name: str = MISSING
    objective: str = "max_accuracy"
    accuracy_target: float | None = None
    it_energy_period_kwh: float | None = None
    it_energy_horizon_kwh: float | None = None
    it_power_kw: float | None = None
    carbon_budget_kg: float | None = None
    accuracy_floors: dict[str, float] = field(default_factory=dict)
    gpu_capacity: bool = True
    integer_gpus: bool = False
    gpu_weight: float = 0.0
    price_embodied: bool = False
    strategies: list[str] = field(default_factory=lambda: ["zero_shot", "cot", "mv"])
    cot_budgets_tokens: list[int] = field(default_factory=lambda: [64, 128, 256, 512])
    mv_votes: list[int] = field(default_factory=lambda: [3, 5])
    batch_size: int = 8
    operating_points: list[int] = field(default_factory=list)  # batch levels; empty = batch_size only
    latency_slo_s: float | None = None
    ttft_p99_slo_s: float | None = None
    e2e_p99_slo_s: float | None = None
    replicas: str = "integer"
    batch_fill_min: float = 0.7
    keep_fleet_on: bool = False
    solver: str = "highs"
    time_limit_s: float = 60.0
    mip_gap: float = 0.01
    write_lp: bool = False
    estimator: str | None = None
    estimator_classes: dict[str, list[str]] = field(default_factory=dict)


@dataclass
class SimulateConfig:
    name: str = MISSING
    engine: str = "fluid"
    arrivals: str = "poisson"
    burst_cv: float = 0.0
    seed: int = 0
    max_queries: int = 5_000_000
    batching: str = "continuous"
    length_cv: float = 0.9


@dataclass
class ReportConfig:
    name: str = MISSING
    figures: bool = True
    pareto_points: int = 6
    dpi: int = 110


@dataclass
class SiteConfig:
    """One site of a several-site re-plan: its carbon series, PUE, power cap, share of the fleet, latency."""

    name: str = MISSING
    csv_path: str | None = None
    pue: float | None = None
    power_cap_kw: float | None = None
    fleet_share: float = 1.0
    network_ms: float = 0.0


@dataclass
class ReplanConfig:
    """Rolling-horizon re-planning over a span of hours (``tpf replan``)."""

    days: int = 7
    horizon_h: int = 24
    forecast: str = "seasonal_naive"
    forecast_csv: str | None = None
    price_embodied: bool = True
    accuracy_target: float | None = None
    merge_classes: bool = True


@dataclass
class TpfConfig:
    """The whole composed scenario, one attribute per config group."""

    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    fleet: FleetConfig = field(default_factory=FleetConfig)
    cards: CardsConfig = field(default_factory=CardsConfig)
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)
    grid: GridConfig = field(default_factory=GridConfig)
    facility: FacilityConfig = field(default_factory=FacilityConfig)
    planner: PlannerConfig = field(default_factory=PlannerConfig)
    simulate: SimulateConfig = field(default_factory=SimulateConfig)
    report: ReportConfig = field(default_factory=ReportConfig)
    replan: ReplanConfig = field(default_factory=ReplanConfig)
    sites: list[SiteConfig] = field(default_factory=list)
    scenario_title: str = ""
    scenario_description: str = ""



def register_schemas(store: ConfigStore | None = None) -> None:
    """Register the root schema as ``tpf_schema``; the primary config lists it first.

    Every group's YAML then merges into its typed node, so an unknown key or
    a wrong type is refused at composition, with its full key path.
    """
    (store or ConfigStore.instance()).store(name="tpf_schema", node=TpfConfig)
