"""Energy-curve fit quality on the Wilkins et al. 2024 A100 sweeps.

Usage: python benchmarks/energy_fit_wilkins.py PATH/TO/wilkins_swing_a100 [--n-in 32]

For each model (Llama-2-7B, Mistral-7B, Falcon-7B on an A100, batch 1) it fits
every candidate family with tpf's default options and prints: the chosen
family and its leave-one-cell-out MAPE, the bilinear (Wilkins et al.) family's
MAPE beside it, and the fitted energy per output token, E(n_in, n_out) / n_out,
at 32 and at 1,024 output tokens for the given input length, next to the
measured cell closest to it (the output sweep's prompt: 32 to 38 tokens).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tpf.cards import EnergyCard  # noqa: E402
from tpf.fit.energy import FitOptions, fit_energy  # noqa: E402
from tpf.fit.importers import import_wilkins  # noqa: E402

OUTPUT_POINTS = (32, 1024)


def measured_per_output_token(table: pd.DataFrame, model: str, n_in: float, n_out: float) -> tuple[float, float]:
    """Median measured J per output token of the cell at ``n_out`` nearest to ``n_in`` (and its n_in)."""
    rows = table[(table["model"] == model) & ~table["warmup"] & (table["n_out_tokens"] == n_out)]
    if rows.empty:
        return float("nan"), float("nan")
    nearest = rows["n_in_tokens"].iloc[int(np.argmin(np.abs(rows["n_in_tokens"] - n_in)))]
    cell = rows[rows["n_in_tokens"] == nearest]
    return float(np.median(cell["energy_j"] / cell["batch_size"]) / n_out), float(nearest)


def quality(card: EnergyCard, name: str) -> float:
    return 100.0 * card.fit_quality.get(f"energy_j/{name}", {}).get("heldout_mape", float("nan"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="folder with the Wilkins et al. sweep CSVs")
    parser.add_argument("--n-in", type=float, default=32.0, help="input tokens for the per-token figures")
    args = parser.parse_args(argv)

    table = import_wilkins([args.data])
    print(f"# {len(table)} inference rows ({int(table['warmup'].sum())} warm-up) from {args.data}")
    print(f"# energy per output token = E(n_in={args.n_in:g}, n_out) / n_out, J per output token")
    header = (
        f"{'model':<12} {'cells':>5} {'chosen family':<16} {'LOCO MAPE':>9} {'bilinear':>9} "
        + " ".join(f"{'fit@' + str(n):>9} {'meas@' + str(n):>9}" for n in OUTPUT_POINTS)
        + f" {'dur MAPE':>9} {'fit s':>6}"
    )
    print(header)
    for model in sorted(table["model"].unique()):
        started = time.perf_counter()
        card = fit_energy(table, model=model, options=FitOptions(), where=args.data)
        elapsed = time.perf_counter() - started
        cells = card.provenance["cells"]["energy_j"]
        figures = []
        for n_out in OUTPUT_POINTS:
            fitted = float(card.energy_j(args.n_in, n_out)) / n_out
            measured, _ = measured_per_output_token(table, model, args.n_in, n_out)
            figures.append(f"{fitted:9.2f} {measured:9.2f}")
        duration = card.fit_quality.get(f"duration_s/{card.duration.family}", {}) if card.duration else {}
        print(
            f"{model:<12} {cells:>5} {card.energy.family:<16} {quality(card, card.energy.family):8.1f}% "
            f"{quality(card, 'bilinear'):8.1f}% " + " ".join(figures)
            + f" {100 * duration.get('heldout_mape', float('nan')):8.1f}% {elapsed:6.2f}"
        )
    print("# meas@N: median measured J per output token of the cell at N output tokens whose")
    print("#   input length is nearest to n_in (output sweep prompts: 32 to 38 tokens).")
    print("# n_out is the requested max_new_tokens; the sweeps set min_new_tokens = 0.9 * max.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
