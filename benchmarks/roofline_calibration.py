"""Calibrate the roofline's host-overhead terms on measurements; before/after errors.

    python benchmarks/roofline_calibration.py ../shared/data/energy/wilkins_swing_a100 \
        [../shared/data/energy/mlenergy_v2/mlenergy_v2_llm_configs.csv] [--n-in-tokens 256]

1. Wilkins et al. 2024 (Hugging Face ``pipeline("text-generation")`` in bf16,
   batch 1, A100-SXM4-40GB; their scripts pass ``use_cache=False``, so every
   decode step recomputes the whole sequence and the roofline is evaluated with
   ``kv_cache=False``). Points: the mean over repetitions (warm-ups dropped) of
   each (model, n_in, n_out); points whose context ``n_in + n_out`` exceeds the
   model's ``max_position_embeddings`` are left out. ``n_out`` is the requested
   ``max_new_tokens`` (the runs set ``min_new_tokens = 0.9 * max_new_tokens``).
   Fitted: ``step_overhead_s`` and one more factor (``overhead_power_share`` by
   default; ``--second`` picks another), by least squares on the log errors of
   energy and duration per request. Validation leaves one model out: fit on two
   of Llama-2-7B, Mistral-7B, Falcon-7B, test on the third.
2. ML.ENERGY leaderboard v2 (vLLM, batched, A100-40GB and H100): the roofline's
   error on energy per request with each preset (``kv_cache=True``), and, as a
   diagnostic, the per-step overhead a fit on these rows alone would need.
3. EuroMLSys'25 Table 1 (L40S, batch 1, one output token): energy(8B)/energy(1B)
   with each preset and from the shipped L40S cards, against the printed ratios.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.errors import ConfigError  # noqa: E402
from tpf.fit.importers import import_wilkins  # noqa: E402
from tpf.fit.roofline import (  # noqa: E402
    OVERHEAD_PRESETS,
    RooflineAssumptions,
    load_shipped_card,
    roofline_assumptions,
    roofline_point,
)
from tpf.published import table1_zero_shot_ratios  # noqa: E402
from tpf.specs import hardware_spec, model_architecture  # noqa: E402

WILKINS_HARDWARE = "a100_40gb"
# Wilkins model names -> shipped architectures (Mistral-7B of early 2024: v0.1, 32000-token vocabulary).
WILKINS_MODELS = {"Llama-2-7B": "llama-2-7b", "Mistral-7B": "mistral-7b-v0.1", "Falcon-7B": "falcon-7b"}
# Second fitted factor: name -> (start, lower bound, upper bound).
SECOND_FACTORS = {
    "overhead_power_share": (0.2, 0.0, 1.0),
    "request_overhead_s": (0.01, 0.0, 5.0),
    "memory_power_share": (0.5, 0.0, 1.0),
    "compute_efficiency": (0.5, 0.05, 1.0),
}


def load_wilkins_points(path: Path) -> pd.DataFrame:
    """Mean energy and runtime per (model, n_in, n_out), warm-ups and over-long contexts dropped."""
    table = import_wilkins([path])
    table = table[table["warmup"].astype(str).str.lower() != "true"]
    table = table[table["model"].isin(WILKINS_MODELS)]
    points = (table.groupby(["model", "n_in_tokens", "n_out_tokens"])
              .agg(energy_j=("energy_j", "mean"), duration_s=("duration_s", "mean"),
                   runs=("energy_j", "size"))
              .reset_index())
    points["arch"] = points["model"].map(WILKINS_MODELS)
    limit = points["arch"].map(lambda k: model_architecture(k).max_position_embeddings)
    return points[points["n_in_tokens"] + points["n_out_tokens"] <= limit].reset_index(drop=True)


def predict(points: pd.DataFrame, a: RooflineAssumptions) -> tuple[np.ndarray, np.ndarray]:
    """Roofline energy (J) and duration (s) per request at each Wilkins point (batch 1, one GPU)."""
    rows = [roofline_point(arch, WILKINS_HARDWARE, n_in, n_out, 1.0, 1, a)
            for arch, n_in, n_out in zip(points["arch"], points["n_in_tokens"],
                                         points["n_out_tokens"], strict=True)]
    return np.array([r.energy_j for r in rows]), np.array([r.duration_s for r in rows])


def wilkins_base() -> RooflineAssumptions:
    """The pure roofline in the Wilkins runs' setting (no KV cache)."""
    return roofline_assumptions("none", kv_cache=False)


def calibrate(points: pd.DataFrame, second: str = "overhead_power_share",
              base: RooflineAssumptions | None = None) -> RooflineAssumptions:
    """Fit ``step_overhead_s`` and ``second`` on log errors of energy and duration."""
    start, low, high = SECOND_FACTORS[second]
    base = base or wilkins_base()
    energy, duration = points["energy_j"].to_numpy(), points["duration_s"].to_numpy()

    def residuals(x: np.ndarray) -> np.ndarray:
        e, t = predict(points, _with(base, float(x[0]), second, float(x[1])))
        return np.concatenate([np.log(e / energy), np.log(t / duration)])

    fit = least_squares(residuals, x0=[0.01, start], bounds=([0.0, low], [1.0, high]), x_scale=[0.01, start])
    return _with(base, float(fit.x[0]), second, float(fit.x[1]))


def _with(base: RooflineAssumptions, step_overhead_s: float, second: str, value: float) -> RooflineAssumptions:
    changes: dict[str, Any] = {"step_overhead_s": step_overhead_s, second: value}
    return replace(base, **changes)


def errors(points: pd.DataFrame, a: RooflineAssumptions) -> dict[str, float]:
    """MAPE and mean signed error of energy and duration per request."""
    e, t = predict(points, a)
    e_err = e / points["energy_j"].to_numpy() - 1.0
    t_err = t / points["duration_s"].to_numpy() - 1.0
    return {"energy_mape": float(np.mean(np.abs(e_err))), "energy_bias": float(np.mean(e_err)),
            "duration_mape": float(np.mean(np.abs(t_err)))}


def leave_one_model_out(points: pd.DataFrame, second: str) -> pd.DataFrame:
    """Per held-out model: errors of the pure roofline (KV cache / none) and of the calibrated one."""
    rows = []
    for held in WILKINS_MODELS:
        train, test = points[points["model"] != held], points[points["model"] == held]
        fitted = calibrate(train, second)
        for label, a in (("roofline, KV cache (shipped 'none')", RooflineAssumptions()),
                         ("roofline, no KV cache (runs' setting)", wilkins_base()),
                         ("calibrated on the other two", fitted)):
            rows.append({"held_out": held, "model": label, "points": len(test), **errors(test, a),
                         "step_overhead_ms": 1e3 * a.step_overhead_s, second: getattr(a, second)})
    return pd.DataFrame(rows)


def _pct(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    shown = frame.copy()
    for column in columns:
        shown[column] = shown[column].map(lambda v: f"{100 * v:+.1f}%")
    return shown


def wilkins_report(path: Path, second: str) -> list[str]:
    points = load_wilkins_points(path)
    lines = [f"Wilkins 2024, A100-40GB, HF pipeline batch 1 (use_cache=False): {len(points)} points "
             f"({', '.join(f'{m} {n}' for m, n in points.groupby('model').size().items())})"]
    table = leave_one_model_out(points, second)
    lines.append(f"\nleave one model out (fit step_overhead_s and {second} on two models):")
    lines.append(_pct(table, ["energy_mape", "energy_bias", "duration_mape"]).round(3).to_string(index=False))
    means = table.groupby("model", sort=False)[["energy_mape", "duration_mape"]].mean()
    lines.append("\nmean over the three held-out models:")
    lines += [f"  {label:40s} energy MAPE {row.energy_mape:6.1%}, duration MAPE {row.duration_mape:6.1%}"
              for label, row in means.iterrows()]
    full = calibrate(points, second)
    preset = OVERHEAD_PRESETS["hf_generate"]
    lines.append(f"\nfit on all three models: step_overhead_s = {full.step_overhead_s:.5f} s, "
                 f"{second} = {getattr(full, second):.4f}; in-sample energy MAPE "
                 f"{errors(points, full)['energy_mape']:.1%}")
    lines.append(f"preset hf_generate: step_overhead_s = {preset.step_overhead_s:.5f} s, "
                 f"overhead_power_share = {preset.overhead_power_share:.4f}, "
                 f"request_overhead_s = {preset.request_overhead_s:.5f} s")
    return lines


def second_factor_comparison(path: Path) -> list[str]:
    """Held-out energy MAPE for each choice of the second fitted factor."""
    points = load_wilkins_points(path)
    lines = ["\nchoice of the second factor (mean held-out energy / duration MAPE):"]
    for second in SECOND_FACTORS:
        table = leave_one_model_out(points, second)
        held = table[table["model"] == "calibrated on the other two"]
        lines.append(f"  step_overhead_s + {second:22s} energy {held['energy_mape'].mean():6.1%}, "
                     f"duration {held['duration_mape'].mean():6.1%}")
    return lines


def mlenergy_rows(path: Path) -> pd.DataFrame:
    data = pd.read_csv(path)
    rows = []
    for _, row in data.iterrows():
        try:
            arch, hw = model_architecture(row["Model"]).name, hardware_spec(row["GPU"]).key
        except ConfigError:
            continue
        rows.append({"model": arch, "hardware": hw, "gpus": int(row["TP"] * row["PP"]),
                     "n_out": float(row["Avg Output Tokens"]), "batch": float(row["Avg BS (reqs)"]),
                     "energy_j": float(row["Energy/req (J)"]),
                     "tpot_s": float(row["Avg TPOT (s)"])})
    return pd.DataFrame(rows)


def _mlenergy_errors(rows: pd.DataFrame, a: RooflineAssumptions, n_in: float) -> np.ndarray:
    predicted = [roofline_point(str(r["model"]), str(r["hardware"]), n_in, max(float(r["n_out"]), 1.0),
                                max(float(r["batch"]), 1.0), int(r["gpus"]), a).energy_j
                 for r in rows.to_dict("records")]
    return np.array(predicted) / rows["energy_j"].to_numpy() - 1.0


def mlenergy_report(path: Path, n_in: float) -> list[str]:
    rows = mlenergy_rows(path)
    lines = [f"\nML.ENERGY v2 (vLLM, batched): {len(rows)} configurations of models with shipped "
             f"architectures, n_in = {n_in:g} (assumed; the data has none)"]
    for name in OVERHEAD_PRESETS:
        err = _mlenergy_errors(rows, roofline_assumptions(name), n_in)
        lines.append(f"  preset {name:12s} energy/request: MAPE {np.mean(np.abs(err)):6.1%}, "
                     f"mean error {np.mean(err):+6.1%}, range {err.min():+.0%} .. {err.max():+.0%}")
    own = least_squares(lambda x: np.log1p(_mlenergy_errors(rows, roofline_assumptions(
        "none", step_overhead_s=float(x[0])), n_in)), x0=[0.01], bounds=([0.0], [1.0]), x_scale=[0.01])
    err = _mlenergy_errors(rows, roofline_assumptions("none", step_overhead_s=float(own.x[0])), n_in)
    lines.append(f"  diagnostic: step_overhead_s fitted on these rows alone (idle power) = "
                 f"{own.x[0] * 1e3:.1f} ms, MAPE {np.mean(np.abs(err)):.1%} (not a preset)")
    return lines


def table1_report() -> list[str]:
    printed = table1_zero_shot_ratios()  # EuroMLSys'25 Table 1, Llama-3.1-8B vs -3.2-1B zero-shot
    lines = [f"\nEuroMLSys'25 Table 1 (L40S, batch 1, 1 output token): energy(8B)/energy(1B) printed "
             f"{min(printed.values()):.2f} .. {max(printed.values()):.2f} (mean {np.mean(list(printed.values())):.2f})"]
    for name in OVERHEAD_PRESETS:
        a = roofline_assumptions(name)
        ratios = []
        for n_in in (64, 128, 256, 512):
            big = roofline_point("llama-3.1-8b", "l40s", n_in, 1, 1, assumptions=a).energy_j
            small = roofline_point("llama-3.2-1b", "l40s", n_in, 1, 1, assumptions=a).energy_j
            ratios.append(f"n_in={n_in} {big:.2f}/{small:.2f} J = {big / small:.2f}")
        lines.append(f"  preset {name:12s} " + "; ".join(ratios))
    card_8b, card_1b = load_shipped_card("llama-3.1-8b", "l40s"), load_shipped_card("llama-3.2-1b", "l40s")
    cards = [f"n_in={n} {float(card_8b.energy_j(n, 1, 1) / card_1b.energy_j(n, 1, 1)):.2f}" for n in (64, 128, 256, 512)]
    lines.append(f"  shipped cards ({card_8b.method}): " + "; ".join(cards))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wilkins_dir", type=Path, help="folder of the Wilkins et al. sweep CSVs")
    parser.add_argument("mlenergy_v2_csv", type=Path, nargs="?", help="ML.ENERGY v2 configurations CSV")
    parser.add_argument("--second", choices=sorted(SECOND_FACTORS), default="overhead_power_share",
                        help="the factor fitted beside step_overhead_s")
    parser.add_argument("--n-in-tokens", type=float, default=256.0, help="ML.ENERGY: assumed input tokens")
    parser.add_argument("--compare-second", action="store_true",
                        help="also compare every choice of the second factor (slower)")
    args = parser.parse_args(argv)
    with pd.option_context("display.width", 200, "display.max_rows", 200):
        lines = wilkins_report(args.wilkins_dir, args.second)
        if args.compare_second:
            lines += second_factor_comparison(args.wilkins_dir)
        if args.mlenergy_v2_csv:
            lines += mlenergy_report(args.mlenergy_v2_csv, args.n_in_tokens)
        lines += table1_report()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
