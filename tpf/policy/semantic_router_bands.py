"""One semantic-router config per hour band and carbon band, plus an index saying which applies when.

The router has no clock or grid signal, so a policy that changes over the day
or with the grid's carbon intensity becomes a folder::

    index.yaml          which file applies when (format tpf-semantic-router-bands 1.0)
    all_day.yaml        the all-day split (no hour, no intensity known)
    hours_00-06_20-23.yaml ...   hours with the same split in every class
    carbon_0-300.yaml ...        carbon bands [min, max) gCO2/kWh

Hour bands group the hours of day whose splits agree in every class. Carbon
bands cut [0, inf) at every band edge of every class and merge neighbours that
agree; classes without carbon bands use their all-day split there. Selection
follows :class:`tpf.policy.Router`: a known intensity picks a carbon file (when
the policy has carbon bands), else the hour picks an hour file (when it has an
hour schedule), else ``all_day.yaml``. The operator switches the router's
config file when the band changes (``tpf policy band INDEX`` prints which).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from tpf.atomic import write_text_atomic
from tpf.errors import PolicyError
from tpf.policy.export_semantic_router import ExportOptions, class_choices, render
from tpf.policy.format import HOURS_PER_DAY, Policy
from tpf.policy.semantic_router_providers import Providers, load_providers
from tpf.policy.validate import load_policy

INDEX_FORMAT = "tpf-semantic-router-bands"
INDEX_VERSION = "1.0"
INDEX_FILE = "index.yaml"
ALL_DAY_FILE = "all_day.yaml"


@dataclass(frozen=True)
class HourBand:
    hours: tuple[int, ...]
    file: str


@dataclass(frozen=True)
class CarbonBandFile:
    min_g_per_kwh: float
    max_g_per_kwh: float | None
    file: str


def _signature(policy: Policy, options: ExportOptions) -> tuple[Any, ...]:
    return tuple(class_choices(cls, options) for cls in policy.classes)


def _span(start: int, end: int) -> str:
    return f"{start:02d}" if start == end else f"{start:02d}-{end:02d}"


def _ranges(hours: tuple[int, ...]) -> str:
    """``(0, 1, 2, 5, 20, 21)`` -> ``"00-02_05_20-21"``."""
    parts, start, previous = [], hours[0], hours[0]
    for hour in hours[1:]:
        if hour != previous + 1:
            parts.append(_span(start, previous))
            start = hour
        previous = hour
    parts.append(_span(start, previous))
    return "_".join(parts)


def hour_bands(policy: Policy) -> list[HourBand]:
    """Hours of day grouped by identical splits in every class; empty without an hour schedule."""
    if not any(cls.by_hour for cls in policy.classes):
        return []
    groups: dict[tuple[Any, ...], list[int]] = {}
    for hour in range(HOURS_PER_DAY):
        groups.setdefault(_signature(policy, ExportOptions(hour=hour)), []).append(hour)
    return [HourBand(tuple(hours), f"hours_{_ranges(tuple(hours))}.yaml") for hours in groups.values()]


def _edge_text(value: float) -> str:
    return f"{value:g}".replace(".", "p")


def carbon_bands(policy: Policy) -> list[CarbonBandFile]:
    """[0, inf) cut at every class's band edges, neighbours with equal splits merged."""
    edges = sorted({band.min_g_per_kwh for cls in policy.classes for band in cls.by_carbon} | {0.0})
    if not any(cls.by_carbon for cls in policy.classes):
        return []
    merged: list[list[Any]] = []  # [low, high, signature]
    for low, high in zip(edges, [*edges[1:], None], strict=True):
        signature = _signature(policy, ExportOptions(carbon_g_per_kwh=low))
        if merged and merged[-1][2] == signature:
            merged[-1][1] = high
        else:
            merged.append([low, high, signature])
    return [CarbonBandFile(low, high, f"carbon_{_edge_text(low)}-{'up' if high is None else _edge_text(high)}.yaml")
            for low, high, _ in merged]


def band_index(policy: Policy) -> dict[str, Any]:
    """The index: which file applies when (see the module doc for the rule)."""
    return {
        "format": INDEX_FORMAT,
        "format_version": INDEX_VERSION,
        "policy": policy.name or "unnamed",
        "policy_created_utc": policy.provenance.created_utc,
        "rule": "a known carbon intensity picks a carbon file, else the hour of day picks an hour file, "
                "else all_day",
        "all_day": ALL_DAY_FILE,
        "hours": [{"hours": list(band.hours), "file": band.file} for band in hour_bands(policy)],
        "carbon": [{"min_g_per_kwh": band.min_g_per_kwh, "max_g_per_kwh": band.max_g_per_kwh, "file": band.file}
                   for band in carbon_bands(policy)],
    }


def band_exports(policy: Policy, options: ExportOptions | None = None) -> dict[str, ExportOptions]:
    """File name -> the options that export it: all day, one per hour band, one per carbon band."""
    base = options or ExportOptions()
    files = {ALL_DAY_FILE: replace(base, hour=None, carbon_g_per_kwh=None)}
    files.update({b.file: replace(base, hour=b.hours[0], carbon_g_per_kwh=None) for b in hour_bands(policy)})
    files.update({b.file: replace(base, hour=None, carbon_g_per_kwh=b.min_g_per_kwh) for b in carbon_bands(policy)})
    return files


def write_semantic_router_bands(
    policy: Policy | str | os.PathLike[str], out_dir: str | os.PathLike[str],
    providers: Providers | str | os.PathLike[str] | None = None, options: ExportOptions | None = None,
) -> Path:
    """Write every band's config and the index into ``out_dir``; returns the index path."""
    import yaml

    checked = load_policy(policy)
    resolved = providers if isinstance(providers, Providers) else load_providers(providers)
    index = band_index(checked)
    files = band_exports(checked, options)
    texts = {name: render(checked, opts, resolved) for name, opts in files.items()}  # all checked before writing
    folder = Path(out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in texts.items():
        write_text_atomic(folder / name, text)
    return write_text_atomic(folder / INDEX_FILE, yaml.safe_dump(index, sort_keys=False, default_flow_style=None))


def load_band_index(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an index written by :func:`write_semantic_router_bands`, refusing anything else."""
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"{path}: cannot read the band index: {exc}") from exc
    if not isinstance(data, dict) or data.get("format") != INDEX_FORMAT:
        raise PolicyError(f"{path}: not a band index (format must be {INDEX_FORMAT!r})")
    major = str(data.get("format_version", "")).split(".")[0]
    if major != INDEX_VERSION.split(".")[0]:
        raise PolicyError(f"{path}: format_version {data.get('format_version')!r} is not supported "
                          f"(this tpf reads {INDEX_VERSION})")
    return data


def band_file(index: dict[str, Any], hour: int | None = None, carbon_g_per_kwh: float | None = None) -> tuple[str, str]:
    """The file that applies and why: carbon band, else hour band, else all day."""
    if carbon_g_per_kwh is not None and index["carbon"]:
        for band in index["carbon"]:
            high = band["max_g_per_kwh"]
            if carbon_g_per_kwh >= band["min_g_per_kwh"] and (high is None or carbon_g_per_kwh < high):
                upper = "inf" if high is None else f"{high:g}"
                return band["file"], f"carbon {carbon_g_per_kwh:g} gCO2/kWh in [{band['min_g_per_kwh']:g}, {upper})"
        first = index["carbon"][0]
        return first["file"], f"carbon {carbon_g_per_kwh:g} gCO2/kWh below every band: lowest band"
    if hour is not None and index["hours"]:
        for band in index["hours"]:
            if hour % HOURS_PER_DAY in band["hours"]:
                return band["file"], f"hour {hour % HOURS_PER_DAY}"
    return index["all_day"], "no band applies (no schedule, or neither hour nor intensity given)"
