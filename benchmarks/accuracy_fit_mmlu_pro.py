"""Held-out error of CoT accuracy curves on the MMLU-Pro truncation budget curves.

    python benchmarks/accuracy_fit_mmlu_pro.py ../shared/data/accuracy/mmlu_pro_truncation_budget_curves.csv

The file (columns model, category, budget_words, approx_budget_tokens, n,
accuracy_truncated, frac_within_budget) gives, per (model, category), the
accuracy of recorded chain-of-thought answers truncated at a budget. Curves are
fitted on the budgets {0, 32, 64, 128, 256, 512} words (in tokens:
approx_budget_tokens) and evaluated on every other budget of the file; the
table prints, per (model, category), the mean absolute error on the held-out
budgets inside the fitted range (16..384 words: interpolation) and beyond it
(768, 1024 words: extrapolation), for the saturating family, the delayed
saturating family, the monotone interpolated family and ``family="auto"`` (the
default of ``tpf fit accuracy``), with each card's own leave-one-budget-out MAE, the fitted
tau and (delayed family) b0, and the family ``auto`` picked.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.fit.accuracy import fit_accuracy, predict_accuracy  # noqa: E402

FIT_BUDGETS_WORDS = (0, 32, 64, 128, 256, 512)
REQUIRED = ("model", "category", "budget_words", "approx_budget_tokens", "n", "accuracy_truncated")


def accuracy_table(curves: pd.DataFrame) -> pd.DataFrame:
    """Truncation curves -> accuracy table rows (expected counts n * accuracy)."""
    return pd.DataFrame({
        "model": curves["model"], "category": curves["category"], "strategy": "cot",
        "budget_tokens": curves["approx_budget_tokens"].astype(float), "votes": 1,
        "n_items": curves["n"].astype(int),
        "n_correct": curves["n"] * curves["accuracy_truncated"],
    })


FAMILIES = ("saturating", "delayed", "interpolated", "auto")
SHORT = {"saturating": "sat", "delayed": "del", "interpolated": "iso", "auto": "auto"}


def heldout_errors(curves: pd.DataFrame, family: str, fit_words: tuple[int, ...]) -> pd.DataFrame:
    """Fit on ``fit_words`` budgets; absolute error on every other budget, one row per point."""
    fit_rows = curves[curves["budget_words"].isin(fit_words)]
    held = curves[~curves["budget_words"].isin(fit_words)].copy()
    card = fit_accuracy(accuracy_table(fit_rows), family=family)
    predicted = predict_accuracy(card, accuracy_table(held).reset_index(drop=True))
    held = held.reset_index(drop=True)
    held["abs_error"] = (predicted["accuracy_pred"] - held["accuracy_truncated"]).abs()
    held["extrapolated"] = held["budget_words"] > max(fit_words)
    by_key = {(c.model, c.category): c for c in card.curves}
    keys = list(zip(held["model"], held["category"], strict=True))
    held["lobo_mae"] = [by_key[k].heldout_mae for k in keys]
    held["tau_tokens"] = [by_key[k].params.get("tau_tokens", np.nan) for k in keys]
    held["b0_tokens"] = [by_key[k].params.get("b0_tokens", np.nan) for k in keys]
    held["family"] = [by_key[k].family for k in keys]
    return held


def summarize(errors: pd.DataFrame) -> pd.DataFrame:
    def one(group: pd.DataFrame) -> pd.Series:
        inside = group.loc[~group["extrapolated"], "abs_error"]
        beyond = group.loc[group["extrapolated"], "abs_error"]
        return pd.Series({
            "all": group["abs_error"].mean(), "int": inside.mean(), "ext": beyond.mean(),
            "max": group["abs_error"].max(), "lobo": group["lobo_mae"].iloc[0],
            "tau": group["tau_tokens"].iloc[0], "b0": group["b0_tokens"].iloc[0],
            "family": group["family"].iloc[0],
        })

    return errors.groupby(["model", "category"], sort=True)[list(errors.columns)].apply(one)


def comparison_table(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per curve: each family's held-out MAE side by side, and a mean row."""
    kept = {
        "saturating": ["all", "int", "ext", "max", "lobo", "tau"],
        "delayed": ["all", "int", "ext", "max", "lobo", "tau", "b0"],
        "interpolated": ["all", "int", "ext", "lobo"],
        "auto": ["all", "max", "lobo"],
    }
    parts = [summaries[f][cols].add_prefix(SHORT[f] + "_") for f, cols in kept.items()]
    table = pd.concat(parts, axis=1).astype(float)
    table["auto_picks"] = summaries["auto"]["family"].str.replace("saturating_budget", "sat").str.replace(
        "sat_delayed", "del").str.replace("interpolated", "iso")
    means = table.mean(numeric_only=True)
    table.loc[("(mean)", "(all curves)"), means.index] = means
    table.loc[("(mean)", "(all curves)"), "auto_picks"] = " ".join(
        f"{name}:{count}" for name, count in table["auto_picks"].value_counts().items())
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="mmlu_pro_truncation_budget_curves.csv")
    args = parser.parse_args(argv)
    curves = pd.read_csv(args.data)
    missing = [c for c in REQUIRED if c not in curves.columns]
    if missing:
        print(f"{args.data}: missing column(s) {missing}", file=sys.stderr)
        return 2
    summaries, seconds = {}, {}
    for family in FAMILIES:
        start = time.perf_counter()
        summaries[family] = summarize(heldout_errors(curves, family, FIT_BUDGETS_WORDS))
        seconds[family] = time.perf_counter() - start
    table = comparison_table(summaries)
    held_words = sorted(set(curves["budget_words"]) - set(FIT_BUDGETS_WORDS))
    print(f"fit budgets (words): {list(FIT_BUDGETS_WORDS)}; held-out budgets (words): {held_words}")
    print("MAE in accuracy (fraction) on the held-out budgets: all, int (inside the fitted range), "
          "ext (beyond it), max (worst point); lobo = the card's leave-one-budget-out MAE; "
          "tau, b0 in tokens.\nsat = saturating_budget, del = saturating_budget_delayed, "
          "iso = monotone interpolated, auto = family='auto' (smallest lobo; the default)\n")
    with pd.option_context("display.width", 250, "display.max_rows", 200, "display.max_columns", 50,
                           "display.float_format", "{:.4f}".format):
        print(table.to_string())
    mae, worst = summaries["auto"]["all"], summaries["auto"]["max"]
    print(f"\nauto (the default): held-out MAE per (model, category) at most {mae.max():.4f} "
          f"({', '.join(mae.idxmax())}), mean {mae.mean():.4f}; worst single held-out point "
          f"{worst.max():.4f} ({', '.join(worst.idxmax())})")
    print(f"{len(table) - 1} curves; fit + predict time (s): "
          + ", ".join(f"{f} {s:.1f}" for f, s in seconds.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
