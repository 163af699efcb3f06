"""Hand-made illustrative energy cards for examples, tests and benchmarks.

These are NOT measurements: round numbers of the right order for an 8B and a
70B model on a 48 GB data-centre GPU, marked ``source: estimate``. Use fitted
cards from ``tpf fit`` for real studies.
"""

from __future__ import annotations

from tpf.cards import CurveFit, EnergyCard, ValidRange


def demo_card(
    model: str = "demo-8b",
    hardware: str = "demo-gpu",
    decode_j_per_token: float = 1.5,
    decode_s_per_token: float = 0.025,
    idle_power_w: float = 80.0,
    gpus_per_replica: int = 1,
    max_batch_size: int = 32,
) -> EnergyCard:
    """A ``bilinear+batch`` card: energy ``static/B + dynamic``, window ``base + per-member * B``.

    At batch 1 a request costs ``0.05 J`` per input token and
    ``decode_j_per_token`` J per output token; 80% of that is static power
    shared by the batch. A decode step takes ``decode_s_per_token`` s plus 2%
    of it per batch member.
    """
    static = (0.04, 0.8 * decode_j_per_token, 0.0)
    dynamic = (0.01, 0.2 * decode_j_per_token, 0.0)
    prefill_s = decode_s_per_token / 250.0
    base_window = (prefill_s, decode_s_per_token, 0.0)
    per_member = (prefill_s * 0.02, decode_s_per_token * 0.02, 0.0)
    return EnergyCard(
        model=model,
        hardware=hardware,
        energy=CurveFit("bilinear+batch", static + dynamic, "energy_j"),
        duration=CurveFit("bilinear+batch", base_window + per_member, "duration_s"),
        valid_range=ValidRange((1, 32768), (0, 8192), (1, max_batch_size)),
        idle_power_w=idle_power_w,
        gpus_per_replica=gpus_per_replica,
        max_batch_size=max_batch_size,
        source="estimate",
        method="hand-made illustrative card (not a measurement)",
    )


def demo_cards() -> dict[str, EnergyCard]:
    """An 8B-like card on one GPU and a 70B-like card on four GPUs per replica."""
    return {
        "demo-8b": demo_card("demo-8b"),
        "demo-70b": demo_card("demo-70b", decode_j_per_token=9.0, decode_s_per_token=0.045,
                              gpus_per_replica=4, max_batch_size=32),
    }
