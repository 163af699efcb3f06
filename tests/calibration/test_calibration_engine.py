"""The engine sweep, its card and the trace replay, with the fake serving engine (no vLLM in CI)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from calibration.engine import EngineSettings, FakeEngine, build_engine, write_model_folder
from calibration.engine_card import fit_engine_card
from calibration.engine_sweep import ENGINE_COLUMNS, level_row
from calibration.replay import (
    ReplayRequest,
    busy_seconds,
    replay,
    replay_summary,
    running_time_average,
)
from calibration.run import main
from tpf.cards import load_card, save_card
from tpf.errors import CalibrationError, ConfigError

GRID = ["--n-in", "8,32,64", "--n-out", "2,6", "--batch", "1,3,6", "--repetitions", "2", "--warmup", "0"]
FAKE = ["--engine", "fake", "--model", "smollm2-135m-shape", "--hardware", "fakehw", "--no-progress"]


def _sweep(tmp_path: Path, *extra: str) -> Path:
    assert main(["sweep", *FAKE, "--out", str(tmp_path / "{hardware}"), *GRID, *extra]) == 0
    return tmp_path / "fakehw" / "smollm2-135m-shape" / "engine_fake.csv"


def test_fake_engine_sweep_writes_every_level_with_its_metadata(tmp_path):
    table_path = _sweep(tmp_path)
    table = pd.read_csv(table_path)
    assert list(table.columns) == list(ENGINE_COLUMNS)
    assert len(table) == 3 * 2 * 3 * 2
    assert set(table["status"]) == {"ok"} and table["energy_j"].isna().all()
    # all requests of a level are admitted together and finish together: the running batch is the level
    assert (table["running_batch_max"] == table["batch_size"]).all()
    assert (table["ttft_max_s"] <= table["duration_s"]).all()
    assert np.allclose(table["output_tokens_per_s"], table["batch_size"] * table["n_out_tokens"] / table["duration_s"])
    meta = json.loads(table_path.with_name("engine_fake.meta.json").read_text())
    assert meta["engine"] == "fake" and meta["engine_version"] == "0"
    assert meta["energy"].startswith("none: no energy meter")
    assert meta["engine_info"]["max_num_seqs"] == 32 and "kv_cache" in meta["engine_info"]


def test_engine_sweep_resumes_where_it_stopped(tmp_path):
    table_path = _sweep(tmp_path)
    lines = table_path.read_text().splitlines(keepends=True)
    table_path.write_text("".join(lines[:11]) + lines[11][:20])  # ten rows and a torn one
    _sweep(tmp_path)
    table = pd.read_csv(table_path)
    assert len(table) == 36
    keys = table[["n_in_tokens", "n_out_tokens", "batch_size", "repetition"]]
    assert not keys.duplicated().any()
    meta = json.loads(table_path.with_name("engine_fake.meta.json").read_text())
    assert meta["runs"][-1]["resumed_after_rows"] == 10


def test_time_only_card_names_the_engine_and_fits_the_windows(tmp_path):
    table_path = _sweep(tmp_path)
    card = fit_engine_card(table_path)
    assert card.source == "estimate" and "fake 0" in card.method and "no energy meter" in card.method
    assert card.provenance["engine"] == "fake" and card.provenance["engine_version"] == "0"
    assert card.max_batch_size == 6
    table = pd.read_csv(table_path)
    predicted = card.duration_s(table["n_in_tokens"], table["n_out_tokens"], table["batch_size"])
    assert np.median(np.abs(predicted / table["duration_s"] - 1)) < 0.25
    # the energy proxy is 1 W x the window shared by its requests
    assert np.allclose(card.energy_j(64, 6, 3), card.duration_s(64, 6, 3) / 3)
    doubled = fit_engine_card(table_path, assumed_power_w=2.0)
    assert np.isclose(doubled.energy_j(64, 6, 3), 2 * card.energy_j(64, 6, 3))
    save_card(card, tmp_path / "card.yaml")
    assert load_card(tmp_path / "card.yaml").duration_s(32, 2, 3) == pytest.approx(card.duration_s(32, 2, 3))


def test_engine_card_command_and_its_errors(tmp_path, capsys):
    table_path = _sweep(tmp_path)
    assert main(["engine-card", str(table_path), "--out", str(tmp_path / "c.yaml")]) == 0
    assert "fake 0" in capsys.readouterr().out
    with pytest.raises(CalibrationError, match="assumed_power_w"):
        fit_engine_card(table_path, assumed_power_w=0.0)
    bad = tmp_path / "bad.csv"
    bad.write_text("model,hardware\nm,h\n")
    with pytest.raises(CalibrationError, match="not an engine sweep table"):
        fit_engine_card(bad)


def _fake_nvml(make_fake_nvml, monkeypatch, step_mj: int = 40_000):
    fake = make_fake_nvml(energy_mj=list(range(0, 10**9, step_mj)))
    fake.nvmlDeviceGetCount = lambda: 1
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    return fake


def test_gpu_sweep_meters_energy_with_nvml_and_fits_a_measured_card(tmp_path, make_fake_nvml, monkeypatch):
    _fake_nvml(make_fake_nvml, monkeypatch)
    table_path = tmp_path / "h100_sxm" / "smollm2-135m-shape" / "engine_fake.csv"
    args = ["sweep", "--engine", "fake", "--model", "smollm2-135m-shape", "--no-progress", "--idle-s", "0",
            "--out", str(tmp_path / "{hardware}"), *GRID]
    assert main(args) == 0  # meter auto: NVML answers, so it measures energy
    table = pd.read_csv(table_path)
    assert (table["energy_j"] == 40.0).all() and set(table["method"]) == {"nvml_energy_counter"}
    assert set(table["hardware"]) == {"h100_sxm"}
    card = fit_engine_card(table_path)
    assert card.source == "measured" and "energy metered" in card.method
    assert card.provenance["engine"] == "fake"
    # a window of 40 J shared by its requests
    assert card.energy_j(32, 6, 3) == pytest.approx(40.0 / 3, rel=0.05)


def test_bad_engine_settings_are_named():
    with pytest.raises(ConfigError) as error:
        build_engine(EngineSettings(engine="other", max_num_seqs=0, kv_cache_gib=-1))
    text = str(error.value)
    for field in ("engine.engine", "engine.max_num_seqs", "engine.kv_cache_gib"):
        assert field in text
    with pytest.raises(ConfigError, match="--meter none: only with --engine"):
        main(["sweep", "--model", "tiny-llama", "--out", "x", "--meter", "none"])
    with pytest.raises(ConfigError, match="--fake-step"):
        main(["sweep", *FAKE, "--out", "x", "--fake-step", "[1]", *GRID])


def test_model_folder_holds_the_architecture_config(tmp_path):
    config = json.loads((write_model_folder("smollm2-135m-shape", tmp_path) / "config.json").read_text())
    assert (config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"]) == (30, 576, 9)
    assert (config["num_key_value_heads"], config["intermediate_size"], config["vocab_size"]) == (3, 1536, 49152)
    assert config["model_type"] == "llama"


def test_replay_serves_at_the_arrival_times_and_the_engine_batches_them(tmp_path):
    engine = FakeEngine(EngineSettings(engine="fake", max_num_seqs=4))
    requests = [ReplayRequest(i, 0.05 * i if i < 5 else 0.3, 16, 5) for i in range(10)]
    records, log = asyncio.run(replay(engine, requests, lead_s=0.01))
    assert len(records) == 10 and (records["n_out_tokens"] == 5).all()
    assert (records["submit_s"] >= records["arrival_s"] - 1e-3).all()
    assert (records["first_token_s"] > records["submit_s"]).all() and (records["finish_s"] > records["first_token_s"]).all()
    assert log["running"].max() == 4 and log["waiting"].max() >= 1  # five arrive together with four slots
    summary = replay_summary(records, log)
    assert summary["ttft_p50_s"] <= summary["e2e_p50_s"] <= summary["e2e_p99_s"]
    assert 0 < summary["mean_running_batch"] <= 4


def test_running_average_and_busy_time_on_a_known_log():
    records = pd.DataFrame({"arrival_s": [0.0, 1.0, 5.0], "finish_s": [2.0, 3.0, 6.0], "n_out_tokens": [2, 2, 2],
                            "first_token_s": [0.5, 1.5, 5.5]})
    log = pd.DataFrame({"clock_s": [1.0, 2.0, 3.0, 6.0], "running": [1, 2, 1, 1], "waiting": 0, "kv_cache_use": 0.0})
    assert busy_seconds(records) == pytest.approx(4.0)  # [0, 3] and [5, 6]
    # 1 over [0, 1], 2 over (1, 2], 1 over (2, 3], idle (3, 5), 1 over [5, 6]: 5 request-seconds in 6 s
    assert running_time_average(log, records, grid_s=0.001) == pytest.approx(5 / 6, rel=1e-2)


def test_level_row_on_known_timings():
    from calibration.engine import RequestTiming

    timings = [RequestTiming("a", 8, 5, 0.0, 1.0, 3.0), RequestTiming("b", 8, 5, 0.0, 2.0, 4.0)]
    row = level_row(timings, [2, 2, 1], 0.0, 4.0)
    assert row["ttft_mean_s"] == 1.5 and row["ttft_max_s"] == 2.0
    assert row["tpot_mean_s"] == 0.5 and row["step_s"] == 0.5
    assert row["output_tokens_per_s"] == 2.5 and row["running_batch_mean"] == pytest.approx(5 / 3)


def test_tpf_calibrate_engine_runs_the_same_sweep(tmp_path, monkeypatch):
    from tpf.cli import main as tpf_main

    monkeypatch.setitem(sys.modules, "pynvml", None)  # no NVML: time only
    code = tpf_main(["calibrate", "engine=fake", "model.name=smollm2-135m-shape", "sweep_grid=engine_cpu",
                     "sweep_grid.n_in_tokens=[8]", "sweep_grid.n_out_tokens=[3]", "sweep_grid.batch_sizes=[1,2]",
                     "hardware=fakehw", f"out_dir={tmp_path}", "progress=false", f"hydra.run.dir={tmp_path}/hydra"])
    assert code == 0
    table = pd.read_csv(tmp_path / "smollm2-135m-shape" / "engine_fake.csv")
    assert len(table) == 2 * 2 and set(table["engine"]) == {"fake"} and table["energy_j"].isna().all()
    meta = json.loads((tmp_path / "smollm2-135m-shape" / "engine_fake.meta.json").read_text())
    assert meta["meter"]["meter"] == "none"


def test_steady_sweep_holds_the_running_batch(tmp_path):
    args = ["sweep", *FAKE, "--out", str(tmp_path / "{hardware}"), "--n-in", "8,64", "--n-out", "6,12",
            "--batch", "1,4,8", "--repetitions", "1", "--warmup", "0", "--sweep-mode", "steady"]
    assert main(args) == 0
    table = pd.read_csv(tmp_path / "fakehw" / "smollm2-135m-shape" / "engine_fake_steady.csv")
    assert len(table) == 2 * 2 * 3
    # the recorded round runs while every worker is busy: the scheduler runs the whole level
    assert (table["running_batch_max"] == table["batch_size"]).all()
    assert (table["running_batch_mean"] >= 0.75 * table["batch_size"]).all()
    assert np.allclose(table["output_tokens_per_s"], table["batch_size"] * table["n_out_tokens"] / table["duration_s"])
    meta = json.loads((tmp_path / "fakehw" / "smollm2-135m-shape" / "engine_fake_steady.meta.json").read_text())
    assert meta["mode"] == "steady"
    card = fit_engine_card(tmp_path / "fakehw" / "smollm2-135m-shape" / "engine_fake_steady.csv")
    assert card.duration_s(64, 12, 8) > card.duration_s(64, 12, 1)


def test_steady_round_is_served_at_the_full_batch():
    from calibration.engine_sweep import serve_steady

    engine = FakeEngine(EngineSettings(engine="fake", max_num_seqs=8))

    async def run() -> tuple:
        return await serve_steady(engine, [[1] * 8 for _ in range(4)], 10, "t")

    timings, first, last = asyncio.run(run())
    assert len(timings) == 4 and all(t.n_out_tokens == 10 for t in timings)
    running = [r for clock_s, r, *_ in engine.iterations if first < clock_s <= last]
    # all four workers are busy through the recorded round (a finished request's successor joins one step later)
    assert max(running) == 4 and min(running) >= 3 and sum(r == 4 for r in running) >= len(running) / 2
