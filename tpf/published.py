"""Published reference figures: EuroMLSys'25 Table 1 and the paper scenario's accuracy card.

Source: P. Wilhelm, T. Wittkopp, O. Kao, "Beyond Test-Time Compute Strategies:
Advocating Energy-per-Token in LLM Inference", EuroMLSys'25,
doi:10.1145/3721146.3721953, Table 1 (NVIDIA L40S, batch size 1, MMLU).

The raw transcription, every cell as printed, is ``tpf/data/euromlsys25_table1.csv``;
``tpf/data/euromlsys25_table1.md`` says how tpf reads it. In short:

* the energy column ("78,556 kJ") is read as 78.556 kJ = 78,556 J per category
  (1B zero-shot); the relative changes ("+13,858%") use the comma as a
  thousands separator and are unambiguous;
* the paper gives no item counts; each of the 8 categories is assumed to hold
  ``ASSUMED_ITEMS_PER_CATEGORY`` items (the 14,042 MMLU test questions split
  evenly), which only sets the width of confidence intervals.

Run ``python -m tpf.published --mmlu-pro-curves CSV --out CARD.yaml`` to build
the paper scenario's accuracy card (see :func:`paper_l40s_accuracy_card`).
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from tpf.cards import AccuracyCard, save_card, sha256_file
from tpf.domain import MMLU_PRO_CATEGORY_MAP
from tpf.errors import DataError
from tpf.fit.accuracy import AccuracyPriors, CurvePoints, fit_accuracy
from tpf.fit.accuracy_families import fit_delayed

DATA_DIR = Path(__file__).resolve().parent / "data"
TABLE1_CSV = DATA_DIR / "euromlsys25_table1.csv"
PAPER_CARD = DATA_DIR / "cards" / "paper_l40s_accuracy.yaml"
PAPER = (
    "Wilhelm, Wittkopp, Kao: Beyond Test-Time Compute Strategies: Advocating "
    "Energy-per-Token in LLM Inference. EuroMLSys'25, doi:10.1145/3721146.3721953, Table 1"
)
HARDWARE = "L40S"
MODEL_1B = "Llama-3.2-1B"
MODEL_8B = "Llama-3.1-8B"
COT_BUDGET_TOKENS = 512  # "a maximum of up to 512 token", up to 5 reasoning steps
MV_VOTES = 16  # "we sampled up to 16 candidate solutions"
MMLU_TEST_ITEMS = 14042
ASSUMED_ITEMS_PER_CATEGORY = round(MMLU_TEST_ITEMS / 8)  # 1755: an assumption, see module doc
ENERGY_J_PER_PRINTED_KJ_UNIT = 1.0  # "78,556 kJ" -> 78,556 J (= 78.556 kJ)

# Table 1 category -> tpf category id
CATEGORY_IDS = {
    "Computer Science": "computer_science",
    "Economics": "economics",
    "Engineering": "engineering",
    "Health": "health",
    "Humanities": "humanities",
    "Math": "math",
    "Natural Sciences": "natural_sciences",
    "Sociology": "sociology",
}

# tpf category id -> MMLU-Pro categories whose CoT truncation curves give the CoT shape (tau):
# tpf.domain.MMLU_PRO_CATEGORY_MAP (the router export matches categories on the same labels)
TAU_SOURCE_MODEL = "Llama-3.1-8B-Instruct"

# (model, strategy, budget_tokens, votes, accuracy column, printed delta column)
_VARIANTS = (
    (MODEL_1B, "zero_shot", 0, 1, "llama_1b_acc", None),
    (MODEL_8B, "zero_shot", 0, 1, "llama_8b_acc", "llama_8b_delta_acc_delta_e"),
    (MODEL_1B, "mv", 0, MV_VOTES, "llama_1b_mv_acc", "llama_1b_mv_delta_acc_delta_e"),
    (MODEL_1B, "cot", COT_BUDGET_TOKENS, 1, "llama_1b_cot_acc", "llama_1b_cot_delta_acc_delta_e"),
)
_DELTA_PAIR = re.compile(r"^\(\s*([+-][\d,]+)%\s*,\s*([+-][\d,]+)%\s*\)$")
_ENERGY = re.compile(r"^(\d+),(\d{3}) kJ$")


def _parse_delta_pair(text: str, where: str) -> tuple[float, float]:
    """``"(+13%, +13,858%)"`` -> (13.0, 13858.0): commas are thousands separators here."""
    match = _DELTA_PAIR.match(text.strip())
    if not match:
        raise DataError(f"{where}: expected '(+A%, +E%)' as printed, got {text!r}")
    return float(match.group(1).replace(",", "")), float(match.group(2).replace(",", ""))


def _parse_energy_j(text: str, where: str) -> float:
    """``"78,556 kJ"`` -> 78556.0 J: read as 78.556 kJ (see euromlsys25_table1.md)."""
    match = _ENERGY.match(text.strip())
    if not match:
        raise DataError(f"{where}: expected 'NN,NNN kJ' as printed, got {text!r}")
    return float(match.group(1) + match.group(2)) * ENERGY_J_PER_PRINTED_KJ_UNIT


def euromlsys25_table1(path: str | Path = TABLE1_CSV) -> pd.DataFrame:
    """Table 1, one row per (category, variant), numbers parsed from the printed cells.

    Columns: ``category`` (as printed), ``category_id``, ``model``, ``strategy``,
    ``budget_tokens``, ``votes``, ``accuracy``, ``delta_acc_pct_printed``,
    ``delta_energy_pct_printed`` (0 for the 1B zero-shot baseline),
    ``energy_ratio`` (1 + delta/100, relative to 1B zero-shot of the category) and
    ``energy_j_per_category`` (78,556 J-style reading times the ratio).
    """
    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    rows = []
    for position, (_, record) in enumerate(raw.iterrows()):
        where = f"{path}: row {position + 1} (line {position + 2})"
        category = record["category"]
        if category not in CATEGORY_IDS:
            raise DataError(f"{where}, column category: unknown category {category!r}; "
                            f"known: {', '.join(CATEGORY_IDS)}")
        base_energy_j = _parse_energy_j(record["llama_1b_energy"], f"{where}, column llama_1b_energy")
        for model, strategy, budget, votes, acc_column, delta_column in _VARIANTS:
            delta_acc, delta_energy = (0.0, 0.0) if delta_column is None else _parse_delta_pair(
                record[delta_column], f"{where}, column {delta_column}")
            ratio = 1.0 + delta_energy / 100.0
            rows.append({
                "category": category, "category_id": CATEGORY_IDS[category], "model": model,
                "hardware": HARDWARE, "strategy": strategy, "budget_tokens": budget, "votes": votes,
                "accuracy": float(record[acc_column]), "delta_acc_pct_printed": delta_acc,
                "delta_energy_pct_printed": delta_energy, "energy_ratio": ratio,
                "energy_j_per_category": base_energy_j * ratio,
            })
    return pd.DataFrame(rows)


def table1_accuracy_table(n_items_per_category: int = ASSUMED_ITEMS_PER_CATEGORY) -> pd.DataFrame:
    """Table 1 as an accuracy table (aggregated rows, see :mod:`tpf.schema`).

    ``n_correct = accuracy * n_items`` (an expected count; accuracies are printed
    to two decimals). ``n_items_per_category`` is an assumption (module doc).
    """
    table = euromlsys25_table1()
    out = table.rename(columns={"category_id": "category_key"})[
        ["model", "category_key", "strategy", "budget_tokens", "votes", "accuracy"]
    ].rename(columns={"category_key": "category"})
    out["n_items"] = int(n_items_per_category)
    out["n_correct"] = out["accuracy"] * out["n_items"]
    return out.drop(columns="accuracy").reset_index(drop=True)


def table1_energy_ratios() -> pd.DataFrame:
    """Energy of each Table 1 variant relative to the 1B zero-shot run of its category.

    Columns: ``model, hardware, category, strategy, budget_tokens, votes,
    energy_ratio, energy_j_per_category, energy_j_per_item_estimate`` (the last
    divides by the assumed item count and is an estimate).
    """
    table = euromlsys25_table1()
    out = table[["model", "hardware", "category_id", "strategy", "budget_tokens", "votes",
                 "energy_ratio", "energy_j_per_category"]].rename(columns={"category_id": "category"})
    out["energy_j_per_item_estimate"] = out["energy_j_per_category"] / ASSUMED_ITEMS_PER_CATEGORY
    return out.reset_index(drop=True)


def table1_zero_shot_ratios(model: str = MODEL_8B) -> dict[str, float]:
    """Printed zero-shot energy of ``model`` relative to the 1B zero-shot run, per category id."""
    table = table1_energy_ratios()
    rows = table[(table["model"] == model) & (table["strategy"] == "zero_shot")]
    return dict(zip(rows["category"], rows["energy_ratio"].astype(float), strict=True))


# --- the paper scenario's accuracy card -------------------------------------


def cot_shape_from_truncation_curves(
    curves: pd.DataFrame, model: str = TAU_SOURCE_MODEL, max_budget_words: float = 512
) -> dict[str, tuple[float, float]]:
    """CoT curve shape ``(tau_tokens, b0_tokens)`` per tpf category from MMLU-Pro truncation curves.

    For each category of :data:`MMLU_PRO_CATEGORY_MAP`, the mapped MMLU-Pro
    categories are pooled per budget (counts ``n``, ``n * accuracy_truncated``)
    over budgets up to ``max_budget_words``, and the delayed saturating curve
    (``saturating_budget_delayed``) is fitted in ``approx_budget_tokens``; its
    time constant and delayed start are returned.
    """
    needed = {"model", "category", "budget_words", "approx_budget_tokens", "n", "accuracy_truncated"}
    missing = needed - set(curves.columns)
    if missing:
        raise DataError(f"MMLU-Pro truncation curves: missing column(s) {sorted(missing)}")
    rows = curves[(curves["model"] == model) & (curves["budget_words"] <= max_budget_words)]
    shapes = {}
    for category_id, sources in MMLU_PRO_CATEGORY_MAP.items():
        part = rows[rows["category"].isin(sources)]
        if set(part["category"]) != set(sources):
            raise DataError(f"MMLU-Pro truncation curves: model {model!r} lacks categories "
                            f"{sorted(set(sources) - set(part['category']))} needed for {category_id}")
        pooled = part.assign(correct=part["n"] * part["accuracy_truncated"]).groupby(
            "approx_budget_tokens")[["n", "correct"]].sum()
        points = CurvePoints(pooled.index.to_numpy(float), pooled["n"].to_numpy(float),
                             pooled["correct"].to_numpy(float))
        fit = fit_delayed(points)
        shapes[category_id] = (fit["tau"], fit["b_0"])
    return shapes


def paper_l40s_accuracy_card(
    mmlu_pro_curves_csv: str | Path, n_items_per_category: int = ASSUMED_ITEMS_PER_CATEGORY
) -> AccuracyCard:
    """The accuracy card of the paper scenario (L40S, Llama-3.2-1B and Llama-3.1-8B).

    Zero-shot curves are Table 1's constants (``source: published``). The 1B CoT
    curve (``saturating_budget_delayed``) passes through (0, zero-shot) and
    (512, CoT) with its shape (``tau_tokens``, ``b0_tokens``) taken from the
    MMLU-Pro truncation curves of the mapped categories; the 1B MV curve passes
    through (1 vote, zero-shot) and (16 votes, MV) with the default vote prior.
    Both are ``source: estimate``. Table 1 has no 8B CoT or MV, so the card has none.
    """
    curves_path = Path(mmlu_pro_curves_csv)
    try:
        truncation = pd.read_csv(curves_path)
    except (OSError, pd.errors.ParserError) as exc:
        raise DataError(f"{curves_path}: cannot read MMLU-Pro truncation curves: {exc}") from exc
    shapes = cot_shape_from_truncation_curves(truncation)
    keys = {category: (MODEL_1B, category, "cot") for category in shapes}
    notes = {
        keys[category]: f"shape from MMLU-Pro {TAU_SOURCE_MODEL} CoT truncation curves of "
        f"{' + '.join(MMLU_PRO_CATEGORY_MAP[category])}"
        for category in shapes
    }
    priors = AccuracyPriors(
        per_curve_tau={keys[c]: tau for c, (tau, _) in shapes.items()},
        per_curve_b0_tokens={keys[c]: b0 for c, (_, b0) in shapes.items()},
        per_curve_note=notes,
    )
    return fit_accuracy(
        table1_accuracy_table(n_items_per_category), priors=priors, family="saturating", source="published",
        data_sha256=sha256_file(TABLE1_CSV), table_name=str(TABLE1_CSV),
        provenance=_paper_provenance(curves_path, n_items_per_category, priors),
    )


def _paper_provenance(curves_path: Path, n_items: int, priors: AccuracyPriors) -> dict[str, Any]:
    return {
        "hardware": HARDWARE,
        "accuracy_source": PAPER,
        "accuracy_data": "tpf/data/euromlsys25_table1.csv",
        "n_items_per_category": f"{n_items} (assumed: the paper gives no item counts)",
        "cot_shape_source": (
            f"MMLU-Pro CoT truncation curves of {TAU_SOURCE_MODEL} (TIGER-AI-Lab/MMLU-Pro eval_results), "
            f"file {curves_path.name}, sha256 {sha256_file(curves_path)}; delayed saturating family "
            "(tau_tokens, b0_tokens) fitted to budgets up to 512 words"
        ),
        "category_map_table1_to_mmlu_pro": {k: list(v) for k, v in MMLU_PRO_CATEGORY_MAP.items()},
        "mv_shape_source": f"default vote prior tau_votes = {priors.tau_votes:g} (assumption)",
        "estimates": "cot and mv curves of Llama-3.2-1B: shape estimated, end points published",
        "command": f"python -m tpf.published --mmlu-pro-curves {curves_path.name} --out CARD.yaml",
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tpf.published",
        description="Build the paper scenario's accuracy card from EuroMLSys'25 Table 1 "
        "and MMLU-Pro CoT truncation curves.",
    )
    parser.add_argument("--mmlu-pro-curves", required=True,
                        help="mmlu_pro_truncation_budget_curves.csv (gives the CoT curve shape)")
    parser.add_argument("--out", default=str(PAPER_CARD), help="card to write (default: %(default)s)")
    parser.add_argument("--n-items", type=int, default=ASSUMED_ITEMS_PER_CATEGORY,
                        help="assumed items per category (default: %(default)s)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    card = paper_l40s_accuracy_card(args.mmlu_pro_curves, args.n_items)
    save_card(card, args.out)
    for curve in card.curves:
        x = COT_BUDGET_TOKENS if curve.strategy == "cot" else MV_VOTES if curve.strategy == "mv" else 0
        print(f"{curve.model:13s} {curve.category:17s} {curve.strategy:9s} {curve.family:25s} "
              f"acc({x:g})={float(curve.accuracy(x)):.3f} source={curve.source}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
