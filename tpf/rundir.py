"""Run folders that belong to one run only.

Hydra names a run folder after the current second, so two runs started in
the same second would share it. Before Hydra starts, tpf claims the folder
with an exclusive ``mkdir``: the default ``outputs/<command>/<time>`` gets a
suffix ``_2``, ``_3``, ... when taken, and a folder given with
``hydra.run.dir`` (or ``hydra.sweep.dir`` for a sweep) must not already hold
a run (its ``.hydra`` folder, or a sweep's ``multirun.yaml``). The claimed
folder is passed to Hydra as ``hydra.run.dir`` / ``hydra.sweep.dir``.
An empty value, or one naming the working folder itself, is refused: the run's
files would land beside the user's own. A value with an interpolation
(``${...}``) is left to Hydra as given, once every ``${oc.env:VAR}`` in it
names a variable that is set (or gives a default).
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

from tpf.errors import ConfigError, OutputPathError

NO_RUN_FLAGS = ("--help", "-h", "--hydra-help", "--info", "--cfg", "-c", "--resolve",
                "--shell-completion", "-sc")
MAX_SUFFIX = 10_000
_ENV_REFERENCE = re.compile(r"\$\{oc\.env:\s*([^,}\s]+)\s*(,[^}]*)?\}")


def _given(args: list[str], key: str) -> str | None:
    values = [a.split("=", 1)[1] for a in args if a.lstrip("+").startswith(f"{key}=")]
    return values[-1] if values else None


def _make_parent(folder: Path, key: str) -> None:
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as exc:
        raise OutputPathError(f"{key}: cannot create {folder}: a part of the path is a file") from exc
    except OSError as exc:
        raise OutputPathError(f"{key}: cannot create {folder}: {exc.strerror or exc}") from exc


def _mkdir_exclusive(folder: Path, key: str) -> bool:
    """Create ``folder``; False when it exists (as a folder)."""
    try:
        os.mkdir(folder)
        return True
    except FileExistsError:
        if not folder.is_dir():
            raise OutputPathError(f"{key}: {folder} is a file, not a folder") from None
        return False
    except OSError as exc:
        raise OutputPathError(f"{key}: cannot create {folder}: {exc.strerror or exc}") from exc


def claim_new(base: Path, key: str) -> Path:
    """A new folder ``base`` (or ``base_2``, ``base_3``, ...), created exclusively."""
    _make_parent(base, key)
    for index in range(1, MAX_SUFFIX):
        candidate = base if index == 1 else base.with_name(f"{base.name}_{index}")
        if _mkdir_exclusive(candidate, key):
            return candidate
    raise OutputPathError(f"{key}: more than {MAX_SUFFIX} runs named {base}; clean the outputs folder")


def claim_given(folder: Path, key: str, marker: str) -> Path:
    """Claim a folder the user named: create it if needed and take its ``marker`` exclusively."""
    _make_parent(folder, key)
    _mkdir_exclusive(folder, key)
    try:
        if marker.endswith(".yaml"):
            with open(folder / marker, "x", encoding="utf-8"):
                pass
        else:
            os.mkdir(folder / marker)
    except FileExistsError:
        raise ConfigError(f"{key}: {folder} already holds a run ({marker} exists); "
                          "choose another folder or remove that one") from None
    except OSError as exc:
        raise OutputPathError(f"{key}: cannot write into {folder}: {exc.strerror or exc}") from exc
    return folder


def check_given(given: str, key: str) -> None:
    """Refuse a run folder that is empty, the working folder, or names an unset environment variable."""
    text = given.strip().strip("'\"")
    if not text:
        raise ConfigError(f"{key}: empty; give a folder of its own for the run (e.g. {key}=outputs/myrun), "
                          "or leave it out for outputs/<command>/<time>")
    for name, default in _ENV_REFERENCE.findall(text):
        if name not in os.environ and not default:
            raise ConfigError(f"{key}: {given!r} names the environment variable {name}, which is not set "
                              f"(set it, or give a default: ${{oc.env:{name},outputs/run}})")
    if "${" not in text and Path(text).expanduser().resolve() == Path.cwd().resolve():
        raise ConfigError(f"{key}: {given!r} is the working folder; give a folder of its own for the run "
                          "so its files do not mix with yours")


def claim_run_folder(command: str, args: list[str], multirun: bool) -> list[str]:
    """``args`` with the run (or sweep) folder claimed and named for Hydra."""
    if any(a.split("=", 1)[0] in NO_RUN_FLAGS for a in args):
        return args
    key, marker = ("hydra.sweep.dir", "multirun.yaml") if multirun else ("hydra.run.dir", ".hydra")
    given = _given(args, key)
    if given is not None:
        check_given(given, key)
        if "${" not in given:
            claim_given(Path(given).expanduser(), key, marker)
        return args
    stamp = dt.datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    base = Path("outputs") / ("sweeps" if multirun else command) / stamp
    folder = claim_new(base, key)
    return [*args, f"{key}={folder.as_posix()}"]
