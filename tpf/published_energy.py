"""The published L40S energy cards of the paper scenario (EuroMLSys'25 Table 1).

Table 1 prints, per MMLU category, the energy of Llama 1B zero-shot (read as
78,556 J per category, 1,755 items assumed: about 44.8 J per query, see
``tpf/data/euromlsys25_table1.md``) and the energy changes of Llama 8B
zero-shot, Llama 1B majority voting (16 votes) and Llama 1B chain-of-thought
(at most 512 tokens), all at batch size 1 on one L40S. Each becomes an
:class:`~tpf.anchors.EnergyAnchor` on the card of its model:

* ``llama-3.2-1b@l40s``: per category, zero-shot (the documented reading),
  ``mv`` with 16 votes and ``cot`` at 512 tokens (reading times the printed ratio);
* ``llama-3.1-8b@l40s``: per category, zero-shot (1B reading times the printed ratio).

Each anchor records the request shape Table 1 measured (:class:`~tpf.anchors.EnergyAnchor`):
the category's MMLU prompt (``n_in_tokens``: tpf's estimate of a zero-shot MMLU prompt of
that category, the ``n_in_tokens`` of ``tpf/conf/workload/mmlu_mix.yaml``), the tokens
generated per vote (``n_out_tokens``: one answer letter for zero-shot and for each of the
16 votes; 1 + 512 for chain-of-thought, the paper's cap taken as used in full, an
assumption, as the planner's default ``cot_used_fraction`` 1 does), batch 1 and the
harness (:data:`HARNESS`). A request of another shape is priced by the card's own ratio.

The card's curve, which prices every other point (other budgets, vote counts,
batch sizes, input lengths) through the nearest anchor, is the shipped roofline
card of the same model (``hf_generate`` preset, an estimate) scaled so that its
zero-shot energy at :data:`REFERENCE_N_IN_TOKENS` input tokens equals the mean
of the published zero-shot anchors; its duration curve is scaled by the same
factor (the paper prints no durations: they are estimates that keep the
roofline's mean power). ``source: published`` (the anchors); the shape is
labelled an estimate in ``method`` and ``notes``.

Regenerate with ``python -m tpf.published_energy [--out-dir DIR]``.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tpf.anchors import EnergyAnchor
from tpf.cards import CurveFit, EnergyCard, save_card, sha256_file
from tpf.fit.roofline import load_shipped_card
from tpf.published import (
    ASSUMED_ITEMS_PER_CATEGORY,
    DATA_DIR,
    MODEL_1B,
    MODEL_8B,
    PAPER,
    TABLE1_CSV,
    table1_energy_ratios,
)

PUBLISHED_CARDS_DIR = DATA_DIR / "cards" / "published"
HARDWARE_ID = "l40s"
MODEL_IDS = {MODEL_1B: "llama-3.2-1b", MODEL_8B: "llama-3.1-8b"}
REFERENCE_N_IN_TOKENS = 170.0  # estimate of a zero-shot MMLU prompt (question and 4 options)
SHAPE_NOTE = "roofline+overhead (hf_generate) curve of the same model, scaled (an estimate)"
HARNESS = "Hugging Face transformers generate, batch 1, one L40S (EuroMLSys'25 Sections 3, 4.3)"
PROMPTS_YAML = Path(__file__).parent / "conf" / "workload" / "mmlu_mix.yaml"
ANSWER_TOKENS = 1.0  # one answer letter (A-D)


def mmlu_prompt_tokens() -> dict[str, float]:
    """tpf's estimate of a zero-shot MMLU prompt per category (``mmlu_mix.yaml``'s ``n_in_tokens``)."""
    import yaml

    classes = yaml.safe_load(PROMPTS_YAML.read_text())["classes"]
    return {str(c["category"]): float(c["n_in_tokens"]) for c in classes}


def generated_tokens_per_vote(strategy: str, budget_tokens: int) -> float:
    """Tokens Table 1's runs generated per vote: the answer letter, plus the CoT cap used in full."""
    return ANSWER_TOKENS + (float(budget_tokens) if strategy == "cot" else 0.0)


def table1_anchors(model: str) -> list[EnergyAnchor]:
    """Table 1's per-query energies of ``model`` (``Llama-3.2-1B`` or ``Llama-3.1-8B``) as anchors."""
    table = table1_energy_ratios()
    rows = table[table["model"] == model]
    source = (f"{PAPER}: {ASSUMED_ITEMS_PER_CATEGORY} items per category assumed; "
              "energy column read as J per category (tpf/data/euromlsys25_table1.md)")
    prompts = mmlu_prompt_tokens()
    return [
        EnergyAnchor(category=str(row["category"]), strategy=str(row["strategy"]),
                     energy_j=float(row["energy_j_per_item_estimate"]),
                     budget_tokens=int(row["budget_tokens"]), votes=int(row["votes"]),
                     batch_size=1, source=source, n_in_tokens=prompts[str(row["category"])],
                     n_out_tokens=generated_tokens_per_vote(str(row["strategy"]), int(row["budget_tokens"])),
                     harness=HARNESS)
        for row in rows.to_dict("records")
    ]


def _scaled(fit: CurveFit | None, factor: float) -> CurveFit | None:
    if fit is None:
        return None
    return CurveFit(fit.family, tuple(float(c) * factor for c in fit.coefficients), fit.target)


def published_card(model: str, shape: EnergyCard | None = None) -> EnergyCard:
    """The published L40S card of ``model`` (module doc); ``shape`` defaults to the shipped roofline card."""
    model_id = MODEL_IDS[model]
    shape = shape or load_shipped_card(model_id, HARDWARE_ID)
    anchors = table1_anchors(model)
    zero_shot_j = [a.energy_j for a in anchors if a.strategy == "zero_shot"]
    curve_j = float(shape.energy_j(REFERENCE_N_IN_TOKENS, 1.0, 1.0))
    factor = float(np.mean(zero_shot_j)) / curve_j
    energy = _scaled(shape.energy, factor)
    assert energy is not None
    return dataclasses.replace(
        shape, energy=energy, duration=_scaled(shape.duration, factor),
        source="published", method=f"published anchors (EuroMLSys'25 Table 1) on a {SHAPE_NOTE}",
        fit_quality={}, data_sha256=sha256_file(TABLE1_CSV), anchors=anchors,
        operating_curves=[],  # the paper measured batch 1 only: no curve over batch
        provenance={
            "anchors_source": PAPER, "anchors_data": "tpf/data/euromlsys25_table1.csv",
            "unit_reading": "printed 'NN,NNN kJ' read as NN,NNN J per category; "
                            f"{ASSUMED_ITEMS_PER_CATEGORY} items per category (assumed)",
            "shape_source": shape.method, "shape_sha256": shape.data_sha256,
            "shape_scale_factor": factor, "reference_n_in_tokens": REFERENCE_N_IN_TOKENS,
            "command": "python -m tpf.published_energy",
        },
        notes=("PUBLISHED anchors, ESTIMATED shape: the per-category energies of Table 1 (batch 1) "
               "are priced exactly at their strategy, budget, votes and request shape (the category's "
               "MMLU prompt, one answer token per vote, 1 + 512 tokens for CoT); other budgets, vote "
               "counts, batch sizes, input and output lengths follow the " + SHAPE_NOTE + " through the "
               "nearest anchor by the ratio C(request)/C(anchor shape) (labelled 'interpolated' in the "
               "option table, with the ratio in its anchor_extrapolation column). Durations are the roofline's scaled by "
               f"the same factor ({factor:.4g}), an estimate: the paper prints none."),
    )


def write_published_cards(directory: str | Path = PUBLISHED_CARDS_DIR) -> list[Path]:
    folder = Path(directory)
    return [save_card(published_card(model), folder / f"{MODEL_IDS[model]}@{HARDWARE_ID}.yaml")
            for model in MODEL_IDS]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tpf.published_energy",
                                     description="Write the published L40S energy cards from EuroMLSys'25 Table 1.")
    parser.add_argument("--out-dir", default=str(PUBLISHED_CARDS_DIR), help="default: %(default)s")
    args = parser.parse_args(list(argv) if argv is not None else None)
    for path in write_published_cards(args.out_dir):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
