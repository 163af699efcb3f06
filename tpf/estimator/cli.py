"""``tpf estimator``: fit a text estimator on a question file, or score one on held-out questions.

    tpf estimator fit  --data TRAIN.jsonl.gz --out EST [--model TAG=MODEL ...] [--features hashed|embed]
    tpf estimator eval --estimator EST --data TEST.jsonl.gz --out METRICS.json [--baseline-data TRAIN.jsonl.gz]
                       [--energy-card TAG=CARD ...]
    tpf estimator show --estimator EST --text "..."

``eval`` writes the metrics to METRICS.json and onto the estimator's card
(``held_out``, keyed by the data file's sha256, with the file name); with
``--baseline-data`` it adds the category-mean baselines computed from that file
and the routing comparison (:mod:`tpf.estimator.routing`: per-query against
per-category routing between the first and the last model, at equal
large-model share and, with an ``--energy-card`` per model, at equal realized
energy; paired bootstrap intervals; the oracle). ``--features embed`` fits the
embedding estimator (optional extra ``tpf[embed]``); ``--embed-cache FILE.npz``
keeps the sentence embeddings between runs.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tpf.atomic import not_a_folder
from tpf.errors import EstimatorError, TpfError

if TYPE_CHECKING:
    from tpf.estimator.model import TextEstimator


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tpf estimator", description="Fit or evaluate a text estimator.")
    sub = parser.add_subparsers(dest="action", required=True)
    fit = sub.add_parser("fit", help="fit on a question file (.jsonl or .jsonl.gz)")
    fit.add_argument("--data", required=True)
    fit.add_argument("--out", required=True, help="estimator folder to write (card.yaml, weights.npz)")
    fit.add_argument("--model", action="append", metavar="TAG=MODEL",
                     help="data tag to tpf model id (default 8b=llama-3.1-8b 70b=llama-3.1-70b)")
    fit.add_argument("--n-buckets", type=int, default=1 << 16, help="hash buckets (default 65536)")
    fit.add_argument("--provenance", default="", help="where the data comes from (written on the card)")
    fit.add_argument("--ngram-max", type=int, default=1, choices=[1, 2],
                     help="1: words (default); 2: words and word pairs")
    fit.add_argument("--features", choices=["hashed", "embed"], default="hashed",
                     help="hashed: hashed TF-IDF (default, no extra); embed: MiniLM sentence embeddings + metadata")
    fit.add_argument("--embed-cache", help="npz file keeping sentence embeddings between runs (--features embed)")
    evaluate = sub.add_parser("eval", help="held-out metrics, written to METRICS.json and the card")
    evaluate.add_argument("--estimator", required=True)
    evaluate.add_argument("--data", required=True)
    evaluate.add_argument("--out", required=True)
    evaluate.add_argument("--baseline-data", help="training file for the category-mean baselines and routing")
    evaluate.add_argument("--energy-card", action="append", metavar="TAG=CARD",
                          help="energy card per model tag, for routing at equal realized energy")
    evaluate.add_argument("--batch", type=float, default=8.0, help="batch size of the energy cards (default 8)")
    evaluate.add_argument("--n-boot", type=int, default=2000, help="bootstrap resamples (default 2000)")
    evaluate.add_argument("--embed-cache", help="npz file keeping sentence embeddings between runs")
    show = sub.add_parser("show", help="print the estimate for one text")
    show.add_argument("--estimator", help="estimator folder (default: the shipped MMLU-Pro estimator)")
    show.add_argument("--text", required=True)
    return parser


def _models(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    out = {}
    for pair in pairs:
        tag, sep, model = pair.partition("=")
        if not sep or not tag or not model:
            raise EstimatorError(f"--model: expected TAG=MODEL, got {pair!r}")
        out[tag] = model
    return out


def _quoted(arg: str) -> str:
    return arg if arg and all(ch.isalnum() or ch in "-_./=@:" for ch in arg) else repr(arg)


def check_out_folder(out: Path) -> None:
    """``--out`` must be a folder (or a new path whose existing parts are folders)."""
    problem = not_a_folder(out)
    if problem:
        raise EstimatorError(f"--out: {out} {problem} a file, not a folder; the estimator is a folder "
                             "(card.yaml, weights.npz): give a new or existing folder")


def _fit(args: argparse.Namespace) -> int:
    from tpf.cards import sha256_file
    from tpf.estimator.data import read_questions
    from tpf.estimator.fit import DEFAULT_MODELS, FitSettings, fit_estimator

    models = _models(args.model) or dict(DEFAULT_MODELS)
    if not 1 <= args.n_buckets <= 1 << 22:
        raise EstimatorError(f"--n-buckets must be in [1, 4194304], got {args.n_buckets}")
    check_out_folder(Path(args.out))  # before the fit, which can take minutes
    table = read_questions(args.data, tuple(models))
    source = {"data_file": Path(args.data).name, "data_sha256": sha256_file(args.data),
              "command": "tpf " + " ".join(_quoted(a) for a in args.argv),
              **({"provenance": args.provenance} if args.provenance else {})}
    estimator: TextEstimator
    if args.features == "embed":
        from tpf.estimator.dense_model import fit_dense_estimator

        estimator = fit_dense_estimator(table, models, source=source, embed_cache=args.embed_cache)
    else:
        estimator = fit_estimator(table, models, FitSettings(n_buckets=args.n_buckets, ngram_max=args.ngram_max),
                                  source)
    folder = estimator.save(args.out)
    print(f"fitted on {len(table)} questions in {estimator.card['training']['fit_seconds']} s: "
          f"{len(estimator.classes)} classes, models {list(models.values())} -> {folder}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from tpf.atomic import write_text_atomic
    from tpf.cards import sha256_file
    from tpf.estimator.data import read_questions
    from tpf.estimator.metrics import baseline_metrics, estimator_metrics
    from tpf.estimator.model import load_estimator

    estimator = load_estimator(args.estimator)
    if args.embed_cache and hasattr(estimator, "embed_cache"):
        estimator.embed_cache = args.embed_cache
    if not 10 <= args.n_boot <= 100_000:
        raise EstimatorError(f"--n-boot must be in [10, 100000], got {args.n_boot}")
    tags = {stats.tag: stats.model for stats in estimator.models}
    test = read_questions(args.data, tuple(tags))
    metrics: dict[str, Any] = {"data_file": Path(args.data).name, "data_sha256": sha256_file(args.data),
                               "estimator": estimator_metrics(estimator, test)}
    if args.baseline_data:
        train = read_questions(args.baseline_data, tuple(tags))
        predicted = estimator.estimate_many(test.texts)["class_probs"].argmax(axis=1)
        metrics["baselines"] = {
            "category_mean": baseline_metrics(train, test, tags),
            "predicted_category_mean": baseline_metrics(
                train, test, tags, [estimator.classes[i] for i in predicted]),
        }
        from tpf.estimator.routing_cli import routing_metrics

        metrics["routing"] = routing_metrics(estimator, train, test, _models(args.energy_card) or {},
                                             args.batch, args.n_boot)
    write_text_atomic(args.out, json.dumps(metrics, indent=2) + "\n")
    estimator.card.setdefault("held_out", {})[metrics["data_sha256"]] = metrics
    estimator.save(args.estimator)
    _print_metrics(metrics["estimator"])
    if "routing" in metrics:
        from tpf.estimator.routing_cli import print_routing

        print_routing(metrics["routing"])
    print(f"metrics -> {args.out}; card -> {Path(args.estimator) / 'card.yaml'}")
    return 0


def _print_metrics(metrics: dict[str, Any]) -> None:
    print(f"{metrics['n_rows']} questions, class accuracy {metrics['class_accuracy']:.3f}")
    for model, row in metrics["models"].items():
        print(f"  {model}: Brier {row['brier']:.4f}, ECE {row['calibration_error']:.3f}, AUC {_fmt(row['auc'])}, "
              f"log-words R^2 {row['log_words_r2']:.3f}, runaway AUC {_fmt(row['runaway_auc'])}, "
              f"length quantile coverage q50 {row['log_words_q50_coverage']:.3f} q90 {row['log_words_q90_coverage']:.3f}")


def _fmt(value: float | None) -> str:
    return "n/a (one label only)" if value is None else f"{value:.3f}"


def _show(args: argparse.Namespace) -> int:
    from tpf.estimator.model import load_estimator

    estimator = load_estimator(args.estimator)
    estimate = estimator.estimate(args.text)
    top = estimate.class_probs.argsort()[::-1][:3]
    print("classes: " + ", ".join(f"{estimator.classes[i]} {estimate.class_probs[i]:.2f}" for i in top))
    for index, stats in enumerate(estimator.models):
        print(f"{stats.model}: P(correct) {estimate.p_correct[index]:.2f}, "
              f"P(runaway) {estimate.p_runaway[index]:.2f}, "
              f"median words (no runaway) {math.exp(float(estimate.log_words_ok[index])):.0f}")
    if estimate.fallback:
        print(f"fallback: {estimate.fallback}")
    return 0


def main(argv: list[str]) -> int:
    """Entry point; ``argv[0]`` is the command name ``estimator``."""
    args = _parser().parse_args(argv[1:])
    args.argv = list(argv)
    try:
        return {"fit": _fit, "eval": _eval, "show": _show}[args.action](args)
    except TpfError as exc:
        print(f"tpf estimator {args.action}: error: {exc}", file=sys.stderr)
        return 1
