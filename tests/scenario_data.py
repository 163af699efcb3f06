"""Shipped scenarios whose data files are present, for tests that run every scenario.

A scenario may name reference data beside the repository (``../shared/data``);
the suite needs no such data, so a scenario whose files are absent is skipped
with the missing path named.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tpf.config.paths import DATA_PREFIX, resolve_path, scenario_names, scenarios_dir
from tpf.errors import ConfigError

_CSV_PATH = re.compile(r"csv_path:\s*([^\s,}]+)")


def _absent(path: str, root: Path) -> bool:
    if path.startswith(DATA_PREFIX):   # the data folder (TPF_DATA, else ../shared/data)
        try:
            return not resolve_path(path).is_file()
        except ConfigError:
            return True
    return not (root / path).is_file()


def missing_files(scenario: str) -> list[str]:
    """Files the scenario names (``csv_path`` values) that do not exist from the repository root
    or, for ``data:`` paths, in the data folder."""
    text = (Path(scenarios_dir()) / f"{scenario}.yaml").read_text()
    root = Path(__file__).resolve().parent.parent
    return [path for path in dict.fromkeys(_CSV_PATH.findall(text)) if _absent(path, root)]


def runnable_scenarios() -> list[str]:
    """The shipped scenarios whose data files are all present."""
    return [name for name in scenario_names() if not missing_files(name)]


def scenario_params() -> list:
    """Every shipped scenario as a pytest parameter, skipped where its data files are absent."""
    return [pytest.param(name, marks=pytest.mark.skip(reason=f"data absent: {', '.join(missing)}"))
            if (missing := missing_files(name)) else name for name in scenario_names()]
