"""Validate the roofline transfer and the roofline cards against public measurements.

    python benchmarks/transfer_validation.py ../shared/data/energy/mlenergy_v2/mlenergy_v2_llm_configs.csv \
        [--n-in-tokens 256] [--csv PER_CONFIG.csv]

1. ML.ENERGY leaderboard v2 (vLLM; the same models and configurations on an
   A100-SXM4-40GB and an H100 80GB HBM3). For every configuration measured on
   both GPUs (same task, model, tensor/pipeline parallel degree and max batch
   size), the transfer predicts the other GPU's energy per request from one
   GPU's measurement at the source row's point, by both methods of
   ``tpf.fit.transfer.transfer_values`` (what ``tpf card transfer`` refits into
   a card): ``ratio`` (``E_to = E_from * E_roof(to) / E_roof(from)``) and
   ``split`` (the measured time beyond the roofline's is host-bound and kept;
   the source window time is ``n_out * TPOT``). Reported: the signed error of
   energy per request and per output token, per configuration, and per model
   and direction the mean absolute error, beside a no-transfer baseline (the
   other GPU's energy taken as equal), the roofline's own absolute error, and
   the split method's error on the target's TPOT.
   The data has no input lengths: ``--n-in-tokens`` (an assumption, default
   256) is used for every row, and the summary is repeated for 64 and 1,024.
2. EuroMLSys'25 Table 1 (L40S, batch 1, one output token, MMLU prompts): the
   ratio of the shipped Llama-3.1-8B and Llama-3.2-1B L40S cards' predictions
   (preset ``hf_generate``) against the printed energy changes (+36 % .. +65 %),
   and the pure roofline's ratio with each overhead preset and with a sweep of
   per-pass overheads at idle power.

The transfers and the absolute roofline error use the pure roofline (preset
``none``); ``benchmarks/roofline_calibration.py`` compares the presets on these
rows.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.errors import ConfigError  # noqa: E402
from tpf.fit.roofline import (  # noqa: E402
    OVERHEAD_PRESETS,
    RooflineAssumptions,
    load_shipped_card,
    roofline_assumptions,
    roofline_point,
)
from tpf.fit.transfer import transfer_values  # noqa: E402
from tpf.published import table1_zero_shot_ratios  # noqa: E402
from tpf.specs import hardware_spec, model_architecture  # noqa: E402

KEYS = ["task", "Model", "TP", "PP", "max_batch_size_cfg"]


def load_pairs(path: Path) -> tuple[pd.DataFrame, list[str]]:
    """Rows measured on both GPUs, joined; and the models skipped (no shipped architecture)."""
    data = pd.read_csv(path)
    data["hardware"] = [hardware_spec(name).key for name in data["GPU"]]
    known, skipped = {}, []
    for name in data["Model"].unique():
        try:
            known[name] = model_architecture(name).name
        except ConfigError:
            skipped.append(name)
    data = data[data["Model"].isin(known)].assign(model=lambda d: d["Model"].map(known))
    a100 = data[data["hardware"] == "a100_40gb"]
    h100 = data[data["hardware"] == "h100_sxm"]
    pairs = a100.merge(h100, on=[*KEYS, "model"], suffixes=("_a100", "_h100"))
    return pairs, sorted(skipped)


def _row_predictions(row: pd.Series, src: str, dst: str, n_in: float) -> dict[str, float]:
    gpus = int(row["TP"] * row["PP"])
    n_out, batch = row[f"Avg Output Tokens_{src}"], row[f"Avg BS (reqs)_{src}"]
    hw_src, hw_dst = ("a100_40gb", "h100_sxm") if src == "a100" else ("h100_sxm", "a100_40gb")
    measured_src, measured_dst = row[f"Energy/req (J)_{src}"], row[f"Energy/req (J)_{dst}"]
    window_src = n_out * row[f"Avg TPOT (s)_{src}"]
    ratio_j, _ = transfer_values(row["model"], hw_src, hw_dst, n_in, n_out, batch, measured_src,
                                 window_src, gpus, method="ratio")
    split_j, split_s = transfer_values(row["model"], hw_src, hw_dst, n_in, n_out, batch,
                                       measured_src, window_src, gpus, method="split")
    assert split_s is not None
    n_out_dst = row[f"Avg Output Tokens_{dst}"]
    roof_dst = roofline_point(row["model"], hw_dst, n_in, n_out_dst, row[f"Avg BS (reqs)_{dst}"],
                              gpus).energy_j
    return {
        "measured_j": measured_dst,
        "ratio_j": float(ratio_j[0]),
        "split_j": float(split_j[0]),
        "err_ratio": float(ratio_j[0]) / measured_dst - 1.0,
        "err_split": float(split_j[0]) / measured_dst - 1.0,
        "err_split_per_out_token": (float(split_j[0]) / n_out) / (measured_dst / n_out_dst) - 1.0,
        "err_no_transfer": measured_src / measured_dst - 1.0,
        "err_roofline": roof_dst / measured_dst - 1.0,
        "err_split_tpot": float(split_s[0]) / n_out / row[f"Avg TPOT (s)_{dst}"] - 1.0,
    }


def transfer_table(pairs: pd.DataFrame, n_in: float) -> pd.DataFrame:
    rows = []
    for _, row in pairs.iterrows():
        for src, dst in (("a100", "h100"), ("h100", "a100")):
            rows.append({"task": row["task"], "model": row["model"], "config": row["config_a100"],
                         "direction": f"{src}->{dst}", **_row_predictions(row, src, dst, n_in)})
    return pd.DataFrame(rows)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    grouped = table.groupby(["model", "direction"])
    out = grouped.agg(
        configs=("err_ratio", "size"),
        mae_ratio=("err_ratio", _mae),
        mae_split=("err_split", _mae),
        bias_split=("err_split", "mean"),
        mae_split_per_out_token=("err_split_per_out_token", _mae),
        mae_no_transfer=("err_no_transfer", _mae),
        mae_roofline=("err_roofline", _mae),
        bias_roofline=("err_roofline", "mean"),
        mae_split_tpot=("err_split_tpot", _mae),
    )
    return out.reset_index()


def _mae(errors: pd.Series) -> float:
    return float(np.mean(np.abs(errors)))


def _pct(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    shown = frame.copy()
    for column in columns:
        shown[column] = shown[column].map(lambda v: f"{100 * v:+.1f}%")
    return shown


def table1_comparison() -> str:
    printed = table1_zero_shot_ratios()  # EuroMLSys'25 Table 1, as printed
    small, large = load_shipped_card("llama-3.2-1b", "l40s"), load_shipped_card("llama-3.1-8b", "l40s")
    lines = ["EuroMLSys'25 Table 1 (L40S, batch 1, 1 output token): energy(8B) / energy(1B)",
             f"  printed per category: {', '.join(f'{k} {v:.2f}' for k, v in printed.items())}",
             f"  printed range {min(printed.values()):.2f} .. {max(printed.values()):.2f}, "
             f"mean {np.mean(list(printed.values())):.2f}",
             f"  shipped cards ({large.method}; estimates), ratio at n_in prompt tokens:"]
    for n_in in (64, 128, 256, 512):
        ratio = float(large.energy_j(n_in, 1, 1) / small.energy_j(n_in, 1, 1))
        lines.append(f"    n_in={n_in:4d}: 8B {float(large.energy_j(n_in, 1, 1)):7.2f} J, "
                     f"1B {float(small.energy_j(n_in, 1, 1)):6.2f} J, ratio {ratio:.2f}")
    lines += _overhead_lines(printed)
    return "\n".join(lines)


def _overhead_lines(printed: dict[str, float], n_in: float = 128.0) -> list[str]:
    """What per-request host overhead at idle power would bring the roofline ratio to the paper's."""
    out = ["  roofline with a host overhead at idle power per forward pass (step_overhead_s; "
           "one pass at one output token), n_in=128:"]
    settings = [(f"preset {name}", roofline_assumptions(name)) for name in OVERHEAD_PRESETS]
    settings += [(f"overhead {s:4.2f} s", RooflineAssumptions(step_overhead_s=s)) for s in (0.05, 0.1, 0.2, 0.5)]
    for label, a in settings:
        big = roofline_point("llama-3.1-8b", "l40s", n_in, 1, 1, assumptions=a).energy_j
        small = roofline_point("llama-3.2-1b", "l40s", n_in, 1, 1, assumptions=a).energy_j
        out.append(f"    {label:20s}: 8B {big:6.2f} J, 1B {small:6.2f} J, ratio {big / small:.2f}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mlenergy_v2_csv", type=Path)
    parser.add_argument("--n-in-tokens", type=float, default=256.0,
                        help="assumed input tokens per request (the data has none)")
    parser.add_argument("--csv", type=Path, help="write the per-configuration table here")
    args = parser.parse_args(argv)
    pairs, skipped = load_pairs(args.mlenergy_v2_csv)
    print(f"ML.ENERGY v2: {len(pairs)} configurations on both GPUs for "
          f"{pairs['model'].nunique()} models with shipped architectures "
          f"(skipped, no shipped architecture: {len(skipped)} models)")
    table = transfer_table(pairs, args.n_in_tokens)
    err_cols = [c for c in table.columns if c.startswith("err_")]
    with pd.option_context("display.width", 200, "display.max_rows", 500):
        print(f"\nper configuration (n_in = {args.n_in_tokens:g} tokens, assumed):")
        print(_pct(table, err_cols).round(3).to_string(index=False))
        print("\nper model and direction (MAE = mean |relative error|):")
        columns = [c for c in summary(table).columns if c.startswith(("mae", "bias"))]
        print(_pct(summary(table), columns).to_string(index=False))
        print("\nall configurations and directions, by assumed n_in (MAE):")
        for n_in in (64.0, args.n_in_tokens, 1024.0):
            t = table if n_in == args.n_in_tokens else transfer_table(pairs, n_in)
            print(f"  n_in={n_in:6.0f}: ratio {_mae(t['err_ratio']):.1%}, "
                  f"split {_mae(t['err_split']):.1%}, "
                  f"no transfer {_mae(t['err_no_transfer']):.1%}, "
                  f"roofline {_mae(t['err_roofline']):.1%}, "
                  f"split TPOT {_mae(t['err_split_tpot']):.1%}")
    if args.csv:
        table.to_csv(args.csv, index=False)
    print()
    print(table1_comparison())
    return 0


if __name__ == "__main__":
    sys.exit(main())
