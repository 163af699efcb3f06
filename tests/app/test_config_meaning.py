"""Every setting changes the result or is refused: hardware, caps, objective, aliases."""

from __future__ import annotations

import shutil

import pytest

from tpf.config.build import build_inputs, validate
from tpf.config.compose import compose
from tpf.config.describe import describe_run
from tpf.config.overrides import override_problems
from tpf.config.paths import PACKAGE_DIR
from tpf.errors import ConfigError
from tpf.run import run_scenario

SMALL = ["workload=small", "workload.n_periods=2", "report=minimal"]


def _plan(tmp_path, overrides):
    config = compose([*SMALL, *overrides])
    return run_scenario(config, "plan", "paper_l40s", tmp_path)


def test_idle_power_override_reaches_the_cards_and_the_plan(tmp_path):
    base = _plan(tmp_path / "a", ["planner=max_accuracy"])
    inputs = build_inputs(compose([*SMALL, "hardware.idle_power_w=300"]))
    assert {card.idle_power_w for card in inputs.cards.energy.values()} == {300.0}
    heavy = _plan(tmp_path / "b", ["planner=max_accuracy", "hardware.idle_power_w=300"])
    assert heavy["facility_energy_kwh"] > base["facility_energy_kwh"] * 1.5
    assert "idle power 300 W per GPU" in describe_run(compose(["hardware.idle_power_w=300"]), []).scenario_description


def test_tdp_override_is_refused_unless_it_is_the_catalogs():
    with pytest.raises(ConfigError, match=r"hardware.tdp_w: 700.0 W differs from the catalog's 350 W for l40s.*tpf card roofline"):
        validate(compose(["hardware.tdp_w=700"]))
    assert validate(compose(["hardware.tdp_w=350"])).hardware.tdp_w == 350


def test_unknown_gpu_is_refused_with_the_known_ones():
    with pytest.raises(ConfigError, match="hardware.name: unknown hardware 'tpu9'; known hardwares: a100_40gb"):
        validate(compose(["hardware.name=tpu9"]))


def test_a_cap_is_off_when_null_and_on_when_set(tmp_path):
    off = _plan(tmp_path / "off", ["scenario=carbon_whatif", "planner.carbon_budget_kg=null"])
    budget_kg = 0.9 * off["carbon_kg"]
    on = _plan(tmp_path / "on", ["scenario=carbon_whatif", f"planner.carbon_budget_kg={budget_kg}"])
    assert "carbon_budget" not in off["binding_constraints"]
    assert "carbon_budget" in on["binding_constraints"]
    assert on["carbon_kg"] == pytest.approx(budget_kg, rel=1e-6)
    assert on["accuracy"] < off["accuracy"]


def test_switch_plus_value_keys_are_gone_with_a_hint():
    problems = override_problems(["planner.constraints.carbon_budget=false", "planner.it_power_cap_kw=3"])
    assert problems[0].startswith("planner.constraints.carbon_budget: no longer a key: a cap is on when")
    assert problems[1] == "planner.it_power_cap_kw: no longer a key: renamed planner.it_power_kw"


def test_max_accuracy_planner_drops_the_target_and_plans(tmp_path):
    config = compose(["planner=max_accuracy"])
    assert config.planner.objective == "max_accuracy" and config.planner.accuracy_target is None
    summary = _plan(tmp_path, ["planner=max_accuracy"])
    assert summary["status"] == "optimal" and summary["accuracy"] > 0.6
    with pytest.raises(ConfigError, match="planner.accuracy_target: objective max_accuracy maximizes"):
        validate(compose(["planner=max_accuracy", "planner.accuracy_target=0.6"]))


def test_hardware_aliases_find_cards_through_the_catalog(tmp_path, monkeypatch):
    cards = tmp_path / "cards"
    cards.mkdir()
    for model in ("llama-3.2-1b", "llama-3.1-8b"):
        text = (PACKAGE_DIR / "data" / "cards" / f"{model}@l40s.yaml").read_text()
        (cards / f"{model}@h100.yaml").write_text(text.replace("hardware: l40s", "hardware: NVIDIA H100 80GB HBM3"))
    monkeypatch.chdir(tmp_path)
    inputs = build_inputs(compose(["hardware=h100"]))  # ./cards is searched first
    assert {str(path.parent) for path in inputs.cards.energy_paths.values()} == {"cards"}
    shutil.rmtree(cards)
    with pytest.raises(ConfigError, match="no energy card for llama-3.2-1b@h100_sxm.*tpf card roofline"):
        build_inputs(compose(["hardware=h100"]))


def test_model_hub_ids_resolve_to_the_catalog_names(tmp_path):
    models = "cards.models=[meta-llama/Llama-3.2-1B-Instruct,meta-llama/Llama-3.1-8B-Instruct]"
    inputs = build_inputs(compose([*SMALL, models]))
    assert set(inputs.cards.energy) == {"llama-3.2-1b", "llama-3.1-8b"}  # the cards' names
    assert {e.model for e in inputs.fleet.entries} == set(inputs.cards.energy)
    summary = run_scenario(compose([*SMALL, models]), "plan", "paper_l40s", tmp_path)
    assert summary["status"] == "optimal"


def test_extrapolated_options_are_counted_in_the_report_and_summary(tmp_path):
    summary = _plan(tmp_path, ["planner=max_accuracy", "workload.classes.0.n_in_tokens=8000"])
    # the math class (40% of queries) is priced beyond the cards' 4096 input tokens
    import re

    found = re.search(r"(\d+) of (\d+) options lie outside their energy card's fitted range",
                      (tmp_path / "report.md").read_text())
    assert found is not None
    flagged, total = int(found.group(1)), int(found.group(2))
    assert flagged == summary["extrapolated_options"] == total // 3  # every option of 1 of 3 classes
    assert summary["extrapolated_query_share"] == pytest.approx(0.4, rel=1e-6)


def test_roofline_cards_written_to_cards_make_hardware_h100_plan(tmp_path, monkeypatch):
    from tpf.cards import load_card
    from tpf.cli import main as tpf_main

    monkeypatch.chdir(tmp_path)
    for model in ("llama-3.2-1b", "llama-3.1-8b"):
        assert tpf_main(["card", "roofline", "--model", model, "--hardware", "h100",
                         "--out", f"cards/{model}@h100_sxm.yaml"]) == 0
    assert tpf_main(["card", "roofline", "--model", "llama-3.2-1b", "--hardware", "h100", "--tdp-w", "350",
                     "--out", "low/card.yaml"]) == 0
    full, limited = load_card(tmp_path / "cards" / "llama-3.2-1b@h100_sxm.yaml"), load_card(tmp_path / "low" / "card.yaml")
    assert limited.energy_j(512, 256, 1) < 0.7 * full.energy_j(512, 256, 1)
    summary = _plan(tmp_path / "run", ["hardware=h100", "planner=max_accuracy"])
    assert summary["status"] == "optimal"
    assert {card["hardware"] for card in summary["cards"] if card["kind"] == "energy"} == {"h100_sxm"}
