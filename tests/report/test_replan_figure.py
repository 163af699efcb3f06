"""replan.png: title with zone, dates and time zone, policies named, savings printed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tpf.replan.run import replan_figure


def test_replan_figure_names_its_span_policies_and_savings(tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    kept: list = []
    savefig = Figure.savefig
    monkeypatch.setattr(Figure, "savefig", lambda self, path, **kw: (kept.append(self), savefig(self, path, **kw)))
    times = pd.date_range("2023-03-01", periods=4, freq="h").strftime("%Y-%m-%d %H:%M")
    carbon = {"forecast": [1.0, 1.0, 0.5, 0.5], "agnostic": [1.0, 1.0, 1.0, 1.0], "oracle": [1.0, 0.5, 0.5, 0.5]}
    hourly = pd.concat([pd.DataFrame({"time_utc": times, "policy": policy, "carbon_kg": values,
                                      "carbon_g_per_kwh": 100.0, "forecast_g_per_kwh": 90.0})
                        for policy, values in carbon.items()], ignore_index=True)
    summary = {"zone": "ES", "forecast": "seasonal_naive", "saved_vs_agnostic_pct": 25.0, "carbon_kg_agnostic": 4.0,
               "carbon_kg": 3.0, "oracle_saved_vs_agnostic_pct": 37.5, "deferrable_share": 0.5, "deadline_h": 12}
    replan_figure(hourly, tmp_path / "replan.png", summary)
    figure = kept[0]
    title = figure._suptitle.get_text()
    assert title.startswith("Hourly re-planning, ES, 2023-03-01 00:00 to 2023-03-01 03:00 UTC\n")
    assert "forecast policy saved 25.00% of the agnostic carbon (4 -> 3 kgCO2e); oracle 37.50%" in title
    top, bottom = figure.axes
    assert bottom.get_xlabel() == "time (UTC)"
    assert [t.get_text() for t in top.get_legend().get_texts()][1] == (
        "forecast of each hour made at its re-plan (seasonal_naive, horizon hour 0)")
    labels = [t.get_text() for t in bottom.get_legend().get_texts()]
    assert labels == ["forecast: re-plans each hour on the intensity forecast: 1 kg saved",
                      "oracle: re-plans on the true intensity: 1.5 kg saved",
                      "agnostic: serves each query on arrival (the zero line)"]
    assert np.allclose(bottom.get_lines()[0].get_ydata(), [0.0, 0.0, 0.5, 1.0])
