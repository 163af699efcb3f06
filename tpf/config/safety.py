"""What a scenario file and a command line may set: a scenario is data, never code.

A scenario (``scenarios/NAME.yaml``, or one a planner received from someone
else) may only set values of tpf's own config groups and select their
options. It may not:

* carry a ``_target_`` (or any other Hydra instantiation key: ``_partial_``,
  ``_args_``, ``_recursive_``, ``_convert_``) at any depth: only tpf's own
  config groups in ``conf/`` name callables;
* set any ``hydra`` key (callbacks, run and sweep folders, logging, search
  path), nor select a ``hydra/...`` option in its ``defaults`` list;
* use a resolver interpolation such as ``${oc.env:VAR}`` or ``${now:...}``
  (a plain reference to another key, ``${workload.n_periods}``, is fine).

The same rules hold for every YAML file of a user's config folders
(``--config-dir``, ``hydra.searchpath``), whose options Hydra reads as it reads
the packaged ones; and a ``# @package`` line may not point into ``hydra``.
:func:`check_config_files` runs the checks on the selected scenario and on
those folders before Hydra starts.

On the command line the user is in charge, yet only these Hydra settings are
accepted (anything else under ``hydra`` is refused, as is ``_target_``):
``hydra.run.dir``, ``hydra.sweep.dir``, ``hydra.sweep.subdir``,
``hydra.searchpath``, ``hydra.verbose``, ``hydra/launcher=NAME`` and the
launcher's own settings ``hydra.launcher.KEY`` (its ``_target_`` excepted),
and the logging choices ``hydra/job_logging=NAME``, ``hydra/hydra_logging=NAME``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml

from tpf.config.paths import scenarios_dir
from tpf.config.schema import GROUPS
from tpf.errors import ConfigError

INSTANTIATION_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")
COMMAND_LINE_HYDRA_KEYS = (
    "hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir", "hydra.searchpath", "hydra.verbose",
)
COMMAND_LINE_HYDRA_GROUPS = ("hydra/launcher", "hydra/job_logging", "hydra/hydra_logging")
_RESOLVER_CALL = re.compile(r"\$\{\s*[A-Za-z_][\w.]*\s*:")
_PACKAGE_LINE = re.compile(r"^\s*#\s*@package\s+(\S+)", re.MULTILINE)


def _walk(value: Any, where: str) -> Iterable[tuple[str, Any, Any]]:
    """Every (place, key, value) of a nested mapping/list, depth first."""
    if isinstance(value, dict):
        for key, item in value.items():
            place = f"{where}.{key}" if where else str(key)
            yield place, key, item
            yield from _walk(item, place)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            place = f"{where}[{index}]"
            yield place, index, item
            yield from _walk(item, place)


def _defaults_problems(defaults: Any, source: str) -> list[str]:
    if not isinstance(defaults, list):
        return [f"{source}: defaults: must be a list of 'override /GROUP: OPTION' entries"]
    problems = []
    allowed = set(GROUPS)
    for index, entry in enumerate(defaults):
        if entry == "_self_":
            continue
        keys = list(entry) if isinstance(entry, dict) else [entry]
        for key in keys:
            group = re.sub(r"^(override|optional)\s+", "", str(key).strip()).lstrip("/").split("@")[0]
            if group not in allowed:
                problems.append(
                    f"{source}: defaults[{index}]: {key!r}: a scenario may only choose options of "
                    f"tpf's config groups ({', '.join(GROUPS)})"
                )
    return problems


def scenario_problems(data: dict[str, Any], source: str) -> list[str]:
    """Every key or value of a scenario that would make it more than data."""
    problems = []
    if "hydra" in data:
        problems.append(f"{source}: hydra: a scenario may not set Hydra settings (callbacks, run "
                        "folders, logging); set hydra.run.dir on the command line if needed")
    if "defaults" in data:
        problems += _defaults_problems(data["defaults"], source)
    body = {k: v for k, v in data.items() if k not in ("hydra", "defaults")}
    for place, key, value in _walk(body, ""):
        if isinstance(key, str) and key in INSTANTIATION_KEYS:
            problems.append(f"{source}: {place}: a scenario may not name callables ({key}); "
                            "only tpf's own config groups may")
        if isinstance(value, str) and _RESOLVER_CALL.search(value):
            problems.append(f"{source}: {place}: resolver interpolations such as ${{oc.env:...}} "
                            f"are not allowed in a scenario, got {value!r}")
    return problems


def hydra_override_problem(key: str) -> str | None:
    """The problem with a command-line override of a ``hydra`` key or group (None: allowed)."""
    if any(part in INSTANTIATION_KEYS for part in re.split(r"[./]", key)):
        return f"{key}: overrides may not name callables (_target_ and other instantiation keys)"
    if key in COMMAND_LINE_HYDRA_KEYS or key in COMMAND_LINE_HYDRA_GROUPS:
        return None
    if key.startswith("hydra.launcher."):
        return None
    allowed = ", ".join((*COMMAND_LINE_HYDRA_KEYS, "hydra.launcher.KEY", *COMMAND_LINE_HYDRA_GROUPS))
    return f"{key}: this Hydra setting may not be overridden; allowed: {allowed}"


def hydra_argument_problems(args: Iterable[str]) -> list[str]:
    """The problems of the ``hydra`` overrides among command-line ``args`` (flags skipped)."""
    problems = []
    for arg in args:
        key = arg.split("=", 1)[0].lstrip("+~")
        if arg.startswith("-") or not (key == "hydra" or key.startswith(("hydra.", "hydra/"))):
            continue
        problem = hydra_override_problem(key)
        problems += [problem] if problem else []
    return problems


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a scenario (or a user's config-group file) as data; a ConfigError lists its problems."""
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read scenario: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a scenario must be a mapping of overrides")
    problems = [f"{path}: '# @package {package}': a config file may not place itself in Hydra's settings"
                for package in _PACKAGE_LINE.findall(text) if package.split(".")[0] == "hydra"]
    problems += scenario_problems(data, str(path))
    if problems:
        raise ConfigError(problems)
    return data


def selected_scenarios(args: Sequence[str], default: str) -> list[str]:
    """The scenario names a command line selects (a sweep may list several); ``default`` else."""
    chosen = [a.split("=", 1)[1] for a in args if a.lstrip("+").startswith("scenario=")]
    if not chosen:
        return [default]
    return [name.strip() for name in chosen[-1].split(",") if name.strip()]


def check_config_files(scenarios: Sequence[str], user_dirs: Sequence[Path] = ()) -> None:
    """Check the selected scenarios (packaged or in ``user_dirs``) and every YAML file of
    ``user_dirs``' config groups; one ConfigError lists every problem, each with its file."""
    paths = [scenarios_dir() / f"{name}.yaml" for name in scenarios]
    for folder in user_dirs:
        paths += sorted(p for p in Path(folder).glob("*/**/*.yaml") if p.is_file())
    problems: list[str] = []
    for path in dict.fromkeys(paths):
        if path.is_file():
            try:
                read_config_file(path)
            except ConfigError as exc:
                problems += exc.problems
    if problems:
        raise ConfigError(problems)
