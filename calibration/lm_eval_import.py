"""Import lm-evaluation-harness per-sample logs into the accuracy table.

``lm_eval --log_samples`` writes one ``samples_<task>_<timestamp>.jsonl`` per
task; each line holds ``doc_id``, the ``doc``, the ``arguments`` sent to the
model, the ``filter`` applied and the metric values (``acc``, ``acc_norm``,
``exact_match``...). Each (task, doc) becomes one accuracy row:

* ``item_id`` = ``<task>/<doc_id>``; ``category`` = the doc's ``category``
  (MMLU-Pro) or ``subject`` (MMLU), else the task name without its
  ``mmlu_pro_``/``mmlu_`` prefix;
* ``correct`` = the metric >= 0.5 (``acc``, else ``exact_match``, else
  ``acc_norm`` unless one is named);
* ``strategy`` = ``zero_shot`` for log-likelihood metrics, ``cot`` for
  ``exact_match``, unless given; ``budget_tokens`` = the generation's
  ``max_gen_toks`` where the log records it, else the given value;
* token counts and energy are unknown (left empty): ``source = lm-eval``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from tpf.errors import DataError

_FILE_NAME = re.compile(r"^samples_(?P<task>.+?)(?:_(?P<stamp>\d{4}-\d{2}-\d{2}T[\d\-.]+))?\.jsonl$")
METRIC_PREFERENCE = ("acc", "exact_match", "acc_norm")
_LOGLIKELIHOOD_METRICS = ("acc", "acc_norm")


def task_of(path: Path) -> str:
    match = _FILE_NAME.match(path.name)
    if not match:
        raise DataError(f"{path}: not an lm-eval per-sample log name (samples_<task>_<timestamp>.jsonl)")
    return match.group("task")


def _category(task: str, doc: dict[str, Any]) -> str:
    for key in ("category", "subject"):
        if doc.get(key):
            return str(doc[key])
    for prefix in ("mmlu_pro_", "mmlu_"):
        if task.startswith(prefix):
            return task[len(prefix):]
    return task


def _max_gen_toks(arguments: Any) -> int | None:
    """``max_gen_toks`` from a sample's arguments (dict or list layout), if recorded."""
    stack = [arguments]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if "max_gen_toks" in value:
                return int(value["max_gen_toks"])
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return None


def _read_samples(path: Path) -> list[dict[str, Any]]:
    records = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}, line {line_number}: not JSON: {exc}") from exc
        if not isinstance(record, dict) or "doc_id" not in record:
            raise DataError(f"{path}, line {line_number}: expected an object with doc_id")
        record["_line"] = line_number
        records.append(record)
    if not records:
        raise DataError(f"{path}: no samples")
    return records


def _pick_filter(path: Path, records: list[dict[str, Any]], wanted: str | None) -> list[dict[str, Any]]:
    filters = sorted({str(r.get("filter", "none")) for r in records})
    if wanted is not None:
        if wanted not in filters:
            raise DataError(f"{path}: filter {wanted!r} not in the log; filters present: {filters}")
        return [r for r in records if str(r.get("filter", "none")) == wanted]
    if len(filters) > 1:
        raise DataError(f"{path}: several filters {filters}; choose one (filter_name=...)")
    return records


def _pick_metric(path: Path, record: dict[str, Any], wanted: str | None) -> str:
    if wanted is not None:
        if wanted not in record:
            raise DataError(f"{path}, line {record['_line']}: metric {wanted!r} missing")
        return wanted
    for metric in METRIC_PREFERENCE:
        if metric in record:
            return metric
    raise DataError(f"{path}, line {record['_line']}: none of the metrics {list(METRIC_PREFERENCE)} present")


def import_samples(
    paths: Iterable[str | Path], model: str, strategy: str | None = None, budget_tokens: int = 0,
    votes: int = 1, metric: str | None = None, filter_name: str | None = None,
) -> list[dict[str, Any]]:
    """Accuracy rows (see :data:`calibration.accuracy.ACCURACY_COLUMNS`) of the logs ``paths``."""
    rows: list[dict[str, Any]] = []
    for path in map(Path, paths):
        if not path.is_file():
            raise DataError(f"{path}: lm-eval sample log does not exist")
        task = task_of(path)
        for record in _pick_filter(path, _read_samples(path), filter_name):
            rows.append(_row(path, task, record, model, strategy, budget_tokens, votes, metric))
    return rows


def _row(
    path: Path, task: str, record: dict[str, Any], model: str, strategy: str | None,
    budget_tokens: int, votes: int, metric: str | None,
) -> dict[str, Any]:
    chosen = _pick_metric(path, record, metric)
    try:
        score = float(record[chosen])
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}, line {record['_line']}: {chosen} is not a number: {record[chosen]!r}") from exc
    is_loglikelihood = chosen in _LOGLIKELIHOOD_METRICS
    row_strategy = strategy or ("zero_shot" if is_loglikelihood else "cot")
    budget = budget_tokens if is_loglikelihood else (_max_gen_toks(record.get("arguments")) or budget_tokens)
    raw_doc = record.get("doc")
    doc: dict[str, Any] = raw_doc if isinstance(raw_doc, dict) else {}
    return {
        "model": model, "category": _category(task, doc), "strategy": row_strategy,
        "budget_tokens": 0 if row_strategy == "zero_shot" else budget, "votes": votes,
        "item_id": f"{task}/{record['doc_id']}", "correct": score >= 0.5,
        "n_in_tokens": None, "n_out_tokens": None, "energy_j": None, "duration_s": None,
        "predicted": "", "answer": "", "hardware": "", "source": "lm-eval",
        "method": f"lm_eval:{chosen}:{record.get('filter', 'none')}", "weights": "pretrained", "status": "ok",
    }


def sha256_of(paths: Iterable[str | Path]) -> dict[str, str]:
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}
