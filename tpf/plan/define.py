"""The planning problem, defined once: one ``define_*`` function per variable, constraint and objective.

Each function reads the validated arrays of :class:`~tpf.plan.data.PlanData`
and returns a block (``tpf.plan.blocks``) holding its coefficients, sense,
right-hand side, unit, switch and diagnosis phrase, or ``None`` when its
setting switches it off. The Pyomo model (``tpf.plan.pyomo_model``), the
matrix form with column generation (``tpf.plan.lp``), the diagnosis, the
baselines' checks and the binding-row detection all read these blocks, so a
new constraint is one function here, added to :data:`CONSTRAINTS`, plus its
setting in :class:`~tpf.plan.settings.PlannerSettings`.

Variables (stacked in this order):

* ``x[k]`` in [0, 1]: share of the demand of column k's (class c, period t)
  served by its option o; for a deferrable class the column also has a serve
  period (``tpf.plan.defer``): ``x[c, o, a, s]`` serves queries arriving in
  period a in period s, and every row charges the serve period;
* ``gpus_on[m * T + t] >= 0``: GPUs of model m powered on in period t (only
  when GPU capacity is modelled; integer for ``integer_gpus``);
* ``replicas[p * T + t] >= 0``: replicas powered at operating point p (a
  model at one batch size) in period t, each ``gpus_per_replica`` GPUs
  (with GPU capacity; whole numbers unless ``replicas="relaxed"``).

IT energy of period t (kWh), the expression every energy, power and carbon
row weighs: ``E_t = sum_{k in t} D_k e_k x_k + sum_m P_idle,m period_h gpus_on[m, t]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from tpf.cost import carbon_factor_kg_per_kwh
from tpf.plan.blocks import ObjectiveBlock, RowBlock, VariableBlock, coefficients, stack
from tpf.plan.data import PlanData


class Variables(dict[str, VariableBlock]):
    """The stacked variable blocks by name, with the total count."""

    @property
    def count(self) -> int:
        return sum(block.size for block in self.values())


# --- variables -------------------------------------------------------------------------


def define_shares(data: PlanData) -> VariableBlock:
    """``x[k]`` in [0, 1]: share of column k's (class, period) demand served by its option."""
    return VariableBlock("x", data.n_columns, np.ones(data.n_columns), False, "share",
                         "share of a (class, period)'s queries served by one option")


def define_gpus_on(data: PlanData) -> VariableBlock | None:
    """``gpus_on[m, t] >= 0`` GPUs of model m powered on in period t (when GPUs are modelled).

    The fleet bound is the named row ``gpu_capacity``, not a variable bound,
    so it has a dual and the diagnosis can relax it.
    """
    if not data.gpu_vars:
        return None
    size = len(data.model_names) * data.n_periods
    return VariableBlock("gpus_on", size, np.full(size, np.inf), data.settings.integer_gpus, "GPU",
                         "GPUs of a model powered on in a period")


def define_replicas(data: PlanData) -> VariableBlock | None:
    """``replicas[p, t] >= 0``: replicas of point p's model serving at its batch size in period t."""
    if not data.replicas_modelled:
        return None
    size = data.n_points * data.n_periods
    return VariableBlock("replicas", size, np.full(size, np.inf), data.settings.replicas == "integer",
                         "replica", "replicas of a model powered at one operating point in a period")


VARIABLES: tuple[Callable[[PlanData], VariableBlock | None], ...] = (define_shares, define_gpus_on,
                                                                     define_replicas)


# --- shared terms -------------------------------------------------------------------------


def energy_terms(data: PlanData, var: Variables, weight_per_period: np.ndarray,
                 per_period: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Triplets of ``sum_t w_t E_t`` (one row) or ``w_t E_t`` (one row per period)."""
    x = var["x"]
    rows = [data.col_period if per_period else np.zeros(x.size, np.int64)]
    cols = [x.positions()]
    vals = [data.col_energy_kwh * weight_per_period[data.col_period]]
    if "gpus_on" in var:
        n_models, n_periods = len(data.model_names), data.n_periods
        model_of, period_of = np.repeat(np.arange(n_models), n_periods), np.tile(np.arange(n_periods), n_models)
        rows.append(period_of if per_period else np.zeros(n_models * n_periods, np.int64))
        cols.append(var["gpus_on"].positions())
        vals.append(data.idle_power_kw[model_of] * data.period_h * weight_per_period[period_of])
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)


def _periods(data: PlanData) -> list[str]:
    return [str(t) for t in range(data.n_periods)]


def _model_periods(data: PlanData) -> list[str]:
    return [f"{m},{t}" for m in data.model_names for t in range(data.n_periods)]


def _point_periods(data: PlanData) -> list[str]:
    """``<model>,b<batch>,<period>`` per (operating point, period), in ``replicas`` order."""
    assert data.point_model is not None and data.point_batch is not None
    return [f"{data.model_names[m]},b{b:g},{t}" for m, b in zip(data.point_model, data.point_batch, strict=True)
            for t in range(data.n_periods)]


def _per_replica_row(data: PlanData, var: Variables, col_values: np.ndarray,
                     replica_values: np.ndarray) -> sp.csr_matrix:
    """Rows per (point, period): ``sum_{k at p in t} col_values_k x_k + replica_values[p] r[p, t]``."""
    assert data.col_point is not None
    size = data.n_points * data.n_periods
    return coefficients(
        np.concatenate([data.col_point * data.n_periods + data.col_period, np.arange(size)]),
        np.concatenate([var["x"].positions(), var["replicas"].positions()]),
        np.concatenate([col_values, np.repeat(replica_values, data.n_periods)]), size, var.count)


def _energy_cap(data: PlanData, var: Variables, name: str, cap: float | None, weights: np.ndarray,
                per_period: bool, unit: str, phrase: str, setting: str, description: str) -> RowBlock | None:
    if cap is None:
        return None
    labels = _periods(data) if per_period else [""]
    matrix = coefficients(*energy_terms(data, var, weights, per_period), len(labels), var.count)
    return RowBlock(name, labels, "<=", np.full(len(labels), float(cap)), unit, matrix,
                    phrase=phrase, setting=setting, description=description)


# --- constraints --------------------------------------------------------------------------


def define_demand(data: PlanData, var: Variables) -> RowBlock:
    """demand[c, t]: ``sum_o x[c, o, t] = 1`` for every (c, t) with demand ``D[c, t] > 0``. Never relaxed."""
    size = len(data.demand_rows)
    matrix = coefficients(data.col_demand_row, var["x"].positions(), np.ones(data.n_columns), size, var.count)
    return RowBlock("demand", [f"{data.class_names[c]},{t}" for c, t in data.demand_rows], "=",
                    np.ones(size), "share", matrix, description="every query is served by some option")


def define_it_energy_period(data: PlanData, var: Variables) -> RowBlock | None:
    """it_energy_period[t]: ``E_t <= E_cap`` (kWh per period)."""
    return _energy_cap(data, var, "it_energy_period", data.settings.it_energy_kwh_per_period,
                       np.ones(data.n_periods), True, "kWh", "IT energy cap per period",
                       "it_energy_kwh_per_period", "IT energy of each period")


def define_it_energy_horizon(data: PlanData, var: Variables) -> RowBlock | None:
    """it_energy_horizon: ``sum_t E_t <= E_total_cap`` (kWh over the horizon)."""
    return _energy_cap(data, var, "it_energy_horizon", data.settings.it_energy_kwh_total,
                       np.ones(data.n_periods), False, "kWh", "IT energy cap over the horizon",
                       "it_energy_kwh_total", "IT energy over the horizon")


def define_it_power(data: PlanData, var: Variables) -> RowBlock | None:
    """it_power[t]: ``E_t / period_h <= P_IT_cap`` (kW, mean IT power of period t)."""
    cap_w = data.settings.it_power_w
    return _energy_cap(data, var, "it_power", None if cap_w is None else cap_w / 1000,
                       np.full(data.n_periods, 1.0 / data.period_h), True, "kW", "IT power cap",
                       "it_power_w", "mean IT power of each period")


def define_facility_power_cap(data: PlanData, var: Variables) -> RowBlock | None:
    """facility_power_cap[t]: ``PUE_t * E_t / period_h <= P_facility_cap`` (kW).

    ``E_t`` includes the idle power of powered-on GPUs when GPUs are modelled,
    so this is ``PUE * (n * P_idle + dynamic J / period_s) <= cap``.
    """
    return _energy_cap(data, var, "facility_power_cap", data.cap_facility_power_kw,
                       data.pue / data.period_h, True, "kW", "facility power", "facility_power",
                       "mean facility power of each period")


def define_carbon_budget(data: PlanData, var: Variables) -> RowBlock | None:
    """carbon_budget: ``sum_t CI_t * PUE_t * E_t / 1000 <= C_max`` (kgCO2; CI in g/kWh)."""
    return _energy_cap(data, var, "carbon_budget", data.settings.carbon_budget_kg,
                       carbon_factor_kg_per_kwh(data.pue, data.carbon_g_per_kwh), False, "kgCO2",
                       "carbon budget", "carbon_budget_kg", "carbon emitted over the horizon")


def define_gpu_busy(data: PlanData, var: Variables) -> RowBlock | None:
    """gpu_busy[m, t]: ``sum_{k of m in t} D_k g_k x_k - period_h U_m gpus_on[m, t] <= 0`` (GPU-h).

    GPU-hours of model m in period t fit in its powered-on GPUs at
    utilization U_m. Never relaxed (the GPU count is a variable; its cap is
    ``gpu_capacity``).
    """
    if "gpus_on" not in var:
        return None
    size = len(data.model_names) * data.n_periods
    model_of = np.repeat(np.arange(len(data.model_names)), data.n_periods)
    matrix = coefficients(
        np.concatenate([data.col_model * data.n_periods + data.col_period, np.arange(size)]),
        np.concatenate([var["x"].positions(), var["gpus_on"].positions()]),
        np.concatenate([data.col_gpu_h, -data.period_h * data.utilization[model_of]]), size, var.count)
    return RowBlock("gpu_busy", _model_periods(data), "<=", np.zeros(size), "GPU-h", matrix,
                    setting="gpu_capacity", description="busy GPU-hours within the powered-on GPUs")


def define_gpu_capacity(data: PlanData, var: Variables) -> RowBlock | None:
    """gpu_capacity[m, t]: ``gpus_on[m, t] <= N_m`` (GPUs of model m in the fleet)."""
    if "gpus_on" not in var:
        return None
    size = var["gpus_on"].size
    matrix = coefficients(np.arange(size), var["gpus_on"].positions(), np.ones(size), size, var.count)
    return RowBlock("gpu_capacity", _model_periods(data), "<=", np.repeat(data.fleet_gpus, data.n_periods),
                    "GPU", matrix, phrase="GPU fleet", setting="gpu_capacity",
                    description="powered-on GPUs within the fleet")


def define_replica_capacity(data: PlanData, var: Variables) -> RowBlock | None:
    """replica_capacity[m, b, t]: ``sum_{k at (m, b) in t} D_k g_k x_k - period_h U_m G_m r[m, b, t] <= 0`` (GPU-h).

    The busy GPU-hours served at operating point b (``g_k = window_k G_m / b``)
    fit in its powered replicas at utilization U_m: the load per replica is at
    most ``U_m b / window`` requests/s (continuous batching, Little's law).
    Never relaxed.
    """
    if "replicas" not in var:
        return None
    matrix = _per_replica_row(data, var, data.col_gpu_h,
                              -data.period_h * data.utilization[data.point_model] * data.replica_gpus)
    return RowBlock("replica_capacity", _point_periods(data), "<=", np.zeros(data.n_points * data.n_periods),
                    "GPU-h", matrix, setting="gpu_capacity",
                    description="load at an operating point within its replicas")


def define_batch_forms(data: PlanData, var: Variables) -> RowBlock | None:
    """batch_forms[m, b, t]: ``sum_{k at (m, b) in t} D_k g_k x_k - period_h f_m G_m r[m, b, t] >= 0`` (GPU-h).

    A replica planned at batch b holds on average ``load x window`` requests
    (Little's law); it must hold at least ``f_m b`` of them,
    ``f_m = min(batch_fill_min, U_m)``, so the batch it is priced at forms.
    Not on the lowest point of a model (it serves any load). Never relaxed.
    """
    if "replicas" not in var:
        return None
    fill = np.minimum(data.settings.batch_fill_min, data.utilization[data.point_model])
    floor = np.where(data.point_lowest, 0.0, fill)
    matrix = _per_replica_row(data, var, data.col_gpu_h, -data.period_h * floor * data.replica_gpus)
    return RowBlock("batch_forms", _point_periods(data), ">=", np.zeros(data.n_points * data.n_periods),
                    "GPU-h", matrix, setting="batch_fill_min",
                    description="load per replica forms the planned batch")


def define_replica_gpus(data: PlanData, var: Variables) -> RowBlock | None:
    """replica_gpus[m, t]: ``sum_b G_m r[m, b, t] - gpus_on[m, t] <= 0`` (GPU): replicas fit the powered GPUs."""
    if "replicas" not in var:
        return None
    size = len(data.model_names) * data.n_periods
    points = np.repeat(np.arange(data.n_points), data.n_periods)
    periods = np.tile(np.arange(data.n_periods), data.n_points)
    matrix = coefficients(
        np.concatenate([data.point_model[points] * data.n_periods + periods, np.arange(size)]),
        np.concatenate([var["replicas"].positions(), var["gpus_on"].positions()]),
        np.concatenate([data.replica_gpus[points], -np.ones(size)]), size, var.count)
    return RowBlock("replica_gpus", _model_periods(data), "<=", np.zeros(size), "GPU", matrix,
                    setting="gpu_capacity", description="powered replicas within the powered GPUs")


def _slo_row(data: PlanData, var: Variables, name: str, col_gpu_h: np.ndarray | None,
             phrase: str, setting: str, description: str) -> RowBlock | None:
    if "replicas" not in var or col_gpu_h is None:
        return None
    matrix = _per_replica_row(data, var, col_gpu_h / data.period_h, -data.replica_gpus)
    return RowBlock(name, _point_periods(data), "<=", np.zeros(data.n_points * data.n_periods), "GPU",
                    matrix, phrase=phrase, setting=setting, description=description)


def define_ttft_p99_slo(data: PlanData, var: Variables) -> RowBlock | None:
    """ttft_p99_slo[m, b, t]: ``sum_{k at (m, b) in t} D_k g_k / (rho_k period_h) x_k - G_m r[m, b, t] <= 0`` (GPU).

    ``rho_k`` is the largest utilization per replica at column k's operating
    point that keeps the p99 time to first token within the SLO (Erlang C,
    :mod:`tpf.plan.queueing`): the replicas at point b carry at most that
    load. On with ``planner.ttft_p99_slo_s`` and GPU capacity.
    """
    return _slo_row(data, var, "ttft_p99_slo", data.col_ttft_gpu_h, "p99 TTFT SLO", "ttft_p99_slo_s",
                    "load per replica within the p99 time-to-first-token SLO")


def define_e2e_p99_slo(data: PlanData, var: Variables) -> RowBlock | None:
    """e2e_p99_slo[m, b, t]: as ``ttft_p99_slo`` with ``rho_k`` the utilization keeping the p99
    wait plus the request's window within ``planner.e2e_p99_slo_s`` (GPU)."""
    return _slo_row(data, var, "e2e_p99_slo", data.col_e2e_gpu_h, "p99 end-to-end SLO", "e2e_p99_slo_s",
                    "load per replica within the p99 end-to-end latency SLO")


def define_keep_fleet_on(data: PlanData, var: Variables) -> RowBlock | None:
    """keep_fleet_on[m, t]: ``gpus_on[m, t] >= N_m`` (every GPU of the fleet powered, paying its idle power)."""
    if "gpus_on" not in var or not data.settings.keep_fleet_on:
        return None
    size = var["gpus_on"].size
    matrix = coefficients(np.arange(size), var["gpus_on"].positions(), np.ones(size), size, var.count)
    return RowBlock("keep_fleet_on", _model_periods(data), ">=", np.repeat(data.fleet_gpus, data.n_periods),
                    "GPU", matrix, setting="keep_fleet_on",
                    description="every GPU of the fleet powered on")


def define_accuracy_floors(data: PlanData, var: Variables) -> RowBlock | None:
    """accuracy_floors[c]: ``sum_{o,t} (D[c,t] / D_c) a[c,o] x[c,o,t] >= floor_c`` (fraction).

    Query-weighted mean accuracy of class c over the horizon; shadow prices
    are per accuracy point (0.01).
    """
    floored = np.flatnonzero(~np.isnan(data.accuracy_floors))
    if not len(floored):
        return None
    row = data.col_floor_row()
    keep = row >= 0
    matrix = coefficients(row[keep], var["x"].positions()[keep],
                          (data.col_class_weight * data.col_accuracy)[keep], len(floored), var.count)
    return RowBlock("accuracy_floors", [data.class_names[c] for c in floored], ">=",
                    data.accuracy_floors[floored], "accuracy_point", matrix, phrase="accuracy floor",
                    per_unit=100.0, setting="accuracy_floors", description="mean accuracy of a class")


def define_accuracy_target(data: PlanData, var: Variables) -> RowBlock | None:
    """accuracy_target: ``sum_{c,o,t} (D[c,t] / D) a[c,o] x[c,o,t] >= A_target`` (fraction)."""
    target = data.settings.accuracy_target
    if target is None:
        return None
    matrix = coefficients(np.zeros(data.n_columns, np.int64), var["x"].positions(),
                          data.col_weight * data.col_accuracy, 1, var.count)
    return RowBlock("accuracy_target", [""], ">=", np.array([target]), "accuracy_point", matrix,
                    phrase="accuracy target", per_unit=100.0, setting="accuracy_target",
                    description="query-weighted mean accuracy")


RowDefinition = Callable[[PlanData, Variables], RowBlock | None]

#: Every constraint family, in build order (demand first: its rows are the column-generation groups).
CONSTRAINTS: tuple[RowDefinition, ...] = (
    define_demand, define_it_energy_period, define_it_energy_horizon, define_it_power,
    define_facility_power_cap, define_carbon_budget, define_gpu_busy, define_gpu_capacity,
    define_replica_capacity, define_batch_forms, define_replica_gpus, define_ttft_p99_slo,
    define_e2e_p99_slo, define_keep_fleet_on, define_accuracy_floors, define_accuracy_target,
)

#: Per minimizing objective: the row capping the same quantity and its setting (a Pareto axis).
OBJECTIVE_CAPS = {"min_it_energy": ("it_energy_horizon", "it_energy_kwh_total"),
                  "min_carbon": ("carbon_budget", "carbon_budget_kg")}


# --- objective ----------------------------------------------------------------------------


def objective_energy_weights(data: PlanData) -> np.ndarray | None:
    """Per period, the objective's weight on IT energy (None for ``max_accuracy``)."""
    weights = {"min_it_energy": np.ones(data.n_periods), "min_facility_energy": data.pue,
               "min_carbon": carbon_factor_kg_per_kwh(data.pue, data.carbon_g_per_kwh)}
    return weights.get(data.settings.objective)


def embodied_cost(data: PlanData) -> np.ndarray:
    """Per ``gpus_on[m, t]``: kg of embodied carbon of one powered-on GPU for one period, when
    ``min_carbon`` prices it (else 0)."""
    size = len(data.model_names) * data.n_periods
    settings = data.settings
    if settings.objective != "min_carbon" or not settings.price_embodied or data.embodied_kg_per_gpu_h is None:
        return np.zeros(size)
    return np.repeat(data.embodied_kg_per_gpu_h, data.n_periods) * data.period_h


def define_objective(data: PlanData, var: Variables) -> ObjectiveBlock:
    """The objective, in user units.

    * ``max_accuracy``: maximize ``100 * sum_k (D_k / D) a_k x_k - gpu_cost * sum n``
      (query-weighted mean accuracy in accuracy points);
    * ``min_it_energy``: minimize ``sum_t E_t + gpu_cost * sum n`` (kWh);
    * ``min_facility_energy``: minimize ``sum_t PUE_t E_t + ...`` (kWh);
    * ``min_carbon``: minimize ``sum_t CI_t PUE_t E_t / 1000 + ...`` (kgCO2), plus the
      embodied kg of powered-on GPUs when ``price_embodied``.
    """
    from tpf.plan.settings import OBJECTIVE_UNITS

    weights = objective_energy_weights(data)
    cost = np.zeros(var.count)
    if weights is None:
        cost[var["x"].positions()] = 100.0 * data.col_weight * data.col_accuracy
    else:
        _, cols, vals = energy_terms(data, var, weights, per_period=False)
        np.add.at(cost, cols, vals)
    if "gpus_on" in var:
        sign = -1.0 if weights is None else 1.0
        cost[var["gpus_on"].positions()] += sign * data.settings.gpu_cost + embodied_cost(data)
    objective = data.settings.objective
    return ObjectiveBlock(objective, cost, weights is None, OBJECTIVE_UNITS[objective])


# --- the whole problem --------------------------------------------------------------------


@dataclass
class Formulation:
    """Every block of one planning problem, numbered."""

    variables: Variables
    rows: list[RowBlock]
    objective: ObjectiveBlock

    def block(self, name: str) -> RowBlock | None:
        return next((b for b in self.rows if b.name == name), None)


def define_problem(data: PlanData, constraints: Sequence[RowDefinition] | None = None) -> Formulation:
    """Variables, every switched-on constraint (``constraints``, default :data:`CONSTRAINTS`), objective."""
    variables = Variables()
    for define in VARIABLES:
        variable = define(data)
        if variable is not None:
            variables[variable.name] = variable
    stack(list(variables.values()), [])
    rows = [block for define in (constraints or data.constraints or CONSTRAINTS) if (block := define(data, variables))]
    stack([], rows)
    return Formulation(variables, rows, define_objective(data, variables))
