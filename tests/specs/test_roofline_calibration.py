"""The hf_generate overhead preset against the Wilkins et al. 2024 measurements it was calibrated on."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from tpf.fit.roofline import OVERHEAD_PRESETS, RooflineAssumptions, roofline_assumptions

REPO = Path(__file__).resolve().parents[2]
BENCHMARK = REPO / "benchmarks" / "roofline_calibration.py"
WILKINS = REPO.parent / "shared" / "data" / "energy" / "wilkins_swing_a100"


@pytest.fixture(scope="module")
def calibration():
    spec = importlib.util.spec_from_file_location("roofline_calibration", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def points(calibration):
    if not WILKINS.is_dir():  # the module-scoped twin of the shared_data fixture
        pytest.skip(f"reference data folder {WILKINS} is absent")
    return calibration.load_wilkins_points(WILKINS)


def test_points_cover_the_three_models_within_their_context(calibration, points):
    assert set(points["model"]) == set(calibration.WILKINS_MODELS)
    assert len(points) >= 45
    falcon = points[points["model"] == "Falcon-7B"]
    assert (falcon["n_in_tokens"] + falcon["n_out_tokens"]).max() <= 2048


def test_preset_reproduces_the_calibration(calibration, points):
    fitted = calibration.calibrate(points)
    preset = OVERHEAD_PRESETS["hf_generate"]
    assert fitted.step_overhead_s == pytest.approx(preset.step_overhead_s, rel=0.02)
    assert fitted.overhead_power_share == pytest.approx(preset.overhead_power_share, abs=0.02)
    in_setting = roofline_assumptions("hf_generate", kv_cache=False)
    assert calibration.errors(points, in_setting)["energy_mape"] < 0.10


def test_held_out_model_error_drops_against_the_pure_roofline(calibration, points):
    table = calibration.leave_one_model_out(points, "overhead_power_share")
    by_model = table.pivot(index="held_out", columns="model", values="energy_mape")
    pure = by_model["roofline, KV cache (shipped 'none')"]
    no_cache = by_model["roofline, no KV cache (runs' setting)"]
    held_out = by_model["calibrated on the other two"]
    assert (held_out < no_cache).all() and (no_cache < pure).all()
    assert held_out.mean() < 0.12 < 0.5 < pure.mean()
    fitted = table[table["model"] == "calibrated on the other two"]["step_overhead_ms"]
    assert fitted.between(5, 30).all()


def test_short_runs_take_twice_the_pure_roofline_time(calibration, points):
    """32 output tokens after a short prompt: the host time the overhead term stands for."""
    short = points[(points["n_out_tokens"] == 32) & (points["n_in_tokens"] <= 64)]
    pure = calibration.errors(short, RooflineAssumptions(kv_cache=False))
    assert pure["duration_mape"] > 0.45 and pure["energy_bias"] < -0.1
    assert calibration.errors(short, RooflineAssumptions())["energy_bias"] < -0.3
    calibrated = calibration.errors(short, roofline_assumptions("hf_generate", kv_cache=False))
    assert calibrated["duration_mape"] < 0.1 and calibrated["energy_mape"] < 0.1
