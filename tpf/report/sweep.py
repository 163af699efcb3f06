"""The summary of a multirun: one row per point, and the swept parameter plotted.

Reads what each point left in its run directory (``summary.json`` and Hydra's
``.hydra/overrides.yaml``), so it works the same whichever launcher ran the
points (joblib locally, Ray locally or on a cluster, submitit on SLURM): a
point's folder is named by Hydra's ``hydra.sweep.subdir`` (the job number) in
the driver, whichever process or machine runs it. A point that left no
``summary.json`` (its run raised, or its worker died) keeps a row with status
``no summary.json`` so the table names every point.
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

DONE_STATUSES = ("optimal", "ok")  # a plan solved to optimality; a re-plan that finished
MISSING = "no summary.json"
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


def point_folders(sweep_dir: Path) -> list[Path]:
    """The folders of a sweep's points (each holds Hydra's ``.hydra`` or a ``summary.json``),
    in job-number order."""
    folders = (p for p in sweep_dir.iterdir()
               if p.is_dir() and ((p / ".hydra").is_dir() or (p / "summary.json").is_file()))
    return sorted(folders, key=lambda p: (len(p.name), p.name))


def _summary(run_dir: Path) -> dict[str, object] | None:
    try:
        return json.loads((run_dir / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def _error_text(run_dir: Path) -> str:
    """The first line of the point's error.txt (written when its run raised), else empty."""
    try:
        lines = (run_dir / "error.txt").read_text().splitlines()
    except OSError:
        return ""
    return lines[0] if lines else ""


def point_status(run_dir: Path) -> str:
    """The status in the point's summary.json; ``error`` when its run raised (error.txt);
    ``no summary.json`` when it left neither (its worker died, or it has not run)."""
    summary = _summary(run_dir)
    if summary is not None:
        return str(summary.get("status"))
    return "error" if (run_dir / "error.txt").is_file() else MISSING


def collect(sweep_dir: Path) -> pd.DataFrame:
    """One row per point: its overrides, then the summary's headline figures."""
    rows = []
    for run_dir in point_folders(sweep_dir):
        summary = _summary(run_dir) or {"status": point_status(run_dir)}
        row: dict[str, object] = {"point": run_dir.name, **_overrides(run_dir)}
        for key in SUMMARY_COLUMNS:
            value = summary.get(key)
            row[key] = ", ".join(value) if isinstance(value, list) else value
        rows.append(row)
    return pd.DataFrame(rows)


def failed_points(sweep_dir: Path) -> list[str]:
    """One line per point that failed (status other than optimal/ok, or no summary.json),
    naming its folder, its overrides, its status and its error message if it raised."""
    lines = []
    for run_dir in point_folders(sweep_dir) if sweep_dir.is_dir() else []:
        status = point_status(run_dir)
        if status in DONE_STATUSES:
            continue
        overrides = " ".join(f"{key}={value}" for key, value in _overrides(run_dir).items())
        error = _error_text(run_dir)
        lines.append(f"point {run_dir.name} ({overrides or 'no overrides'}): {status}"
                     f"{': ' + error if error else ''} -> {run_dir}")
    return lines


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
