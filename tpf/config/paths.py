"""Where the packaged configs live, and the ``scenario`` config group.

``conf/`` (config groups) and ``scenarios/`` (override bundles) sit at the
repository's top level; an editable install (``pip install -e .``) finds them
beside the ``tpf`` package. Scenarios are registered in Hydra's ConfigStore
as the group ``scenario`` with package ``_global_``, so ``scenario=NAME``
selects ``scenarios/NAME.yaml`` and an unknown name lists the valid ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from hydra.core.config_store import ConfigStore

from tpf.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = PACKAGE_DIR.parent


def conf_dir() -> Path:
    """The folder of the primary config and the config groups."""
    for candidate in (REPO_DIR / "conf", PACKAGE_DIR / "conf"):
        if (candidate / "config.yaml").is_file():
            return candidate
    raise ConfigError(
        f"conf/config.yaml not found in {REPO_DIR / 'conf'} or {PACKAGE_DIR / 'conf'}; "
        "install tpf from its repository (pip install -e .)"
    )


def scenarios_dir() -> Path:
    for candidate in (REPO_DIR / "scenarios", PACKAGE_DIR / "conf" / "scenario"):
        if candidate.is_dir():
            return candidate
    raise ConfigError(f"scenarios folder not found in {REPO_DIR / 'scenarios'}")


def scenario_names() -> list[str]:
    return sorted(path.stem for path in scenarios_dir().glob("*.yaml"))


def read_scenario(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read scenario: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a scenario must be a mapping of overrides")
    from tpf.config.safety import scenario_problems

    problems = scenario_problems(data, str(path))
    if problems:
        raise ConfigError(problems)
    return data


def register_scenarios(store: ConfigStore | None = None) -> list[str]:
    """Store every ``scenarios/*.yaml`` as option NAME of the group ``scenario``."""
    store = store or ConfigStore.instance()
    names = []
    for path in sorted(scenarios_dir().glob("*.yaml")):
        try:
            node = read_scenario(path)
        except ConfigError:
            continue  # refused when selected: check_scenarios names its problems
        store.store(group="scenario", name=path.stem, node=node, package="_global_")
        names.append(path.stem)
    return names


def check_scenarios(names: list[str], user_dirs: list[Path] | None = None) -> None:
    """Read (and so check) the named scenarios; a ConfigError lists every problem of each.

    Besides the packaged scenarios, a scenario of that name in a user's config
    folder (``--config-dir``, ``hydra.searchpath``) is checked, as
    ``DIR/scenario/NAME.yaml`` or ``DIR/scenarios/NAME.yaml``.
    """
    folders = [scenarios_dir()]
    for folder in user_dirs or []:
        folders += [folder / "scenario", folder / "scenarios"]
    problems: list[str] = []
    for name in names:
        for path in (folder / f"{name}.yaml" for folder in folders):
            if path.is_file():
                try:
                    read_scenario(path)
                except ConfigError as exc:
                    problems += exc.problems
    if problems:
        raise ConfigError(problems)


def resolve_path(text: str) -> Path:
    """A user path: absolute, or relative to the working directory, else to the repository."""
    path = Path(text).expanduser()
    if path.is_absolute() or path.exists():
        return path
    in_repo = REPO_DIR / path
    return in_repo if in_repo.exists() else path
