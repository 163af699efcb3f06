"""Where the configs live: the packaged ``tpf/conf`` and the user's own folders.

The config groups and the scenarios ship inside the package (``tpf/conf/``,
scenarios in its group ``scenario/``) and are found through
:mod:`importlib.resources`, so an installed wheel runs from any folder; the
repository's top-level ``conf`` and ``scenarios`` point to that one copy.
A user adds folders of their own with ``--config-dir DIR`` or
``hydra.searchpath=[DIR,...]``: every group, ``scenario`` included, then
offers the options of those folders too (:func:`group_options`).
"""

from __future__ import annotations

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


def resolve_path(text: str) -> Path:
    """A user path: absolute, or relative to the working directory, else to the
    folder of the installed packages (where ``tpf/data/...`` ships)."""
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        return path
    in_repo = REPO_DIR / path
    return in_repo if in_repo.exists() else path
