"""The text estimator's classes for a semantic-router export (standard library and PyYAML only).

With an estimator (``tpf policy export ... --estimator shipped|FOLDER``), the
export's domain signals match the estimator's class labels instead of the
MMLU-Pro list, each domain and decision names the estimator, and each decision
carries the share of its category's queries the estimator reads right (from
the card's confusion counts), so the router's domain classifier can be checked
against the classes the plan was made for. Only ``card.yaml`` is read: the
estimator's weights (numpy) are for tpf's own per-query router
(``tpf.policy.per_query``), not for the export.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from tpf.errors import PolicyError

SHIPPED = "shipped"
SHIPPED_NAME = "mmlu_pro_llama31"


@dataclass(frozen=True)
class EstimatorLabels:
    """An estimator's name, card digest, class labels and confusion (true x predicted; may be empty)."""

    name: str
    card_sha256: str
    classes: tuple[str, ...]
    confusion: tuple[tuple[float, ...], ...] = ()

    def read_right(self, labels: Sequence[str]) -> float | None:
        """Share of queries of ``labels`` the estimator reads as one of ``labels`` (None without counts)."""
        if not self.confusion:
            return None
        rows = [self.classes.index(label) for label in labels if label in self.classes]
        total = sum(sum(self.confusion[i]) for i in rows)
        right = sum(self.confusion[i][j] for i in rows for j in rows)
        return right / total if total else None


def _card_file(estimator: str) -> Path:
    if estimator == SHIPPED:
        return Path(str(resources.files("tpf").joinpath("data", "estimators", SHIPPED_NAME, "card.yaml")))
    path = Path(estimator)
    return path / "card.yaml" if path.is_dir() else path


def _confusion(card: dict[str, Any], classes: tuple[str, ...]) -> tuple[tuple[float, ...], ...]:
    held = [v for v in (card.get("held_out") or {}).values() if isinstance(v, dict) and "confusion" in v]
    validation = card.get("validation_same_settings")
    source = (max(held, key=lambda v: int(v.get("n_rows", 0)))["confusion"] if held else
              validation.get("confusion") if isinstance(validation, dict) else None)
    if not isinstance(source, dict) or tuple(source.get("classes", ())) != classes:
        return ()
    return tuple(tuple(float(n) for n in row) for row in source.get("counts", ()))


def load_estimator_labels(estimator: str) -> EstimatorLabels:
    """The labels of ``estimator``: ``shipped`` or an estimator folder (or its ``card.yaml``)."""
    import yaml

    path = _card_file(estimator)
    try:
        text = path.read_bytes()
        card = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"--estimator {estimator}: cannot read the estimator card {path} ({exc})") from exc
    classes = card.get("classes") if isinstance(card, dict) else None
    if not isinstance(card, dict) or card.get("kind") != "text_estimator" or not isinstance(classes, list) \
            or not classes or not all(isinstance(c, str) and c for c in classes):
        raise PolicyError(f"--estimator {estimator}: {path} is not a text estimator card "
                          "(kind: text_estimator with a list of class names)")
    name = SHIPPED_NAME if estimator == SHIPPED else path.parent.name
    return EstimatorLabels(name, hashlib.sha256(text).hexdigest(), tuple(classes), _confusion(card, tuple(classes)))
