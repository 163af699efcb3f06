"""Shipped hardware and model specs: lookups, parameter counts, FLOPs and bytes by hand."""

from __future__ import annotations

import pytest

from tpf.errors import ConfigError
from tpf.specs import (
    ModelArch,
    hardware_spec,
    known_hardware,
    known_models,
    load_hardware_catalog,
    load_model_catalog,
    model_architecture,
)

REQUIRED_MODELS = ["llama-3.2-1b", "llama-3.2-3b", "llama-3.1-8b", "llama-3.1-70b",
                   "mistral-7b-v0.3", "qwen2.5-7b", "llama-2-7b", "falcon-7b"]
REQUIRED_HARDWARE = ["l40s", "a100_40gb", "a100_80gb", "h100_sxm", "h200", "a40"]


def toy_arch(**overrides) -> ModelArch:
    values = dict(
        name="toy", hf_architecture="LlamaForCausalLM", model_type="llama", num_hidden_layers=2,
        hidden_size=8, intermediate_size=16, num_attention_heads=2, num_key_value_heads=1,
        vocab_size=10, tie_word_embeddings=False, max_position_embeddings=64, rope_theta=1e4,
        rms_norm_eps=1e-5, parameter_count=1.0, source="test",
    )
    values.update(overrides)
    return ModelArch(**values)


def test_required_entries_are_shipped():
    assert set(REQUIRED_MODELS) <= set(known_models())
    assert set(REQUIRED_HARDWARE) <= set(known_hardware())


@pytest.mark.parametrize(
    ("name", "key"),
    [("NVIDIA A100-SXM4-40GB", "a100_40gb"), ("NVIDIA H100 80GB HBM3", "h100_sxm"),
     ("NVIDIA L40S", "l40s"), ("nvidia l40s", "l40s"), ("  NVIDIA  H200 ", "h200"),
     ("A100-SXM4-80GB", "a100_80gb"), ("NVIDIA A40", "a40"), ("h100_sxm", "h100_sxm")],
)
def test_hardware_aliases(name, key):
    assert hardware_spec(name).key == key


@pytest.mark.parametrize(
    ("name", "key"),
    [("meta-llama/Meta-Llama-3.1-8B-Instruct", "llama-3.1-8b"), ("Llama-3.2-1B", "llama-3.2-1b"),
     ("mistralai/Mistral-7B-Instruct-v0.3", "mistral-7b-v0.3"), ("Qwen/Qwen2.5-7B", "qwen2.5-7b"),
     ("Falcon (7B)", "falcon-7b"), ("LLAMA-3.1-70B", "llama-3.1-70b")],
)
def test_model_aliases(name, key):
    assert model_architecture(name).name == key


def test_unknown_names_list_the_known_ones():
    with pytest.raises(ConfigError, match="known hardwares: .*l40s"):
        hardware_spec("TPU v5e")
    with pytest.raises(ConfigError, match="known models: .*llama-3.1-8b"):
        model_architecture("gpt-5")


@pytest.mark.parametrize("name", sorted(load_model_catalog()))
def test_parameter_count_matches_published(name):
    arch = model_architecture(name)
    assert arch.parameter_count_computed() == pytest.approx(arch.parameter_count, rel=0.015)


def test_exact_parameter_counts_of_known_checkpoints():
    # counts of the published safetensors checkpoints
    assert model_architecture("llama-3.1-8b").parameter_count_computed() == 8_030_261_248
    assert model_architecture("llama-3.2-1b").parameter_count_computed() == 1_235_814_400
    assert model_architecture("qwen2.5-7b").parameter_count_computed() == 7_615_616_512


def test_toy_parameter_count_by_hand():
    arch = toy_arch()
    # per layer: q 8*8, k 8*4, v 8*4, o 8*8 = 192; MLP 3*8*16 = 384; norms 16 -> 592
    # 2 layers 1184 + embedding 80 + final norm 8 + untied head 80 = 1352
    assert arch.head_dim_effective == 4
    assert arch.parameter_count_computed() == 1352
    assert toy_arch(tie_word_embeddings=True).parameter_count_computed() == 1272
    # qkv bias adds 8 + 4 + 4 per layer
    assert toy_arch(attention_bias=True).parameter_count_computed() == 1352 + 2 * 16


def test_flops_and_bytes_by_hand():
    arch = toy_arch()
    matmul = 2 * 576 + 80  # block matrices of both layers + output projection
    assert arch.matmul_parameters() == matmul
    # 2 * N_matmul + 4 * layers * context * d_attn, d_attn = 2 heads * 4
    assert arch.flops_per_token(10) == 2 * matmul + 4 * 2 * 10 * 8
    assert arch.prefill_flops(3) == sum(arch.flops_per_token(i) for i in (1, 2, 3))
    # K and V, 2 layers, 1 kv head of 4, 2 bytes
    assert arch.kv_cache_bytes_per_token(2) == 2 * 2 * 4 * 2
    assert arch.weight_bytes(2) == 2 * 1352


def test_llama_8b_flops_per_token_is_twice_the_non_embedding_parameters():
    arch = model_architecture("llama-3.1-8b")
    # untied: the input embedding (128256 x 4096) is a lookup, the output projection a matmul
    non_embedding = 8_030_261_248 - 128256 * 4096
    assert arch.flops_per_token(1) == pytest.approx(2 * non_embedding, rel=0.001)
    assert arch.flops_per_token(8192) > arch.flops_per_token(1024)


def test_hardware_figures_are_dense_and_labelled():
    l40s, h100 = hardware_spec("l40s"), hardware_spec("h100_sxm")
    assert l40s.dense_tensor_flops_per_s == pytest.approx(362.05e12)
    assert h100.dense_tensor_flops_per_s == pytest.approx(1979e12 / 2, rel=1e-3)
    assert l40s.memory_bytes == 48e9 and l40s.tdp_w == 350
    for key in known_hardware():
        spec = hardware_spec(key)
        assert spec.sources and 0 <= spec.idle_power_w < spec.tdp_w
        if spec.is_idle_power_estimate:
            assert spec.idle_power_w_rule


def test_bad_model_catalog_reports_every_problem(tmp_path):
    path = tmp_path / "models.yaml"
    path.write_text(
        "bad:\n  hf_architecture: X\n  model_type: gpt9\n  num_hidden_layers: -1\n"
        "  hidden_size: 8\n  intermediate_size: 8\n  num_attention_heads: 3\n"
        "  num_key_value_heads: 2\n  vocab_size: 10\n  tie_word_embeddings: false\n"
        "  max_position_embeddings: 8\n  rope_theta: 1.0\n  rms_norm_eps: 1.0e-5\n"
        "  parameter_count: 1e9\n"
    )
    with pytest.raises(ConfigError) as info:
        load_model_catalog(path)
    text = str(info.value)
    for fragment in ("bad.num_hidden_layers: must be a positive integer, got -1",
                     "bad.model_type: must be one of", "bad.num_key_value_heads: must divide",
                     "bad.parameter_count: must be > 0, got '1e9'", "bad.source: missing"):
        assert fragment in text
    assert str(path) in text


def test_bad_hardware_catalog_reports_every_problem(tmp_path):
    path = tmp_path / "hw.yaml"
    path.write_text("gpu:\n  name: G\n  tdp_w: 100\n  idle_power_w: 150\n  memory_gb: 0\n")
    with pytest.raises(ConfigError) as info:
        load_hardware_catalog(path)
    text = str(info.value)
    for fragment in ("gpu.idle_power_w: must be < tdp_w=100", "gpu.memory_gb: must be a number > 0",
                     "gpu.dense_tensor_flops_per_s: missing", "gpu.sources: missing"):
        assert fragment in text


@pytest.mark.slow
@pytest.mark.parametrize("name", ["llama-3.2-1b", "qwen2.5-7b", "falcon-7b", "mistral-7b-v0.3"])
def test_hf_config_builds_the_same_architecture(name):
    torch = pytest.importorskip("torch")
    transformers = pytest.importorskip("transformers")
    arch = model_architecture(name)
    config = transformers.AutoConfig.for_model(arch.model_type, **arch.to_hf_config_dict())
    with torch.device("meta"):
        model = transformers.AutoModelForCausalLM.from_config(config)
    assert type(model).__name__ == arch.hf_architecture
    assert sum(p.numel() for p in model.parameters()) == arch.parameter_count_computed()
