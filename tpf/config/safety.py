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

On the command line the user is in charge, yet only these Hydra settings are
accepted (anything else under ``hydra`` is refused, as is ``_target_``):
``hydra.run.dir``, ``hydra.sweep.dir``, ``hydra.sweep.subdir``,
``hydra.searchpath``, ``hydra.verbose``, ``hydra/launcher=NAME`` and the
launcher's own settings ``hydra.launcher.KEY`` (its ``_target_`` excepted),
and the logging choices ``hydra/job_logging=NAME``, ``hydra/hydra_logging=NAME``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from tpf.config.schema import GROUPS

INSTANTIATION_KEYS = ("_target_", "_partial_", "_args_", "_recursive_", "_convert_")
COMMAND_LINE_HYDRA_KEYS = (
    "hydra.run.dir", "hydra.sweep.dir", "hydra.sweep.subdir", "hydra.searchpath", "hydra.verbose",
)
COMMAND_LINE_HYDRA_GROUPS = ("hydra/launcher", "hydra/job_logging", "hydra/hydra_logging")
_RESOLVER_CALL = re.compile(r"\$\{\s*[A-Za-z_][\w.]*\s*:")


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
