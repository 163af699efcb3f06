"""The Hydra boundary of the config package: compose and convert to typed config.

Only this module and :mod:`tpf.app` see a ``DictConfig``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue, OmegaConfBaseException

from tpf.config.paths import conf_dir
from tpf.config.schema import TpfConfig, register_schemas
from tpf.errors import ConfigError


def register_all() -> None:
    """Register the root schema in Hydra's ConfigStore (scenarios are a config group)."""
    register_schemas()


def to_typed(cfg: DictConfig) -> TpfConfig:
    """Convert a composed config (without its ``hydra`` node) to :class:`TpfConfig`."""
    body = OmegaConf.masked_copy(cfg, [str(k) for k in cfg if k != "hydra"]) if "hydra" in cfg else cfg
    missing = sorted(OmegaConf.missing_keys(body))
    if missing:
        raise ConfigError([f"{key}: required, got ??? (set it with {key}=VALUE)" for key in missing])
    try:
        typed = OmegaConf.to_object(body)
    except MissingMandatoryValue as exc:
        raise ConfigError(f"{exc.full_key}: required, got ???") from exc
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{getattr(exc, 'full_key', '')}: {exc.msg if hasattr(exc, 'msg') else exc}") from exc
    if not isinstance(typed, TpfConfig):
        raise ConfigError(f"the composed config is not a tpf scenario (got {type(typed).__name__})")
    return typed


def compose(overrides: list[str] | None = None, config_dirs: Sequence[Path] = ()) -> TpfConfig:
    """Compose ``conf/config.yaml`` with overrides (as on the command line), typed.

    ``config_dirs`` are the user's folders of config groups (as ``--config-dir``).
    For notebooks and tests; ``tpf plan`` composes through Hydra's app runner.
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException

    register_all()
    try:
        with initialize_config_dir(config_dir=str(conf_dir()), version_base=None):
            cfg = hydra_compose(config_name="config", overrides=[*searchpath_override(config_dirs), *(overrides or [])])
    except (HydraException, OmegaConfBaseException) as exc:
        raise ConfigError(str(exc)) from exc
    return to_typed(cfg)


def searchpath_override(config_dirs: Sequence[Path]) -> list[str]:
    """The ``hydra.searchpath`` override that adds ``config_dirs`` (none: no override)."""
    if not config_dirs:
        return []
    return ["hydra.searchpath=[" + ",".join(f"'file://{Path(d).resolve()}'" for d in config_dirs) + "]"]

