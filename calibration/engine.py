"""Serving engines driven by the calibration stage: vLLM, and a fake one for tests.

One interface, :class:`ServingEngine`: ``await generate(request_id,
prompt_token_ids, n_out_tokens)`` serves one request (greedy, no stop token,
exactly ``n_out_tokens`` out) and returns its :class:`RequestTiming` on the
engine's clock (``clock()``, seconds); ``iterations`` logs, per engine
iteration, ``(clock_s, running, waiting, kv_cache_use)`` from the scheduler.
Requests submitted concurrently are batched by the engine's own scheduler
(continuous batching, chunked prefill, KV-cache limits are the engine's).

* :class:`VllmEngine` (``engine=vllm``): vLLM's ``AsyncLLM`` in this process,
  a model folder holding ``config.json`` only (``load_format="dummy"``: random
  weights, no download) or a real checkpoint, ``skip_tokenizer_init=True``
  (token ids in and out). vLLM is imported only here, inside the constructor.
* :class:`FakeEngine` (``engine=fake``): an iteration-level scheduler in
  asyncio with a step time ``step_base_s + step_per_seq_s * running +
  prefill_per_token_s * prefill tokens`` (real sleeps): the same interface,
  for tests and dry runs of the pipeline. Its numbers are not measurements.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from calibration.models import resolve_architecture
from tpf.errors import CalibrationError, ConfigError

ENGINES = ("vllm", "fake")
LOAD_FORMATS = ("dummy", "auto")


@dataclass(frozen=True)
class RequestTiming:
    """One served request on the engine's clock (s): submitted, first token out, last token out."""

    request_id: str
    n_in_tokens: int
    n_out_tokens: int
    submit_s: float
    first_token_s: float
    finish_s: float

    @property
    def ttft_s(self) -> float:
        return self.first_token_s - self.submit_s

    @property
    def latency_s(self) -> float:
        return self.finish_s - self.submit_s

    @property
    def tpot_s(self) -> float:
        """Mean time per output token after the first (NaN for one output token)."""
        steps = self.n_out_tokens - 1
        return (self.finish_s - self.first_token_s) / steps if steps > 0 else float("nan")


@dataclass(frozen=True)
class EngineSettings:
    """Which engine and how it is built.

    ``model``: an architecture id (``smollm2-135m-shape``, a shipped spec) whose
    ``config.json`` is written to ``model_dir`` for ``load_format=dummy``, or a
    folder with a real checkpoint (``load_format=auto``). ``max_num_seqs``: the
    scheduler's batch limit. ``kv_cache_gib``: the KV-cache size on a CPU
    (vLLM's ``VLLM_CPU_KVCACHE_SPACE``); ``gpu_memory_utilization`` on a GPU.
    """

    engine: str = "vllm"
    model: str = "smollm2-135m-shape"
    model_dir: str = "outputs/engine-model"
    load_format: str = "dummy"
    dtype: str = "auto"
    max_num_seqs: int = 32
    max_model_len: int = 2048
    kv_cache_gib: float = 2.0
    gpu_memory_utilization: float = 0.9
    seed: int = 0
    fake: dict[str, float] = field(default_factory=dict)

    def problems(self, where: str = "engine") -> list[str]:
        out = []
        if self.engine not in ENGINES:
            out.append(f"{where}.engine: must be one of {ENGINES}, got {self.engine!r}")
        if self.load_format not in LOAD_FORMATS:
            out.append(f"{where}.load_format: must be one of {LOAD_FORMATS}, got {self.load_format!r}")
        if not 1 <= self.max_num_seqs <= 4096:
            out.append(f"{where}.max_num_seqs: must be in [1, 4096], got {self.max_num_seqs}")
        if not 16 <= self.max_model_len <= 1_048_576:
            out.append(f"{where}.max_model_len: must be in [16, 1048576], got {self.max_model_len}")
        if not self.kv_cache_gib > 0:
            out.append(f"{where}.kv_cache_gib: must be > 0, got {self.kv_cache_gib}")
        if not 0 < self.gpu_memory_utilization <= 1:
            out.append(f"{where}.gpu_memory_utilization: must be in (0, 1], got {self.gpu_memory_utilization}")
        return out


class ServingEngine(ABC):
    """A running serving engine; see the module docstring."""

    name: str = ""
    version: str = ""
    iterations: list[tuple[float, int, int, float]]  # per engine iteration: (clock_s, running, waiting, kv use)

    def clock(self) -> float:
        return time.perf_counter()

    @abstractmethod
    async def generate(self, request_id: str, prompt_token_ids: list[int], n_out_tokens: int) -> RequestTiming:
        """Serve one request; return its timing."""

    def vocab_size(self) -> int:
        return 32000

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Engine, version, device, model config, weights, dtype, KV-cache size, batch limit."""

    def close(self) -> None:
        return None


def write_model_folder(architecture: str, folder: str | os.PathLike[str]) -> Path:
    """A model folder with ``config.json`` only, from a shipped or test architecture."""
    arch = resolve_architecture(architecture)
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    config = {**arch.to_hf_config_dict(), "model_type": arch.model_type, "torch_dtype": "bfloat16",
              "bos_token_id": 0, "eos_token_id": 0}
    (path / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def build_engine(settings: EngineSettings) -> ServingEngine:
    """The engine of ``settings``; every bad setting is reported at once."""
    problems = settings.problems()
    if problems:
        raise ConfigError(problems)
    if settings.engine == "fake":
        return FakeEngine(settings)
    from calibration.vllm_engine import VllmEngine

    return VllmEngine(settings)


class FakeEngine(ServingEngine):
    """An iteration-level scheduler with a known step time (for tests; not a measurement).

    Each step: admit waiting requests up to ``max_num_seqs`` (first come,
    first served), prefill the newly admitted ones (their whole prompts) and
    decode one token for the others, sleep the step time, emit tokens.
    """

    name = "fake"
    version = "0"

    def __init__(self, settings: EngineSettings):
        self.settings = settings
        self.step_base_s = float(settings.fake.get("step_base_s", 0.004))
        self.step_per_seq_s = float(settings.fake.get("step_per_seq_s", 0.0005))
        self.prefill_per_token_s = float(settings.fake.get("prefill_per_token_s", 0.00002))
        self._waiting: list[dict[str, Any]] = []
        self._running: list[dict[str, Any]] = []
        self._loop_task: asyncio.Task | None = None
        self.iterations = []

    async def generate(self, request_id: str, prompt_token_ids: list[int], n_out_tokens: int) -> RequestTiming:
        if n_out_tokens < 1:
            raise CalibrationError(f"n_out_tokens: must be >= 1, got {n_out_tokens}")
        done = asyncio.get_running_loop().create_future()
        self._waiting.append({"n_in": len(prompt_token_ids), "left": n_out_tokens, "first": None,
                              "submit": self.clock(), "done": done, "id": request_id, "n_out": n_out_tokens})
        if self._loop_task is None or self._loop_task.done():
            self._loop_task = asyncio.create_task(self._steps())
        return await done

    async def _steps(self) -> None:
        while self._waiting or self._running:
            admitted = self._waiting[: self.settings.max_num_seqs - len(self._running)]
            del self._waiting[: len(admitted)]
            self._running += admitted
            prefill = sum(r["n_in"] for r in admitted)
            await asyncio.sleep(self.step_base_s + self.step_per_seq_s * len(self._running)
                                + self.prefill_per_token_s * prefill)
            now = self.clock()
            self.iterations.append((now, len(self._running), len(self._waiting), 0.0))
            for request in self._running:
                request["left"] -= 1
                request["first"] = request["first"] if request["first"] is not None else now
            for request in [r for r in self._running if r["left"] == 0]:
                request["done"].set_result(RequestTiming(request["id"], request["n_in"], request["n_out"],
                                                         request["submit"], request["first"], now))
            self._running = [r for r in self._running if r["left"] > 0]

    def describe(self) -> dict[str, Any]:
        return {"engine": self.name, "engine_version": self.version, "device": "none (fake engine)",
                "model": self.settings.model, "weights": "none", "dtype": "none",
                "max_num_seqs": self.settings.max_num_seqs, "kv_cache": "unlimited",
                "fake_step": {"step_base_s": self.step_base_s, "step_per_seq_s": self.step_per_seq_s,
                              "prefill_per_token_s": self.prefill_per_token_s}}
