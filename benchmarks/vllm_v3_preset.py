"""Fit the ``vllm-0.11`` roofline preset on ML.ENERGY v3 rows; leave-one-model-out error; reasoning premium.

    python benchmarks/vllm_v3_preset.py ../shared/data/energy/mlenergy_v3/mlenergy_v3_llm_configs_no_llama.csv \
        [--fit-tasks lm-arena-chat [gpqa]]

Rows: the v3 configurations of the catalog's dense models (Qwen3-8B, -14B,
-32B, bf16) on H100 and B200 (:func:`tpf.fit.vllm_fit.v3_fit_rows`; the file
lines used are printed). Input lengths are not in the data: assumed per task
(:data:`tpf.fit.vllm_fit.N_IN_TOKENS`).

Prints (1) the preset fitted on all rows of ``--fit-tasks`` (the values shipped
as ``vllm-0.11`` in tpf/fit/presets.py); (2) leave-one-model-out error of J per
output token per model, GPU and task, with the ML.ENERGY-v2-fitted preset
(``vllm-mlenergy-v2``) on the same rows beside it; (3) the reasoning premium:
GPQA over chat J/token at equal batch cap, measured and as the cards price it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.fit.roofline import roofline_assumptions  # noqa: E402
from tpf.fit.vllm_fit import (  # noqa: E402
    FITTED,
    assumptions_of,
    fit_preset,
    kv_context_at_saturation,
    leave_one_model_out,
    predicted_j_per_token,
    relative_errors,
    v3_fit_rows,
)
from tpf.specs import ModelArch  # noqa: E402

# Gemma-3 text models (google/gemma-3-12b-it, -27b-it config.json text_config), outside the fit and
# the catalog: a held-out family. Gated MLP (GeGLU: three matrices, as llama), tied embeddings;
# the vision tower is left out (not read while decoding); sliding-window layers (1,024 tokens) are
# priced as full attention, which is exact while the context stays under 1,024 tokens (chat rows:
# 256 assumed input + about 720 output).
GEMMA3 = {
    "gemma-3-12b": ModelArch(
        name="gemma-3-12b", hf_architecture="Gemma3ForConditionalGeneration", model_type="llama",
        num_hidden_layers=48, hidden_size=3840, intermediate_size=15360, num_attention_heads=16,
        num_key_value_heads=8, head_dim=256, vocab_size=262208, tie_word_embeddings=True,
        max_position_embeddings=131072, rope_theta=1e6, rms_norm_eps=1e-6, parameter_count=11.8e9,
        source="google/gemma-3-12b-it config.json text_config (language model only)",
        aliases=("google/gemma-3-12b-it",)),
    "gemma-3-27b": ModelArch(
        name="gemma-3-27b", hf_architecture="Gemma3ForConditionalGeneration", model_type="llama",
        num_hidden_layers=62, hidden_size=5376, intermediate_size=21504, num_attention_heads=32,
        num_key_value_heads=16, head_dim=128, vocab_size=262208, tie_word_embeddings=True,
        max_position_embeddings=131072, rope_theta=1e6, rms_norm_eps=1e-6, parameter_count=27.0e9,
        source="google/gemma-3-27b-it config.json text_config (language model only)",
        aliases=("google/gemma-3-27b-it",)),
}


def _summary(err: pd.Series) -> str:
    return f"MAPE {np.mean(np.abs(err)):6.1%}  bias {np.mean(err):+6.1%}"


def lomo_table(rows: pd.DataFrame, fit_tasks: tuple[str, ...]) -> pd.DataFrame:
    """Leave-one-model-out error (fitted on the other models' ``fit_tasks`` rows, priced on every
    task of the model left out) and the v2 preset's error on the same rows."""
    rows = leave_one_model_out(rows, fit_tasks)
    return rows.assign(v2_error=relative_errors(rows, roofline_assumptions("vllm-mlenergy-v2")))


def print_lomo(rows: pd.DataFrame) -> None:
    print("\nleave-one-model-out J/output-token error (fit on the other models' fit-task rows, priced on every "
          "task) | v2-fitted preset on the same rows")
    for keys, part in rows.groupby(["hardware", "task", "model", "gpus"]):
        hardware, task, model, gpus = keys
        lines = f"{part['line'].min()}-{part['line'].max()}"
        print(f"  {hardware:9s} {task:14s} {model:10s} {gpus} GPU  n={len(part):2d} lines {lines:8s} "
              f"{_summary(part['error'])} | v2 {_summary(part['v2_error'])}")
    for (hardware, task), part in rows.groupby(["hardware", "task"]):
        print(f"  {hardware:9s} {task:14s} ALL MODELS       n={len(part):2d}                 "
              f"{_summary(part['error'])} | v2 {_summary(part['v2_error'])}")
    for task, part in rows.groupby("task"):
        print(f"  both GPUs {task:14s} ALL MODELS       n={len(part):2d}                 "
              f"{_summary(part['error'])} | v2 {_summary(part['v2_error'])}")
    chat = rows[rows["task"] == "lm-arena-chat"]
    print("  by batch (chat rows): " + ", ".join(
        f"B<={top:g} {np.mean(np.abs(part['error'])):.0%}"
        for top, part in ((band.right, part) for band, part in
                          chat.groupby(pd.cut(chat["batch"], [0, 16, 64, 256, 4096]), observed=True))))


def print_premium(rows: pd.DataFrame, values: dict[str, float]) -> None:
    """GPQA over chat J/token at the same batch cap (matched on the nearest average batch)."""
    print("\nreasoning premium: GPQA / chat J per output token at equal batch (measured | priced by the preset)")
    a = assumptions_of(values)
    for (model, hardware, gpus), part in rows.groupby(["model", "hardware", "gpus"]):
        chat, gpqa = part[part["task"] == "lm-arena-chat"], part[part["task"] == "gpqa"]
        if chat.empty or gpqa.empty:
            continue
        cells = []
        for row in gpqa.to_dict("records"):
            match = chat.iloc[int(np.argmin(np.abs(np.log(chat["batch"].to_numpy() / row["batch"]))))]
            if abs(np.log(match["batch"] / row["batch"])) > 0.1:
                continue
            both = pd.DataFrame([match, pd.Series(row)])
            predicted = predicted_j_per_token(both, a)
            cells.append(f"B{row['batch']:.0f} {row['j_per_token'] / match['j_per_token']:.2f} | "
                         f"{predicted[1] / predicted[0]:.2f}")
        print(f"  {model:10s} {hardware:9s} {gpus} GPU: " + "; ".join(cells))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--fit-tasks", nargs="+", default=["lm-arena-chat"],
                        help="tasks whose rows the preset is fitted on (default: %(default)s, as shipped)")
    args = parser.parse_args()
    rows = v3_fit_rows(args.csv)
    fit_rows = rows[rows["task"].isin(args.fit_tasks)]
    fitted = fit_preset(fit_rows)
    print(f"rows: {len(fit_rows)} ({', '.join(fitted.models)}; tasks {', '.join(args.fit_tasks)}); "
          f"file lines {', '.join(map(str, sorted(fitted.lines)))}")
    print("fitted on all rows: " + ", ".join(f"{k} = {fitted.values[k]:.4g}" for k in FITTED))
    err = relative_errors(fit_rows, assumptions_of(fitted.values))
    print(f"in-sample: {_summary(pd.Series(err))}")
    print_lomo(lomo_table(rows[rows["task"].isin(["lm-arena-chat", "gpqa"])], tuple(args.fit_tasks)))
    print_premium(rows, fitted.values)
    print_held_out_family(args.csv, fitted.values)
    print_kv_context(rows)
    print_card_ratios()
    return 0


def print_card_ratios() -> None:
    """The vllm (0.11) card over the vllm-mlenergy-v2 card (both by tpf card roofline) at the Llama
    configurations the held-out errors of the latter were reported at (batch 8 and the largest)."""
    from tpf.fit.roofline import roofline_card

    print("\nLlama cards, vllm-0.11 over vllm-mlenergy-v2 (tpf card roofline; 620 output tokens)")
    for model, gpus, batches in (("llama-3.1-8b", 1, (8, 691)), ("llama-3.1-70b", 4, (8, 898))):
        new = roofline_card(model, "h100_sxm", gpus, roofline_assumptions("vllm"))
        old = roofline_card(model, "h100_sxm", gpus, roofline_assumptions("vllm-mlenergy-v2"))
        cells = [f"B{b} n_in {n}: {float(new.energy_j(n, 620, b) / old.energy_j(n, 620, b)):.3f}"
                 for b in batches for n in (256, 400)]
        print(f"  {model} on {gpus} x h100_sxm: " + "; ".join(cells))


def print_kv_context(rows: pd.DataFrame) -> None:
    """The context per request that fills the KV cache where the batch stayed under its cap."""
    full = kv_context_at_saturation(rows[rows["task"] == "lm-arena-chat"])
    print("\nKV-cache-bound chat rows (average batch < 0.95 x max_num_seqs): context per request filling the "
          "KV budget (0.9 x memory - weights)")
    for r in full.to_dict("records"):
        print(f"  line {r['line']}: {r['model']:10s} {r['hardware']:9s} {r['gpus']} GPU batch {r['batch']:.0f} "
              f"(cap {r['max_num_seqs']:.0f}): {r['kv_context_tokens']:.0f} tokens")
    print(f"  median {np.median(full['kv_context_tokens']):.0f} tokens (vllm-0.11 reference_context_tokens)")


def print_held_out_family(path: Path, values: dict[str, float]) -> None:
    """The preset fitted on all Qwen3 rows, priced on Gemma-3 chat rows (a family it has not seen)."""
    rows = v3_fit_rows(path, models=tuple(GEMMA3), tasks=("lm-arena-chat",), archs=GEMMA3)
    rows = rows.assign(error=relative_errors(rows, assumptions_of(values), GEMMA3),
                       v2_error=relative_errors(rows, roofline_assumptions("vllm-mlenergy-v2"), GEMMA3))
    print("\nheld-out family: Gemma-3 chat rows priced by the preset fitted on all Qwen3 rows | v2-fitted preset")
    for (hardware, model, gpus), part in rows.groupby(["hardware", "model", "gpus"]):
        print(f"  {hardware:9s} {model:12s} {gpus} GPU n={len(part):2d} lines {part['line'].min()}-"
              f"{part['line'].max()}  {_summary(part['error'])} | v2 {_summary(part['v2_error'])}")
    for hardware, part in rows.groupby("hardware"):
        print(f"  {hardware:9s} ALL          n={len(part):2d}                 {_summary(part['error'])} | "
              f"v2 {_summary(part['v2_error'])}")
    print(f"  both GPUs ALL          n={len(rows):2d}                 {_summary(rows['error'])} | "
          f"v2 {_summary(rows['v2_error'])}")


if __name__ == "__main__":
    sys.exit(main())
