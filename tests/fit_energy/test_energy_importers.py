"""Importers of published measurements into the measurement table."""

from __future__ import annotations

import pytest

from tpf.errors import DataError
from tpf.fit.importers import (
    import_mlenergy_v2,
    import_wilkins,
    mlenergy_hardware_name,
    wilkins_model_name,
)

WILKINS_HEADER = (
    "Phase,Runtime (s),CPU Energy (J),GPU Energy (J),Number of Output Tokens,Number of Input Tokens,"
    "Iteration,Model,Number of GPUs,Prompt,Total Number of Tokens,Batch Size,System"
)
WILKINS_ROWS = [
    "model load,51.5,139.7,2984.9,32,0,0,Falcon (7B),1,startup,0,32,Swing AMD+A100",
    "start-inference-A-0,3.34,9.05,261.955,32,8,0,Falcon (7B),1,What is,40,32,Swing AMD+A100",
    "start-inference-A-1,0.93,2.51,137.342,32,8,1,Falcon (7B),1,What is,40,32,Swing AMD+A100",
    "start-inference-A-2,0.92,2.50,140.510,32,8,2,Falcon (7B),1,What is,40,32,Swing AMD+A100",
]


def test_wilkins_rows_warmup_and_duplicates(tmp_path):
    first = tmp_path / "independence.csv"
    first.write_text("\n".join([WILKINS_HEADER, *WILKINS_ROWS]) + "\n")
    second = tmp_path / "input_sweep.csv"  # the same runs, published twice, other column name
    second.write_text("\n".join([WILKINS_HEADER.replace("Number of Output Tokens", "Output Token Limit"), *WILKINS_ROWS]) + "\n")
    table = import_wilkins([tmp_path])
    assert len(table) == 3
    assert table["model"].unique().tolist() == ["Falcon-7B"]
    assert table["warmup"].tolist() == [True, False, False]
    assert table["energy_j"].tolist() == [261.955, 137.342, 140.510]
    assert table["batch_size"].unique().tolist() == [1.0]
    assert table["n_out_tokens"].unique().tolist() == [32.0]


def test_wilkins_rejects_other_files(tmp_path):
    path = tmp_path / "x.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(DataError, match=rf"{path}: not a Wilkins et al. sweep file: missing column\(s\) Phase"):
        import_wilkins([path])


def test_names():
    assert wilkins_model_name("Llama-2 (7B)") == "Llama-2-7B"
    assert mlenergy_hardware_name("NVIDIA H100 80GB HBM3") == "H100-80GB-HBM3"


def test_mlenergy_v2_window_energy(tmp_path):
    path = tmp_path / "v2.csv"
    path.write_text(
        "task,config,max_batch_size_cfg,Model,GPU,TP,PP,Energy/req (J),Avg TPOT (s),Token tput (tok/s),"
        "Avg Output Tokens,Avg BS (reqs),Max BS (reqs)\n"
        "chat,bs64+tp2+pp1,64,org/m,NVIDIA A100-SXM4-40GB,2,1,50.0,0.05,1000,400,60,64\n"
    )
    table = import_mlenergy_v2(path, {"chat": 250})
    row = table.iloc[0]
    assert (row["n_in_tokens"], row["n_out_tokens"], row["batch_size"]) == (250.0, 400.0, 60.0)
    assert row["energy_j"] == pytest.approx(3000.0) and row["duration_s"] == pytest.approx(20.0)
    assert row["gpu_count"] == 2 and row["hardware"] == "A100-SXM4-40GB"
    with pytest.raises(DataError, match="no n_in_tokens given for task"):
        import_mlenergy_v2(path, {"code": 100})


@pytest.mark.shared_data
def test_real_wilkins_sweeps(shared_data):
    table = import_wilkins([shared_data / "energy" / "wilkins_swing_a100"])
    assert sorted(table["model"].unique()) == ["Falcon-7B", "Llama-2-7B", "Mistral-7B"]
    assert len(table) == 565 and int(table["warmup"].sum()) == 57
