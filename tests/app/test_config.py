"""Config schemas, the parameter catalog, scenario composition and bad input."""

from __future__ import annotations

import dataclasses
import typing

import pytest

from tpf.config.build import build_inputs, validate
from tpf.config.catalog import catalog_markdown, check_ranges, load_catalog
from tpf.config.compose import compose
from tpf.config.overrides import override_problems
from tpf.config.schema import TpfConfig
from tpf.errors import ConfigError


def _schema_leaves(schema: type, prefix: str = "") -> dict[str, object]:
    leaves: dict[str, object] = {}
    hints = typing.get_type_hints(schema)
    for item in dataclasses.fields(schema):
        kind = hints[item.name]
        key = f"{prefix}{item.name}"
        args = typing.get_args(kind)
        inner = args[0] if typing.get_origin(kind) is list and args else None
        if dataclasses.is_dataclass(kind):
            leaves |= _schema_leaves(kind, key + ".")  # type: ignore[arg-type]
        elif inner is not None and dataclasses.is_dataclass(inner):
            leaves |= _schema_leaves(inner, key + "[].")  # type: ignore[arg-type]
        elif typing.get_origin(kind) is dict:  # before the list test: a mapping of lists is a mapping
            leaves[key + ".*"] = item
        elif typing.get_origin(kind) is list or list in [typing.get_origin(a) for a in args]:
            leaves[key + "[]"] = item
        else:
            leaves[key] = item
    return leaves


def test_catalog_lists_every_schema_parameter_and_nothing_else():
    schema_keys = set(_schema_leaves(TpfConfig))
    catalog_keys = {p.key for p in load_catalog()}
    assert schema_keys - catalog_keys == set()
    assert catalog_keys - schema_keys == set()


def test_catalog_defaults_match_the_schema():
    leaves = _schema_leaves(TpfConfig)
    for parameter in load_catalog():
        item = leaves[parameter.key]
        default = getattr(item, "default", dataclasses.MISSING)
        if parameter.default == "" or default is dataclasses.MISSING or isinstance(default, str):
            continue
        if isinstance(default, bool):
            assert parameter.default == str(default).lower(), parameter.key
        elif default is not None:
            assert float(parameter.default) == pytest.approx(float(default)), parameter.key


def test_catalog_markdown_has_one_row_per_parameter():
    table = catalog_markdown()
    assert table.count("\n") == len(load_catalog()) + 1
    assert "`facility.power_cap_kw` | kW" in table


def test_scenarios_override_what_they_name():
    assert compose(["scenario=carbon_whatif"]).grid.name == "solar_heavy"
    capped = compose(["scenario=power_capped"])
    assert capped.facility.power_cap_kw == 3
    assert compose(["scenario=capacity"]).planner.integer_gpus is True
    # a command-line override wins over the scenario
    assert compose(["scenario=power_capped", "facility.power_cap_kw=7"]).facility.power_cap_kw == 7


def test_build_inputs_converts_units_and_profiles():
    inputs = build_inputs(compose(["scenario=power_capped", "workload=small"]))
    assert inputs.facility.power_cap_w == 3000.0
    assert inputs.workload.n_periods == 4
    # small starts at 12:00: period 2 is 14:00, the profile's peak (1.6 x the mean)
    rate = sum(c.rate_at(2) for c in inputs.workload.classes)
    assert rate == pytest.approx(400 * 1.6)
    assert set(inputs.cards.energy) == {"llama-3.2-1b", "llama-3.1-8b"}


def test_grid_profile_is_read_from_the_start_hour_and_scaled():
    inputs = build_inputs(compose(["grid=coal_heavy", "workload=small", "grid.scale=2"]))
    assert inputs.grid.carbon_g_per_kwh == (771 * 2, 769 * 2, 767 * 2, 766 * 2)


def test_negative_cap_and_other_problems_are_reported_together():
    config = compose(["facility.power_cap_kw=-5", "workload.classes.0.share=0.9", "planner.objective=min_carbon",
                      "planner.accuracy_target=null"])
    with pytest.raises(ConfigError) as info:
        validate(config)
    problems = info.value.problems
    assert "facility.power_cap_kw: must be in (0, 1e7], got -5.0" in problems
    assert any(p.startswith("workload.classes[].share: the shares") for p in problems)
    assert any(p.startswith("planner.accuracy_target: required for objective min_carbon") for p in problems)


def test_range_check_names_list_items():
    problems = check_ranges({"workload": {"classes": [{"n_in_tokens": 10}, {"n_in_tokens": -1}]}})
    assert problems == ["workload.classes[1].n_in_tokens: must be in (0, 1e6], got -1"]


def test_unknown_scenario_option_and_key_list_the_valid_choices():
    problems = override_problems(["scenario=nope", "grid=mars", "facility.cap=3", "planner.report.x=1"])
    assert problems[0].startswith("scenario: unknown option 'nope'; valid choices: capacity, carbon_whatif")
    assert problems[1].startswith("grid: unknown option 'mars'; valid choices: coal_heavy, constant")
    assert problems[2] == "facility.cap: unknown key; valid keys of facility: name, pue, hourly_pue, power_cap_kw"
    assert problems[3].startswith("planner.report.x: unknown key; valid keys of planner: name, objective,")


def test_valid_overrides_pass_the_check():
    assert override_problems(["scenario=capacity", "grid=hydro,coal_heavy", "grid.scale=range(0.5,2,0.5)",
                              "workload.classes.0.share=0.2", "+planner.accuracy_floors.math=0.3",
                              "hydra/launcher=submitit_local"]) == []


def test_missing_required_values_are_named():
    with pytest.raises(ConfigError, match="grid.csv_path: required for kind=electricitymaps"):
        validate(compose(["grid=electricitymaps"]))
    with pytest.raises(ConfigError, match=r"cards.accuracy_path: required, got \?\?\?"):
        compose(["cards=custom"])


def test_wrong_type_is_refused_at_composition():
    with pytest.raises(ConfigError, match="power_cap_kw"):
        compose(["facility.power_cap_kw=lots"])


def test_electricitymaps_csv_is_read_from_its_start(shared_data):
    path = shared_data / "carbon" / "electricitymaps_2023" / "NO_2023_hourly.csv"
    inputs = build_inputs(compose(["grid=electricitymaps", f"grid.csv_path={path}", "workload=small",
                                   "grid.start_utc='2023-06-01 00:00'"]))
    assert len(inputs.grid.carbon_g_per_kwh) == 4
    assert all(0 <= v < 100 for v in inputs.grid.carbon_g_per_kwh)


def test_docs_carry_the_current_parameter_table():
    from tpf.config.paths import REPO_DIR

    assert catalog_markdown() in (REPO_DIR / "docs" / "scenarios.md").read_text()
