"""The summary of a multirun: one row per point, and the swept parameter plotted.

Reads what each point left in its run directory (``summary.json`` and Hydra's
``.hydra/overrides.yaml``), so it works the same whichever launcher ran the
points (joblib locally, submitit on a cluster).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import yaml

from tpf.atomic import write_text_atomic
from tpf.report.figures import sweep_plot
from tpf.report.markdown import markdown_table
from tpf.report.writer import write_csv

SUMMARY_COLUMNS = (
    "status", "accuracy", "it_energy_kwh", "facility_energy_kwh", "carbon_kg", "peak_facility_kw",
    "binding_constraints",
)


def _overrides(run_dir: Path) -> dict[str, str]:
    path = run_dir / ".hydra" / "overrides.yaml"
    if not path.is_file():
        return {}
    items = yaml.safe_load(path.read_text()) or []
    pairs = (str(item).split("=", 1) for item in items if "=" in str(item))
    return {key.lstrip("+~"): value for key, value in pairs if not key.startswith("hydra")}


def collect(sweep_dir: Path) -> pd.DataFrame:
    """One row per point: its overrides, then the summary's headline figures."""
    rows = []
    for run_dir in sorted((p for p in sweep_dir.iterdir() if p.is_dir()), key=lambda p: (len(p.name), p.name)):
        summary_path = run_dir / "summary.json"
        if not summary_path.is_file():
            continue
        summary = json.loads(summary_path.read_text())
        row: dict[str, object] = {"point": run_dir.name, **_overrides(run_dir)}
        for key in SUMMARY_COLUMNS:
            value = summary.get(key)
            row[key] = ", ".join(value) if isinstance(value, list) else value
        rows.append(row)
    return pd.DataFrame(rows)


def swept_parameter(table: pd.DataFrame) -> str | None:
    """The override column with the most distinct values (numeric when it can be)."""
    candidates = [c for c in table.columns if c not in ("point", *SUMMARY_COLUMNS)]
    if not candidates:
        return None
    return max(candidates, key=lambda c: table[c].nunique())


def write_sweep_summary(sweep_dir: Path, dpi: int = 110) -> Path | None:
    """Write sweep_summary.csv, sweep_summary.md and sweep.png into ``sweep_dir``."""
    if not sweep_dir.is_dir():
        return None
    table = collect(sweep_dir)
    if table.empty:
        return None
    parameter = swept_parameter(table)
    if parameter is not None:
        numeric = pd.to_numeric(table[parameter], errors="coerce")
        if numeric.notna().all():
            table[parameter] = numeric
        table = table.sort_values(parameter).reset_index(drop=True)
    path = write_csv(sweep_dir / "sweep_summary.csv", table)
    lines = [f"# Sweep summary ({len(table)} runs)", ""]
    statuses = table["status"].value_counts().to_dict()
    lines += ["Status: " + ", ".join(f"{n} {s}" for s, n in statuses.items()), ""]
    ok = table[table["accuracy"].notna()]
    if parameter is not None and len(ok):
        sweep_plot(ok, parameter, sweep_dir / "sweep.png", dpi)
        lines += [f"![sweep over {parameter}](sweep.png)", ""]
    lines.append(markdown_table(list(table.columns), table.itertuples(index=False)))
    write_text_atomic(sweep_dir / "sweep_summary.md", "\n".join(lines) + "\n")
    return path
