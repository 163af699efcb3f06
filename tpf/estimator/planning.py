"""Plans whose classes come from the text estimator: option figures and demand through its confusion.

Setting ``planner.estimator`` (``shipped`` or an estimator folder / its
``card.yaml``) tells the planner that the router reads each query's class from
the text. The card's confusion counts ``N[e, f]`` (true estimator class ``e``,
predicted ``f``; from ``tpf estimator eval``) are mapped onto the workload's
classes (``planner.estimator_classes``: workload class -> estimator classes;
by default the estimator class whose name matches the class's name or
category, spaces and underscores alike), giving ``R[C, K] = P(read as K | true
C)``. A plan then has one demand row per *routed* class ``K``:

* demand ``D'[K, t] = sum_C D[C, t] R[C, K]`` (:func:`routed_workload`);
* figures ``f'[K, o] = sum_C w_C R[C, K] f[C, o] / sum_C w_C R[C, K]`` for
  accuracy, energy, GPU time, latency and token counts, ``w_C`` the class's
  demand over the horizon (:func:`routed_option_table`): ``P(true | read as)``
  recalibrated to the workload's mix, not the mix the confusion was counted
  on. An option is kept for ``K`` only where every class read as ``K`` has it.

So the plan's accuracy and energy are what a router that reads classes with
this confusion delivers (exactly when every class has the same hourly profile;
with the horizon's mix otherwise). A query of a planned class read as an
estimator class outside the plan is spread like the others (its share is
stated). :func:`misrouting_totals` says what misreading costs the plan's own
split: the same shares applied to true classes against applied through the
confusion, in accuracy points and IT energy.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from tpf.domain import J_PER_KWH, Workload
from tpf.errors import ConfigError

SHIPPED = "shipped"
ROUTED_COLUMNS = ("accuracy", "energy_j", "gpu_s", "latency_s", "n_in_tokens", "n_out_tokens")


@dataclass(frozen=True)
class EstimatedClasses:
    """The workload's classes as the estimator reads them: ``read_as[C, K] = P(read as K | true C)``."""

    classes: tuple[str, ...]
    read_as: np.ndarray
    source: str
    n_rows: int
    outside_share: float


def _norm(name: str) -> str:
    return re.sub(r"[\s_\-]+", " ", name.strip().lower())


def card_path(estimator: str) -> Path:
    """The card of ``planner.estimator``: ``shipped``, an estimator folder or a ``card.yaml``."""
    if estimator == SHIPPED:
        from tpf.estimator.model import shipped_estimator_path

        return shipped_estimator_path() / "card.yaml"
    path = Path(estimator)
    return path / "card.yaml" if path.is_dir() else path


def card_confusion(path: Path) -> tuple[list[str], np.ndarray, str]:
    """``(classes, counts, label)``: the held-out confusion with the most rows, else the same-settings one."""
    try:
        card = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"planner.estimator: cannot read the estimator card {path} ({exc})") from exc
    if not isinstance(card, dict) or card.get("kind") != "text_estimator":
        raise ConfigError(f"planner.estimator: {path} is not a text estimator card (kind: text_estimator)")
    held = [(k, v) for k, v in (card.get("held_out") or {}).items() if isinstance(v, dict) and "confusion" in v]
    if held:
        key, metrics = max(held, key=lambda item: int(item[1].get("n_rows", 0)))
        confusion, label = metrics["confusion"], f"held_out {metrics.get('data_file', key)}"
    elif isinstance(card.get("validation_same_settings"), dict) and "confusion" in card["validation_same_settings"]:
        confusion, label = card["validation_same_settings"]["confusion"], "validation_same_settings"
    else:
        raise ConfigError(f"planner.estimator: {path} has no confusion counts (held_out.*.confusion or "
                          "validation_same_settings.confusion); write them with 'tpf estimator eval'")
    classes, counts = list(confusion.get("classes", [])), np.asarray(confusion.get("counts", []), float)
    if counts.shape != (len(classes), len(classes)) or not len(classes) or not np.all(counts >= 0):
        raise ConfigError(f"{path}: {label}.confusion: counts must be a square table of numbers >= 0, one row "
                          f"and column per class ({len(classes)}), got shape {counts.shape}")
    return classes, counts, f"{path} ({label})"


def class_map(workload: Workload, estimator_classes: Sequence[str],
              mapping: Mapping[str, Sequence[str]] | None = None) -> dict[str, list[str]]:
    """Workload class -> its estimator classes (``mapping`` where given, else by matching name or category)."""
    mapping = dict(mapping or {})
    unknown = sorted(set(mapping) - {c.name for c in workload.classes})
    problems = [f"planner.estimator_classes.{name}: not a workload class" for name in unknown]
    out: dict[str, list[str]] = {}
    used: dict[str, str] = {}
    for cls in workload.classes:
        names = list(mapping[cls.name]) if cls.name in mapping else \
            [e for e in estimator_classes if _norm(e) in (_norm(cls.name), _norm(cls.category))]
        for e in names:
            if e not in estimator_classes:
                problems.append(f"planner.estimator_classes.{cls.name}: {e!r} is not an estimator class; "
                                f"known: {list(estimator_classes)}")
            elif e in used:
                problems.append(f"planner.estimator_classes: {e!r} is mapped to both {used[e]!r} and {cls.name!r}")
            used[e] = cls.name
        if not names:
            problems.append(f"planner.estimator_classes.{cls.name}: no estimator class matches this workload "
                            f"class; list its estimator classes (known: {list(estimator_classes)})")
        out[cls.name] = names
    if problems:
        raise ConfigError(problems)
    return out


def estimated_classes(estimator: str, workload: Workload,
                      mapping: Mapping[str, Sequence[str]] | None = None) -> EstimatedClasses:
    """``R[C, K]`` for the workload's classes from the estimator card's confusion (see the module docstring)."""
    est_classes, counts, source = card_confusion(card_path(estimator))
    groups = class_map(workload, est_classes, mapping)
    member = np.zeros((len(est_classes), len(workload.classes)))
    for j, cls in enumerate(workload.classes):
        member[[est_classes.index(e) for e in groups[cls.name]], j] = 1.0
    rows = member.T @ counts                   # (C, estimator classes predicted)
    placed = rows @ member                     # (C, K)
    per_class = placed.sum(axis=1)
    empty = [cls.name for cls, n in zip(workload.classes, per_class, strict=True) if n <= 0]
    if empty:
        raise ConfigError(f"planner.estimator: the confusion of {source} has no rows read as a planned class "
                          f"for {empty}")
    total = float(rows.sum())
    return EstimatedClasses(tuple(c.name for c in workload.classes), placed / per_class[:, None], source,
                            int(total), float(1.0 - per_class.sum() / total) if total else 0.0)


def _demand(workload: Workload) -> np.ndarray:
    """``D[C, t]``: queries per class and period."""
    return np.array([[c.rate_at(t) * workload.period_s for t in range(workload.n_periods)]
                     for c in workload.classes])


def routed_workload(workload: Workload, est: EstimatedClasses) -> Workload:
    """The workload with each class's rates replaced by the rates of queries read as that class."""
    rates = est.read_as.T @ np.array([[c.rate_at(t) for t in range(workload.n_periods)] for c in workload.classes])
    classes = tuple(dataclasses.replace(c, rate_per_s=tuple(float(r) for r in rates[k]))
                    for k, c in enumerate(workload.classes))
    return dataclasses.replace(workload, classes=classes)


def routed_option_table(table: pd.DataFrame, workload: Workload, est: EstimatedClasses) -> pd.DataFrame:
    """Option rows per routed class, with figures expected over the true classes read as it."""
    weight = _demand(workload).sum(axis=1)[:, None] * est.read_as          # (C, K)
    index = {name: i for i, name in enumerate(est.classes)}
    figures = {col: table.pivot_table(index="class_name", columns="option_id", values=col, aggfunc="first")
               .reindex(list(est.classes)) for col in ROUTED_COLUMNS if col in table}
    rows = []
    for record in table.to_dict(orient="records"):
        k, option = index[record["class_name"]], record["option_id"]
        share = weight[:, k] / weight[:, k].sum() if weight[:, k].sum() > 0 else np.eye(len(index))[k]
        contributing = share > 0
        if figures["accuracy"][option].isna().to_numpy()[contributing].any():
            continue  # a class read as k lacks this option
        for col, frame in figures.items():
            values = frame[option].to_numpy(float)
            record[col] = float(np.sum(share[contributing] * values[contributing]))
        rows.append(record)
    return pd.DataFrame(rows, columns=table.columns)


def dropped_options(table: pd.DataFrame, routed: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``table`` with no routed row (a class read as it lacks the option), as excluded-option rows."""
    from tpf.plan.options import EXCLUDED_COLUMNS

    keys = ["class_name", "option_id"]
    merged = table.merge(routed[keys], on=keys, how="left", indicator=True)
    dropped = merged[merged["_merge"] == "left_only"]
    return dropped.assign(reason="not_offered_to_every_class_read_as_it",
                          detail="a class the estimator reads as this one lacks the option")[list(EXCLUDED_COLUMNS)]


def misrouting_totals(table: pd.DataFrame, allocation: pd.DataFrame, workload: Workload,
                      est: EstimatedClasses) -> dict[str, float]:
    """The plan's split with classes known against read through the confusion (true-class ``table``).

    ``known_class_accuracy`` / ``delivered_accuracy`` (fractions),
    ``misrouting_accuracy_points`` (their difference x 100), and the same for
    dynamic IT energy in kWh (``misrouting_it_energy_kwh``: delivered minus known).
    """
    options = sorted(set(table["option_id"]))
    o_index = {o: i for i, o in enumerate(options)}
    c_index = {c: i for i, c in enumerate(est.classes)}
    shape = (len(est.classes), len(options))
    rows = table["class_name"].map(c_index).to_numpy(int), table["option_id"].map(o_index).to_numpy(int)
    acc, energy = np.zeros(shape), np.zeros(shape)
    acc[rows] = table["accuracy"].to_numpy(float)
    energy[rows] = table["energy_j"].to_numpy(float)
    shares = np.zeros((workload.n_periods, *shape))
    np.add.at(shares, (allocation["period"].to_numpy(int), allocation["class_name"].map(c_index).to_numpy(int),
                       allocation["option_id"].map(o_index).to_numpy(int)), allocation["share"].to_numpy(float))
    demand = _demand(workload)
    total = float(demand.sum())
    out: dict[str, float] = {}
    for name, figure, scale in (("accuracy", acc, 1.0 / total), ("it_energy_kwh", energy, 1.0 / J_PER_KWH)):
        known = float(np.einsum("ct,tco,co->", demand, shares, figure)) * scale
        delivered = float(np.einsum("ct,ck,tko,co->", demand, est.read_as, shares, figure)) * scale
        out[f"known_class_{name}"], out[f"delivered_{name}"] = known, delivered
    out["misrouting_accuracy_points"] = 100.0 * (out["known_class_accuracy"] - out["delivered_accuracy"])
    out["misrouting_it_energy_kwh"] = out["delivered_it_energy_kwh"] - out["known_class_it_energy_kwh"]
    return out


def misrouting_note(figures: Mapping[str, Any], est: EstimatedClasses, objective_unit: str = "") -> str:
    """One paragraph for the report: where the classes come from and what misreading costs.

    ``misrouting_objective`` (when given): how much worse the plan's objective is
    than a plan with classes known, in ``objective_unit``.
    """
    diagonal = float(np.mean(np.diag(est.read_as)))
    outside = (f" {est.outside_share:.1%} of the confusion's rows of planned classes were read as estimator "
               "classes outside the plan and are spread like the others." if est.outside_share > 0 else "")
    return (f"Classes are read from the text by the estimator: confusion of {est.source}, {est.n_rows} rows, "
            f"mean share read right {diagonal:.1%}; figures and demand per routed class through it, so the plan's "
            f"accuracy is the router's.{outside} Misrouting costs this split "
            f"{figures['misrouting_accuracy_points']:.2f} accuracy points "
            f"({figures['known_class_accuracy']:.4f} with classes known, {figures['delivered_accuracy']:.4f} "
            f"delivered) and {figures['misrouting_it_energy_kwh']:+.4g} kWh of dynamic IT energy."
            + (f" Against a plan with classes known, the objective is {figures['misrouting_objective']:.4g} "
               f"{objective_unit} worse ({figures['known_class_plan_objective']:.6g} {objective_unit} there)."
               if "misrouting_objective" in figures else ""))
