"""Shipped reference specs: model architectures and GPU hardware.

The figures live in ``tpf/data/models.yaml`` and ``tpf/data/hardware.yaml``,
each entry with its source. This module reads and validates them (every
problem reported at once, each with its file and key) and derives what the
roofline, the transfer and the token production function need:

* :meth:`ModelArch.parameter_count_computed`: parameters from the shape.
* :meth:`ModelArch.flops_per_token`: forward FLOPs of one token at a context
  length (formula in its docstring).
* :meth:`ModelArch.kv_cache_bytes_per_token`, :meth:`ModelArch.weight_bytes`.
* :meth:`ModelArch.to_hf_config_dict`: keyword arguments that
  ``transformers.AutoConfig.for_model(model_type, **d)`` accepts, so the
  calibration stage can build a random-initialized model of the architecture.

Lookups (:func:`model_architecture`, :func:`hardware_spec`) accept the short
id, a Hub repository id or an NVML device name, ignoring case, and raise a
:class:`~tpf.errors.ConfigError` listing the known names otherwise.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from tpf.errors import ConfigError

# model types whose MLP is gated (gate, up and down projections); others have
# a plain two-matrix MLP (Falcon: dense_h_to_4h, dense_4h_to_h).
GATED_MLP_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")
# model types with an RMSNorm on each head's queries and keys (q_norm, k_norm: head_dim weights each).
QK_NORM_MODEL_TYPES = ("qwen3",)
# model types with one LayerNorm (weight and bias) per block and at the end.
LAYERNORM_MODEL_TYPES = ("falcon",)
KNOWN_MODEL_TYPES = GATED_MLP_MODEL_TYPES + LAYERNORM_MODEL_TYPES


@dataclass(frozen=True)
class ModelArch:
    """One model architecture, with config.json field names."""

    name: str
    hf_architecture: str
    model_type: str
    num_hidden_layers: int
    hidden_size: int
    intermediate_size: int
    num_attention_heads: int
    num_key_value_heads: int
    vocab_size: int
    tie_word_embeddings: bool
    max_position_embeddings: int
    rope_theta: float
    rms_norm_eps: float | None
    parameter_count: float
    source: str
    head_dim: int | None = None
    attention_bias: bool = False
    rope_scaling: dict[str, Any] | None = None
    extra_hf_config: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    unsure: str = ""

    @property
    def head_dim_effective(self) -> int:
        """``head_dim`` where given, else ``hidden_size // num_attention_heads``."""
        return self.head_dim or self.hidden_size // self.num_attention_heads

    @property
    def attention_width(self) -> int:
        """Width of the query (and attention output): heads x head_dim."""
        return self.num_attention_heads * self.head_dim_effective

    @property
    def kv_width(self) -> int:
        return self.num_key_value_heads * self.head_dim_effective

    def layer_matmul_parameters(self) -> int:
        """Weights of the matrix multiplications in one block (biases and norms excluded)."""
        hidden = self.hidden_size
        attention = hidden * self.attention_width + 2 * hidden * self.kv_width
        attention += self.attention_width * hidden
        mlp_matrices = 3 if self.model_type in GATED_MLP_MODEL_TYPES else 2
        return attention + mlp_matrices * hidden * self.intermediate_size

    def _layer_other_parameters(self) -> int:
        """Biases and norm weights of one block."""
        bias = self.attention_width + 2 * self.kv_width if self.attention_bias else 0
        qk_norm = 2 * self.head_dim_effective if self.model_type in QK_NORM_MODEL_TYPES else 0
        return bias + qk_norm + 2 * self.hidden_size  # two RMSNorm weights, or one LayerNorm w+b

    def _final_norm_parameters(self) -> int:
        factor = 2 if self.model_type in LAYERNORM_MODEL_TYPES else 1
        return factor * self.hidden_size

    def embedding_parameters(self) -> int:
        return self.vocab_size * self.hidden_size

    def parameter_count_computed(self) -> int:
        """Parameters implied by the shape; the output projection counts once when tied."""
        per_layer = self.layer_matmul_parameters() + self._layer_other_parameters()
        total = self.num_hidden_layers * per_layer + self.embedding_parameters()
        total += self._final_norm_parameters()
        if not self.tie_word_embeddings:
            total += self.vocab_size * self.hidden_size
        return total

    def matmul_parameters(self) -> int:
        """Weights multiplied per token: every block's matrices plus the output projection.

        The output projection (hidden x vocab) costs compute whether or not it
        is tied to the input embedding; the embedding lookup itself costs none.
        """
        return self.num_hidden_layers * self.layer_matmul_parameters() + self.embedding_parameters()

    def flops_per_token(self, context_len: float) -> float:
        """Forward FLOPs of one token that attends to ``context_len`` tokens (itself included).

        ``2 * N_matmul + 4 * L * context_len * d_attn``, where ``N_matmul`` is
        :meth:`matmul_parameters` (a multiply-add is 2 FLOPs), ``L`` the number
        of layers and ``d_attn = num_attention_heads * head_dim``: per layer
        ``q k^T`` and ``softmax(.) v`` each take ``2 * context_len * d_attn``.
        Norms, activations, rotary embeddings and softmax are left out (< 1 %).
        The prefill of ``n`` tokens costs ``sum_{i=1..n} flops_per_token(i)``.
        """
        attention = 4.0 * self.num_hidden_layers * float(context_len) * self.attention_width
        return 2.0 * self.matmul_parameters() + attention

    def prefill_flops(self, n_tokens: float) -> float:
        """FLOPs of a prefill of ``n_tokens`` (causal attention: sum of per-token FLOPs)."""
        n = float(n_tokens)
        attention = 4.0 * self.num_hidden_layers * self.attention_width * n * (n + 1.0) / 2.0
        return 2.0 * self.matmul_parameters() * n + attention

    def kv_cache_bytes_per_token(self, dtype_bytes: float = 2.0) -> float:
        """Bytes of keys and values cached per token: ``2 * L * kv_heads * head_dim * dtype_bytes``."""
        return 2.0 * self.num_hidden_layers * self.kv_width * dtype_bytes

    def weight_bytes(self, dtype_bytes: float = 2.0) -> float:
        """Bytes of all weights at ``dtype_bytes`` per parameter (2 for bf16/fp16)."""
        return float(self.parameter_count_computed()) * dtype_bytes

    def to_hf_config_dict(self) -> dict[str, Any]:
        """Keyword arguments for ``transformers.AutoConfig.for_model(model_type, **d)``."""
        config: dict[str, Any] = {
            "architectures": [self.hf_architecture],
            "hidden_size": self.hidden_size,
            "num_hidden_layers": self.num_hidden_layers,
            "num_attention_heads": self.num_attention_heads,
            "vocab_size": self.vocab_size,
            "tie_word_embeddings": self.tie_word_embeddings,
            "max_position_embeddings": self.max_position_embeddings,
            "rope_theta": self.rope_theta,
        }
        if self.model_type in GATED_MLP_MODEL_TYPES:
            config.update(
                intermediate_size=self.intermediate_size,
                num_key_value_heads=self.num_key_value_heads,
                rms_norm_eps=self.rms_norm_eps,
                head_dim=self.head_dim_effective,
            )
            if self.model_type in ("llama", "qwen3"):
                config["attention_bias"] = self.attention_bias
        if self.rope_scaling:
            config["rope_scaling"] = dict(self.rope_scaling)
        config.update(self.extra_hf_config)
        return config


@dataclass(frozen=True)
class HardwareSpec:
    """One GPU model's datasheet figures (SI units; memory as printed, in GB)."""

    key: str
    name: str
    form_factor: str
    tdp_w: float
    idle_power_w: float
    idle_power_w_source: str
    dense_tensor_flops_per_s: float
    tensor_dtype: str
    memory_bandwidth_bytes_per_s: float
    memory_gb: float
    sources: tuple[str, ...]
    aliases: tuple[str, ...] = ()
    memory_type: str = ""
    idle_power_w_rule: str = ""
    embodied_kg_per_gpu: float = 0.0
    embodied_lifetime_years: float = 5.0
    embodied_source: str = ""

    @property
    def embodied_kg_per_gpu_h(self) -> float:
        """Manufacturing carbon amortized over the lifetime, per GPU-hour (an estimate; 0 when unknown)."""
        return self.embodied_kg_per_gpu / (self.embodied_lifetime_years * 8760.0)

    @property
    def memory_bytes(self) -> float:
        """``memory_gb * 1e9``: conservative for HBM parts whose printed GB are GiB."""
        return self.memory_gb * 1e9

    @property
    def is_idle_power_estimate(self) -> bool:
        return self.idle_power_w_source != "datasheet"


# --- reading and validating the catalogs -------------------------------------

_MODEL_INT_FIELDS = (
    "num_hidden_layers", "hidden_size", "intermediate_size", "num_attention_heads",
    "num_key_value_heads", "vocab_size", "max_position_embeddings",
)
_MODEL_REQUIRED = (*_MODEL_INT_FIELDS, "hf_architecture", "model_type", "tie_word_embeddings",
                   "rope_theta", "rms_norm_eps", "parameter_count", "source")
_HARDWARE_POSITIVE = ("tdp_w", "dense_tensor_flops_per_s", "memory_bandwidth_bytes_per_s", "memory_gb")
_HARDWARE_REQUIRED = (*_HARDWARE_POSITIVE, "name", "form_factor", "idle_power_w",
                      "idle_power_w_source", "tensor_dtype", "sources")


def _read_yaml(path: Path | None, package_file: str) -> tuple[str, dict[str, Any]]:
    if path is None:
        text = resources.files("tpf").joinpath("data", package_file).read_text()
        where = f"tpf/data/{package_file}"
    else:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read: {exc}") from exc
        where = str(path)
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict) or not data:
        raise ConfigError(f"{where}: expected a non-empty mapping of id -> spec")
    return where, data


def _missing(where: str, key: str, entry: dict[str, Any], required: tuple[str, ...]) -> list[str]:
    return [f"{where}: {key}.{name}: missing" for name in required if name not in entry]


def _model_problems(where: str, key: str, entry: dict[str, Any]) -> list[str]:
    problems = _missing(where, key, entry, _MODEL_REQUIRED)
    for name in (*_MODEL_INT_FIELDS, "head_dim"):
        value = entry.get(name)
        if value is None and name == "head_dim":
            continue
        if name in entry and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            problems.append(f"{where}: {key}.{name}: must be a positive integer, got {value!r}")
    if entry.get("model_type") not in KNOWN_MODEL_TYPES and "model_type" in entry:
        problems.append(
            f"{where}: {key}.model_type: must be one of {KNOWN_MODEL_TYPES}, got {entry['model_type']!r}"
        )
    heads, kv_heads = entry.get("num_attention_heads"), entry.get("num_key_value_heads")
    if isinstance(heads, int) and isinstance(kv_heads, int) and kv_heads > 0 and heads % kv_heads:
        problems.append(
            f"{where}: {key}.num_key_value_heads: must divide num_attention_heads={heads}, got {kv_heads}"
        )
    count = entry.get("parameter_count")
    if "parameter_count" in entry and not (isinstance(count, int | float) and count > 0):
        problems.append(f"{where}: {key}.parameter_count: must be > 0, got {count!r}")
    return problems


def _build_model(key: str, entry: dict[str, Any]) -> ModelArch:
    values = {k: v for k, v in entry.items() if k in ModelArch.__dataclass_fields__}
    values["aliases"] = tuple(str(a) for a in entry.get("aliases", ()))
    values["extra_hf_config"] = dict(entry.get("extra_hf_config") or {})
    values["rope_theta"] = float(entry["rope_theta"])
    values["parameter_count"] = float(entry["parameter_count"])
    return ModelArch(name=key, **values)


def load_model_catalog(path: str | Path | None = None) -> dict[str, ModelArch]:
    """Read and validate a models YAML (the shipped one when ``path`` is None)."""
    where, data = _read_yaml(Path(path) if path else None, "models.yaml")
    problems: list[str] = []
    for key, entry in data.items():
        if not isinstance(entry, dict):
            problems.append(f"{where}: {key}: expected a mapping, got {type(entry).__name__}")
            continue
        problems += _model_problems(where, str(key), entry)
    if problems:
        raise ConfigError(problems)
    return {str(key): _build_model(str(key), entry) for key, entry in data.items()}


def _hardware_problems(where: str, key: str, entry: dict[str, Any]) -> list[str]:
    problems = _missing(where, key, entry, _HARDWARE_REQUIRED)
    for name in _HARDWARE_POSITIVE:
        value = entry.get(name)
        if name in entry and not (isinstance(value, int | float) and value > 0):
            problems.append(f"{where}: {key}.{name}: must be a number > 0, got {value!r}")
    idle, tdp = entry.get("idle_power_w"), entry.get("tdp_w")
    if "idle_power_w" in entry and not (isinstance(idle, int | float) and idle >= 0):
        problems.append(f"{where}: {key}.idle_power_w: must be a number >= 0, got {idle!r}")
    elif isinstance(idle, int | float) and isinstance(tdp, int | float) and idle >= tdp:
        problems.append(f"{where}: {key}.idle_power_w: must be < tdp_w={tdp}, got {idle}")
    for name in ("embodied_kg_per_gpu", "embodied_lifetime_years"):
        value = entry.get(name, 1.0)
        if not (isinstance(value, int | float) and value >= 0 and (value > 0 or name == "embodied_kg_per_gpu")):
            problems.append(f"{where}: {key}.{name}: must be a number "
                            f"{'>= 0' if name == 'embodied_kg_per_gpu' else '> 0'}, got {value!r}")
    if entry.get("idle_power_w_source", "datasheet") not in ("datasheet", "estimate"):
        problems.append(
            f"{where}: {key}.idle_power_w_source: must be 'datasheet' or 'estimate', "
            f"got {entry['idle_power_w_source']!r}"
        )
    return problems


def _build_hardware(key: str, entry: dict[str, Any]) -> HardwareSpec:
    values = {k: v for k, v in entry.items() if k in HardwareSpec.__dataclass_fields__}
    values["aliases"] = tuple(str(a) for a in entry.get("aliases", ()))
    values["sources"] = tuple(str(s) for s in entry.get("sources", ()))
    for name in (*_HARDWARE_POSITIVE, "idle_power_w"):
        values[name] = float(entry[name])
    for name in ("embodied_kg_per_gpu", "embodied_lifetime_years"):
        if name in entry:
            values[name] = float(entry[name])
    return HardwareSpec(key=key, **values)


def load_hardware_catalog(path: str | Path | None = None) -> dict[str, HardwareSpec]:
    """Read and validate a hardware YAML (the shipped one when ``path`` is None)."""
    where, data = _read_yaml(Path(path) if path else None, "hardware.yaml")
    problems: list[str] = []
    for key, entry in data.items():
        if not isinstance(entry, dict):
            problems.append(f"{where}: {key}: expected a mapping, got {type(entry).__name__}")
            continue
        problems += _hardware_problems(where, str(key), entry)
    if problems:
        raise ConfigError(problems)
    return {str(key): _build_hardware(str(key), entry) for key, entry in data.items()}


@functools.lru_cache(maxsize=1)
def _shipped_models() -> dict[str, ModelArch]:
    return load_model_catalog()


@functools.lru_cache(maxsize=1)
def _shipped_hardware() -> dict[str, HardwareSpec]:
    return load_hardware_catalog()


def _normalize(name: str) -> str:
    return " ".join(str(name).strip().lower().split())


def _lookup(name: str, catalog: dict[str, Any], what: str) -> Any:
    wanted = _normalize(name)
    for key, spec in catalog.items():
        if wanted == _normalize(key) or wanted in (_normalize(a) for a in spec.aliases):
            return spec
    raise ConfigError(
        f"unknown {what} {name!r}; known {what}s: {', '.join(sorted(catalog))} "
        "(a Hub id or NVML name listed under an entry's aliases also works)"
    )


def model_architecture(name: str | ModelArch, catalog: dict[str, ModelArch] | None = None) -> ModelArch:
    """The architecture named by its id or an alias (case ignored)."""
    if isinstance(name, ModelArch):
        return name
    return _lookup(name, catalog if catalog is not None else _shipped_models(), "model")


def hardware_spec(name_or_alias: str | HardwareSpec, catalog: dict[str, HardwareSpec] | None = None) -> HardwareSpec:
    """The GPU named by its id, its NVML name or another alias (case ignored)."""
    if isinstance(name_or_alias, HardwareSpec):
        return name_or_alias
    return _lookup(name_or_alias, catalog if catalog is not None else _shipped_hardware(), "hardware")


def known_models() -> list[str]:
    return sorted(_shipped_models())


def known_hardware() -> list[str]:
    return sorted(_shipped_hardware())
