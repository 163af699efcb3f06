"""Check command-line overrides before Hydra composes them.

Hydra already refuses an unknown key, but without saying which keys exist;
this check names the valid keys (or the valid options of a config group) for
every bad override at once.
"""

from __future__ import annotations

import dataclasses
import os
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tpf.config.paths import SCENARIO_GROUP, group_options
from tpf.config.safety import INSTANTIATION_KEYS, hydra_override_problem
from tpf.config.schema import GROUPS, TpfConfig
from tpf.errors import ConfigError

#: Keys that no longer exist, with what replaced them.
REPLACED_KEYS = {
    "planner.constraints": "a cap is on when its value is set and off when null "
    "(planner.carbon_budget_kg, planner.it_energy_period_kwh, planner.it_energy_horizon_kwh, "
    "planner.it_power_kw, facility.power_cap_kw, planner.accuracy_floors); "
    "GPU capacity: planner.gpu_capacity",
    "planner.it_energy_kwh_per_period": "renamed planner.it_energy_period_kwh",
    "planner.it_energy_kwh": "renamed planner.it_energy_horizon_kwh",
    "planner.it_power_cap_kw": "renamed planner.it_power_kw",
}


@dataclass(frozen=True)
class CommandLine:
    """A Hydra command line split into its overrides and the user's config folders."""

    overrides: list[str]
    config_dirs: list[Path]
    flags: dict[str, Any]


def parse_command_line(args: Sequence[str]) -> CommandLine:
    """Parse ``args`` as Hydra does (``--cfg job`` and ``--cfg=job`` alike); the
    config folders are ``--config-dir`` and the ``file`` entries of ``hydra.searchpath``."""
    from hydra._internal.utils import get_args_parser

    parser = get_args_parser()
    parser.exit_on_error = False
    try:
        namespace = parser.parse_args(list(args))
    except (Exception, SystemExit) as exc:  # argparse reports some errors by exiting
        raise ConfigError(f"command line: cannot parse {' '.join(args)!r}: {exc}") from exc
    overrides = list(namespace.overrides or [])
    dirs = [Path(namespace.config_dir).expanduser().resolve()] if namespace.config_dir else []
    dirs += searchpath_dirs(overrides)
    return CommandLine(overrides, dirs, vars(namespace))


def options_first(args: Sequence[str]) -> list[str]:
    """``args`` with Hydra's options (and their values) moved before the overrides, in their order:
    argparse takes the overrides as one run of positional arguments, so an option after an
    override (``report=minimal --config-dir D``) would leave the overrides after it unparsed."""
    from hydra._internal.utils import get_args_parser

    actions = get_args_parser()._option_string_actions
    options: list[str] = []
    overrides: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        following = args[index + 1] if index + 1 < len(args) else None
        if not arg.startswith("-"):
            overrides.append(arg)
        else:
            options.append(arg)
            action = actions.get(arg)
            takes = action is not None and following is not None and (
                action.nargs is None or (action.nargs == "?" and not following.startswith("-")
                                         and (action.choices is None or following in action.choices)))
            if takes:
                options.append(str(following))
                index += 1
        index += 1
    return options + overrides


def searchpath_dirs(overrides: Sequence[str]) -> list[Path]:
    """The local folders named by a ``hydra.searchpath=[...]`` override (``pkg://`` skipped)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    wanted = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") == "hydra.searchpath"]
    try:
        parsed = OverridesParser.create().parse_overrides(wanted)
    except HydraException:
        return []
    dirs = []
    for override in parsed:
        value = override.value()
        for entry in value if isinstance(value, list) else [value]:
            text = str(entry)
            if "://" in text and not text.startswith("file://"):
                continue
            dirs.append(Path(os.path.expanduser(text.removeprefix("file://"))).resolve())
    return dirs


def config_dir_problems(config_dirs: Sequence[Path]) -> list[str]:
    """One line per config folder that is not a folder: a file, something else, or nothing."""
    problems = []
    for folder in config_dirs:
        if folder.is_dir():
            continue
        if folder.is_file():
            problems.append(f"--config-dir / hydra.searchpath: {folder} is a file, not a folder "
                            "(give the folder that holds scenario/, fleet/, ...)")
        elif folder.exists():
            problems.append(f"--config-dir / hydra.searchpath: {folder} is not a folder")
        else:
            problems.append(f"--config-dir / hydra.searchpath: folder not found: {folder}")
    return problems


def _field_types(schema: type[Any]) -> dict[str, Any]:
    hints = typing.get_type_hints(schema)
    return {f.name: hints[f.name] for f in dataclasses.fields(schema)}


def key_problem(key: str) -> str | None:
    """The problem with a dotted config key, or None when the schema has it."""
    for old, hint in REPLACED_KEYS.items():
        if key == old or key.startswith(old + "."):
            return f"{key}: no longer a key: {hint}"
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


NUMBER_TYPES = (int, float, int | None, float | None)


def _leaf_type(key: str) -> Any:
    """The schema type of a dotted key (None inside lists and mappings or for unknown keys)."""
    schema: Any = TpfConfig
    for part in key.split("."):
        if not (isinstance(schema, type) and dataclasses.is_dataclass(schema)):
            return None
        schema = _field_types(schema).get(part)
    return schema


def value_problems(override: Any) -> list[str]:
    """Text given where the schema wants a number, named by key (Hydra's own message is a stack of lines)."""
    leaf = _leaf_type(override.key_or_group)
    if leaf not in NUMBER_TYPES or (override.is_sweep_override() and not override.is_discrete_sweep()):
        return []
    values = override.sweep_iterator() if override.is_sweep_override() else [override.value()]
    allowed = "a number or null" if leaf in (int | None, float | None) else "a number"
    return [f"{override.key_or_group}: must be {allowed}, got {value!r}"
            for value in values if isinstance(value, str) and not _is_number(value)]


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _option_values(override: Any) -> list[str]:
    if override.is_sweep_override():
        return [str(v) for v in override.sweep_string_iterator()]
    return [str(override.value())]


def override_problems(overrides: list[str], config_dirs: Sequence[Path] = ()) -> list[str]:
    """Every unknown key or group option in ``overrides``; the options of each group
    include those in the user's ``config_dirs``."""
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
        if key in GROUPS or key == SCENARIO_GROUP:
            valid = group_options(key, config_dirs)
            problems += [
                f"{key}: unknown option {value!r}; valid choices: {', '.join(valid)}"
                for value in _option_values(override) if value not in valid
            ]
            continue
        problem = key_problem(key)
        problems += [problem] if problem else value_problems(override)
    return problems


def check_overrides(overrides: list[str], config_dirs: Sequence[Path] = ()) -> None:
    problems = config_dir_problems(config_dirs) or override_problems(overrides, config_dirs)
    if problems:
        raise ConfigError(problems)
