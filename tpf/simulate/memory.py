"""KV-cache capacity of one replica: the limit on the batch a replica can hold.

``tokens = (memory_bytes * gpus_per_replica * memory_utilization - weight_bytes) /
kv_cache_bytes_per_token`` from the model and hardware specs (:mod:`tpf.specs`,
16-bit weights and cache, ``memory_utilization`` 0.9 as vLLM's default
``gpu_memory_utilization``). A request holds its input plus generated tokens;
a replica admits a request only while the tokens of its running requests fit.
A card whose model or GPU has no spec gets no token limit: its batch is bounded
by the card's ``max_batch_size`` alone, and :func:`kv_capacity` says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from tpf.cards import EnergyCard

MEMORY_UTILIZATION = 0.9


@dataclass(frozen=True)
class KvCapacity:
    """Tokens of KV cache one replica holds (``None``: unknown), and where the figure came from."""

    tokens: float | None
    basis: str


@lru_cache(maxsize=1)
def _catalogs():
    from tpf.specs import load_hardware_catalog, load_model_catalog

    return load_model_catalog(), load_hardware_catalog()


def kv_capacity(card: EnergyCard, memory_utilization: float = MEMORY_UTILIZATION) -> KvCapacity:
    """The KV-cache tokens of one replica of ``card``'s model on its GPUs (module doc)."""
    models, hardware = _catalogs()
    arch, spec = models.get(card.model), hardware.get(card.hardware)
    if arch is None or spec is None:
        missing = "model" if arch is None else "hardware"
        return KvCapacity(None, f"no {missing} spec for {card.model}@{card.hardware} in tpf.specs: "
                                f"batch bounded by the card's max_batch_size ({card.max_batch_size}) alone")
    free_bytes = spec.memory_bytes * card.gpus_per_replica * memory_utilization - arch.weight_bytes()
    if free_bytes <= 0:
        return KvCapacity(0.0, f"{card.model} weights exceed {memory_utilization:g} of "
                               f"{card.gpus_per_replica} x {card.hardware} memory")
    tokens = free_bytes / arch.kv_cache_bytes_per_token()
    return KvCapacity(tokens, f"{tokens:,.0f} tokens: {card.gpus_per_replica} x {card.hardware} memory x "
                              f"{memory_utilization:g} less 16-bit weights, over KV bytes per token (tpf.specs)")
