"""The option table: what each query class could be served by, and at what cost.

For every class of a workload and every (model, strategy, budget, votes) the
caller asks for, one row with the predicted accuracy (fraction in [0, 1]), the
IT energy per query (J), the GPU-seconds per query and the latency (s).

How each strategy is priced from an energy card ``E(n_in, n_out, batch)``
(the one cost model, :mod:`tpf.cost`):

* ``zero_shot``: ``n_out = n_answer_tokens``; ``E(n_in, n_answer)``.
* ``cot`` at budget ``b``: ``n_out = n_answer + min(L, b)`` with ``L`` the
  accuracy card's CoT length distribution, the cost integrated over it
  (:mod:`tpf.cost.query`); a card without lengths falls back to
  ``n_out = n_answer + f * b`` (``cot_used_fraction``, default 1.0).
* ``mv`` with ``k`` votes (each vote a short answer, or CoT at
  ``mv_budget_tokens``): one shared prefill and ``k`` decodes,
  ``E_k = E(n_in, n_out) + (k - 1) * (E(n_in, n_out) - E(n_in, 0))``.
  GPU time and latency use the same rule on the duration curve (the k samples
  decoded one after another: a conservative latency).

An energy card with published anchors prices through them (:mod:`tpf.anchors`;
``energy_basis`` says how). ``n_out_tokens`` is the expected output length.
GPU-seconds per query are ``duration_s * gpus_per_replica / batch_size``; a
card without a duration curve gives NaN GPU-seconds and latency (usable only
without GPU-capacity constraints and latency SLOs).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tpf.cards import AccuracyCard, EnergyCard
from tpf.cost.query import TokenRule, price_query
from tpf.domain import STRATEGIES, Workload
from tpf.errors import ConfigError
from tpf.plan.queueing import max_utilization

OPTION_COLUMNS = (
    "class_name", "category", "option_id", "model", "hardware", "strategy", "budget_tokens",
    "votes", "accuracy", "energy_j", "gpu_s", "latency_s", "n_in_tokens", "n_out_tokens",
)
EXCLUDED_COLUMNS = ("class_name", "option_id", "model", "strategy", "budget_tokens", "votes",
                    "reason", "detail")


#: The keys of a strategy mapping: the strategies, then their settings.
SPEC_KEYS = frozenset({*STRATEGIES, "mv_budget_tokens", "cot_used_fraction"})


@dataclass(frozen=True)
class StrategySpec:
    """Which test-time strategies to offer for one model (or every model).

    ``cot_budgets_tokens``: chain-of-thought budgets in tokens; ``mv_votes``:
    majority-vote counts k; ``mv_budget_tokens``: CoT budget of each vote
    (0 = each vote is a short answer); ``cot_used_fraction``: expected share
    of a CoT budget actually generated, in (0, 1].
    """

    zero_shot: bool = True
    cot_budgets_tokens: tuple[int, ...] = ()
    mv_votes: tuple[int, ...] = ()
    mv_budget_tokens: int = 0
    cot_used_fraction: float = 1.0

    @classmethod
    def from_mapping(cls, spec: Mapping[str, Any]) -> StrategySpec:
        """Read ``{zero_shot: bool, cot: [budgets], mv: [votes], mv_budget_tokens, cot_used_fraction}``."""
        known = SPEC_KEYS
        unknown = sorted(set(spec) - known)
        if unknown:
            raise ConfigError([f"strategies.{k}: unknown key; known: {sorted(known)}" for k in unknown])
        def read(key: str, convert: Any, default: Any, allowed: str) -> Any:
            try:
                return convert(spec.get(key, default))
            except (TypeError, ValueError):
                raise ConfigError(f"strategies.{key}: must be {allowed}, "
                                  f"got {spec.get(key)!r}") from None

        return cls(
            zero_shot=bool(spec.get("zero_shot", True)),
            cot_budgets_tokens=read("cot", lambda v: tuple(int(b) for b in v or ()), (),
                                    "a list of integer token budgets"),
            mv_votes=read("mv", lambda v: tuple(int(k) for k in v or ()), (),
                          "a list of integer vote counts"),
            mv_budget_tokens=read("mv_budget_tokens", int, 0, "an integer token budget"),
            cot_used_fraction=read("cot_used_fraction", float, 1.0, "a number in (0, 1]"),
        )

    def problems(self, where: str) -> list[str]:
        out = [f"{where}.cot_budgets_tokens: budgets must be > 0, got {b}"
               for b in self.cot_budgets_tokens if b <= 0]
        out += [f"{where}.mv_votes: vote counts must be >= 1, got {k}" for k in self.mv_votes if k < 1]
        if self.mv_budget_tokens < 0:
            out.append(f"{where}.mv_budget_tokens: must be >= 0, got {self.mv_budget_tokens}")
        if not 0 < self.cot_used_fraction <= 1:
            out.append(f"{where}.cot_used_fraction: must be in (0, 1], got {self.cot_used_fraction}")
        return out

    def variants(self) -> list[tuple[str, int, int]]:
        """(strategy, budget_tokens, votes) triples in a stable order."""
        out = [("zero_shot", 0, 1)] if self.zero_shot else []
        out += [("cot", int(b), 1) for b in self.cot_budgets_tokens]
        out += [("mv", int(self.mv_budget_tokens), int(k)) for k in self.mv_votes]
        return out


StrategiesArg = StrategySpec | Mapping[str, Any] | Mapping[str, StrategySpec | Mapping[str, Any]]


@dataclass
class OptionTable:
    """``table``: one row per usable (class, option); ``excluded``: rows dropped, with reasons."""

    table: pd.DataFrame
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EXCLUDED_COLUMNS))

    def exclusion_counts(self) -> dict[str, int]:
        """Number of excluded options per reason."""
        if self.excluded.empty:
            return {}
        return {str(k): int(v) for k, v in self.excluded["reason"].value_counts().items()}

    def summary(self) -> str:
        counts = self.exclusion_counts()
        text = f"{len(self.table)} options kept"
        if counts:
            text += "; excluded: " + ", ".join(f"{n} ({reason})" for reason, n in counts.items())
        return text


def _per_model_specs(strategies: StrategiesArg, models: Iterable[str]) -> dict[str, StrategySpec]:
    """One StrategySpec per model, from a single spec or a mapping model -> spec."""
    models = list(models)
    if isinstance(strategies, StrategySpec):
        return dict.fromkeys(models, strategies)
    if set(strategies) <= SPEC_KEYS:
        spec = StrategySpec.from_mapping(strategies)
        return dict.fromkeys(models, spec)
    unknown = sorted(set(strategies) - set(models))
    if unknown:
        raise ConfigError([
            f"strategies.{m}: unknown model (no energy card); known models: {sorted(models)}"
            for m in unknown
        ])
    out: dict[str, StrategySpec] = {}
    for model, item in strategies.items():
        out[model] = item if isinstance(item, StrategySpec) else StrategySpec.from_mapping(item)
    return out


def variant_name(strategy: str, budget: int, votes: int) -> str:
    """``zero_shot``, ``cot@<budget>`` or ``mv<votes>[@<budget>]``."""
    if strategy == "zero_shot":
        return "zero_shot"
    if strategy == "cot":
        return f"cot@{budget}"
    return f"mv{votes}" + (f"@{budget}" if budget else "")


def _priced_row(key: dict[str, Any], query_class: Any, card: EnergyCard, accuracy: AccuracyCard,
                spec: StrategySpec, batch: float,
                slos: tuple[float | None, ...]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """(option row, None) or ({}, excluded row) of one option at one operating point."""
    latency_slo_s, ttft_slo_s, e2e_slo_s = slos
    strategy, budget, votes = key["strategy"], key["budget_tokens"], key["votes"]
    tokens = TokenRule(query_class.n_answer_tokens, accuracy.lengths(key["model"], query_class.category),
                       spec.cot_used_fraction)
    cost = price_query(card, query_class.category, strategy, budget, votes, query_class.n_in_tokens, tokens, batch)
    if latency_slo_s is not None and not cost.latency_s <= latency_slo_s:
        return {}, {**key, "reason": "latency_slo",
                    "detail": f"latency {cost.latency_s:.3g} s at batch {batch:g} > SLO {latency_slo_s:g} s"}
    row = {**key, "category": query_class.category, "hardware": card.hardware,
           "accuracy": accuracy.accuracy(key["model"], query_class.category, strategy, budget, votes),
           "energy_j": cost.energy_j, "gpu_s": cost.gpu_s, "latency_s": cost.latency_s,
           "n_in_tokens": float(query_class.n_in_tokens), "n_out_tokens": cost.n_out_tokens_expected,
           "batch_size": batch, "extrapolated": not cost.in_range, "energy_source": card.source,
           "idle_power_w": float(card.idle_power_w), "n_out_tokens_spread": cost.n_out_tokens_spread,
           "energy_basis": cost.energy_basis, "n_answer_tokens": float(query_class.n_answer_tokens),
           "anchor_extrapolation": cost.anchor_extrapolation}
    prefill_s = _prefill_s(card, query_class.n_in_tokens, cost.n_out_tokens_expected, cost.latency_s, batch)
    row["prefill_s"], row["gpus_per_replica"] = prefill_s, float(card.gpus_per_replica)
    for name, slo_s, lead_s, what in (("ttft", ttft_slo_s, prefill_s, f"prefill {prefill_s:.3g} s"),
                                      ("e2e", e2e_slo_s, cost.latency_s, f"window {cost.latency_s:.3g} s")):
        if slo_s is None:
            continue
        row[f"{name}_max_utilization"] = float(max_utilization([batch], [cost.latency_s], [lead_s], slo_s)[0])
        if not row[f"{name}_max_utilization"] > 0:
            return {}, {**key, "reason": f"{name}_slo",
                        "detail": f"{what} at batch {batch:g} leaves no queueing room under the "
                                  f"p99 {name.upper()} SLO {slo_s:g} s"}
    return row, None


def _prefill_s(card: EnergyCard, n_in_tokens: float, n_out_tokens: float, window_s: float, batch: float) -> float:
    """The prefill's share of the priced window: ``window * D(n_in, 0, B) / D(n_in, n_out, B)`` of the
    card's duration curve (so an anchored or operating-curve-scaled window scales its prefill too);
    0 without a duration curve."""
    if card.duration is None or not np.isfinite(window_s):
        return 0.0
    prefill = float(np.asarray(card.duration_s(n_in_tokens, 0.0, batch)))
    whole = float(np.asarray(card.duration_s(n_in_tokens, n_out_tokens, batch)))
    return min(window_s * prefill / whole, window_s) if whole > 0 else prefill


def _option_id(model: str, strategy: str, budget: int, votes: int) -> str:
    return f"{model}/{variant_name(strategy, budget, votes)}"


def _check_inputs(workload: Workload, energy_cards: Mapping[str, EnergyCard],
                  specs: Mapping[str, StrategySpec], latency_slo_s: float | None,
                  batch_size: float, batch_sizes: Sequence[float] | None = None,
                  ttft_p99_slo_s: float | None = None, e2e_p99_slo_s: float | None = None) -> None:
    workload.validate()
    problems = []
    if not energy_cards:
        problems.append("energy_cards: must hold at least one model's card, got none")
    for model, card in energy_cards.items():
        if card.model != model:
            problems.append(f"energy_cards[{model!r}]: card is for model {card.model!r}")
    for model, spec in specs.items():
        problems += spec.problems(f"strategies[{model!r}]")
    if latency_slo_s is not None and not latency_slo_s > 0:
        problems.append(f"latency_slo_s: must be > 0, got {latency_slo_s}")
    if not batch_size >= 1:
        problems.append(f"batch_size: must be >= 1, got {batch_size}")
    for i, level in enumerate(batch_sizes or ()):
        if not level >= 1:
            problems.append(f"operating_points[{i}]: batch size must be >= 1, got {level}")
    if ttft_p99_slo_s is not None and not ttft_p99_slo_s > 0:
        problems.append(f"ttft_p99_slo_s: must be > 0, got {ttft_p99_slo_s}")
    if e2e_p99_slo_s is not None and not e2e_p99_slo_s > 0:
        problems.append(f"e2e_p99_slo_s: must be > 0, got {e2e_p99_slo_s}")
    if problems:
        raise ConfigError(problems)


def operating_levels(card: EnergyCard, batch_size: float, batch_sizes: Sequence[float] | None) -> list[float]:
    """The batch levels a model is priced at: ``batch_sizes`` within the card's range, else ``batch_size``."""
    top = float(max(card.max_batch_size, 1))
    if not batch_sizes:
        return [float(min(batch_size, top))]
    return sorted({float(b) for b in batch_sizes if 1 <= b <= top}) or [float(min(batch_sizes))]


def build_options(
    workload: Workload,
    energy_cards: Mapping[str, EnergyCard],
    accuracy: AccuracyCard,
    strategies: StrategiesArg,
    *,
    latency_slo_s: float | None = None,
    batch_size: float = 1,
    batch_sizes: Sequence[float] | None = None,
    ttft_p99_slo_s: float | None = None,
    e2e_p99_slo_s: float | None = None,
) -> OptionTable:
    """Price every (class, model, strategy, operating point) of ``strategies`` with the cards.

    ``strategies`` is one :class:`StrategySpec` (or mapping) for every model,
    or a mapping model -> spec. ``batch_sizes`` (operating points) prices
    every option at each of those batch levels the card covers (option ids
    then end in ``/b<B>``); without it every option is priced at
    ``batch_size``. Options without an accuracy curve, options whose latency
    exceeds ``latency_slo_s`` and options whose prefill alone breaks
    ``ttft_p99_slo_s`` land in ``excluded`` with a reason. With
    ``ttft_p99_slo_s`` each row carries ``ttft_max_utilization``, the load
    per replica that keeps the p99 time to first token within the SLO
    (:mod:`tpf.plan.queueing`); with ``e2e_p99_slo_s`` ``e2e_max_utilization``
    likewise for the p99 wait plus the request's window (options whose window
    alone breaks it are excluded as ``e2e_slo``). Every row carries its
    ``prefill_s`` and the card's ``gpus_per_replica``.
    """
    specs = _per_model_specs(strategies, energy_cards)
    _check_inputs(workload, energy_cards, specs, latency_slo_s, batch_size, batch_sizes, ttft_p99_slo_s,
                  e2e_p99_slo_s)
    slos = (latency_slo_s, ttft_p99_slo_s, e2e_p99_slo_s)
    rows: list[dict[str, Any]] = []
    excluded: list[dict[str, Any]] = []
    for query_class in workload.classes:
        for model, spec in specs.items():
            card = energy_cards[model]
            levels = operating_levels(card, batch_size, batch_sizes)
            for strategy, budget, votes in spec.variants():
                key = {"class_name": query_class.name, "option_id": _option_id(model, strategy, budget, votes),
                       "model": model, "strategy": strategy, "budget_tokens": budget, "votes": votes}
                if not accuracy.has(model, query_class.category, strategy):
                    excluded.append({**key, "reason": "no_accuracy_curve",
                                     "detail": f"no {strategy} curve for category {query_class.category!r}"})
                    continue
                for batch in levels:
                    if len(levels) > 1:
                        key = {**key, "option_id": f"{_option_id(model, strategy, budget, votes)}/b{batch:g}"}
                    row, reason = _priced_row(key, query_class, card, accuracy, spec, batch, slos)
                    (excluded if reason else rows).append(reason or row)
    table = pd.DataFrame(rows, columns=[*OPTION_COLUMNS, "batch_size", "extrapolated", "energy_source",
                                        "idle_power_w", "n_out_tokens_spread", "energy_basis",
                                        "n_answer_tokens", "anchor_extrapolation", "prefill_s", "gpus_per_replica",
                                        *(["ttft_max_utilization"] if ttft_p99_slo_s else []),
                                        *(["e2e_max_utilization"] if e2e_p99_slo_s else [])])
    return OptionTable(table, pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS))


def dominated_mask(table: pd.DataFrame, *, same_model: bool = True,
                   idle_power_w: Mapping[str, float] | None = None) -> np.ndarray:
    """True for options another option of the same class (and model) dominates.

    Option a dominates b when accuracy_a >= accuracy_b, energy_j_a <= energy_j_b,
    gpu_s_a <= gpu_s_b and (with ``idle_power_w`` by model) the energy above
    idle ``energy_j - idle_power_w * gpu_s`` is no larger, strictly better in at
    least one (of exact duplicates the first is kept). Such a b can be dropped
    from the LP without changing its optimum: every row b uses, a uses with no
    larger coefficient (power rows are energy over the period length). With
    per-model rows (GPU capacity, integer GPUs) only options of one model compare,
    and only at one operating point (``batch_size``): each point has its own
    replica rows, and a batch its load cannot form is no substitute for a smaller one.
    """
    gpu = table["gpu_s"].fillna(0.0).to_numpy(float)
    energy = table["energy_j"].to_numpy(float)
    lower_better = [energy, gpu]
    if idle_power_w is not None:
        idle = table["model"].map(lambda m: float(idle_power_w.get(m, 0.0))).to_numpy(float)
        lower_better.append(energy - idle * gpu)
    for name in ("ttft_max_utilization", "e2e_max_utilization"):   # GPU time the tail-latency rows charge
        if name in table.columns:
            lower_better.append(gpu / np.maximum(table[name].to_numpy(float), 1e-12))
    keys = ["class_name", "model"] if same_model else ["class_name"]
    if same_model and "batch_size" in table.columns:
        keys.append("batch_size")
    groups = [np.asarray(index) for index in table.groupby(keys, sort=False).indices.values()]
    return dominated_in_groups(groups, table["accuracy"].to_numpy(float), lower_better)


def dominated_in_groups(groups: Iterable[np.ndarray], higher_better: np.ndarray,
                        lower_better: list[np.ndarray]) -> np.ndarray:
    """Pareto dominance within each group of row indices (see :func:`dominated_mask`)."""
    mask = np.zeros(len(higher_better), dtype=bool)
    for index in groups:
        high = higher_better[index]
        no_worse = high[:, None] >= high[None, :]
        better = high[:, None] > high[None, :]
        for values in lower_better:
            low = values[index]
            no_worse &= low[:, None] <= low[None, :]
            better |= low[:, None] < low[None, :]
        order = np.arange(len(index))
        duplicate_earlier = no_worse & ~better & (order[:, None] < order[None, :])
        mask[index] = ((no_worse & better) | duplicate_earlier).any(axis=0)
    return mask
