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
A logging config of a user's folder (``hydra/job_logging/NAME.yaml``,
``hydra/hydra_logging/NAME.yaml``) is a :func:`logging.config.dictConfig`
mapping and may name only logging's own classes (:data:`LOGGING_CLASSES`): no
``()`` factory, no ``.`` attribute setter, no ``ext://`` object but
``sys.stdout`` and ``sys.stderr``, and a ``logging.FileHandler`` only with a
``filename`` inside the run folder (``${hydra.runtime.output_dir}/NAME``).

Every file is read within bounds (:mod:`tpf.safeyaml`: size, aliases,
nesting) and checked on its own: :func:`check_config_files` checks, before
Hydra starts, the files the command line selects (its scenario, each
``GROUP=OPTION``, the primary config's defaults, and what their ``defaults``
lists select in turn), so a bad file in a folder refuses only the runs that
select it.

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

from tpf.config.paths import conf_dir, scenarios_dir
from tpf.config.schema import GROUPS
from tpf.errors import ConfigError
from tpf.safeyaml import loads_bounded, read_text_bounded

INSTANTIATION_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")
COMMAND_LINE_HYDRA_KEYS = (
    "hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir", "hydra.searchpath", "hydra.verbose",
)
COMMAND_LINE_HYDRA_GROUPS = ("hydra/launcher", "hydra/job_logging", "hydra/hydra_logging")
_RESOLVER_CALL = re.compile(r"\$\{\s*[A-Za-z_][\w.]*\s*:")
_PACKAGE_LINE = re.compile(r"^\s*#\s*@package\s+(\S+)", re.MULTILINE)
LOGGING_GROUPS = ("hydra/job_logging", "hydra/hydra_logging")
#: The classes a user's logging config may name: Python logging's own handlers and formatter.
LOGGING_CLASSES = ("logging.StreamHandler", "logging.NullHandler", "logging.FileHandler", "logging.Formatter")
LOGGING_STREAMS = ("ext://sys.stdout", "ext://sys.stderr")
_RUN_FOLDER_FILE = re.compile(r"^\$\{hydra\.runtime\.output_dir\}/[A-Za-z0-9_][A-Za-z0-9_.-]*$")


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


def _read_mapping(path: Path, what: str) -> tuple[str, dict[str, Any]]:
    """The text and mapping of a user's YAML file, read within bounds."""
    try:
        text = read_text_bounded(path)
        data = loads_bounded(text, str(path)) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read {what}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a {what} must be a mapping" + (" of overrides" if what == "scenario" else ""))
    return text, data


def read_config_file(path: Path) -> dict[str, Any]:
    """Read a scenario (or a user's config-group file) as data; a ConfigError lists its problems."""
    text, data = _read_mapping(path, "scenario")
    problems = [f"{path}: '# @package {package}': a config file may not place itself in Hydra's settings"
                for package in _PACKAGE_LINE.findall(text) if package.split(".")[0] == "hydra"]
    problems += scenario_problems(data, str(path))
    if problems:
        raise ConfigError(problems)
    return data


def _logging_value_problem(key: Any, value: Any) -> str | None:
    if key == "()":
        return "a logging config may not name a factory ('()' calls any importable callable)"
    if key == ".":
        return "a logging config may not set attributes on its objects ('.')"
    if key == "class" and value not in LOGGING_CLASSES:
        return f"class {value!r} is not allowed; a logging config may name only {', '.join(LOGGING_CLASSES)}"
    if key == "filename" and not (isinstance(value, str) and ".." not in value
                                  and _RUN_FOLDER_FILE.match(value.replace("${hydra.job.name}", "job"))):
        return (f"filename {value!r}: a log file must be inside the run folder, written "
                "${hydra.runtime.output_dir}/NAME")
    if isinstance(value, str) and value.startswith("ext://") and value not in LOGGING_STREAMS:
        return f"{value!r}: the only external objects allowed are {', '.join(LOGGING_STREAMS)}"
    if isinstance(value, str) and _RESOLVER_CALL.search(value):
        return f"resolver interpolations are not allowed, got {value!r}"
    return None


def read_logging_config(path: Path) -> dict[str, Any]:
    """Read a user's ``hydra/job_logging`` or ``hydra/hydra_logging`` option; refuse anything but
    logging's own classes, streams and a log file in the run folder."""
    text, data = _read_mapping(path, "logging config")
    problems = [f"{path}: '# @package {package}': a logging config may not set its package"
                for package in _PACKAGE_LINE.findall(text)]
    for place, key, value in _walk(data, ""):
        problem = _logging_value_problem(key, value)
        if problem:
            problems.append(f"{path}: {place}: {problem}")
    if problems:
        raise ConfigError(problems)
    return data


def selected_scenarios(args: Sequence[str], default: str) -> list[str]:
    """The scenario names a command line selects (a sweep may list several); ``default`` else."""
    chosen = [a.split("=", 1)[1] for a in args if a.lstrip("+").startswith("scenario=")]
    if not chosen:
        return [default]
    return [name.strip() for name in chosen[-1].split(",") if name.strip()]


def _default_choices() -> dict[str, list[str]]:
    """The options the packaged primary config selects (and Hydra's own logging defaults)."""
    choices: dict[str, list[str]] = {group: ["default"] for group in LOGGING_GROUPS}
    data = yaml.safe_load((conf_dir() / "config.yaml").read_text(encoding="utf-8")) or {}
    for group, option in _defaults_entries(data.get("defaults"), ""):
        choices[group] = [option]
    return choices


def _defaults_entries(defaults: Any, own_group: str) -> list[tuple[str, str]]:
    """(group, option) pairs a ``defaults`` list selects; a relative group also under ``own_group``."""
    pairs: list[tuple[str, str]] = []
    for entry in defaults if isinstance(defaults, list) else []:
        if isinstance(entry, str) and entry != "_self_" and own_group:
            pairs.append((own_group, entry))
        for key, value in (entry.items() if isinstance(entry, dict) else []):
            group = re.sub(r"^(override|optional)\s+", "", str(key).strip()).split("@")[0]
            for option in value if isinstance(value, list) else [value]:
                if option is not None:
                    pairs.append((group.lstrip("/"), str(option)))
                    if not group.startswith("/") and own_group:
                        pairs.append((f"{own_group}/{group}", str(option)))
    return pairs


def command_line_choices(args: Sequence[str], default_scenario: str) -> dict[str, list[str]]:
    """Every config group's selected options: the primary config's defaults, then the command line."""
    choices = _default_choices()
    choices["scenario"] = [default_scenario]
    for arg in args:
        key, sep, value = arg.partition("=")
        key = key.lstrip("+")
        if not sep or arg.startswith(("-", "~")) or "." in key:
            continue
        choices[key] = [v.strip() for v in value.split(",") if v.strip()]
    return choices


def _check_one(path: Path, group: str) -> tuple[list[str], list[tuple[str, str]]]:
    """The problems of one selected file and the (group, option) pairs its defaults select."""
    try:
        if group in LOGGING_GROUPS:
            read_logging_config(path)
            return [], []
        data = read_config_file(path)
    except ConfigError as exc:
        return exc.problems, []
    return [], _defaults_entries(data.get("defaults"), group)


def check_config_files(args: Sequence[str], default_scenario: str, user_dirs: Sequence[Path] = ()) -> None:
    """Check, one file at a time, each config file the command line ``args`` selects: the packaged
    scenario and every option of ``user_dirs`` (``--config-dir``, ``hydra.searchpath``) chosen by the
    defaults, the command line or a checked file's ``defaults``; one ConfigError lists every problem."""
    queue = [(group, option) for group, options in command_line_choices(args, default_scenario).items()
             for option in options]
    seen: set[tuple[str, str]] = set()
    checked: set[Path] = set()
    problems: list[str] = []
    while queue:
        group, option = queue.pop(0)
        if (group, option) in seen or not re.fullmatch(r"[\w./-]+", group + "/" + option) or ".." in option:
            continue
        seen.add((group, option))
        paths = [scenarios_dir() / f"{option}.yaml"] if group == "scenario" else []
        paths += [Path(folder) / group / f"{option}.yaml" for folder in user_dirs]
        for path in paths:
            if path in checked or not path.is_file():
                continue
            checked.add(path)
            found, selected = _check_one(path, group)
            problems += found
            queue += selected
    if problems:
        raise ConfigError(problems)
