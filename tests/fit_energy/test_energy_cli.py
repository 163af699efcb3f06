"""``tpf fit energy`` / ``tpf predict energy`` through the ``tpf`` dispatcher."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from energy_synth import table_from

from tpf.cards import EnergyCard, load_card, sha256_file
from tpf.cli import main as tpf_main
from tpf.fit.energy import fit_energy

BILINEAR = (0.5, 4.0, 0.001)
DURATION = (0.001, 0.02, 0.0)


@pytest.fixture
def measurements(tmp_path):
    path = tmp_path / "measurements.csv"
    table_from("bilinear", BILINEAR, duration=("bilinear", DURATION), repeats=2).to_csv(path, index=False)
    return path


def test_fit_writes_a_card_that_round_trips(tmp_path, measurements, capsys):
    out = tmp_path / "cards" / "card.yaml"
    assert tpf_main(["fit", "energy", "--data", str(measurements), "--out", str(out)]) == 0
    card = load_card(out)
    assert isinstance(card, EnergyCard)
    assert card.data_sha256 == sha256_file(measurements)
    assert card.provenance["command"].startswith("tpf fit energy --data ")
    assert card.energy.family == "bilinear"
    np.testing.assert_allclose(card.energy.coefficients, BILINEAR, rtol=1e-7, atol=1e-10)
    in_memory = fit_energy(pd.read_csv(measurements))
    assert card.energy == in_memory.energy and card.fit_quality == in_memory.fit_quality
    assert "* energy_j/bilinear" in capsys.readouterr().out


def test_predict_adds_columns_and_flags_out_of_range(tmp_path, measurements):
    card_path = tmp_path / "card.yaml"
    assert tpf_main(["fit", "energy", "--data", str(measurements), "--out", str(card_path)]) == 0
    points = tmp_path / "points.csv"
    points.write_text("label,n_in_tokens,n_out_tokens\ninside,100,10\nlong,100,5000\n")
    out = tmp_path / "pred.csv"
    assert tpf_main(["predict", "energy", "--card", str(card_path), "--data", str(points), "--out", str(out)]) == 0
    pred = pd.read_csv(out)
    assert pred["label"].tolist() == ["inside", "long"]
    assert pred["energy_j_pred"].iloc[0] == pytest.approx(91.0, rel=1e-7)
    assert pred["energy_per_token_j_pred"].iloc[0] == pytest.approx(91.0 / 110, rel=1e-7)
    assert pred["duration_s_pred"].iloc[0] == pytest.approx(0.1 + 0.2, rel=1e-6)
    assert pred["out_of_range"].tolist() == [False, True]


def test_failed_fit_leaves_an_existing_card_untouched(tmp_path, measurements, capsys):
    card_path = tmp_path / "card.yaml"
    assert tpf_main(["fit", "energy", "--data", str(measurements), "--out", str(card_path)]) == 0
    before = card_path.read_bytes()
    too_few = tmp_path / "few.csv"
    pd.read_csv(measurements).iloc[:6].to_csv(too_few, index=False)  # 3 cells
    assert tpf_main(["fit", "energy", "--data", str(too_few), "--out", str(card_path)]) == 1
    assert f"{too_few}: model model-a on gpu-x x1: cannot fit energy_j: 3 cells" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text(measurements.read_text().replace("model-a,gpu-x,16.0", "model-a,gpu-x,-16.0", 1))
    assert tpf_main(["fit", "energy", "--data", str(bad), "--out", str(card_path)]) == 1
    assert "row 1 (line 2), column n_in_tokens" in capsys.readouterr().err
    assert card_path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.csv", "card.yaml", "few.csv", "measurements.csv"]


def test_several_groups_need_a_folder(tmp_path, measurements, capsys):
    table = pd.read_csv(measurements)
    both = pd.concat([table, table.assign(model="model-b", energy_j=table["energy_j"] * 2)])
    data = tmp_path / "both.csv"
    both.to_csv(data, index=False)
    assert tpf_main(["fit", "energy", "--data", str(data), "--out", str(tmp_path / "one.yaml")]) == 1
    assert "2 cards" in capsys.readouterr().err
    folder = tmp_path / "cards"
    assert tpf_main(["fit", "energy", "--data", str(data), "--out", str(folder)]) == 0
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["model-a__gpu-x.yaml", "model-b__gpu-x.yaml"]
    card_b = load_card(folder / "model-b__gpu-x.yaml")
    assert isinstance(card_b, EnergyCard)
    assert float(card_b.energy_j(100, 10)) == pytest.approx(182.0, rel=1e-7)
    only_b = tmp_path / "b.yaml"
    assert tpf_main(["fit", "energy", "--data", str(data), "--out", str(only_b), "--model", "model-b",
                     "--families", "bilinear", "--folds", "4"]) == 0
    assert set(load_card(only_b).fit_quality) == {"energy_j/bilinear", "duration_s/bilinear"}


def test_predict_rejects_bad_points(tmp_path, measurements, capsys):
    card_path = tmp_path / "card.yaml"
    assert tpf_main(["fit", "energy", "--data", str(measurements), "--out", str(card_path)]) == 0
    points = tmp_path / "points.csv"
    points.write_text("n_in_tokens,n_out_tokens\n100,ten\n")
    out = tmp_path / "pred.csv"
    assert tpf_main(["predict", "energy", "--card", str(card_path), "--data", str(points), "--out", str(out)]) == 1
    assert f"{points}: row 1 (line 2), column n_out_tokens" in capsys.readouterr().err
    assert not out.exists()


def test_a_raw_wilkins_file_gets_the_import_command(tmp_path, capsys):
    raw = tmp_path / "input_sweep.csv"
    raw.write_text("Phase,Runtime (s),GPU Energy (J),Number of Output Tokens,Number of Input Tokens,"
                   "Iteration,Model,Number of GPUs,System\ninference,1.0,100.0,32,64,0,Falcon (7B),1,Swing\n")
    assert tpf_main(["fit", "energy", "--data", str(raw), "--out", str(tmp_path / "c.yaml")]) == 1
    err = capsys.readouterr().err
    assert "missing required column(s)" in err
    assert f"hint: {raw} is a raw wilkins file; convert it first: tpf import wilkins {raw} --out measurements.csv" in err


def test_an_accuracy_table_given_to_fit_energy_points_to_fit_accuracy(tmp_path, capsys):
    table = tmp_path / "acc.csv"
    table.write_text("model,category,strategy,budget_tokens,votes,n_items,n_correct\nm,c,zero_shot,0,1,10,5\n")
    assert tpf_main(["fit", "energy", "--data", str(table), "--out", str(tmp_path / "c.yaml")]) == 1
    assert f"hint: {table} is an accuracy table; fit it with tpf fit accuracy" in capsys.readouterr().err


def test_a_card_without_idle_power_is_fitted_with_a_warning(tmp_path, measurements, capsys):
    assert "idle_power_w" not in pd.read_csv(measurements).columns
    assert tpf_main(["fit", "energy", "--data", str(measurements), "--out", str(tmp_path / "c.yaml")]) == 0
    assert load_card(tmp_path / "c.yaml").idle_power_w == 0.0
    err = capsys.readouterr().err
    assert "warning:" in err and "idle_power_w is 0 W" in err and "hardware.idle_power_w" in err
