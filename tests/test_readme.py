"""The README documents the measurement table the readers enforce, and its set-up commands."""

from __future__ import annotations

from tests.conftest import REPO_ROOT
from tpf.schema import ACCURACY_AGGREGATED_COLUMNS, ACCURACY_PER_ITEM_COLUMNS, MEASUREMENT_COLUMNS

README = (REPO_ROOT / "README.md").read_text()


def test_readme_lists_every_measurement_column():
    missing = [c.name for c in MEASUREMENT_COLUMNS if f"`{c.name}`" not in README]
    assert missing == []


def test_readme_names_every_accuracy_column():
    names = {c.name for c in (*ACCURACY_AGGREGATED_COLUMNS, *ACCURACY_PER_ITEM_COLUMNS)}
    assert [n for n in sorted(names) if n not in README] == []


def test_ci_runs_the_readme_test_command():
    ci = (REPO_ROOT / ".ci" / "run").read_text()
    command = next(line.strip().removeprefix("# ").strip() for line in README.splitlines()
                   if "pytest" in line and "pip install" in line)
    assert command in ci
