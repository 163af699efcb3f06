"""Runs that used to give a silently wrong result or an unclear error: replan spans and sites,
the estimator and band exports, and a plan whose accuracy target is the best reachable."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from tests.bad_input.conftest import Case, run_case

COLUMN = "Carbon Intensity gCO₂eq/kWh (direct)"
REPLAN = ("replan", "workload=small", "workload.n_periods=24", "workload.start_hour=0", "report=minimal",
          "grid=electricitymaps", "grid.csv_path=g.csv")


def grid_csv(days: int = 5, start: str = "2023-06-01", tz: str | None = None, label: str = "UTC"):
    """A maker of a daily-cycle carbon CSV of ``days`` days; its times in ``tz`` local time when given."""
    def make(path: Path) -> None:
        hours = pd.date_range(start, periods=days * 24, freq="h", tz="UTC")
        values = 300 + 200 * np.cos(2 * np.pi * (hours.hour.to_numpy() - 13) / 24) + np.arange(len(hours)) % 7
        shown = hours if tz is None else hours.tz_convert(tz)
        pd.DataFrame({f"Datetime ({label})": shown.strftime("%Y-%m-%d %H:%M:%S"), "Zone Id": "TEST",
                      COLUMN: values}).to_csv(path, index=False)
    return make


def _estimator_copy(edit=None):
    def make(path: Path) -> None:
        from tpf.estimator.model import shipped_estimator_path

        shutil.copytree(shipped_estimator_path(), path)
        if edit:
            edit(path)
    return make


def _truncate_weights(folder: Path) -> None:
    weights = folder / "weights.npz"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])


def _demo_policy(path: Path) -> None:
    from tpf.policy.demo import main as demo

    assert demo([str(path)]) == 0


NESTED_JSON = "[" * 100_000 + "]" * 100_000 + "\n"
REPLAN_CASES = [
    Case("replan-span-longer-than-series", (*REPLAN, "grid.start_utc=2023-06-01 00:00", "replan.days=30"), 1,
         ("grid.csv_path: g.csv covers 2023-06-01 00:00 to 2023-06-05 23:00 UTC (120 hours); the span needs 720 hours (30 days from 2023-06-01 00:00 UTC)",),
         {"g.csv": grid_csv()}),
    Case("replan-start-before-series", (*REPLAN, "grid.start_utc=2023-05-01 00:00", "replan.days=1"), 1,
         ("g.csv", "covers 2023-06-01 00:00:00+00:00 to 2023-06-05 23:00:00+00:00; it does not cover 24 hours from 2023-05-01"), {"g.csv": grid_csv()}),
    Case("replan-site-series-shorter", (*REPLAN, "grid.start_utc=2023-06-01 00:00", "replan.days=3",
                                        "sites=[{name: a}, {name: b, csv_path: s.csv}]"), 1,
         ("sites[1].csv_path: s.csv covers 2023-06-01 00:00 to 2023-06-02 23:00 UTC (48 hours); the span needs 72 hours",),
         {"g.csv": grid_csv(), "s.csv": grid_csv(days=2)}),
    Case("replan-forecast-csv-shorter", (*REPLAN, "grid.start_utc=2023-06-01 00:00", "replan.days=3",
                                         "replan.forecast=csv", "replan.forecast_csv=f.csv"), 1,
         ("replan.forecast_csv: f.csv covers 2023-06-01 00:00 to 2023-06-02 23:00 UTC",),
         {"g.csv": grid_csv(), "f.csv": grid_csv(days=2)}),
]
ESTIMATOR_CASES = [
    Case("estimator-fit-out-is-a-file", ("estimator", "fit", "--data", "q.jsonl", "--out", "notes.txt"), 1,
         ("--out: notes.txt is a file, not a folder",), {"q.jsonl": NESTED_JSON, "notes.txt": "keep\n"}),
    Case("estimator-fit-out-inside-a-file", ("estimator", "fit", "--data", "q.jsonl", "--out", "notes.txt/est"), 1,
         ("--out: notes.txt/est lies inside notes.txt, which is a file",), {"q.jsonl": NESTED_JSON, "notes.txt": "keep\n"}),
    Case("estimator-fit-nested-json", ("estimator", "fit", "--data", "q.jsonl", "--out", "est"), 1,
         ("q.jsonl, line 1: JSON nested too deeply to read",), {"q.jsonl": NESTED_JSON}),
    Case("estimator-eval-nested-json", ("estimator", "eval", "--estimator", "est", "--data", "q.jsonl", "--out", "m.json"), 1,
         ("q.jsonl, line 1: JSON nested too deeply to read",), {"q.jsonl": NESTED_JSON, "est": _estimator_copy()}),
    Case("estimator-truncated-weights", ("estimator", "show", "--estimator", "est", "--text", "What is 2+2?"), 1,
         ("est: cannot read the estimator", "truncated or damaged weights.npz"), {"est": _estimator_copy(_truncate_weights)}),
    Case("policy-export-bands-onto-a-file", ("policy", "export", "--format", "semantic-router", "p.json", "--bands", "--out", "notes.txt"), 1,
         ("--out: notes.txt is not a folder (--bands writes one config per band",), {"p.json": _demo_policy, "notes.txt": "keep\n"}),
]
PLAN_CASES = [
    # 0.6475 is the accuracy of the best single configuration (llama-3.1-8b zero-shot on every class)
    Case("plan-target-equals-best-configuration", ("plan", "planner=min_energy", "planner.accuracy_target=0.6475", "report=minimal"), 0, ("[tpf] optimal: accuracy 0.6475",)),
]


def test_bands_export_onto_a_fifo_is_refused_and_kept(tmp_path, capsys, monkeypatch):
    os.mkfifo(tmp_path / "pipe")
    case = Case("policy-export-bands-onto-a-fifo", ("policy", "export", "--format", "semantic-router", "p.json", "--bands", "--out", "pipe"),
                1, ("--out: pipe is not a folder",), {"p.json": _demo_policy})
    run_case(case, tmp_path, capsys, monkeypatch)
    assert (tmp_path / "pipe").is_fifo()


def test_estimator_out_file_is_kept(tmp_path, capsys, monkeypatch):
    run_case(ESTIMATOR_CASES[0], tmp_path, capsys, monkeypatch)
    assert (tmp_path / "notes.txt").read_text() == "keep\n"


def _replan(tmp_path, capsys, monkeypatch, *extra: str, files=None) -> tuple[dict, pd.DataFrame, str]:
    case = Case("replan", (*REPLAN, *extra, "hydra.run.dir=run"), 0, (), {"g.csv": grid_csv(), **(files or {})})
    text = run_case(case, tmp_path, capsys, monkeypatch)
    summary = json.loads((tmp_path / "run" / "summary.json").read_text(),
                         parse_constant=lambda name: pytest.fail(f"summary.json holds {name}"))
    return summary, pd.read_csv(tmp_path / "run" / "hourly.csv"), text


def test_replan_summary_is_strict_json_with_null_for_nan(tmp_path, capsys, monkeypatch):
    summary, _, _ = _replan(tmp_path, capsys, monkeypatch, "grid.start_utc=2023-06-01 00:00", "replan.days=1")
    assert summary["forecast_mape"] is None  # one day: the seasonal forecast has nothing to score
    assert isinstance(summary["carbon_kg"], float)


def test_replan_hours_after_the_span_past_the_series_end_are_named(tmp_path, capsys, monkeypatch):
    with pytest.warns(UserWarning, match=r"g.csv: 30 hour\(s\) after the span run past the series' end \(2023-06-05 23:00 UTC\)"):
        _, hourly, _ = _replan(tmp_path, capsys, monkeypatch, "grid.start_utc=2023-06-04 00:00", "replan.days=2",
                               "workload.deferrable_share=0.5", "workload.deadline_h=6")
    assert len(hourly[hourly["policy"] == "forecast"]) == 48 + 6


def test_replan_site_series_is_read_in_the_grid_time_zone(tmp_path, capsys, monkeypatch):
    """The same series written in UTC and in Madrid local time gives the same site intensities; read as
    UTC (the old behaviour) the local file would be two hours off."""
    extra = ("grid.start_utc=2023-06-02 00:00", "replan.days=1", "grid.time_zone=Europe/Madrid",
             "sites=[{name: home}, {name: far, csv_path: local.csv}]")
    files = {"g.csv": grid_csv(tz="Europe/Madrid", label="Europe/Madrid"),
             "local.csv": grid_csv(tz="Europe/Madrid", label="Europe/Madrid")}
    _, hourly, _ = _replan(tmp_path, capsys, monkeypatch, *extra, files=files)
    forecast = hourly[hourly["policy"] == "forecast"]
    grid_csv()(tmp_path / "utc.csv")
    series = pd.read_csv(tmp_path / "utc.csv")
    expected = series[series["Datetime (UTC)"] >= "2023-06-02"][COLUMN].to_numpy()[: len(forecast)]
    np.testing.assert_allclose(forecast["carbon_g_per_kwh_far"].to_numpy(), expected, rtol=1e-12)
    np.testing.assert_allclose(forecast["carbon_g_per_kwh_home"].to_numpy(), expected, rtol=1e-12)


def test_unknown_highs_status_is_solved_again_without_presolve():
    """A HiGHS solve ending 'unknown' is retried with presolve off; the caller's options are restored."""
    import pyomo.environ as pyo
    from pyomo.opt import TerminationCondition

    from tpf.plan.solve import run_solver

    class UnknownWithPresolve:
        def __init__(self) -> None:
            self.real, self.highs_options, self.presolve_seen = pyo.SolverFactory("appsi_highs"), {"solver": "simplex"}, []

        def solve(self, model, load_solutions):
            self.real.highs_options = dict(self.highs_options)
            results = self.real.solve(model, load_solutions=load_solutions)
            self.presolve_seen.append(self.highs_options.get("presolve", "on"))
            if self.highs_options.get("presolve") != "off":
                results.solver.termination_condition = TerminationCondition.unknown
            return results

    model = pyo.ConcreteModel()
    model.share = pyo.Var([0, 1], bounds=(0, 1))
    model.one = pyo.Constraint(expr=model.share[0] + model.share[1] == 1)
    model.accuracy = pyo.Constraint(expr=0.3 * model.share[0] + 0.7 * model.share[1] >= 0.7)  # the best option only
    model.objective = pyo.Objective(expr=model.share[0] + 2 * model.share[1])
    solver = UnknownWithPresolve()
    status, _ = run_solver(solver, SimpleNamespace(model=model, timings_s={}))
    assert status == "optimal" and solver.presolve_seen == ["on", "off"]
    assert solver.highs_options == {"solver": "simplex"}
    assert pyo.value(model.share[1]) == pytest.approx(1.0)
