"""TPF cards: fitted curves as artefacts.

A card stores what a fit produced (family, coefficients, valid range, fit
quality for every candidate, the sha256 of the input data and provenance), so
that planning never refits and every number can be traced to its data.

Two kinds of card, each a YAML file:

* :class:`EnergyCard` (``kind: energy``): request energy and duration of one
  model on one hardware as functions of input tokens, output tokens and batch
  size. ``source`` says where the numbers come from: ``measured`` (calibration
  on that hardware), ``published`` (a paper's table), or ``estimate``
  (roofline or transfer from another GPU; ``method`` names it).
* :class:`AccuracyCard` (``kind: accuracy``): accuracy curves per
  (model, category, strategy): a constant for zero-shot, a saturating curve in
  the chain-of-thought token budget, a curve in the majority-vote count.
"""

from __future__ import annotations

import hashlib
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import ArrayLike

from tpf.anchors import EnergyAnchor, anchors_problems
from tpf.atomic import write_text_atomic
from tpf.domain import STRATEGIES
from tpf.errors import CardError
from tpf.families import FloatArray, evaluate_accuracy_family, get_family
from tpf.lengths import LengthDistribution
from tpf.operating import OperatingCurve, engine_problems

CARD_FORMAT_VERSION = 1
SOURCES = ("measured", "published", "estimate")


@dataclass(frozen=True)
class CurveFit:
    """One fitted curve: ``target`` (``energy_j`` or ``duration_s``) = features @ coefficients."""

    family: str
    coefficients: tuple[float, ...]
    target: str = "energy_j"

    def __post_init__(self) -> None:
        family = get_family(self.family)
        if len(self.coefficients) != family.n_coefficients:
            raise CardError(
                f"{self.target}: family {self.family!r} takes {family.n_coefficients} "
                f"coefficients, got {len(self.coefficients)}"
            )

    def predict(self, n_in: ArrayLike, n_out: ArrayLike, batch_size: ArrayLike = 1.0) -> FloatArray:
        return get_family(self.family).predict(
            self.coefficients, n_in, n_out, batch_size, target=self.target
        )


@dataclass(frozen=True)
class ValidRange:
    """Closed ranges of the inputs the curve was fitted on."""

    n_in_tokens: tuple[float, float]
    n_out_tokens: tuple[float, float]
    batch_size: tuple[float, float] = (1.0, 1.0)

    def contains(self, n_in: ArrayLike, n_out: ArrayLike, batch_size: ArrayLike = 1.0) -> np.ndarray:
        n_in_a, n_out_a, batch_a = np.broadcast_arrays(
            np.asarray(n_in, float), np.asarray(n_out, float), np.asarray(batch_size, float)
        )
        return (
            (n_in_a >= self.n_in_tokens[0]) & (n_in_a <= self.n_in_tokens[1])
            & (n_out_a >= self.n_out_tokens[0]) & (n_out_a <= self.n_out_tokens[1])
            & (batch_a >= self.batch_size[0]) & (batch_a <= self.batch_size[1])
        )


@dataclass
class EnergyCard:
    """Energy and duration curves of one model on one hardware.

    ``energy_j(n_in, n_out, batch_size)`` is the GPU energy of one request in J
    (a batch window's energy divided by its batch size); ``duration_s`` is the
    wall time of that window in s. ``idle_power_w`` is the GPU's power when
    powered on and idle (W), paid by the planner and simulator for every
    powered-on GPU. ``gpus_per_replica`` GPUs serve one model replica.
    ``anchors`` are published per-query energies the card's prices pass through
    (:mod:`tpf.anchors`). ``operating_curves`` hold, per serving engine, power,
    throughput and energy over batch levels (:mod:`tpf.operating`). ``engine`` and
    ``engine_version`` name the serving engine the card describes (``vllm`` with
    ``0.11``, ``hf_generate``; empty: not stated), checked against the versions
    tpf has fitted presets for (:data:`tpf.operating.ENGINE_VERSIONS`).
    """

    model: str
    hardware: str
    energy: CurveFit
    valid_range: ValidRange
    duration: CurveFit | None = None
    idle_power_w: float = 0.0
    gpus_per_replica: int = 1
    max_batch_size: int = 1
    source: str = "measured"
    method: str = "fit"
    fit_quality: dict[str, dict[str, float]] = field(default_factory=dict)
    data_sha256: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    anchors: list[EnergyAnchor] = field(default_factory=list)
    operating_curves: list[OperatingCurve] = field(default_factory=list)
    engine: str = ""  # serving engine the card describes (tpf.operating.ENGINES; "" not stated)
    engine_version: str = ""  # its version (tpf.operating.ENGINE_VERSIONS)

    def __post_init__(self) -> None:
        if self.source not in SOURCES:
            raise CardError(f"source must be one of {SOURCES}, got {self.source!r}")
        problems = engine_problems(self.engine, self.engine_version)
        problems += anchors_problems(self.anchors, "anchors")
        for index, curve in enumerate(self.operating_curves):
            problems += curve.problems(f"operating_curves[{index}]", self.valid_range.batch_size)
        engines = [c.engine for c in self.operating_curves]
        if len(set(engines)) != len(engines):
            problems.append(f"operating_curves: one curve per serving engine, got {engines}")
        if problems:
            raise CardError("; ".join(problems))

    @property
    def is_estimate(self) -> bool:
        return self.source == "estimate"

    def energy_j(self, n_in: ArrayLike, n_out: ArrayLike, batch_size: ArrayLike = 1.0) -> FloatArray:
        return self.energy.predict(n_in, n_out, batch_size)

    def operating_curve(self, engine: str) -> OperatingCurve:
        """The card's operating curve of serving ``engine``; an error names the engines it has."""
        for curve in self.operating_curves:
            if curve.engine == engine:
                return curve
        raise CardError(f"card {self.model}@{self.hardware} has no operating curve for engine "
                        f"{engine!r}; it has {[c.engine for c in self.operating_curves]}")

    def duration_s(self, n_in: ArrayLike, n_out: ArrayLike, batch_size: ArrayLike = 1.0) -> FloatArray:
        if self.duration is None:
            raise CardError(
                f"card {self.model}@{self.hardware} has no duration curve "
                "(its data had no duration_s); latency and GPU time cannot be predicted"
            )
        return self.duration.predict(n_in, n_out, batch_size)

    def energy_per_token_j(
        self, n_in: ArrayLike, n_out: ArrayLike, batch_size: ArrayLike = 1.0
    ) -> FloatArray:
        """EuroMLSys'25 eq. 1: request energy over input plus output tokens."""
        total = np.asarray(n_in, float) + np.asarray(n_out, float)
        return self.energy_j(n_in, n_out, batch_size) / total

    def in_range(self, n_in: ArrayLike, n_out: ArrayLike, batch_size: ArrayLike = 1.0) -> np.ndarray:
        return self.valid_range.contains(n_in, n_out, batch_size)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["energy"]["coefficients"] = [float(c) for c in self.energy.coefficients]
        if self.duration is not None:
            data["duration"]["coefficients"] = [float(c) for c in self.duration.coefficients]
        data["valid_range"] = {k: [float(v) for v in vals] for k, vals in data["valid_range"].items()}
        return {"kind": "energy", "format_version": CARD_FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EnergyCard:
        body = {k: v for k, v in data.items() if k not in ("kind", "format_version")}
        try:
            body["energy"] = CurveFit(
                body["energy"]["family"],
                tuple(float(c) for c in body["energy"]["coefficients"]),
                body["energy"].get("target", "energy_j"),
            )
            if body.get("duration"):
                body["duration"] = CurveFit(
                    body["duration"]["family"],
                    tuple(float(c) for c in body["duration"]["coefficients"]),
                    body["duration"].get("target", "duration_s"),
                )
            body["valid_range"] = ValidRange(
                **{k: (float(v[0]), float(v[1])) for k, v in body["valid_range"].items()}
            )
            body["anchors"] = [EnergyAnchor.from_dict(a, f"anchors[{i}]")
                               for i, a in enumerate(body.get("anchors") or [])]
            body["operating_curves"] = [OperatingCurve.from_dict(c, f"operating_curves[{i}]")
                                        for i, c in enumerate(body.get("operating_curves") or [])]
            return cls(**body)
        except (KeyError, TypeError, IndexError) as exc:
            raise CardError(f"malformed energy card: {exc!r}") from exc


# --- accuracy curves -------------------------------------------------------

@dataclass
class AccuracyCurve:
    """Accuracy of one (model, category, strategy) as a function of budget or votes.

    For ``cot`` the curve's argument is the token budget (``budget_tokens``);
    for ``mv`` it is the vote count (``votes``; each vote may itself carry a
    budget, ``budget_tokens``); for ``zero_shot`` it is ignored.
    ``n_items`` is the number of graded items behind the curve (for intervals).
    ``points`` are the data the curve was fitted on, ``[x, accuracy, n_items]``
    with x in the curve's own argument (tokens or votes), for plots and audits.
    ``lengths`` (``cot`` curves): the distribution of the unbounded CoT length,
    from which an option is charged ``min(L, budget)`` generated tokens
    (:mod:`tpf.lengths`); without it the planner falls back to ``cot_used_fraction``.
    """

    model: str
    category: str
    strategy: str
    family: str
    params: dict[str, Any]
    n_items: int = 0
    x_range: tuple[float, float] = (0.0, 0.0)
    budget_tokens: int = 0
    heldout_mae: float | None = None
    source: str = "measured"
    points: list[list[float]] = field(default_factory=list)
    lengths: LengthDistribution | None = None

    def __post_init__(self) -> None:
        if isinstance(self.lengths, dict):
            self.lengths = LengthDistribution.from_dict(
                self.lengths, f"curve {self.model}/{self.category}/{self.strategy}: lengths")
        if self.strategy not in STRATEGIES:
            raise CardError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")

    def accuracy(self, x: ArrayLike) -> FloatArray:
        return np.clip(evaluate_accuracy_family(self.family, self.params, x), 0.0, 1.0)

    def interval(self, x: ArrayLike, z: float = 1.96) -> tuple[FloatArray, FloatArray]:
        """Wilson score interval of the predicted accuracy for ``n_items`` items."""
        p = self.accuracy(x)
        n = max(self.n_items, 1)
        denom = 1.0 + z * z / n
        centre = (p + z * z / (2 * n)) / denom
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
        return np.clip(centre - half, 0, 1), np.clip(centre + half, 0, 1)


@dataclass
class AccuracyCard:
    """A set of accuracy curves, looked up by (model, category, strategy)."""

    curves: list[AccuracyCurve]
    data_sha256: str = ""
    provenance: dict[str, Any] = field(default_factory=dict)
    fit_quality: dict[str, Any] = field(default_factory=dict)

    def curve(self, model: str, category: str, strategy: str) -> AccuracyCurve:
        for curve in self.curves:
            if (curve.model, curve.category, curve.strategy) == (model, category, strategy):
                return curve
        known = sorted({(c.model, c.category, c.strategy) for c in self.curves})
        raise CardError(
            f"no accuracy curve for model={model!r}, category={category!r}, strategy={strategy!r}; "
            f"the card has {len(known)} curves, e.g. {known[:5]}"
        )

    def lengths(self, model: str, category: str) -> LengthDistribution | None:
        """The CoT length distribution of (model, category), or None where the card has none."""
        for curve in self.curves:
            if (curve.model, curve.category, curve.strategy) == (model, category, "cot"):
                return curve.lengths
        return None

    def has(self, model: str, category: str, strategy: str) -> bool:
        return any(
            (c.model, c.category, c.strategy) == (model, category, strategy) for c in self.curves
        )

    def accuracy(
        self, model: str, category: str, strategy: str, budget_tokens: float = 0, votes: float = 1
    ) -> float:
        curve = self.curve(model, category, strategy)
        x = votes if strategy == "mv" else budget_tokens
        return float(curve.accuracy(x))

    def to_dict(self) -> dict[str, Any]:
        curves = []
        for c in self.curves:
            d = asdict(c)
            d["x_range"] = [float(v) for v in c.x_range]
            d["params"] = _plain(c.params)
            if c.lengths is None:
                d.pop("lengths")
            else:
                budgets = sorted({float(p[0]) for p in c.points if p and p[0] > 0})
                d["lengths"] = c.lengths.to_dict(budgets)
            curves.append(d)
        return {
            "kind": "accuracy",
            "format_version": CARD_FORMAT_VERSION,
            "data_sha256": self.data_sha256,
            "provenance": _plain(self.provenance),
            "fit_quality": _plain(self.fit_quality),
            "curves": curves,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AccuracyCard:
        try:
            curves = [
                AccuracyCurve(**{**c, "x_range": tuple(c.get("x_range", (0.0, 0.0)))})
                for c in data["curves"]
            ]
        except (KeyError, TypeError) as exc:
            raise CardError(f"malformed accuracy card: {exc!r}") from exc
        return cls(
            curves=curves,
            data_sha256=data.get("data_sha256", ""),
            provenance=data.get("provenance", {}),
            fit_quality=data.get("fit_quality", {}),
        )


# --- files -----------------------------------------------------------------

Card = EnergyCard | AccuracyCard


def _plain(value: Any) -> Any:
    """Convert numpy scalars and tuples to plain YAML-safe Python values."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def sha256_file(path: str | os.PathLike[str]) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def card_sha256(card: Card) -> str:
    """A stable hash of a card's content (used in policies' provenance)."""
    text = yaml.safe_dump(_plain(card.to_dict()), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def save_card(card: Card, path: str | os.PathLike[str]) -> Path:
    """Write a card atomically: an existing file is replaced only once the new one is complete."""
    return write_text_atomic(path, yaml.safe_dump(_plain(card.to_dict()), sort_keys=False))


#: The keys every energy card saved by :func:`save_card` has carried since format version 1; keys
#: added later (anchors, operating curves, engine) are optional, so older saved cards still load.
SAVED_ENERGY_KEYS = ("model", "hardware", "energy", "valid_range", "duration", "idle_power_w", "gpus_per_replica",
                     "max_batch_size", "source", "method", "fit_quality", "data_sha256", "provenance", "notes")


def load_card(path: str | os.PathLike[str]) -> Card:
    """Read an energy or accuracy card, checked (:mod:`tpf.card_checks`); errors name the file and key."""
    from tpf.card_checks import (
        accuracy_card_problems,
        energy_card_problems,
        format_version_problem,
        saved_card_problems,
    )
    from tpf.errors import ConfigError
    from tpf.safeyaml import loads_bounded, read_text_bounded

    try:
        text = read_text_bounded(Path(path), max_bytes=50_000_000)
        data = loads_bounded(text, str(path), max_aliases=1000)
    except UnicodeDecodeError as exc:
        raise CardError(f"{path}: cannot read card: not UTF-8 text (byte {exc.start})") from exc
    except (OSError, yaml.YAMLError, ConfigError) as exc:
        raise CardError(f"{path}: cannot read card: {exc}") from exc
    if not isinstance(data, dict) or data.get("kind") not in ("energy", "accuracy"):
        raise CardError(f"{path}: not a tpf card (expected a mapping with kind: energy|accuracy)")
    version_problem = format_version_problem(data.get("format_version", CARD_FORMAT_VERSION), CARD_FORMAT_VERSION)
    problems = [version_problem] if version_problem else []
    written = SAVED_ENERGY_KEYS if data["kind"] == "energy" else ("curves",)
    problems += saved_card_problems(text, data, written)
    problems += energy_card_problems(data) if data["kind"] == "energy" else accuracy_card_problems(data)
    if problems:
        raise CardError(f"{path}: invalid {data['kind']} card:\n  " + "\n  ".join(problems))
    try:
        if data["kind"] == "energy":
            return EnergyCard.from_dict(data)
        return AccuracyCard.from_dict(data)
    except CardError as exc:
        raise CardError(f"{path}: {exc}") from exc
