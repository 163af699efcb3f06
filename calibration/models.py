"""Models for calibration: random-initialized from a shipped architecture, or pretrained.

A random-initialized model has the FLOPs and memory traffic of the real
architecture, so its energy curve is a fair measurement; its accuracy is not.
Pretrained weights load from a local folder (or GGUF file) or a Hub name where
the machine can reach it. :attr:`LoadedModel.metadata` records which.

torch and transformers are imported inside the functions that use them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tpf.errors import CalibrationError, ConfigError
from tpf.specs import ModelArch, known_models, model_architecture

WEIGHTS = ("random-init", "pretrained")
DTYPES = ("auto", "float32", "bfloat16", "float16")

# Small architectures for smoke runs and tests on a CPU (not published models).
_TINY_LLAMA = ModelArch(
    name="tiny-llama",
    hf_architecture="LlamaForCausalLM",
    model_type="llama",
    num_hidden_layers=2,
    hidden_size=64,
    intermediate_size=128,
    num_attention_heads=4,
    num_key_value_heads=2,
    vocab_size=320,
    tie_word_embeddings=True,
    max_position_embeddings=4096,
    rope_theta=10000.0,
    rms_norm_eps=1e-5,
    parameter_count=94_528.0,
    source="tpf calibration test architecture (2 layers, hidden 64); not a published model",
)
# The SmolLM2-135M shape: small enough for a serving engine on a CPU (engine sweeps and replays).
_SMOLLM2_135M_SHAPE = ModelArch(
    name="smollm2-135m-shape",
    hf_architecture="LlamaForCausalLM",
    model_type="llama",
    num_hidden_layers=30,
    hidden_size=576,
    intermediate_size=1536,
    num_attention_heads=9,
    num_key_value_heads=3,
    vocab_size=49152,
    tie_word_embeddings=True,
    max_position_embeddings=8192,
    rope_theta=100000.0,
    rms_norm_eps=1e-5,
    parameter_count=134_515_008.0,
    source="shape of HuggingFaceTB/SmolLM2-135M config.json (Llama, 30 layers, hidden 576, 9 heads, "
           "3 KV heads, intermediate 1536, vocab 49152); used with random weights",
)
TEST_ARCHITECTURES: dict[str, ModelArch] = {a.name: a for a in (_TINY_LLAMA, _SMOLLM2_135M_SHAPE)}


def known_architectures() -> list[str]:
    return sorted([*known_models(), *TEST_ARCHITECTURES])


def resolve_architecture(name: str) -> ModelArch:
    """The architecture ``name`` (a shipped spec, an alias, or a test architecture)."""
    if name in TEST_ARCHITECTURES:
        return TEST_ARCHITECTURES[name]
    try:
        return model_architecture(name)
    except ConfigError as exc:
        raise ConfigError(
            f"model: unknown architecture {name!r}; known architectures: {', '.join(known_architectures())} "
            "(for pretrained weights set weights=pretrained and give a local path or Hub name)"
        ) from exc


@dataclass(frozen=True)
class ModelSpec:
    """Which model to load, how, and where."""

    name: str
    weights: str = "random-init"
    dtype: str = "auto"
    device: str = "auto"
    gguf_file: str | None = None
    seed: int = 0

    def problems(self, where: str = "model") -> list[str]:
        out = []
        if not self.name:
            out.append(f"{where}.name: must be a non-empty string")
        if self.weights not in WEIGHTS:
            out.append(f"{where}.weights: must be one of {WEIGHTS}, got {self.weights!r}")
        if self.dtype not in DTYPES:
            out.append(f"{where}.dtype: must be one of {DTYPES}, got {self.dtype!r}")
        return out


@dataclass
class LoadedModel:
    """A model on its device, its tokenizer (None for random-init) and its metadata."""

    model: Any
    tokenizer: Any
    device: str
    dtype: str
    max_positions: int
    vocab_size: int
    metadata: dict[str, Any] = field(default_factory=dict)


def resolve_device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def _torch_dtype(dtype: str, device: str) -> Any:
    import torch

    if dtype == "auto":
        dtype = "bfloat16" if device.startswith("cuda") else "float32"
    return getattr(torch, dtype)


def _dtype_kwargs(dtype: Any) -> dict[str, Any]:
    """The dtype keyword of this transformers version (``dtype`` from 4.56, ``torch_dtype`` before)."""
    from calibration.store import package_version

    version = tuple(int(p) for p in (package_version("transformers") or "0").split(".")[:2] if p.isdigit())
    return {"dtype": dtype} if version >= (4, 56) else {"torch_dtype": dtype}


def _ensure_dtype(model: Any, dtype: Any) -> Any:
    """The model in ``dtype`` (a no-op where it already is)."""
    return model if model.dtype == dtype else model.to(dtype)


def load_model(spec: ModelSpec) -> LoadedModel:
    """Build or load the model of ``spec``; raises a tpf error naming what failed."""
    problems = spec.problems()
    if problems:
        raise ConfigError(problems)
    device = resolve_device(spec.device)
    dtype = _torch_dtype(spec.dtype, device)
    if spec.weights == "random-init":
        return _random_init(spec, resolve_architecture(spec.name), device, dtype)
    return _pretrained(spec, device, dtype)


def _random_init(spec: ModelSpec, arch: ModelArch, device: str, dtype: Any) -> LoadedModel:
    import torch
    import transformers

    hf_config = arch.to_hf_config_dict()
    config = transformers.AutoConfig.for_model(arch.model_type, **hf_config)
    torch.manual_seed(spec.seed)
    with torch.device(device):
        model = transformers.AutoModelForCausalLM.from_config(config, **_dtype_kwargs(dtype))
    model = _ensure_dtype(model, dtype)
    model.eval()
    metadata = {
        "model": arch.name,
        "weights": "random-init",
        "architecture": {"name": arch.name, "model_type": arch.model_type, "source": arch.source, **hf_config},
        "parameter_count": sum(p.numel() for p in model.parameters()),
        "seed": spec.seed,
    }
    return LoadedModel(
        model, None, device, str(dtype).removeprefix("torch."),
        arch.max_position_embeddings, arch.vocab_size, metadata,
    )


def _pretrained(spec: ModelSpec, device: str, dtype: Any) -> LoadedModel:
    import transformers

    extra = {"gguf_file": spec.gguf_file} if spec.gguf_file else {}
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(spec.name, **extra)
        model: Any = transformers.AutoModelForCausalLM.from_pretrained(spec.name, **_dtype_kwargs(dtype), **extra)
    except (OSError, ValueError) as exc:
        raise CalibrationError(
            f"model: cannot load pretrained weights from {spec.name!r}{' (' + spec.gguf_file + ')' if spec.gguf_file else ''}: "
            f"{exc}. Give a local folder with config.json and weights, or a Hub name this machine can reach"
        ) from exc
    model = _ensure_dtype(model.to(device), dtype)
    model.eval()
    config = model.config.to_dict()
    metadata = {
        "model": spec.name,
        "weights": "pretrained",
        "weights_source": spec.name,
        "gguf_file": spec.gguf_file,
        "architecture": {k: v for k, v in config.items() if not k.startswith("_")},
        "parameter_count": sum(p.numel() for p in model.parameters()),
    }
    max_positions = int(config.get("max_position_embeddings") or 2048)
    return LoadedModel(
        model, HfTokenizer(tokenizer), device, str(dtype).removeprefix("torch."),
        max_positions, int(config["vocab_size"]), metadata,
    )


class HfTokenizer:
    """The few tokenizer calls the accuracy runs need, over a transformers tokenizer."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        self.eos_token_id: int | None = tokenizer.eos_token_id

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=True))

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))

    def letter_token_id(self, letter: str) -> int:
        """The token that starts an answer ``letter`` after ``Answer:``."""
        spaced = self.tokenizer.encode(" " + letter, add_special_tokens=False)
        return int(spaced[0] if len(spaced) == 1 else self.tokenizer.encode(letter, add_special_tokens=False)[0])


class ByteTokenizer:
    """UTF-8 bytes as tokens (ids 3..258; 0 pad, 1 bos, 2 eos), for random-init smoke runs."""

    offset = 3
    eos_token_id: int | None = 2

    def __init__(self, vocab_size: int):
        if vocab_size < 256 + self.offset:
            raise ConfigError(f"model: byte tokenizer needs vocab_size >= {256 + self.offset}, got {vocab_size}")

    def encode(self, text: str) -> list[int]:
        return [1, *(b + self.offset for b in text.encode("utf-8"))]

    def decode(self, ids: list[int]) -> str:
        data = bytes(i - self.offset for i in ids if self.offset <= i < 256 + self.offset)
        return data.decode("utf-8", errors="replace")

    def letter_token_id(self, letter: str) -> int:
        return ord(letter) + self.offset


def tokenizer_for(loaded: LoadedModel) -> Any:
    """The model's tokenizer, or a byte tokenizer for a random-init model."""
    return loaded.tokenizer if loaded.tokenizer is not None else ByteTokenizer(loaded.vocab_size)
