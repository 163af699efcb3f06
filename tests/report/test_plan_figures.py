"""The plan's figures: what each one draws (titles, axes, scales, artists)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tpf.report import figures


def front() -> pd.DataFrame:
    return pd.DataFrame({"accuracy": [0.40, 0.50, 0.60], "facility_energy_kwh": [46.0, 52.0, 60.0],
                         "carbon_kg": [18.4, 20.8, 24.0]})


def baselines() -> pd.DataFrame:
    return pd.DataFrame({
        "name": ["all big", "big at equal accuracy", "all small", "all small cot", "greedy"],
        "accuracy": [0.65, 0.65, 0.37, 0.43, 0.62],
        "facility_energy_kwh": [65.0, 65.0, 47.0, 7000.0, 62.0],
        "carbon_kg": [26.0, 26.0, 18.8, 2800.0, 24.8],
        "feasible": [True, True, False, False, True]})


def test_pareto_is_linear_around_the_front_with_far_baselines_in_a_log_inset(drawn, tmp_path):
    chosen = {"accuracy": 0.6, "facility_energy_kwh": 60.0, "carbon_kg": 24.0}
    figures.pareto_fronts({"energy": front(), "carbon": front()}, chosen, baselines(), tmp_path / "p.png")
    figure = drawn[0]
    left, right = figure.axes[:2]
    assert left.get_title() == "Accuracy vs energy" and left.get_xscale() == "linear"
    assert left.get_xlim() == pytest.approx((0.0, figures.ZOOM_FACTOR * 60.0))
    assert left.get_xlabel() == "facility energy (kWh)\nbeyond 96: 3 (inset, log scale)"
    (inset,) = left.child_axes
    assert inset.get_xscale() == "log" and len(inset.collections) == 4 + 1   # 4 points and the plan
    labels = [t.get_text() for t in figure.legends[0].get_texts()]
    # the two baselines on one point share one number; infeasible ones are named so
    assert labels[2:] == ["1: all big / big at equal accuracy", "2: all small (infeasible: breaks the limits)",
                          "3: all small cot (infeasible: breaks the limits)", "4: greedy"]
    faces = {str(c.get_label()): c.get_facecolors() for c in left.collections}
    hollow = [len(f) == 0 or f[0][3] == 0 for f in faces.values()]
    assert sum(hollow) == 1   # in the main view: the infeasible "all small" is hollow, the far one is inset
    assert len(right.child_axes) == 1


def test_pareto_key_has_distinct_colours_for_28_baselines(drawn, tmp_path):
    names = [f"baseline {i}" for i in range(28)]
    table = pd.DataFrame({"name": names, "accuracy": np.linspace(0.3, 0.6, 28),
                          "facility_energy_kwh": np.linspace(10, 80, 28), "carbon_kg": np.linspace(4, 32, 28)})
    figures.pareto_fronts({"energy": front()}, {"accuracy": 0.6, "facility_energy_kwh": 60.0}, table,
                          tmp_path / "p.png")
    handles = drawn[0].legends[0].legend_handles[2:]
    colours = {h.get_markeredgecolor() for h in handles}
    assert len(handles) == 28 and len(colours) == 28


def test_power_carbon_title_says_cap_only_with_one_and_draws_it_above_the_intensity(drawn, tmp_path):
    hourly = pd.DataFrame({"period": range(3), "facility_kw": [1.0, 2.9, 3.0], "it_kw": [0.8, 2.2, 2.3],
                           "carbon_g_per_kwh": [400.0, 400.0, 400.0]})
    figures.power_and_carbon(hourly, 3.0, tmp_path / "a.png")
    figures.power_and_carbon(hourly, None, tmp_path / "b.png")
    capped, uncapped = drawn
    power, carbon = capped.axes
    assert power.get_title() == "Facility power per hour vs its cap, and grid carbon intensity"
    assert uncapped.axes[0].get_title() == "Facility power per hour (no power cap), and grid carbon intensity"
    assert power.get_zorder() > carbon.get_zorder()   # the cap line is drawn over the intensity line
    assert [line.get_label() for line in power.get_lines()] == ["IT power (kW)", "cap 3 kW"]
    assert power.get_ylim()[1] > 3.0


@pytest.fixture(scope="module")
def cards():
    from tpf.config.build import build_inputs
    from tpf.config.compose import compose

    return build_inputs(compose(["report=minimal"])).cards


def test_energy_curves_are_drawn_at_the_workload_lengths(drawn, tmp_path, cards):
    options = pd.DataFrame({"n_in_tokens": [140.0, 200.0, 260.0], "n_out_tokens": [1.0, 65.0, 513.0]})
    lengths = figures.WorkloadLengths.of(options)
    assert lengths == figures.WorkloadLengths((140.0, 200.0, 260.0), (1.0, 513.0))
    figures.energy_curves(cards.energy, {}, tmp_path / "e.png", lengths=lengths)
    (axes,) = drawn[0].axes
    assert axes.get_title().startswith("Energy cards at this workload's lengths: input 140 to 260 tokens")
    assert axes.get_xscale() == "log" and axes.get_xlim()[0] < 1.0 < 513.0 < axes.get_xlim()[1]
    assert len(axes.get_lines()) == len(cards.energy) and len(axes.collections) == len(cards.energy)
    assert all("n_in=200" in line.get_label() for line in axes.get_lines())


def test_accuracy_curves_put_zero_shot_only_models_in_their_own_panel(drawn, tmp_path, cards):
    categories = sorted({c.category for c in cards.accuracy.curves})
    figures.accuracy_curves(cards.accuracy, categories, tmp_path / "a.png")
    panels = drawn[0].axes
    cot_models = {c.model for c in cards.accuracy.curves if c.strategy == "cot"}
    assert len(panels) == len(cot_models) + 1
    assert panels[-1].get_title().endswith(": zero-shot only (no CoT curve)")
    assert panels[-1].get_xlabel() == "category" and len(panels[-1].collections) == len(categories)
    for panel in panels:   # no empty panel
        assert panel.get_lines() or panel.collections
