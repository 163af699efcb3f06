"""The text estimator: fit, predictions, artefact round trip, metrics, data errors, CLI."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tests.estimator.conftest import synthetic_rows, write_rows
from tpf.cli import main as tpf_main
from tpf.errors import EstimatorError
from tpf.estimator.data import read_questions, stratified_split
from tpf.estimator.metrics import (
    auc,
    baseline_metrics,
    brier,
    calibration_error,
    estimator_metrics,
    r_squared,
)
from tpf.estimator.model import RUNAWAY_WORDS, TextEstimator, load_estimator, shipped_estimator_path


def test_auc_brier_r2_by_hand() -> None:
    assert auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])) == pytest.approx(0.75)
    assert auc(np.array([0.5, 0.5]), np.array([0, 1])) == pytest.approx(0.5)
    assert auc(np.array([0.5, 0.6]), np.array([1, 1])) is None
    assert brier(np.array([1.0, 0.0, 0.5]), np.array([1, 1, 0])) == pytest.approx((0 + 1 + 0.25) / 3)
    assert r_squared(np.array([1.0, 2.0, 3.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(1.0)
    # bins: {0.1, 0.15} -> |0.125 - 0.5|, {0.9} -> |0.9 - 1|
    assert calibration_error(np.array([0.1, 0.15, 0.9]), np.array([1, 0, 1])) == pytest.approx(
        (2 * 0.375 + 0.1) / 3)
    assert r_squared(np.array([2.0, 2.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(0.0)


def test_learns_classes_correctness_and_length(estimator: TextEstimator, question_files: tuple[Path, Path]) -> None:
    train, test = (read_questions(path) for path in question_files)
    metrics = estimator_metrics(estimator, test)
    base = baseline_metrics(train, test, {"8b": "llama-3.1-8b", "70b": "llama-3.1-70b"})
    assert metrics["class_accuracy"] > 0.95
    eight = metrics["models"]["llama-3.1-8b"]
    assert eight["auc"] > 0.75 > base["models"]["llama-3.1-8b"]["auc"]
    assert eight["brier"] < base["models"]["llama-3.1-8b"]["brier"]
    assert eight["log_words_r2"] > 0.5
    assert eight["runaway_auc"] > 0.7


def test_hard_question_is_predicted_longer_and_less_often_right(estimator: TextEstimator) -> None:
    easy = estimator.estimate("which cell protein enzyme best describes easy")
    hard = estimator.estimate("which cell protein enzyme best describes hard")
    assert estimator.classes[int(easy.class_probs.argmax())] == "biology"
    assert easy.class_probs.sum() == pytest.approx(1.0)
    assert hard.p_correct[0] < easy.p_correct[0]
    assert hard.log_words[0] > easy.log_words[0]
    assert hard.p_runaway[0] > easy.p_runaway[0]


def test_save_load_round_trip(estimator: TextEstimator, tmp_path: Path) -> None:
    estimator.save(tmp_path / "est")
    loaded = load_estimator(tmp_path / "est")
    text = "the treaty of the empire hard"
    a, b = estimator.estimate(text), loaded.estimate(text)
    # stored as float16: about three significant digits
    np.testing.assert_allclose(a.class_probs, b.class_probs, rtol=2e-3, atol=1e-4)
    np.testing.assert_allclose(a.log_words, b.log_words, rtol=2e-3)
    assert loaded.classes == estimator.classes and loaded.models == estimator.models
    assert loaded.models[0].runaway_median_words > RUNAWAY_WORDS


@pytest.mark.parametrize("raw, fallback", [
    ("", "empty"), ("   ?!  ", "empty"), (None, "empty"), (b"\xff\xfe cell protein", "non_utf8"),
    ("cell " * 50_000, "truncated"), (12345, "not_text"), ("Это вопрос о клетке", ""),
    ("\ud800 lone surrogate cell", ""),
])
def test_bad_input_gives_a_stated_fallback(estimator: TextEstimator, raw: object, fallback: str) -> None:
    estimate = estimator.estimate(raw)
    assert estimate.fallback == fallback
    assert np.all(np.isfinite(estimate.class_probs)) and estimate.class_probs.sum() == pytest.approx(1.0)
    assert np.all((estimate.p_correct > 0) & (estimate.p_correct < 1))


def test_unknown_words_fall_back_to_dense_features(estimator: TextEstimator) -> None:
    """A text of words never seen in training moves only the dense features, not the hashed ones."""
    indices, values = estimator.featurizer.sparse_row("zzqx vvbn ttrw")
    assert np.all(values[indices < estimator.featurizer.n_buckets] == 0)


def test_stratified_split_is_seeded_and_disjoint() -> None:
    categories = ["a"] * 10 + ["b"] * 5
    train, test = stratified_split(categories, 0.2, 3)
    again = stratified_split(categories, 0.2, 3)
    assert np.array_equal(train, again[0]) and set(train).isdisjoint(test)
    assert len(test) == 2 + 1
    with pytest.raises(EstimatorError, match="test_share"):
        stratified_split(categories, 1.0, 0)


@pytest.mark.parametrize("change, message", [
    ({"correct_8b": 2}, "line 2: field 'correct_8b' must be 0 or 1, got 2"),
    ({"cot_words_70b": -1}, "line 2: field 'cot_words_70b' must be"),
    ({"options": "A"}, "line 2: field 'options' must be a list"),
])
def test_bad_rows_name_line_and_field(tmp_path: Path, change: dict, message: str) -> None:
    rows = synthetic_rows(3, 0)
    rows[1].update(change)
    with pytest.raises(EstimatorError, match=message):
        read_questions(write_rows(tmp_path / "q.jsonl.gz", rows))


def test_missing_field_and_bad_json(tmp_path: Path) -> None:
    rows = synthetic_rows(3, 0)
    del rows[2]["category"]
    with pytest.raises(EstimatorError, match="line 3: missing field 'category'"):
        read_questions(write_rows(tmp_path / "q.jsonl.gz", rows))
    path = tmp_path / "bad.jsonl"
    path.write_text('{"question": 1}\nnot json\n')
    with pytest.raises(EstimatorError, match="bad.jsonl, line 1"):
        read_questions(path)


def test_cli_fit_eval_writes_metrics_on_the_card(question_files: tuple[Path, Path], tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    train, test = question_files
    folder, metrics_path = tmp_path / "est", tmp_path / "metrics.json"
    assert tpf_main(["estimator", "fit", "--data", str(train), "--out", str(folder), "--n-buckets", "1024"]) == 0
    assert tpf_main(["estimator", "eval", "--estimator", str(folder), "--data", str(test),
                     "--out", str(metrics_path), "--baseline-data", str(train)]) == 0
    metrics = json.loads(metrics_path.read_text())
    card = yaml.safe_load((folder / "card.yaml").read_text())
    assert card["held_out"][metrics["data_sha256"]]["estimator"]["class_accuracy"] == \
        metrics["estimator"]["class_accuracy"] > 0.9
    assert "category_mean" in metrics["baselines"]
    confusion = metrics["estimator"]["confusion"]
    assert sum(map(sum, confusion["counts"])) == 120 and len(confusion["classes"]) == 3
    assert tpf_main(["estimator", "show", "--estimator", str(folder), "--text", "cell gene hard"]) == 0
    assert "biology" in capsys.readouterr().out


def test_cli_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tpf_main(["estimator", "eval", "--estimator", str(tmp_path), "--data", "x", "--out", "y"]) == 1
    assert "not an estimator folder" in capsys.readouterr().err
    assert tpf_main(["estimator", "fit", "--data", str(tmp_path / "none.jsonl"), "--out", str(tmp_path)]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.shared_data
def test_reads_the_reference_question_file(shared_data: Path) -> None:
    path = shared_data / "accuracy" / "mmlu_pro_questions" / "train.jsonl.gz"
    table = read_questions(path)
    assert len(table) == 8482 and len(set(table.categories)) == 14
    with gzip.open(path, "rt") as handle:
        first = json.loads(handle.readline())
    assert table.texts[0].startswith(first["question"])


def test_the_shipped_estimator_loads_and_reads_a_question() -> None:
    folder = shipped_estimator_path()
    size_bytes = sum(path.stat().st_size for path in folder.iterdir())
    assert size_bytes < 2_000_000
    estimator = load_estimator()
    assert len(estimator.classes) == 14 and {s.model for s in estimator.models} == {"llama-3.1-8b", "llama-3.1-70b"}
    card = yaml.safe_load((folder / "card.yaml").read_text())
    assert card["training"]["n_rows"] == 8482 and len(card["training"]["data_sha256"]) == 64
    estimate = estimator.estimate("Evaluate the integral of x^2 dx from 0 to 3.\n9\n3\n27\n6")
    assert estimator.classes[int(estimate.class_probs.argmax())] == "math"
