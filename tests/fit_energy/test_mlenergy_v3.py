"""ML.ENERGY v3 rows: import, bad input, the vllm-0.11 preset's fit and its leave-one-model-out error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tpf.cli import main as tpf_main
from tpf.errors import DataError
from tpf.fit.mlenergy_v3 import import_mlenergy_v3, read_mlenergy_v3
from tpf.fit.presets import OVERHEAD_PRESETS
from tpf.fit.vllm_fit import (
    FITTED,
    assumptions_of,
    fit_preset,
    leave_one_model_out,
    predicted_j_per_token,
    relative_errors,
    v3_fit_rows,
)

V3_FILE = ("energy", "mlenergy_v3", "mlenergy_v3_llm_configs_no_llama.csv")


def _v3_table(path, gpu="H100", gpus=1, power_w=(430.0, 470.0, 520.0), model="Qwen/Qwen3-8B",
              throughput=(900.0, 1700.0, 2900.0)):
    batch = np.array([8.0, 16.0, 32.0])
    n_out = 640.0
    per_token = np.asarray(power_w) / np.maximum(np.asarray(throughput), 1e-9)
    pd.DataFrame({
        "task": "lm-arena-chat", "activated_params_billions": 8.0, "architecture": "Dense Transformer",
        "avg_batch_size": batch, "avg_output_len": n_out, "avg_power_watts": power_w, "data_parallel": 1,
        "energy_per_request_joules": per_token * n_out, "energy_per_token_joules": per_token,
        "expert_parallel": 1, "gpu_model": gpu, "max_num_seqs": batch.astype(int), "model_id": model,
        "num_gpus": gpus, "output_throughput_tokens_per_sec": throughput, "tensor_parallel": gpus,
        "weight_precision": "bfloat16",
    }).to_csv(path, index=False)
    return path


def test_rows_import_with_their_lines_and_engine(tmp_path):
    table = import_mlenergy_v3(_v3_table(tmp_path / "v3.csv"), 256)
    assert table["source_line"].astype(int).tolist() == [2, 3, 4]
    assert table["hardware"].unique().tolist() == ["h100_sxm"]
    assert table["source"].str.contains("vllm 0.11").all()
    # window energy = energy per request x batch; request time = batch x n_out / throughput
    np.testing.assert_allclose(table["energy_j"], [430 / 900 * 640 * 8, 470 / 1700 * 640 * 16, 520 / 2900 * 640 * 32])
    np.testing.assert_allclose(table["duration_s"], [8 * 640 / 900, 16 * 640 / 1700, 32 * 640 / 2900])


def test_zero_throughput_is_refused_naming_line_and_column(tmp_path):
    path = _v3_table(tmp_path / "v3.csv", throughput=(900.0, 0.0, 2900.0))
    with pytest.raises(DataError, match=r"line 3: output_throughput_tokens_per_sec: must be a finite number > 0"):
        read_mlenergy_v3(path)


def test_power_above_tdp_is_refused_naming_line_and_column(tmp_path):
    # 2 GPUs: the file's power is the replica's; 1500 W over 2 B200s is fine, 2500 W is not
    path = _v3_table(tmp_path / "v3.csv", gpu="B200", gpus=2, power_w=(900.0, 1500.0, 2500.0))
    with pytest.raises(DataError, match=r"line 4: avg_power_watts: 2500 W over num_gpus=2 is 1250 W per GPU, "
                                        r"above the b200 TDP of 1000 W"):
        read_mlenergy_v3(path)


def test_unknown_gpu_and_missing_columns_are_named(tmp_path):
    with pytest.raises(DataError, match=r"gpu_model: 'TPU v9' is not in the hardware catalog"):
        read_mlenergy_v3(_v3_table(tmp_path / "a.csv", gpu="TPU v9"))
    bad = tmp_path / "b.csv"
    bad.write_text("task,model_id\nchat,x\n")
    with pytest.raises(DataError, match="missing column"):
        read_mlenergy_v3(bad)


def test_cli_import_names_the_rows_used_and_refuses_bad_rows(tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert tpf_main(["import", "mlenergy-v3", str(_v3_table(tmp_path / "v3.csv")), "--n-in-tokens", "256",
                     "--out", str(out)]) == 0
    assert "lines 2-4" in capsys.readouterr().out and out.exists()
    bad = _v3_table(tmp_path / "bad.csv", throughput=(0.0, 1.0, 2.0))
    assert tpf_main(["import", "mlenergy-v3", str(bad), "--n-in-tokens", "256", "--out", str(tmp_path / "x.csv")]) == 1
    assert "output_throughput_tokens_per_sec" in capsys.readouterr().err
    assert not (tmp_path / "x.csv").exists()


def test_fit_recovers_the_assumptions_that_made_the_rows(tmp_path):
    """Rows priced by known assumptions are fitted back to the same prices (the fit is not a stub)."""
    truth = dict(zip(FITTED, (0.004, 0.25, 0.2, 0.9, 0.35, 0.55), strict=True))
    rows = pd.DataFrame({"line": range(2, 14), "model": ["qwen3-8b"] * 6 + ["qwen3-14b"] * 6,
                         "hardware": (["h100_sxm"] * 3 + ["b200"] * 3) * 2, "gpus": 1, "task": "lm-arena-chat",
                         "batch": [8.0, 32.0, 128.0] * 4, "n_out": 300.0, "j_per_token": 1.0, "power_w": 1.0})
    rows["j_per_token"] = predicted_j_per_token(rows, assumptions_of(truth))
    fitted = fit_preset(rows)
    assert np.max(np.abs(relative_errors(rows, assumptions_of(fitted.values)))) < 0.01
    held = leave_one_model_out(rows)
    assert set(held["model"]) == {"qwen3-8b", "qwen3-14b"} and np.max(np.abs(held["error"])) < 0.05


@pytest.mark.shared_data
def test_shipped_preset_reproduces_on_the_v3_chat_rows(shared_data):
    rows = v3_fit_rows(shared_data.joinpath(*V3_FILE), tasks=("lm-arena-chat",))
    assert len(rows) == 58
    fitted = fit_preset(rows)
    shipped = OVERHEAD_PRESETS["vllm-0.11"].overhead_fields()
    for name in FITTED:
        assert shipped[name] == pytest.approx(fitted.values[name], rel=2e-3, abs=1e-4)
    held = leave_one_model_out(rows)
    assert np.mean(np.abs(held["error"])) == pytest.approx(0.186, abs=0.001)


def test_a_card_fitted_on_imported_v3_rows_names_vllm_0_11(tmp_path):
    from tpf.fit.energy import fit_energy

    batch = [8.0, 16.0, 32.0, 64.0, 128.0, 256.0]
    path = tmp_path / "v3.csv"
    _v3_table(path)
    frame = pd.read_csv(path)
    frame = pd.concat([frame.iloc[[0]]] * len(batch), ignore_index=True)
    frame["avg_batch_size"] = batch
    frame["output_throughput_tokens_per_sec"] = [120.0 * b / (1 + b / 200) for b in batch]
    frame["avg_power_watts"] = [300.0 + 40.0 * np.log(b) for b in batch]
    frame["energy_per_token_joules"] = frame["avg_power_watts"] / frame["output_throughput_tokens_per_sec"]
    frame["energy_per_request_joules"] = frame["energy_per_token_joules"] * frame["avg_output_len"]
    frame.to_csv(path, index=False)
    card = fit_energy(import_mlenergy_v3(path, 256))
    assert (card.engine, card.engine_version) == ("vllm", "0.11")
