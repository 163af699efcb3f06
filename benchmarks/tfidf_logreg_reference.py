"""The TF-IDF + logistic regression reference against the text estimator, on the same split.

    /tmp/skl/bin/python benchmarks/tfidf_logreg_reference.py \\
        --train /tmp/mmlu_split/train.jsonl.gz --test /tmp/mmlu_split/test.jsonl.gz \\
        --estimator /tmp/est --out /tmp/reference.json

scikit-learn is not a tpf dependency: run this with an interpreter that has it
(e.g. a separate venv: ``python3 -m venv /tmp/skl && /tmp/skl/bin/pip install
scikit-learn numpy scipy pyyaml``); without it the script says so and stops.

Variants, each scored with the same metrics as ``tpf estimator eval``
(class accuracy; Brier, AUC and calibration error of P(correct) per model;
R^2 of log words per model):

* ``plain``: ``TfidfVectorizer()`` defaults, ``LogisticRegression()`` (C = 1)
  for the class and P(correct), ``Ridge()`` (alpha = 1) for log words;
* ``tuned``: sublinear tf, word uni- and bigrams (min_df 2), the penalty of
  each head chosen on a seeded 15 % validation split of the training file
  (log loss for the classifiers, R^2 for the length), then refitted on all of it;
* ``estimator``: the tpf estimator given with ``--estimator`` (optional).

The query text is the one the estimator sees (question, then one option per
line: :func:`tpf.estimator.data.query_text`).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.estimator.data import QuestionTable, read_questions, stratified_split  # noqa: E402
from tpf.estimator.fit import log_words  # noqa: E402
from tpf.estimator.metrics import auc, brier, calibration_error, r_squared  # noqa: E402

TAGS = {"8b": "llama-3.1-8b", "70b": "llama-3.1-70b"}
C_CLASS_GRID = (4.0, 16.0, 64.0)
C_BINARY_GRID = (0.5, 1.0, 2.0, 4.0)
ALPHA_GRID = (0.3, 1.0, 3.0)
VALIDATION_SHARE = 0.15


def _scores(class_acc: float, p_correct: dict[str, np.ndarray], log_len: dict[str, np.ndarray],
            test: QuestionTable) -> dict[str, Any]:
    models = {}
    for tag, model in TAGS.items():
        y = test.correct[tag]
        models[model] = {"brier": round(brier(p_correct[tag], y), 4), "auc": round(auc(p_correct[tag], y) or 0.0, 4),
                         "calibration_error": round(calibration_error(p_correct[tag], y), 4),
                         "log_words_r2": round(r_squared(log_len[tag], log_words(test.cot_words[tag])), 4)}
    return {"class_accuracy": round(class_acc, 4), "models": models}


def _choose(fit_model: Any, grid: tuple[float, ...], score: Any) -> float:
    """The grid value whose model scores best (lowest) on the validation rows."""
    return min(grid, key=lambda value: score(fit_model(value)))


def _variant(train: QuestionTable, test: QuestionTable, tuned: bool) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.metrics import log_loss

    started = time.process_time()
    vectorizer = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2) if tuned else TfidfVectorizer()
    x_train, x_test = vectorizer.fit_transform(train.texts), vectorizer.transform(test.texts)
    fit_rows, val_rows = stratified_split(train.categories, VALIDATION_SHARE, 0)
    chosen: dict[str, float] = {}

    def classifier(target: np.ndarray, name: str, grid: tuple[float, ...]) -> Any:
        c_value = 1.0
        if tuned:
            def fitted(c: float) -> Any:
                return LogisticRegression(C=c, max_iter=1000).fit(x_train[fit_rows], target[fit_rows])
            c_value = chosen[name] = _choose(fitted, grid, lambda m: log_loss(
                target[val_rows], m.predict_proba(x_train[val_rows]), labels=m.classes_))
        return LogisticRegression(C=c_value, max_iter=1000).fit(x_train, target)

    classes = classifier(np.array(train.categories), "C_class", C_CLASS_GRID)
    class_acc = float(np.mean(classes.predict(x_test) == np.array(test.categories)))
    p_correct, log_len = {}, {}
    for tag in TAGS:
        p_correct[tag] = classifier(train.correct[tag], f"C_correct_{tag}", C_BINARY_GRID).predict_proba(x_test)[:, 1]
        target = log_words(train.cot_words[tag])
        alpha = 1.0
        if tuned:
            alpha = chosen[f"alpha_log_words_{tag}"] = _choose(
                lambda a, y=target: Ridge(alpha=a).fit(x_train[fit_rows], y[fit_rows]), ALPHA_GRID,
                lambda m, y=target: -r_squared(m.predict(x_train[val_rows]), y[val_rows]))
        log_len[tag] = Ridge(alpha=alpha).fit(x_train, target).predict(x_test)
    out = _scores(class_acc, p_correct, log_len, test)
    out.update({"n_features": int(x_train.shape[1]), "chosen": chosen,
                "cpu_seconds": round(time.process_time() - started, 1)})
    return out


def _estimator(folder: str, test: QuestionTable) -> dict[str, Any]:
    from tpf.estimator.model import load_estimator

    estimator = load_estimator(folder)
    out = estimator.estimate_many(test.texts)
    predicted = np.array(estimator.classes)[np.argmax(out["class_probs"], axis=1)]
    index = {stats.tag: i for i, stats in enumerate(estimator.models)}
    return _scores(float(np.mean(predicted == np.array(test.categories))),
                   {tag: out["p_correct"][:, index[tag]] for tag in TAGS},
                   {tag: out["log_words"][:, index[tag]] for tag in TAGS}, test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True)
    parser.add_argument("--test", required=True)
    parser.add_argument("--estimator", help="a tpf estimator folder to score on the same test file")
    parser.add_argument("--variants", default="plain,tuned")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    try:
        import sklearn
    except ImportError:
        sys.exit("scikit-learn is not importable here; run this script with an interpreter that has it "
                 "(see the module docstring)")
    train, test = read_questions(args.train), read_questions(args.test)
    results: dict[str, Any] = {"train": args.train, "test": args.test, "n_train": len(train), "n_test": len(test),
                               "sklearn": sklearn.__version__}
    for name in args.variants.split(","):
        results[name] = _variant(train, test, tuned=name == "tuned")
        print(name, json.dumps(results[name]), flush=True)
    if args.estimator:
        results["estimator"] = _estimator(args.estimator, test)
        print("estimator", json.dumps(results["estimator"]), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
