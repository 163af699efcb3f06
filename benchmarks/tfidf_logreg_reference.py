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
* ``sublinear_bigrams_cv``: sublinear tf, word uni- and bigrams (min_df 2),
  the penalty of each head chosen by 5-fold cross-validation on the training
  split (log loss for the classifiers, R^2 for the length);
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

from tpf.estimator.data import QuestionTable, read_questions  # noqa: E402
from tpf.estimator.fit import log_words  # noqa: E402
from tpf.estimator.metrics import auc, brier, calibration_error, r_squared  # noqa: E402

TAGS = {"8b": "llama-3.1-8b", "70b": "llama-3.1-70b"}
C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)
ALPHA_GRID = (0.3, 1.0, 3.0, 10.0)


def _scores(class_acc: float, p_correct: dict[str, np.ndarray], log_len: dict[str, np.ndarray],
            test: QuestionTable) -> dict[str, Any]:
    models = {}
    for tag, model in TAGS.items():
        y = test.correct[tag]
        models[model] = {"brier": round(brier(p_correct[tag], y), 4), "auc": round(auc(p_correct[tag], y) or 0.0, 4),
                         "calibration_error": round(calibration_error(p_correct[tag], y), 4),
                         "log_words_r2": round(r_squared(log_len[tag], log_words(test.cot_words[tag])), 4)}
    return {"class_accuracy": round(class_acc, 4), "models": models}


def _variant(train: QuestionTable, test: QuestionTable, cross_validate: bool) -> dict[str, Any]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV, Ridge, RidgeCV

    started = time.process_time()
    vectorizer = (TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2) if cross_validate
                  else TfidfVectorizer())
    x_train, x_test = vectorizer.fit_transform(train.texts), vectorizer.transform(test.texts)
    chosen: dict[str, float] = {}

    def classifier(target: np.ndarray, name: str) -> Any:
        if not cross_validate:
            return LogisticRegression(max_iter=2000).fit(x_train, target)
        model = LogisticRegressionCV(Cs=list(C_GRID), cv=5, scoring="neg_log_loss", max_iter=2000).fit(x_train, target)
        chosen[name] = float(np.atleast_1d(model.C_)[0])
        return model

    classes = classifier(np.array(train.categories), "C_class")
    class_acc = float(np.mean(classes.predict(x_test) == np.array(test.categories)))
    p_correct, log_len = {}, {}
    for tag in TAGS:
        p_correct[tag] = classifier(train.correct[tag], f"C_correct_{tag}").predict_proba(x_test)[:, 1]
        target = log_words(train.cot_words[tag])
        if cross_validate:
            ridge = RidgeCV(alphas=list(ALPHA_GRID), cv=5).fit(x_train, target)
            chosen[f"alpha_log_words_{tag}"] = float(ridge.alpha_)
        else:
            ridge = Ridge().fit(x_train, target)
        log_len[tag] = ridge.predict(x_test)
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
    parser.add_argument("--variants", default="plain,sublinear_bigrams_cv")
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
        results[name] = _variant(train, test, cross_validate=name == "sublinear_bigrams_cv")
        print(name, json.dumps(results[name]), flush=True)
    if args.estimator:
        results["estimator"] = _estimator(args.estimator, test)
        print("estimator", json.dumps(results["estimator"]), flush=True)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
