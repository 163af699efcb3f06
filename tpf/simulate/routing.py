"""Routing: each request gets a model, a strategy, a token budget and a vote count.

Three sources of decisions:

* a deployed routing policy (:class:`PolicyRouter`): each request is decided
  by ``tpf.policy.Router`` (its category, input length and hour of day),
  applied to the whole batch at once with the router's own hash
  (``tpf.policy.batch``), so the simulated decisions are the deployed ones,
  request by request. A decision naming an ``option_id`` of the planner's
  option table is simulated as that option (its budget, votes and accuracy);
* a plan's allocation (:class:`AllocationRouter`): the DataFrame with columns
  ``class_name, period, option_id, model, strategy, budget_tokens, votes`` and
  ``share`` (or ``queries``). A request's class is its workload class when it
  has one, else the class of its category whose ``n_in_tokens`` is nearest
  (in log scale). Its period is ``floor(arrival_s / period_s) mod n_periods``.
  Within its (class, period) it draws an option with probability ``share``,
  deterministically: the draw is a hash of the request id and the seed, so the
  same request always takes the same option. A (class, period) without share
  falls back to the class's shares summed over all periods.
* any object with ``decide(request_id, category, n_in_tokens, hour)``
  returning ``(model, strategy, budget_tokens, votes)`` (a tuple, a mapping
  or an object with those attributes), such as ``tpf.policy.Router``; it is
  called once per request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tpf.cost.pricing import STRATEGY_CODES
from tpf.errors import ConfigError, PolicyError
from tpf.simulate.workload import RequestBatch, splitmix64_uniform

ALLOCATION_COLUMNS = ("class_name", "period", "model", "strategy", "budget_tokens", "votes")
CLASS_COLUMNS = ("class_name", "category", "n_in_tokens")


@dataclass(frozen=True)
class Routed:
    """Per-request decisions, aligned with a RequestBatch."""

    model_code: np.ndarray
    models: tuple[str, ...]
    strategy_code: np.ndarray
    budget_tokens: np.ndarray
    votes: np.ndarray
    accuracy: np.ndarray


def _encode(values: Sequence[str] | np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    uniques, inverse = np.unique(np.asarray(values, dtype=str), return_inverse=True)
    return inverse.astype(np.int32), tuple(str(u) for u in uniques)


def _strategy_codes(strategies: Sequence[str] | np.ndarray, where: str) -> np.ndarray:
    unknown = sorted(set(map(str, strategies)) - set(STRATEGY_CODES))
    if unknown:
        raise ConfigError(f"{where}.strategy: must be one of {', '.join(STRATEGY_CODES)}, got {unknown}")
    return np.asarray([STRATEGY_CODES[str(s)] for s in strategies], np.int8)


class AllocationRouter:
    """Turns a plan's fractional split into a deterministic per-request draw."""

    def __init__(
        self,
        allocation: pd.DataFrame,
        classes: pd.DataFrame,
        options: pd.DataFrame | None = None,
        seed: int = 0,
        period_s: float = 3600.0,
    ):
        missing = [c for c in ALLOCATION_COLUMNS if c not in allocation.columns]
        if "share" not in allocation.columns and "queries" not in allocation.columns:
            missing.append("share or queries")
        if missing:
            raise ConfigError(f"allocation: missing column(s) {', '.join(missing)}")
        missing_cls = [c for c in CLASS_COLUMNS if c not in classes.columns]
        if missing_cls:
            raise ConfigError(f"classes: missing column(s) {', '.join(missing_cls)}")
        self.classes = classes.drop_duplicates("class_name").reset_index(drop=True)
        self.class_index = {name: i for i, name in enumerate(self.classes["class_name"])}
        self.seed, self.period_s = seed, float(period_s)
        self.n_periods = int(allocation["period"].max()) + 1
        self._build_table(allocation, options)

    def _build_table(self, allocation: pd.DataFrame, options: pd.DataFrame | None) -> None:
        table = allocation.copy()
        unknown = sorted(set(table["class_name"]) - set(self.class_index))
        if unknown:
            raise ConfigError(f"allocation.class_name: classes {unknown} are not in the class table")
        weight = table["share"] if "share" in table.columns else table["queries"]
        table["weight"] = pd.to_numeric(weight, errors="coerce").fillna(0.0).clip(lower=0.0)
        table["accuracy"] = self._accuracy_column(table, options)
        fallback = table.groupby(
            ["class_name", "model", "strategy", "budget_tokens", "votes"], as_index=False
        ).agg(weight=("weight", "sum"), accuracy=("accuracy", "mean"))
        fallback["period"] = -1
        table = pd.concat([table, fallback], ignore_index=True)
        table = table[table["weight"] > 0]
        table["class_idx"] = table["class_name"].map(self.class_index).astype(np.int64)
        table["group"] = table["class_idx"] * (self.n_periods + 1) + table["period"].astype(np.int64) + 1
        table = table.sort_values(["group", "model", "strategy"], kind="stable").reset_index(drop=True)
        group_total = table.groupby("group")["weight"].transform("sum")
        cumulative = table.groupby("group")["weight"].cumsum() / group_total
        is_last = table["group"].ne(table["group"].shift(-1))
        cumulative[is_last] = 1.0
        self.keys = table["group"].to_numpy(np.float64) + cumulative.to_numpy(np.float64)
        self.groups = np.unique(table["group"].to_numpy(np.int64))
        self.model_code, self.models = _encode(table["model"].to_numpy())
        self.strategy_code = _strategy_codes(table["strategy"].to_numpy(), "allocation")
        self.budget_tokens = table["budget_tokens"].to_numpy(np.float64)
        self.votes = np.maximum(table["votes"].to_numpy(np.float64), 1.0)
        self.accuracy = table["accuracy"].to_numpy(np.float64)

    @staticmethod
    def _accuracy_column(table: pd.DataFrame, options: pd.DataFrame | None) -> pd.Series:
        if "accuracy" in table.columns:
            return table["accuracy"].astype(float)
        if options is None or "accuracy" not in options.columns or "option_id" not in table.columns:
            return pd.Series(np.nan, index=table.index)
        lookup = options.drop_duplicates(["class_name", "option_id"]).set_index(["class_name", "option_id"])["accuracy"]
        keys = pd.MultiIndex.from_frame(table[["class_name", "option_id"]])
        return pd.Series(lookup.reindex(keys).to_numpy(np.float64), index=table.index)

    def request_classes(self, batch: RequestBatch) -> np.ndarray:
        """Index into the class table for each request."""
        if batch.class_code is not None and batch.class_names:
            names = np.asarray(batch.class_names, dtype=object)
            unknown = sorted(set(names[np.unique(batch.class_code)]) - set(self.class_index))
            if unknown:
                raise ConfigError(f"requests of classes {unknown} have no allocation")
            mapping = np.asarray([self.class_index.get(n, -1) for n in names], np.int64)
            return mapping[batch.class_code]
        return self._nearest_class(batch)

    def _nearest_class(self, batch: RequestBatch) -> np.ndarray:
        out = np.full(len(batch), -1, np.int64)
        for code, category in enumerate(batch.categories):
            members = self.classes[self.classes["category"] == category].sort_values("n_in_tokens")
            selected = batch.category_code == code
            if not selected.any():
                continue
            if members.empty:
                known = ", ".join(sorted(self.classes["category"].astype(str).unique()))
                raise ConfigError(f"requests of category {category!r} match no query class (categories: {known})")
            if len(members) == 1:
                out[selected] = self.class_index[members["class_name"].iloc[0]]
                continue
            log_in = np.log(members["n_in_tokens"].to_numpy(np.float64))
            edges = (log_in[1:] + log_in[:-1]) / 2
            where = np.searchsorted(edges, np.log(np.maximum(batch.n_in_tokens[selected], 1.0)))
            out[selected] = np.asarray([self.class_index[n] for n in members["class_name"]])[where]
        return out

    def route(self, batch: RequestBatch) -> Routed:
        class_idx = self.request_classes(batch)
        period = (np.floor(batch.arrival_s / self.period_s).astype(np.int64)) % self.n_periods
        group = class_idx * (self.n_periods + 1) + period + 1
        known = np.zeros(len(self.classes) * (self.n_periods + 1), bool)
        known[self.groups] = True
        group = np.where(known[group], group, class_idx * (self.n_periods + 1))
        orphan = ~known[group]
        if orphan.any():
            name = self.classes["class_name"].iloc[int(class_idx[orphan][0])]
            raise ConfigError(f"allocation: class {name!r} has requests but no option with a positive share")
        draw = splitmix64_uniform(batch.request_id, self.seed)
        row = np.searchsorted(self.keys, group + draw, side="right")
        return Routed(
            self.model_code[row], self.models, self.strategy_code[row],
            self.budget_tokens[row], self.votes[row], self.accuracy[row],
        )


class PolicyRouter:
    """Route a RequestBatch by a ``tpf.policy.Router``: exactly ``router.decide`` per request.

    The hour given to the router is ``start_hour + floor(arrival_s / period_s)``
    (the router takes it modulo 24). ``options`` (the planner's option table)
    maps a decision's ``option_id`` within the request's policy class to the
    planner's budget, votes and accuracy.
    """

    def __init__(self, router: Any, options: pd.DataFrame | None = None, *, period_s: float = 3600.0,
                 start_hour: int = 0):
        self.router, self.period_s, self.start_hour = router, float(period_s), int(start_hour)
        self.options = {} if options is None else {
            (str(r.class_name), str(r.option_id)): r for r in options.itertuples(index=False)}

    def hours(self, batch: RequestBatch) -> np.ndarray:
        return self.start_hour + np.floor(batch.arrival_s / self.period_s).astype(np.int64)

    def route(self, batch: RequestBatch) -> Routed:
        from tpf.policy.batch import decide_many

        categories = np.asarray(batch.category_names(), dtype=object)
        index, decisions = decide_many(self.router, batch.request_id, categories, batch.n_in_tokens,
                                       self.hours(batch))
        rows = [self._as_planned(d) for d in decisions]
        class_names, class_code = self._policy_classes(batch)
        table = np.array([[getattr(self.options.get((name, str(d.option_id))), "accuracy", np.nan)
                           for d in decisions] for name in class_names], np.float64).reshape(
                               len(class_names), len(decisions))
        accuracy = table[class_code, index] if len(batch) else np.zeros(0)
        model_code, models = _encode([r[0] for r in rows])
        strategy_code = _strategy_codes([r[1] for r in rows], "policy decision")
        budget = np.asarray([r[2] for r in rows], np.float64)
        votes = np.maximum(np.asarray([r[3] for r in rows], np.float64), 1.0)
        return Routed(model_code[index], models, strategy_code[index], budget[index], votes[index], accuracy)

    def _policy_classes(self, batch: RequestBatch) -> tuple[list[str], np.ndarray]:
        """The policy class of every request: (class names, code per request)."""
        keys = np.column_stack([batch.category_code.astype(np.float64), batch.n_in_tokens])
        pairs, pair_of = np.unique(keys, axis=0, return_inverse=True)
        names = [self.router.class_name(batch.categories[int(c)], float(n)) for c, n in pairs.tolist()]
        distinct, code = np.unique(np.asarray(names, dtype=str), return_inverse=True)
        return [str(n) for n in distinct], code[np.asarray(pair_of).ravel()]

    def _as_planned(self, decision: Any) -> tuple[str, str, float, float]:
        """(model, strategy, budget, votes) as the planner priced the decision's option."""
        planned = next((r for (_, option), r in self.options.items() if option == decision.option_id), None)
        if planned is None:
            return _unpack_decision(decision)
        return (str(planned.model), str(planned.strategy), float(planned.budget_tokens),  # type: ignore[arg-type]
                float(planned.votes))  # type: ignore[arg-type]


def _unpack_decision(decision: Any) -> tuple[str, str, float, float]:
    if isinstance(decision, tuple | list):
        model, strategy, budget, votes = decision[:4]
    elif isinstance(decision, dict):
        model, strategy = decision["model"], decision["strategy"]
        budget, votes = decision.get("budget_tokens", 0), decision.get("votes", 1)
    else:
        model, strategy = decision.model, decision.strategy
        budget, votes = getattr(decision, "budget_tokens", 0), getattr(decision, "votes", 1)
    return str(model), str(strategy), float(budget or 0), float(votes or 1)


def route_with_policy(
    batch: RequestBatch,
    policy: Any,
    period_s: float = 3600.0,
    accuracy_of: Callable[[str, str, str, float, float], float] | None = None,
) -> Routed:
    """Call ``policy.decide(request_id, category, n_in_tokens, hour)`` per request.

    ``accuracy_of(model, category, strategy, budget_tokens, votes)`` (e.g.
    ``AccuracyCard.accuracy``) gives the expected accuracy; NaN without it.
    """
    categories = batch.category_names()
    hours = np.floor(batch.arrival_s / period_s).astype(np.int64)
    cache: dict[tuple[str, str, float, float], int] = {}
    decision_code = np.empty(len(batch), np.int64)
    for i in range(len(batch)):
        try:
            raw = policy.decide(int(batch.request_id[i]), str(categories[i]), float(batch.n_in_tokens[i]), int(hours[i]))
            key = _unpack_decision(raw)
        except (KeyError, AttributeError, TypeError, ValueError) as exc:
            raise PolicyError(f"policy decision for request {int(batch.request_id[i])}: {exc!r}") from exc
        decision_code[i] = cache.setdefault(key, len(cache))
    decisions = list(cache)
    model_code, models = _encode([d[0] for d in decisions])
    strategy_code = _strategy_codes([d[1] for d in decisions], "policy decision")
    budget = np.asarray([d[2] for d in decisions])
    votes = np.maximum(np.asarray([d[3] for d in decisions]), 1.0)
    accuracy = np.full(len(batch), np.nan)
    if accuracy_of is not None:
        for code, (model, strategy, b, k) in enumerate(decisions):
            for cat_code, category in enumerate(batch.categories):
                mask = (decision_code == code) & (batch.category_code == cat_code)
                if mask.any():
                    accuracy[mask] = accuracy_of(model, category, strategy, b, k)
    return Routed(model_code[decision_code], models, strategy_code[decision_code],
                  budget[decision_code], votes[decision_code], accuracy)


def classes_frame(workload) -> pd.DataFrame:
    """The class table (``class_name, category, n_in_tokens``) of a ``tpf.domain.Workload``."""
    return pd.DataFrame(
        [(c.name, c.category, c.n_in_tokens) for c in workload.classes], columns=list(CLASS_COLUMNS)
    )
