"""Calibrate the ``vllm`` roofline preset on one GPU's ML.ENERGY v2 rows; its error carried to the other.

    python benchmarks/vllm_preset.py ../shared/data/energy/mlenergy_v2/mlenergy_v2_llm_configs.csv \
        [--fit-gpu a100_40gb] [--n-in-tokens 256]

The preset it fits is shipped as ``vllm-mlenergy-v2`` (tpf/fit/presets.py); the
end of the output prices the same rows with it and with ``vllm-0.11`` (fitted on
ML.ENERGY v3 by benchmarks/vllm_v3_preset.py): the change of engine version.

Rows: the ML.ENERGY leaderboard v2 ``chat`` configurations (vLLM, continuous
batching) of the models with shipped architectures (Llama-3.1-8B and -70B,
Mistral-7B-v0.3), one row per (model, GPU, TP, batch level); each line of the
file used is printed. The file has no input lengths: ``--n-in-tokens`` is an
assumption. Fitted on the ``--fit-gpu`` rows (least squares on log errors of
the energy per request): ``step_overhead_s`` (scheduler and launch time per
step), ``overhead_power_share`` (power drawn during it) and
``memory_power_share`` (power share of a memory-bound pass, which makes power
rise with batch as compute takes a larger share). The preset is then carried to
the other GPU by the roofline (its datasheet peak, bandwidth, TDP and idle
power): the printed error there is the transfer error, per row and overall,
for the energy per request and the energy per output token.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import least_squares

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.errors import ConfigError  # noqa: E402
from tpf.fit.roofline import OVERHEAD_PRESETS, roofline_assumptions, roofline_point  # noqa: E402
from tpf.specs import hardware_spec, model_architecture  # noqa: E402

FITTED = ("step_overhead_s", "overhead_power_share", "memory_power_share", "compute_efficiency")


def chat_rows(path: Path) -> pd.DataFrame:
    data = pd.read_csv(path)
    rows = []
    for line, row in zip(range(2, len(data) + 2), data.to_dict("records"), strict=True):
        if row["task"] != "chat":
            continue
        try:
            arch, hw = model_architecture(row["Model"]).name, hardware_spec(row["GPU"]).key
        except ConfigError:
            continue
        rows.append({"line": line, "model": arch, "hardware": hw, "gpus": int(row["TP"] * row["PP"]),
                     "n_out": float(row["Avg Output Tokens"]), "batch": float(row["Avg BS (reqs)"]),
                     "energy_j": float(row["Energy/req (J)"])})
    return pd.DataFrame(rows)


def relative_errors(rows: pd.DataFrame, values: np.ndarray, n_in: float,
                    others: dict[str, float] | None = None) -> np.ndarray:
    a = roofline_assumptions("none", **dict(zip(FITTED, map(float, values), strict=True)), **(others or {}))
    predicted = [roofline_point(r["model"], r["hardware"], n_in, r["n_out"], max(r["batch"], 1.0), r["gpus"], a).energy_j
                 for r in rows.to_dict("records")]
    return np.array(predicted) / rows["energy_j"].to_numpy() - 1.0


def calibrate(rows: pd.DataFrame, n_in: float) -> np.ndarray:
    fit = least_squares(lambda x: np.log1p(relative_errors(rows, x, n_in)), x0=[0.005, 0.3, 0.5, 0.5],
                        bounds=([0.0, 0.0, 0.0, 0.02], [0.1, 1.0, 1.0, 1.0]), x_scale=[0.005, 0.3, 0.3, 0.3])
    return fit.x


def report(rows: pd.DataFrame, values: np.ndarray, n_in: float, label: str,
           others: dict[str, float] | None = None) -> float:
    err = relative_errors(rows, values, n_in, others)
    print(f"\n{label}: {len(rows)} rows, energy/request (= energy/output token at the row's length) "
          f"MAPE {np.mean(np.abs(err)):.1%}, mean {np.mean(err):+.1%}, range {err.min():+.0%} .. {err.max():+.0%}")
    for (model, hardware, gpus), part in rows.assign(err=err).groupby(["model", "hardware", "gpus"]):
        per_batch = ", ".join(f"B{b:.0f} {e:+.0%}" for b, e in zip(part["batch"], part["err"], strict=True))
        print(f"  {model:15s} {hardware:10s} {gpus} GPU  lines {','.join(map(str, part['line']))}: {per_batch}")
    return float(np.mean(np.abs(err)))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("csv", type=Path)
    parser.add_argument("--fit-gpu", default="a100_40gb", help="GPU to calibrate on (default: %(default)s)")
    parser.add_argument("--n-in-tokens", type=float, default=256.0, help="assumed input length (default: %(default)s)")
    args = parser.parse_args()
    rows = chat_rows(args.csv).sort_values(["model", "hardware", "gpus", "batch"])
    fit_rows, other = rows[rows["hardware"] == args.fit_gpu], rows[rows["hardware"] != args.fit_gpu]
    values = calibrate(fit_rows, args.n_in_tokens)
    print("calibrated on " + args.fit_gpu + ": " + ", ".join(f"{k} = {v:.4g}" for k, v in zip(FITTED, values, strict=True)))
    report(fit_rows, values, args.n_in_tokens, f"in-sample ({args.fit_gpu})")
    report(other, values, args.n_in_tokens, f"carried to {', '.join(sorted(set(other['hardware'])))} (transfer)")
    for name in ("vllm-mlenergy-v2", "vllm-0.11"):
        shipped = {**roofline_assumptions("none").__dict__, **OVERHEAD_PRESETS[name].overhead_fields()}
        values = np.array([shipped[k] for k in FITTED])
        others = {k: v for k, v in OVERHEAD_PRESETS[name].overhead_fields().items() if k not in FITTED}
        print(f"\nshipped preset {name}: " + ", ".join(f"{k} = {v:.4g}" for k, v in zip(FITTED, values, strict=True))
              + (f" (and {others})" if others else ""))
        for hardware, part in rows.groupby("hardware"):
            report(part, values, args.n_in_tokens, f"shipped {name} preset on {hardware}", others)
    return 0


if __name__ == "__main__":
    sys.exit(main())
