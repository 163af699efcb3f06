"""The option table from cards, and one clear error per kind of bad input."""

from __future__ import annotations

import pytest

from tpf.cards import AccuracyCard, AccuracyCurve, CurveFit, EnergyCard, ValidRange
from tpf.domain import Facility, Fleet, FleetEntry, Grid, QueryClass, Workload
from tpf.errors import ConfigError
from tpf.plan import PlannerSettings, StrategySpec, build_model, build_options


def energy_card(model: str, a_in: float, a_out: float) -> EnergyCard:
    """Bilinear E = a_in*n_in + a_out*n_out (J); duration = 1e-3*n_in + 0.02*n_out (s)."""
    return EnergyCard(model, "test-gpu", CurveFit("bilinear", (a_in, a_out, 0.0)),
                      ValidRange((1, 4096), (1, 4096)),
                      duration=CurveFit("bilinear", (1e-3, 0.02, 0.0), "duration_s"),
                      idle_power_w=50.0, source="estimate")


def accuracy_card() -> AccuracyCard:
    curves = [AccuracyCurve("small", "math", "zero_shot", "constant", {"acc": 0.3}),
              AccuracyCurve("small", "math", "cot", "saturating_budget",
                            {"a_inf": 0.6, "a_0": 0.3, "tau_tokens": 200.0}),
              AccuracyCurve("small", "math", "mv", "saturating_votes",
                            {"a_inf": 0.4, "a_1": 0.3, "tau_votes": 2.0})]
    return AccuracyCard(curves)


WORKLOAD = Workload((QueryClass("math-short", "math", 100.0, (1.0,)),), n_periods=1)


def test_option_energy_follows_the_strategy_rules():
    table = build_options(WORKLOAD, {"small": energy_card("small", 0.5, 2.0)}, accuracy_card(),
                          {"zero_shot": True, "cot": [200], "mv": [5], "cot_used_fraction": 0.5}).table
    by_id = table.set_index("option_id")
    assert by_id.loc["small/zero_shot", "energy_j"] == pytest.approx(0.5 * 100 + 2.0 * 1)
    # CoT at 200 tokens, half used: n_out = 1 + 100
    assert by_id.loc["small/cot@200", "n_out_tokens"] == pytest.approx(101.0)
    assert by_id.loc["small/cot@200", "energy_j"] == pytest.approx(50 + 2.0 * 101)
    assert by_id.loc["small/cot@200", "accuracy"] == pytest.approx(0.6 - 0.3 * 2.718281828 ** -1)
    # 5 votes share one prefill: E(100, 1) + 4 * (E(100, 1) - E(100, 0)) = 52 + 4 * 2
    assert by_id.loc["small/mv5", "energy_j"] == pytest.approx(52.0 + 4 * 2.0)
    assert by_id.loc["small/mv5", "gpu_s"] == pytest.approx(0.12 + 4 * 0.02)


def test_latency_slo_excludes_and_counts():
    options = build_options(WORKLOAD, {"small": energy_card("small", 0.5, 2.0)}, accuracy_card(),
                            StrategySpec(cot_budgets_tokens=(100, 1000)), latency_slo_s=5.0)
    # cot@1000: 0.1 + 0.02 * 1001 = 20.1 s > 5 s
    assert list(options.table["option_id"]) == ["small/zero_shot", "small/cot@100"]
    assert options.exclusion_counts() == {"latency_slo": 1}
    assert "20.1 s at batch 1 > SLO 5 s" in options.excluded["detail"].iloc[0]


def test_unknown_model_in_strategies_is_named():
    with pytest.raises(ConfigError, match=r"strategies\.large: unknown model"):
        build_options(WORKLOAD, {"small": energy_card("small", 0.5, 2.0)}, accuracy_card(),
                      {"small": {"zero_shot": True}, "large": {"zero_shot": True}})


@pytest.mark.parametrize("spec, field", [({"cot": ["abc"]}, "strategies.cot"), ({"mv": 5}, "strategies.mv"),
                                         ({"cot_used_fraction": "x"}, "strategies.cot_used_fraction")])
def test_malformed_strategy_values_name_the_key(spec, field):
    with pytest.raises(ConfigError, match=field):
        StrategySpec.from_mapping(spec)


def _build(options, workload=None, facility=None, grid=None, fleet=None, settings=None):
    return build_model(options, workload or Workload((QueryClass("A", "A", 100.0, (1.0,)),
                                                      QueryClass("B", "B", 100.0, (1.0,))), 1),
                       facility or Facility((1.0,)), grid or Grid((400.0,)), fleet or Fleet(()),
                       settings or PlannerSettings())


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"workload": Workload((QueryClass("A", "A", 100.0, (-2.0,)),), 1)}, r"workload\.classes\[0\]\.rate_per_s\[0\]: must be >= 0, got -2"),
    ({"workload": Workload((), 1)}, r"workload\.classes: must list at least one"),
    ({"facility": Facility((0.9,))}, r"facility\.pue\[0\]: must be >= 1\.0, got 0\.9"),
    ({"grid": Grid((-5.0,))}, r"grid\.carbon_g_per_kwh\[0\]: must be >= 0, got -5"),
    ({"settings": PlannerSettings(carbon_budget_kg=-1.0)}, r"planner\.carbon_budget_kg: must be a finite number >= 0, got -1"),
    ({"settings": PlannerSettings(it_power_w=-3.0)}, r"planner\.it_power_w"),
    ({"settings": PlannerSettings(objective="min_carbon")}, r"planner\.accuracy_target: objective 'min_carbon' needs"),
    ({"fleet": Fleet((FleetEntry("small", "g", 2),))}, r"options\.model: 'big' has no fleet entry"),
    ({"fleet": Fleet((FleetEntry("small", "g", -1),))}, r"fleet\.entries\[0\]\.gpus: must be >= 0, got -1"),
])
def test_bad_input_names_the_field(micro_options, kwargs, field):
    with pytest.raises(ConfigError, match=field):
        _build(micro_options, **kwargs)


def test_option_for_unknown_class_and_bad_accuracy(micro_options):
    bad = micro_options.copy()
    bad.loc[0, "class_name"] = "Z"
    bad.loc[1, "accuracy"] = 1.5
    with pytest.raises(ConfigError) as info:
        _build(bad)
    text = str(info.value)
    assert "options.class_name: 'Z' is not a workload class" in text
    assert "options[1].accuracy: must be in [0.0, 1.0], got 1.5" in text
