"""Held-out error of CoT accuracy curves on the MMLU-Pro truncation budget curves.

    python benchmarks/accuracy_fit_mmlu_pro.py ../shared/data/accuracy/mmlu_pro_truncation_budget_curves.csv

The file (columns model, category, budget_words, approx_budget_tokens, n,
accuracy_truncated, frac_within_budget) gives, per (model, category), the
accuracy of recorded chain-of-thought answers truncated at a budget. Curves are
fitted on the budgets {0, 32, 64, 128, 256, 512} words (in tokens:
approx_budget_tokens) and evaluated on every other budget of the file; the
table prints, per (model, category), the mean absolute error on the held-out
budgets inside the fitted range (16..384 words: interpolation) and beyond it
(768, 1024 words: extrapolation), for the saturating family (the card default)
and for the monotone interpolated family, plus the card's own
leave-one-budget-out MAE and the fitted tau.
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


def heldout_errors(curves: pd.DataFrame, family: str, fit_words: tuple[int, ...]) -> pd.DataFrame:
    """Fit on ``fit_words`` budgets; absolute error on every other budget, one row per point."""
    fit_rows = curves[curves["budget_words"].isin(fit_words)]
    held = curves[~curves["budget_words"].isin(fit_words)].copy()
    card = fit_accuracy(accuracy_table(fit_rows), family=family)
    predicted = predict_accuracy(card, accuracy_table(held).reset_index(drop=True))
    held = held.reset_index(drop=True)
    held["abs_error"] = (predicted["accuracy_pred"] - held["accuracy_truncated"]).abs()
    held["extrapolated"] = held["budget_words"] > max(fit_words)
    lobo = {(c.model, c.category): c.heldout_mae for c in card.curves}
    tau = {(c.model, c.category): c.params.get("tau_tokens", np.nan) for c in card.curves}
    held["lobo_mae"] = [lobo[(m, c)] for m, c in zip(held["model"], held["category"], strict=True)]
    held["tau_tokens"] = [tau[(m, c)] for m, c in zip(held["model"], held["category"], strict=True)]
    return held


def summarize(errors: pd.DataFrame) -> pd.DataFrame:
    def one(group: pd.DataFrame) -> pd.Series:
        inside = group.loc[~group["extrapolated"], "abs_error"]
        beyond = group.loc[group["extrapolated"], "abs_error"]
        return pd.Series({
            "mae_all": group["abs_error"].mean(), "mae_interp": inside.mean(),
            "mae_extrap": beyond.mean(), "max_err": group["abs_error"].max(),
            "lobo_mae": group["lobo_mae"].iloc[0], "tau_tokens": group["tau_tokens"].iloc[0],
        })

    return errors.groupby(["model", "category"], sort=True)[list(errors.columns)].apply(one)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", help="mmlu_pro_truncation_budget_curves.csv")
    args = parser.parse_args(argv)
    curves = pd.read_csv(args.data)
    missing = [c for c in REQUIRED if c not in curves.columns]
    if missing:
        print(f"{args.data}: missing column(s) {missing}", file=sys.stderr)
        return 2
    start = time.perf_counter()
    saturating = summarize(heldout_errors(curves, "saturating", FIT_BUDGETS_WORDS))
    interpolated = summarize(heldout_errors(curves, "interpolated", FIT_BUDGETS_WORDS))
    elapsed = time.perf_counter() - start
    isotonic = interpolated[["mae_all", "mae_interp"]].add_suffix("_isotonic")
    table = saturating.join(isotonic)
    table.loc[("(mean)", "(all curves)"), :] = table.mean(numeric_only=True)
    held_words = sorted(set(curves["budget_words"]) - set(FIT_BUDGETS_WORDS))
    print(f"fit budgets (words): {list(FIT_BUDGETS_WORDS)}; held-out budgets (words): {held_words}")
    print("MAE in accuracy points (fraction); saturating = card default family; "
          "isotonic = monotone interpolated family\n")
    with pd.option_context("display.width", 200, "display.max_rows", 200, "display.float_format", "{:.4f}".format):
        print(table.rename(columns={"tau_tokens": "tau_tok"}).to_string())
    print(f"\n{len(saturating)} curves; fits and predictions took {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
