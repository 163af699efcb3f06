"""Check command-line overrides before Hydra composes them.

Hydra already refuses an unknown key, but without saying which keys exist;
this check names the valid keys (or the valid options of a config group) for
every bad override at once.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from tpf.config.paths import conf_dir, scenario_names
from tpf.config.safety import INSTANTIATION_KEYS, hydra_override_problem
from tpf.config.schema import GROUPS, TpfConfig
from tpf.errors import ConfigError


def group_options(group: str) -> list[str]:
    """The options of a config group (``scenario`` included)."""
    if group == "scenario":
        return scenario_names()
    folder = conf_dir() / group
    return sorted(p.stem for p in folder.glob("*.yaml")) if folder.is_dir() else []


def _field_types(schema: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(schema)
    return {f.name: hints[f.name] for f in dataclasses.fields(schema)}


def key_problem(key: str) -> str | None:
    """The problem with a dotted config key, or None when the schema has it."""
    schema: Any = TpfConfig
    walked: list[str] = []
    for part in key.split("."):
        if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
            return None  # inside a list or a mapping: Hydra checks the rest
        fields = _field_types(schema)
        if part not in fields:
            where = ".".join(walked) or "the config"
            return f"{key}: unknown key; valid keys of {where}: {', '.join(fields)}"
        walked.append(part)
        schema = fields[part]
    return None


def _option_values(override: Any) -> list[str]:
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_string_iterator()]
    return [str(override.value())]


def override_problems(overrides: list[str]) -> list[str]:
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except HydraException as exc:
        return [f"overrides: {exc}"]
    problems = []
    for override in parsed:
        key = override.key_or_group
        if key == "hydra" or key.startswith(("hydra.", "hydra/")):
            problem = hydra_override_problem(key)
            problems += [problem] if problem else []
            continue
        if any(part in INSTANTIATION_KEYS for part in key.split(".")):
            problems.append(f"{key}: overrides may not name callables (_target_ and other instantiation keys)")
            continue
        if override.is_delete():
            continue
        if key in GROUPS or key == "scenario":
            valid = group_options(key)
            problems += [
                f"{key}: unknown option {value!r}; valid choices: {', '.join(valid)}"
                for value in _option_values(override) if value not in valid
            ]
            continue
        problem = key_problem(key)
        if problem:
            problems.append(problem)
    return problems


def check_overrides(overrides: list[str]) -> None:
    problems = override_problems(overrides)
    if problems:
        raise ConfigError(problems)
