"""Several sites: each its own carbon series, PUE, power cap and share of the fleet; class rules.

A scenario's ``sites`` list (empty: one site made of ``grid``, ``facility``
and ``fleet``) places ``fleet_share`` of every fleet entry's GPUs at each
site. A class may be served at a site when the site's ``network_ms`` is
within the class's ``max_network_ms`` (or ``workload.max_network_ms``; a latency rule) and the site is in
the class's ``sites`` list (a data-residency rule); the deferrable share
``<name>~deferred`` takes ``workload.deferred_max_network_ms`` as its
latency rule and keeps the residency rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from tpf.config.build import DEFERRED_SUFFIX, ScenarioInputs
from tpf.config.schema import QueryClassConfig
from tpf.errors import ConfigError
from tpf.replan.inputs import csv_series


@dataclass(frozen=True)
class Sites:
    names: tuple[str, ...]
    carbon_g_per_kwh: np.ndarray   # (S, hours)
    fleet_gpus: np.ndarray         # (S, M)
    pue: np.ndarray                # (S,)
    power_cap_kw: np.ndarray       # (S,) inf = none
    allowed: np.ndarray            # (K, S)
    zones: tuple[str, ...]


def _site_problems(inputs: ScenarioInputs) -> list[str]:
    problems, names = [], [site.name for site in inputs.config.sites]
    problems += [f"sites: site name {n!r} listed more than once" for n in sorted({n for n in names if names.count(n) > 1})]
    for i, site in enumerate(inputs.config.sites):
        if not 0 <= site.fleet_share <= 1:
            problems.append(f"sites[{i}].fleet_share: must be in [0, 1], got {site.fleet_share}")
        if site.csv_path is None and inputs.config.grid.kind != "electricitymaps":
            problems.append(f"sites[{i}].csv_path: required unless grid=electricitymaps, got null")
    for cls in inputs.config.workload.classes:
        for name in cls.sites or []:
            if name not in names:
                problems.append(f"workload.classes[{cls.name!r}].sites: unknown site {name!r}; sites: {names}")
    return problems


def check_sites(inputs: ScenarioInputs) -> None:
    """Raise every problem of the ``sites`` list and the classes' residency rules at once."""
    problems = _site_problems(inputs)
    if problems:
        raise ConfigError(problems)


def _rule(cls: QueryClassConfig, deferred: bool, inputs: ScenarioInputs) -> tuple[float | None, list[str] | None]:
    workload = inputs.config.workload
    own = cls.max_network_ms if cls.max_network_ms is not None else workload.max_network_ms
    limit = workload.deferred_max_network_ms if deferred else own
    return limit, cls.sites


def allowed_sites(inputs: ScenarioInputs, class_names: list[str]) -> np.ndarray:
    """(K, S): whether each (possibly split) class may be served at each site."""
    sites = inputs.config.sites
    by_name = {c.name: c for c in inputs.config.workload.classes}
    out = np.ones((len(class_names), max(len(sites), 1)), bool)
    for k, name in enumerate(class_names):
        deferred = name.endswith(DEFERRED_SUFFIX)
        base = by_name.get(name.removesuffix(DEFERRED_SUFFIX) if deferred else name)
        if base is None or not sites:
            continue
        limit, residency = _rule(base, deferred, inputs)
        for j, site in enumerate(sites):
            out[k, j] = (limit is None or site.network_ms <= limit) and (residency is None or site.name in residency)
        if not out[k].any():
            raise ConfigError(f"workload.classes[{base.name!r}]: no site meets its rules (max_network_ms "
                              f"{limit}, sites {residency}); site latencies: "
                              f"{ {s.name: s.network_ms for s in sites} }")
    return out


def build_sites(inputs: ScenarioInputs, class_names: list[str], start: pd.Timestamp, n_hours: int,
                grid_carbon: np.ndarray, zone: str, span_hours: int | None = None) -> Sites:
    """The sites of the scenario (one when ``sites`` is empty); a site's CSV is read as the grid's,
    with ``grid.time_zone`` and ``grid.dst``, and must cover the ``span_hours``."""
    config = inputs.config
    fleet = np.array([e.gpus for e in inputs.fleet.entries], float)
    cap = inputs.facility.power_cap_w
    if not config.sites:
        return Sites(("site",), grid_carbon[None, :], fleet[None, :], np.array([inputs.facility.pue_at(0)]),
                     np.array([np.inf if cap is None else cap / 1000.0]), allowed_sites(inputs, class_names),
                     (zone,))
    check_sites(inputs)
    carbon, zones = [], []
    for i, site in enumerate(config.sites):
        values, name = ((grid_carbon, zone) if site.csv_path is None else
                        csv_series(site.csv_path, config.grid.column, start, n_hours, f"sites[{i}].csv_path",
                                   config.grid.time_zone, span_hours, config.grid.dst))
        carbon.append(values if site.csv_path is None else values * config.grid.scale)
        zones.append(name)
    return Sites(tuple(s.name for s in config.sites), np.stack(carbon),
                 np.stack([fleet * s.fleet_share for s in config.sites]),
                 np.array([s.pue if s.pue is not None else inputs.facility.pue_at(0) for s in config.sites], float),
                 np.array([np.inf if s.power_cap_kw is None else s.power_cap_kw for s in config.sites], float),
                 allowed_sites(inputs, class_names), tuple(zones))
