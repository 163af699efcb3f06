"""The parameter catalog: every scenario parameter with unit, default, range and meaning.

``parameters.csv`` beside this module is the single table (STYLE item 3): it
validates a composed config (:func:`check_ranges`) and writes the parameter
reference in ``docs/scenarios.md`` (:func:`catalog_markdown`).

Key syntax: ``a.b`` a value, ``a.b[]`` every item of a list, ``a.b[].c`` a
field of every item, ``a.b.*`` every value of a mapping. Range syntax:
``[lo, hi]`` closed, ``(lo, hi]`` open at lo, ``inf`` allowed; or choices
``x|y|z``.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

CATALOG_PATH = Path(__file__).with_name("parameters.csv")


@dataclass(frozen=True)
class Parameter:
    key: str
    type: str
    unit: str
    default: str
    range: str
    meaning: str

    @property
    def choices(self) -> tuple[str, ...]:
        if "|" in self.range:
            return tuple(choice.strip() for choice in self.range.split("|"))
        return ()

    @property
    def bounds(self) -> tuple[float, float, bool, bool] | None:
        """(low, high, low_inclusive, high_inclusive), or None without a numeric range."""
        text = self.range.strip()
        if not text or "|" in text:
            return None
        low_text, high_text = text[1:-1].split(",")
        return float(low_text), float(high_text), text[0] == "[", text[-1] == "]"

    def problem(self, where: str, value: Any) -> str | None:
        """The problem with ``value`` at ``where``, or None when it is allowed."""
        if value is None:
            return None
        if self.choices and str(value) not in self.choices:
            return f"{where}: must be one of {', '.join(self.choices)}; got {value!r}"
        bounds = self.bounds
        if bounds is None or isinstance(value, bool) or not isinstance(value, int | float):
            return None
        low, high, low_in, high_in = bounds
        below = value < low or (value == low and not low_in) or math.isnan(value)
        above = value > high or (value == high and not high_in)
        if below or above:
            return f"{where}: must be in {self.range}, got {value}"
        return None


@cache
def load_catalog(path: Path = CATALOG_PATH) -> tuple[Parameter, ...]:
    with open(path, newline="") as handle:
        return tuple(Parameter(**row) for row in csv.DictReader(handle))


def _walk(node: Any, parts: list[str], where: str) -> Iterator[tuple[str, Any]]:
    """Yield (location, value) for every value a catalog key addresses in ``node``."""
    if not parts:
        yield where, node
        return
    head, rest = parts[0], parts[1:]
    if head == "*":
        for name, value in (node or {}).items():
            yield from _walk(value, rest, f"{where}.{name}")
        return
    is_list = head.endswith("[]")
    name = head[:-2] if is_list else head
    if not isinstance(node, dict) or name not in node:
        return
    child = node[name]
    location = f"{where}.{name}" if where else name
    if not is_list:
        yield from _walk(child, rest, location)
        return
    for index, item in enumerate(child or []):
        yield from _walk(item, rest, f"{location}[{index}]")


def check_ranges(config: dict[str, Any]) -> list[str]:
    """Every range/choice problem in a plain config dict, each with its key path."""
    problems = []
    for parameter in load_catalog():
        if not parameter.range:
            continue
        for where, value in _walk(config, parameter.key.split("."), ""):
            problem = parameter.problem(where, value)
            if problem:
                problems.append(problem)
    return problems


def catalog_markdown() -> str:
    """The parameter reference as a Markdown table (for docs/scenarios.md)."""
    lines = [
        "| key | unit | default | range | meaning |",
        "| --- | --- | --- | --- | --- |",
    ]
    for p in load_catalog():
        cells = [f"`{p.key}`", p.unit, p.default, p.range.replace("|", " \\| "), p.meaning]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(catalog_markdown())
