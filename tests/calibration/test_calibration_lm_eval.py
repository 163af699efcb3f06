"""The lm-evaluation-harness per-sample log importer, on small hand-made logs."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from calibration.lm_eval_import import import_samples, task_of
from calibration.run import main as run_main
from tpf.errors import DataError

DATA = Path(__file__).resolve().parent / "data"
MMLU = DATA / "samples_mmlu_abstract_algebra_2024-06-01T10-00-00.123456.jsonl"
MMLU_PRO = DATA / "samples_mmlu_pro_biology_2024-06-01T11-30-00.654321.jsonl"


def test_task_name_comes_from_the_file_name():
    assert task_of(MMLU) == "mmlu_abstract_algebra"
    assert task_of(MMLU_PRO) == "mmlu_pro_biology"
    with pytest.raises(DataError, match="not an lm-eval per-sample log name"):
        task_of(Path("results.jsonl"))


def test_loglikelihood_log_becomes_zero_shot_rows():
    rows = import_samples([MMLU], model="llama-3.1-8b")
    assert [r["item_id"] for r in rows] == ["mmlu_abstract_algebra/0", "mmlu_abstract_algebra/1",
                                           "mmlu_abstract_algebra/2"]
    assert [r["correct"] for r in rows] == [True, False, True]
    assert {r["category"] for r in rows} == {"abstract_algebra"}
    assert {(r["strategy"], r["budget_tokens"], r["votes"]) for r in rows} == {("zero_shot", 0, 1)}
    assert rows[0]["method"] == "lm_eval:acc:none" and rows[0]["energy_j"] is None


def test_generative_log_needs_a_filter_and_reads_its_budget():
    with pytest.raises(DataError, match=r"several filters \['custom-extract', 'strict-match'\]"):
        import_samples([MMLU_PRO], model="m")
    rows = import_samples([MMLU_PRO], model="m", filter_name="custom-extract")
    assert [(r["item_id"], r["correct"]) for r in rows] == [("mmlu_pro_biology/0", True), ("mmlu_pro_biology/1", False)]
    assert {(r["strategy"], r["budget_tokens"], r["category"]) for r in rows} == {("cot", 2048, "biology")}
    strict = import_samples([MMLU_PRO], model="m", filter_name="strict-match")
    assert [r["correct"] for r in strict] == [False, False]


def test_bad_logs_name_file_and_line(tmp_path):
    bad = tmp_path / "samples_mmlu_x_2024-01-01T00-00-00.000000.jsonl"
    bad.write_text('{"doc_id": 0, "filter": "none", "acc": "high"}\n')
    with pytest.raises(DataError, match="line 1: acc is not a number"):
        import_samples([bad], model="m")
    bad.write_text('{"doc_id": 0, "filter": "none"}\nnot json\n')
    with pytest.raises(DataError, match="line 2: not JSON"):
        import_samples([bad], model="m")


def test_import_command_writes_an_accuracy_table_the_fit_reads(tmp_path, capsys):
    from tpf.schema import read_accuracy

    out = tmp_path / "accuracy.csv"
    assert run_main(["import-lm-eval", str(MMLU), "--model", "llama-3.1-8b", "--out", str(out)]) == 0
    assert run_main(["import-lm-eval", str(MMLU_PRO), "--model", "llama-3.1-8b", "--out", str(out),
                     "--filter", "custom-extract"]) == 0
    assert run_main(["import-lm-eval", str(MMLU), "--model", "llama-3.1-8b", "--out", str(out)]) == 0
    assert "imported 0 rows" in capsys.readouterr().out  # already there: not doubled
    with out.open(newline="") as stream:
        assert len(list(csv.DictReader(stream))) == 5
    frame = read_accuracy(out)
    assert frame["correct"].sum() == 3
