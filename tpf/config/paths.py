"""Where the configs live: the packaged ``tpf/conf`` and the user's own folders.

The config groups and the scenarios ship inside the package (``tpf/conf/``,
scenarios in its group ``scenario/``) and are found through
:mod:`importlib.resources`, so an installed wheel runs from any folder; the
repository's top-level ``conf`` and ``scenarios`` point to that one copy.
A user adds folders of their own with ``--config-dir DIR`` or
``hydra.searchpath=[DIR,...]``: every group, ``scenario`` included, then
offers the options of those folders too (:func:`group_options`).

Reference data too large to ship (public traces, Electricity Maps series) is
named ``data:<path in the data folder>`` in the configs; the data folder is
``$TPF_DATA``, else ``../shared/data`` beside the working folder or the
repository (:func:`data_path`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

from tpf.errors import ConfigError

PACKAGE_DIR = Path(str(resources.files("tpf")))
# Relative paths in the shipped configs (tpf/data/cards, calibration/data/cards)
# are relative to the folder that holds the packages: the repository in a
# checkout, site-packages in an installed wheel.
REPO_DIR = PACKAGE_DIR.parent
SCENARIO_GROUP = "scenario"


def conf_dir() -> Path:
    """The packaged folder of the primary config and the config groups."""
    folder = PACKAGE_DIR / "conf"
    if not (folder / "config.yaml").is_file():
        raise ConfigError(f"{folder / 'config.yaml'}: the packaged configs are missing; reinstall tpf")
    return folder


def scenarios_dir() -> Path:
    """The packaged scenarios (the config group ``scenario``)."""
    return conf_dir() / SCENARIO_GROUP


def group_options(group: str, extra_dirs: Sequence[Path] = ()) -> list[str]:
    """The options of a config group: the packaged ones and those in ``extra_dirs``."""
    names: set[str] = set()
    for root in (conf_dir(), *extra_dirs):
        folder = Path(root) / group
        if folder.is_dir():
            names.update(p.stem for p in folder.glob("*.yaml"))
    return sorted(names)


def scenario_names(extra_dirs: Sequence[Path] = ()) -> list[str]:
    return group_options(SCENARIO_GROUP, extra_dirs)


#: A path that begins with this is read from the data folder (:func:`data_dir`).
DATA_PREFIX = "data:"
#: The environment variable naming the data folder (public traces, carbon series).
DATA_ENV = "TPF_DATA"


def data_dirs() -> list[Path]:
    """Where ``data:`` paths are looked up: ``$TPF_DATA`` when set, else ``../shared/data``
    beside the working folder and beside the repository (a checkout's reference data)."""
    folder = os.environ.get(DATA_ENV, "").strip()
    if folder:
        return [Path(folder).expanduser()]
    return [Path.cwd().parent / "shared" / "data", REPO_DIR.parent / "shared" / "data"]


def data_path(relative: str) -> Path:
    """The file ``relative`` of the data folder; a ConfigError naming ``TPF_DATA`` when absent."""
    tried = [folder / relative for folder in data_dirs()]
    for path in tried:
        if path.exists():
            return path
    where = (f"{DATA_ENV}={os.environ[DATA_ENV]}" if os.environ.get(DATA_ENV, "").strip()
             else f"{DATA_ENV} is not set")
    raise ConfigError(
        f"{DATA_PREFIX}{relative}: not found in the data folder ({where}; tried "
        f"{', '.join(str(p.absolute()) for p in tried)}); set {DATA_ENV} to the folder that holds "
        f"{relative.split('/')[0]}/ (e.g. {DATA_ENV}=/path/to/shared/data tpf ...), or give the file's own path")


def resolve_path(text: str) -> Path:
    """A user path: ``data:REL`` is ``REL`` in the data folder (:func:`data_path`); else
    absolute, or relative to the working directory, else to the folder of the installed
    packages (where ``tpf/data/...`` ships)."""
    if text.startswith(DATA_PREFIX):
        return data_path(text.removeprefix(DATA_PREFIX).lstrip("/"))
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        return path
    in_repo = REPO_DIR / path
    return in_repo if in_repo.exists() else path
