"""``tpf fit accuracy`` and ``tpf predict accuracy``.

    tpf fit accuracy --data ACCURACY.csv --out CARD.yaml [--family saturating|delayed|interpolated|auto]
                     [--cot-lengths MODEL=PER_QUESTION.csv ...] [--tokens-per-word 1.33]
    tpf predict accuracy --card CARD.yaml --data POINTS.csv --out PRED.csv

``fit`` writes an accuracy card (atomically: an existing card is replaced only
once the fit succeeded) and prints one line per curve. ``predict`` copies the
points and adds ``accuracy_pred``, ``accuracy_lo``, ``accuracy_hi`` (95% Wilson
interval for the curve's item count), ``in_range`` (the budget or vote count
lies in the fitted range) and ``source``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from tpf.cards import SOURCES, AccuracyCard, save_card, sha256_file
from tpf.errors import DataError
from tpf.fit.accuracy import (
    DEFAULT_FAMILY,
    DEFAULT_TAU_TOKENS,
    DEFAULT_TAU_VOTES,
    FIT_FAMILIES,
    AccuracyPriors,
    fit_accuracy,
    predict_accuracy,
)
from tpf.fit.importers import load_card_as, with_table_hint, write_table
from tpf.lengths import TOKENS_PER_WORD, attach_lengths, lengths_from_per_question
from tpf.schema import read_accuracy, read_csv_text


def _fit_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpf fit accuracy", description="Fit an accuracy card.")
    parser.add_argument("--data", required=True, help="accuracy table CSV (aggregated or per-item rows)")
    parser.add_argument("--out", required=True, help="card YAML to write")
    parser.add_argument("--family", choices=FIT_FAMILIES, default=DEFAULT_FAMILY,
                        help="cot/mv curve family (default: %(default)s, the least leave-one-out error per curve)")
    parser.add_argument("--source", choices=SOURCES, default="measured",
                        help="label of curves not fitted by a fallback rule (default: %(default)s)")
    parser.add_argument("--tau-tokens", type=float, default=DEFAULT_TAU_TOKENS,
                        help="prior CoT time constant in tokens for curves with < 3 budgets "
                        "(default: %(default)s)")
    parser.add_argument("--tau-votes", type=float, default=DEFAULT_TAU_VOTES,
                        help="prior MV time constant in votes for curves with < 3 vote counts "
                        "(default: %(default)s)")
    parser.add_argument("--cot-lengths", action="append", default=[], metavar="MODEL=CSV",
                        help="per-question CoT lengths of MODEL (columns category, cot_words): each cot "
                        "curve of the model then carries its length distribution, and options are "
                        "charged min(L, budget) tokens (repeatable)")
    parser.add_argument("--tokens-per-word", type=float, default=TOKENS_PER_WORD,
                        help="tokens per word of the CoT lengths (default: %(default)s, an estimate)")
    return parser


def _with_lengths(card: AccuracyCard, specs: list[str], tokens_per_word: float) -> AccuracyCard:
    """Attach the length distributions of ``MODEL=CSV`` specs to the card's cot curves."""
    lengths = {}
    for spec in specs:
        model, sep, path = spec.partition("=")
        if not sep or not model or not path:
            raise DataError(f"--cot-lengths: expected MODEL=CSV, got {spec!r}")
        table = read_csv_text(path)
        for category, dist in lengths_from_per_question(table, where=path, tokens_per_word=tokens_per_word).items():
            lengths[(model, category)] = dist
    return attach_lengths(card, lengths)


def _predict_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpf predict accuracy",
                                     description="Predict accuracy with an accuracy card.")
    parser.add_argument("--card", required=True, help="accuracy card YAML")
    parser.add_argument("--data", required=True,
                        help="CSV with model, category, strategy [, budget_tokens, votes]")
    parser.add_argument("--out", required=True, help="CSV to write")
    return parser


def _fit(argv: list[str]) -> int:
    args = _fit_parser().parse_args(argv)
    for name, value in (("--tau-tokens", args.tau_tokens), ("--tau-votes", args.tau_votes)):
        if not value > 0:
            raise DataError(f"{name}: must be > 0, got {value}")
    try:
        table = read_accuracy(args.data)
    except DataError as exc:
        raise with_table_hint(exc, args.data, "accuracy") from exc
    card = fit_accuracy(
        table, priors=AccuracyPriors(args.tau_tokens, args.tau_votes), family=args.family,
        source=args.source, data_sha256=sha256_file(args.data), table_name=str(args.data),
        provenance={"data": str(args.data), "command": "tpf fit accuracy " + " ".join(argv)},
    )
    card = _with_lengths(card, args.cot_lengths, args.tokens_per_word)
    save_card(card, args.out)
    _print_summary(card)
    print(f"wrote {args.out}")
    return 0


def _print_summary(card: AccuracyCard) -> None:
    print(f"{'model':24s} {'category':18s} {'strategy':9s} {'family':25s} {'x_range':>13s} "
          f"{'heldout_mae':>11s}  source")
    for curve in card.curves:
        x_range = "-" if curve.strategy == "zero_shot" else f"{curve.x_range[0]:g}..{curve.x_range[1]:g}"
        mae = "-" if curve.heldout_mae is None else f"{curve.heldout_mae:.4f}"
        flag = " (fallback)" if "fallback" in curve.params else ""
        print(f"{curve.model:24s} {curve.category:18s} {curve.strategy:9s} {curve.family:25s} "
              f"{x_range:>13s} {mae:>11s}  {curve.source}{flag}")


def _predict(argv: list[str]) -> int:
    args = _predict_parser().parse_args(argv)
    card = load_card_as(args.card, AccuracyCard, "tpf predict accuracy needs an accuracy card")
    points = read_csv_text(args.data)
    predicted = predict_accuracy(card, points, table_name=str(args.data))
    write_table(predicted, args.out)
    outside = int((~predicted["in_range"].astype(bool)).sum())
    print(f"wrote {args.out}: {len(predicted)} rows"
          + (f", {outside} outside their curve's fitted range (in_range=False)" if outside else ""))
    return 0


def main(argv: Sequence[str]) -> int:
    """``argv[0]`` is ``fit`` or ``predict``; the rest are the options."""
    command, rest = argv[0], list(argv[1:])
    if command == "fit":
        return _fit(rest)
    if command == "predict":
        return _predict(rest)
    raise DataError(f"tpf accuracy: unknown command {command!r}; valid: fit, predict")
