"""Overhead presets: the calibrated assumptions of one serving engine (and version) for the roofline.

Each :class:`OverheadPreset` names the engine and version it describes
(``engine``, ``engine_version``), the rows it was calibrated on
(``calibrated_on``) and, where measured, its leave-one-model-out error
(``heldout``). A card made with a preset carries its engine and version
(:class:`tpf.cards.EnergyCard` ``engine``, ``engine_version``).

* ``none``: the pure roofline, no host time.
* ``hf_generate``: Hugging Face ``generate`` at batch 1, calibrated on the
  Wilkins et al. 2024 A100 measurements (``benchmarks/roofline_calibration.py``).
* ``vllm-mlenergy-v2``: vLLM as the ML.ENERGY leaderboard v2 ran it (2024; the
  data do not record the vLLM release), calibrated on its A100-40GB chat rows
  (``benchmarks/vllm_preset.py``).
* ``vllm-0.11``: vLLM 0.11, calibrated on the ML.ENERGY v3 Qwen3 dense rows on
  H100 and B200 (``benchmarks/vllm_v3_preset.py``, :mod:`tpf.fit.vllm_fit`).

:data:`PRESET_ALIASES` maps ``vllm`` to the newest fitted vLLM version.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class OverheadPreset:
    """Named host-overhead values of one software stack, and what they were calibrated on."""

    name: str
    step_overhead_s: float
    overhead_power_share: float
    request_overhead_s: float
    calibrated_on: str
    other: tuple[tuple[str, float], ...] = ()  # further calibrated assumptions (name, value)
    engine: str = ""
    engine_version: str = ""
    heldout: str = ""  # leave-one-model-out error on the calibration rows, as measured

    def overhead_fields(self) -> dict[str, float]:
        return {"step_overhead_s": self.step_overhead_s,
                "overhead_power_share": self.overhead_power_share,
                "request_overhead_s": self.request_overhead_s, **dict(self.other)}


OVERHEAD_PRESETS: dict[str, OverheadPreset] = {
    "none": OverheadPreset("none", 0.0, 0.0, 0.0, "pure roofline, no host time"),
    # `python benchmarks/roofline_calibration.py ../shared/data/energy/wilkins_swing_a100`
    # (fit on all three models; tests/specs/test_roofline_calibration.py checks it reproduces).
    "hf_generate": OverheadPreset(
        "hf_generate", step_overhead_s=0.0156, overhead_power_share=0.0, request_overhead_s=0.0,
        calibrated_on="Wilkins 2024 A100", engine="hf_generate",
    ),
    # `python benchmarks/vllm_preset.py .../mlenergy_v2_llm_configs.csv` fitted on the ML.ENERGY
    # v2 chat rows of the A100-SXM4-40GB (file lines 25-38 and 51-56: Llama-3.1-8B TP1,
    # Llama-3.1-70B TP8, Mistral-7B-v0.3 TP1; n_in assumed 256). Power rises with batch as
    # compute takes a larger share of each pass (memory_power_share < compute's 1).
    "vllm-mlenergy-v2": OverheadPreset(
        "vllm-mlenergy-v2", step_overhead_s=0.01607, overhead_power_share=0.3851, request_overhead_s=0.0,
        calibrated_on="ML.ENERGY v2 A100-40GB chat rows",
        other=(("memory_power_share", 0.1635), ("compute_efficiency", 0.2966)),
        engine="vllm", engine_version="mlenergy-v2",
    ),
    # `python benchmarks/vllm_v3_preset.py .../mlenergy_v3_llm_configs_no_llama.csv --fit-tasks
    # lm-arena-chat`: fitted on the 58 ML.ENERGY v3 chat rows of Qwen3-8B, -14B, -32B (bf16) on
    # H100 and B200 (n_in assumed 256); tests/fit_energy/test_vllm_v3_preset.py checks it reproduces.
    "vllm-0.11": OverheadPreset(
        "vllm-0.11", step_overhead_s=0.006611, overhead_power_share=0.3093, request_overhead_s=0.0,
        calibrated_on=("ML.ENERGY v3 (vLLM 0.11) lm-arena-chat rows of Qwen3-8B, -14B, -32B (bf16) on H100 "
                       "and B200: mlenergy_v3_llm_configs_no_llama.csv lines 2-18, 104-144 (58 rows; "
                       "input length assumed 256 tokens)"),
        # reference_context_tokens: the median context per request that fills the KV cache in the
        # v3 chat rows bounded by it, not by max_num_seqs (808 tokens, lines 113, 116, 125, 134, 144;
        # printed by the same benchmark); max_batch_cap: the largest max_num_seqs of those rows.
        other=(("memory_power_share", 0.146), ("compute_power_share", 1.0), ("compute_efficiency", 0.2708),
               ("bandwidth_efficiency", 0.4457), ("reference_context_tokens", 808), ("max_batch_cap", 2048)),
        engine="vllm", engine_version="0.11",
        heldout=("leave-one-model-out J/output-token error on those rows: MAPE 18.6% (bias +1.6%); "
                 "H100 18.2%, B200 19.1%; per model 10.7% to 27.0% (benchmarks/vllm_v3_preset.py)"),
    ),
}
#: names that stand for another preset: ``vllm`` is the newest fitted vLLM version
PRESET_ALIASES: dict[str, str] = {"vllm": "vllm-0.11"}
SHIPPED_PRESET = "hf_generate"


def resolve_preset(name: str) -> str:
    """The preset an alias stands for (a preset's own name unchanged)."""
    return PRESET_ALIASES.get(name, name)


def preset_choices() -> list[str]:
    """Every name ``--overhead-preset`` accepts (presets and aliases)."""
    return sorted({*OVERHEAD_PRESETS, *PRESET_ALIASES})
