"""The ``tpf ceiling`` and ``tpf card`` commands."""

from __future__ import annotations

import json

from tpf.cards import load_card
from tpf.cli import main

CEILING = ["ceiling", "--model", "llama-3.1-8b", "--hardware", "l40s", "--gpus", "8",
           "--facility-power-kw", "10", "--pue", "1.3", "--utilization", "0.6",
           "--context-tokens", "2048", "--batch-size", "16"]


def test_ceiling_table_and_json(capsys):
    assert main(CEILING) == 0
    table = capsys.readouterr().out
    assert "compute ceiling" in table and "energy ceiling" in table and "binding" in table
    assert main([*CEILING, "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["binding"] in ("compute", "energy")
    assert result["it_power_w"] == 10_000 / 1.3


def test_ceiling_with_card_and_bad_input(tmp_path, capsys):
    card = tmp_path / "card.yaml"
    assert main(["card", "roofline", "--model", "llama-3.1-8b", "--hardware", "l40s",
                 "--out", str(card)]) == 0
    assert main([*CEILING, "--card", str(card), "--json"]) == 0
    assert "card (estimate, roofline)" in capsys.readouterr().out
    capsys.readouterr()
    assert main([*CEILING[:-2], "--batch-size", "0"]) == 1
    assert "ceiling.batch_size: must be >= 1, got 0.0" in capsys.readouterr().err


def test_card_roofline_then_transfer(tmp_path, capsys):
    source, target = tmp_path / "a100.yaml", tmp_path / "h100.yaml"
    assert main(["card", "roofline", "--model", "meta-llama/Llama-3.2-1B", "--hardware",
                 "NVIDIA A100-SXM4-40GB", "--out", str(source)]) == 0
    assert main(["card", "transfer", "--card", str(source), "--to", "h100_sxm",
                 "--out", str(target)]) == 0
    assert "source=estimate" in capsys.readouterr().out
    card = load_card(target)
    assert card.hardware == "h100_sxm" and card.method.startswith("transfer from a100_40gb")


def test_card_errors_leave_existing_files(tmp_path, capsys):
    out = tmp_path / "keep.yaml"
    out.write_text("precious")
    assert main(["card", "roofline", "--model", "llama-3.1-70b", "--hardware", "l40s",
                 "--out", str(out)]) == 1
    assert "do not fit" in capsys.readouterr().err
    assert out.read_text() == "precious"
    assert main(["card", "roofline", "--model", "nope", "--hardware", "l40s", "--out", str(out)]) == 1
    assert "known models" in capsys.readouterr().err


def test_card_shipped_into_a_folder(tmp_path, capsys):
    assert main(["card", "shipped", "--out-dir", str(tmp_path)]) == 0
    assert (tmp_path / "llama-3.2-1b@l40s.yaml").exists()
