"""Names and hardware facts of a scenario, resolved through the shipped catalogs.

Hardware and model names in configs and cards may be ids, aliases, NVML
names or Hub ids (``h100``, ``h100_sxm``, ``NVIDIA H100 80GB HBM3``;
``llama-3.1-8b``, ``meta-llama/Llama-3.1-8B-Instruct``): each resolves to its
catalog id here, so a card and a config that name one GPU or model in two
spellings meet. The hardware figures are those of ``tpf/data/hardware.yaml``;
the ``hardware`` group may only override the idle power (:func:`hardware_problems`).
"""

from __future__ import annotations

import dataclasses
import math

from tpf.cards import EnergyCard
from tpf.config.schema import HardwareConfig
from tpf.errors import ConfigError
from tpf.specs import hardware_spec, model_architecture


def _plain(name: str) -> str:
    return str(name).strip().lower().replace("_", "-").replace(" ", "-")


def canonical_hardware(name: str) -> str:
    """The catalog id of a GPU name or alias; a name the catalog lacks, normalized."""
    try:
        return hardware_spec(name).key
    except ConfigError:
        return _plain(name)


def canonical_model(name: str) -> str:
    """The catalog id of a model name, alias or Hub id; a name the catalog lacks, normalized."""
    try:
        return _plain(model_architecture(name).name)
    except ConfigError:
        return _plain(name)


def hardware_problems(hardware: HardwareConfig) -> list[str]:
    """An unknown GPU, or a TDP override (the cards' curves fix the power drawn)."""
    try:
        spec = hardware_spec(hardware.name)
    except ConfigError as exc:
        return [f"hardware.name: {exc}"]
    if hardware.tdp_w is not None and not math.isclose(hardware.tdp_w, spec.tdp_w):
        return [
            f"hardware.tdp_w: {hardware.tdp_w} W differs from the catalog's {spec.tdp_w:g} W for "
            f"{spec.key}, and the energy cards' curves were made at the catalog's TDP, so it "
            f"cannot be applied; make a card at that power (tpf card roofline --model MODEL "
            f"--hardware {spec.key} --tdp-w {hardware.tdp_w:g} --out cards/MODEL@{spec.key}.yaml; "
            "./cards is searched first), or a measured card, and leave hardware.tdp_w null"
        ]
    return []


def with_idle_power(cards: dict[str, EnergyCard], hardware: HardwareConfig) -> dict[str, EnergyCard]:
    """Every energy card with ``hardware.idle_power_w`` as its idle power (unchanged when null)."""
    if hardware.idle_power_w is None:
        return cards
    return {
        model: dataclasses.replace(card, idle_power_w=float(hardware.idle_power_w))
        for model, card in cards.items()
    }
