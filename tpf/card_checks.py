"""Checks of a card's content before it is used: every problem, each with its key.

:func:`tpf.cards.load_card` runs these on the raw YAML mapping, so a card
with a missing key, a string where a number belongs, a NaN, infinite or
negative figure, an accuracy outside [0, 1] or a non-positive time constant
is refused with a :class:`~tpf.errors.CardError` naming the file and the key,
instead of predicting blanks, negative joules or infinities.

Energy cards: coefficients finite numbers of the family's count; ``valid_range``
pairs ``[low, high]`` with ``0 <= low <= high``; the fitted energy (and
duration) at the corners and centre of the valid range finite and > 0;
``idle_power_w`` finite and >= 0; ``gpus_per_replica`` and ``max_batch_size``
integers >= 1.

Accuracy curves: ``acc``, ``a_0``, ``a_1``, ``a_inf`` and knot accuracies
in [0, 1]; ``tau_tokens``, ``tau_votes`` > 0; ``b0_tokens`` >= 0; knots of
equal length, finite, increasing in x.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

ENERGY_REQUIRED = ("model", "hardware", "energy", "valid_range")
CURVE_REQUIRED = ("model", "category", "strategy", "family", "params")
FRACTION_PARAMS = ("acc", "a_0", "a_1", "a_inf")
POSITIVE_PARAMS = ("tau_tokens", "tau_votes")
FAMILY_PARAMS = {
    "constant": ("acc",),
    "saturating_budget": ("a_inf", "a_0", "tau_tokens"),
    "saturating_budget_delayed": ("a_inf", "a_0", "tau_tokens", "b0_tokens"),
    "saturating_votes": ("a_inf", "a_1", "tau_votes"),
    "interpolated": ("knots_x", "knots_acc"),
}


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (strings, booleans, NaN and infinities are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _name(value: Any) -> str:
    """A name as text (a list or mapping where a name belongs becomes its repr, matching nothing)."""
    return value if isinstance(value, str) else repr(value)


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def format_version_problem(value: Any, supported: int) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return f"format_version: must be an integer, got {_shown(value)}"
    if value > supported:
        return f"format_version: {value} is newer than this tpf supports ({supported}); upgrade tpf"
    if value < 1:
        return f"format_version: must be >= 1, got {value}"
    return None


def _missing(data: dict[str, Any], keys: Iterable[str], where: str) -> list[str]:
    return [f"{where}{key}: required, missing" for key in keys if key not in data]


def _curve_problems(curve: Any, where: str) -> list[str]:
    if curve is None and where == "duration":
        return []
    if not isinstance(curve, dict):
        return [f"{where}: must be a mapping with family and coefficients, got {_shown(curve)}"]
    problems = _missing(curve, ("family", "coefficients"), f"{where}.")
    from tpf.families import FAMILIES

    family = _name(curve.get("family"))
    if "family" in curve and family not in FAMILIES:
        problems.append(f"{where}.family: must be one of {', '.join(sorted(FAMILIES))}, got {_shown(family)}")
    coefficients = curve.get("coefficients")
    if "coefficients" in curve:
        if not isinstance(coefficients, list):
            return [*problems, f"{where}.coefficients: must be a list of numbers, got {_shown(coefficients)}"]
        problems += [f"{where}.coefficients[{i}]: must be a finite number, got {_shown(c)}"
                     for i, c in enumerate(coefficients) if _number(c) is None]
        if family in FAMILIES and len(coefficients) != FAMILIES[family].n_coefficients:
            problems.append(f"{where}.coefficients: family {family} takes {FAMILIES[family].n_coefficients}, "
                            f"got {len(coefficients)}")
    return problems


def _range_problems(valid_range: Any) -> list[str]:
    if not isinstance(valid_range, dict):
        return [f"valid_range: must be a mapping of [low, high] pairs, got {_shown(valid_range)}"]
    problems = []
    for key in ("n_in_tokens", "n_out_tokens"):
        if key not in valid_range:
            problems.append(f"valid_range.{key}: required, missing")
    for key, pair in valid_range.items():
        if key not in ("n_in_tokens", "n_out_tokens", "batch_size"):
            problems.append(f"valid_range.{key}: unknown key; valid: n_in_tokens, n_out_tokens, batch_size")
            continue
        numbers = [_number(v) for v in pair] if isinstance(pair, list) and len(pair) == 2 else None
        if numbers is None or None in numbers:
            problems.append(f"valid_range.{key}: must be [low, high], two finite numbers, got {_shown(pair)}")
        elif not 0 <= numbers[0] <= numbers[1]:  # type: ignore[operator]
            problems.append(f"valid_range.{key}: must have 0 <= low <= high, got {_shown(pair)}")
    return problems


def _prediction_problems(data: dict[str, Any]) -> list[str]:
    """The fitted curves at the corners and centre of the valid range must be finite and > 0."""
    from tpf.families import get_family

    ranges = data["valid_range"]
    axes = [np.asarray(ranges.get(k, [1.0, 1.0]), float) for k in ("n_in_tokens", "n_out_tokens", "batch_size")]
    points = [np.append(axis, axis.mean()) for axis in axes]
    grid = np.array(np.meshgrid(*points)).reshape(3, -1)
    problems = []
    for where in ("energy", "duration"):
        curve = data.get(where)
        if not curve:
            continue
        with np.errstate(all="ignore"):
            target = "energy_j" if where == "energy" else "duration_s"
            values = get_family(curve["family"]).predict(
                [float(c) for c in curve["coefficients"]], grid[0], grid[1], grid[2], target=target)
        bad = ~(np.isfinite(values) & (values > 0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            problems.append(
                f"{where}.coefficients: predict {values[i]:.4g} at n_in_tokens={grid[0][i]:g}, "
                f"n_out_tokens={grid[1][i]:g}, batch_size={grid[2][i]:g} inside the valid range; "
                "must be finite and > 0")
    return problems


def energy_card_problems(data: dict[str, Any]) -> list[str]:
    """Every problem of an energy card's raw mapping, each naming its key."""
    problems = _missing(data, ENERGY_REQUIRED, "")
    problems += _curve_problems(data.get("energy"), "energy") if "energy" in data else []
    problems += _curve_problems(data.get("duration"), "duration")
    problems += _range_problems(data.get("valid_range")) if "valid_range" in data else []
    idle = data.get("idle_power_w", 0.0)
    if _number(idle) is None or idle < 0:
        problems.append(f"idle_power_w: must be a finite number >= 0 (W), got {_shown(idle)}")
    for key in ("gpus_per_replica", "max_batch_size"):
        value = data.get(key, 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{key}: must be an integer >= 1, got {_shown(value)}")
    for key in ("model", "hardware"):
        if key in data and (not isinstance(data[key], str) or not data[key]):
            problems.append(f"{key}: must be a non-empty text, got {_shown(data[key])}")
    problems += _operating_number_problems(data.get("operating_curves"))
    problems += _engine_problems(data)
    if not problems:
        problems += _prediction_problems(data)
    return problems


OPERATING_NUMBERS = ("batch_size", "power_w", "throughput_tokens_per_s", "n_out_tokens", "n_in_tokens",
                     "tdp_w", "idle_power_w")


def _operating_number_problems(curves: Any) -> list[str]:
    """Every operating-curve number that is not finite (NaN slips past a range check), by its place."""
    problems = []
    for index, curve in enumerate(curves if isinstance(curves, list) else []):
        for key in OPERATING_NUMBERS if isinstance(curve, dict) else ():
            value = curve.get(key, 0.0)
            for place, item in (enumerate(value) if isinstance(value, list) else [(None, value)]):
                if _number(item) is None:
                    where = f"operating_curves[{index}].{key}" + ("" if place is None else f"[{place}]")
                    problems.append(f"{where}: must be a finite number, got {_shown(item)}")
    return problems


def saved_card_problems(text: str, data: dict[str, Any], written_keys: Iterable[str]) -> list[str]:
    """Signs of a truncated card file: text that ends mid-line, or a card tpf wrote (it carries
    ``data_sha256``) that lacks keys tpf always writes."""
    problems = []
    if text and not text.endswith("\n"):
        problems.append("the file ends mid-line (truncated?): a complete card ends with a newline")
    if "data_sha256" in data:
        missing = [key for key in written_keys if key not in data]
        if missing:
            problems.append(f"{', '.join(missing)}: missing from a card tpf wrote (truncated?)")
    return problems


def _engine_problems(data: dict[str, Any]) -> list[str]:
    """The card's serving engine and version, where it names them (tpf.operating.engine_problems)."""
    from tpf.operating import engine_problems

    return engine_problems(data.get("engine", ""), data.get("engine_version", ""))


def _params_problems(family: Any, params: Any, where: str) -> list[str]:
    if not isinstance(params, dict):
        return [f"{where}.params: must be a mapping, got {_shown(params)}"]
    problems = [f"{where}.params.{key}: required for family {family}, missing"
                for key in FAMILY_PARAMS.get(family, ()) if key not in params]
    numeric = {*FRACTION_PARAMS, *POSITIVE_PARAMS, "b0_tokens", *FAMILY_PARAMS.get(family, ())}
    for key, value in params.items():
        if key in ("knots_x", "knots_acc") or key not in numeric:
            continue  # notes beside the parameters (text) are kept as they are
        number = _number(value)
        if number is None:
            problems.append(f"{where}.params.{key}: must be a finite number, got {_shown(value)}")
        elif key in FRACTION_PARAMS and not 0 <= number <= 1:
            problems.append(f"{where}.params.{key}: an accuracy must be in [0, 1], got {number:g}")
        elif key in POSITIVE_PARAMS and not number > 0:
            problems.append(f"{where}.params.{key}: must be > 0, got {number:g}")
        elif key == "b0_tokens" and number < 0:
            problems.append(f"{where}.params.{key}: must be >= 0, got {number:g}")
    if family == "interpolated":
        problems += _knots_problems(params.get("knots_x"), params.get("knots_acc"), where)
    return problems


def _knots_problems(knots_x: Any, knots_acc: Any, where: str) -> list[str]:
    if not (isinstance(knots_x, list) and isinstance(knots_acc, list)) or len(knots_x) != len(knots_acc) or not knots_x:
        return [f"{where}.params.knots_x/knots_acc: must be two lists of equal, non-zero length"]
    xs, accs = [_number(v) for v in knots_x], [_number(v) for v in knots_acc]
    if None in xs or None in accs:
        return [f"{where}.params.knots_x/knots_acc: must hold finite numbers"]
    problems = []
    if any(b <= a for a, b in zip(xs, xs[1:], strict=False)):  # type: ignore[operator]
        problems.append(f"{where}.params.knots_x: must be increasing, got {_shown(knots_x)}")
    if any(not 0 <= a <= 1 for a in accs):  # type: ignore[operator]
        problems.append(f"{where}.params.knots_acc: accuracies must be in [0, 1], got {_shown(knots_acc)}")
    return problems


def accuracy_card_problems(data: dict[str, Any]) -> list[str]:
    """Every problem of an accuracy card's raw mapping, each naming its key (first 20)."""
    curves = data.get("curves")
    if not isinstance(curves, list) or not curves:
        return [f"curves: must be a non-empty list of accuracy curves, got {_shown(curves)}"]
    from tpf.domain import STRATEGIES

    problems: list[str] = []
    seen: dict[tuple[Any, ...], int] = {}
    for index, curve in enumerate(curves):
        where = f"curves[{index}]"
        if not isinstance(curve, dict):
            problems.append(f"{where}: must be a mapping, got {_shown(curve)}")
            continue
        problems += _missing(curve, CURVE_REQUIRED, f"{where}.")
        family = _name(curve.get("family"))
        if "family" in curve and family not in FAMILY_PARAMS:
            problems.append(f"{where}.family: must be one of {', '.join(FAMILY_PARAMS)}, got {_shown(family)}")
        if "strategy" in curve and curve["strategy"] not in STRATEGIES:
            problems.append(f"{where}.strategy: must be one of {', '.join(STRATEGIES)}, got {_shown(curve['strategy'])}")
        for text_key in ("model", "category"):
            if text_key in curve and (not isinstance(curve[text_key], str) or not curve[text_key]):
                problems.append(f"{where}.{text_key}: must be a non-empty text, got {_shown(curve[text_key])}")
        if "params" in curve:
            problems += _params_problems(family, curve["params"], where)
        key = tuple(repr(curve.get(k, 0)) for k in ("model", "category", "strategy", "budget_tokens"))
        if key in seen:
            problems.append(f"{where}: repeats model, category, strategy, budget_tokens {key} "
                            f"of curves[{seen[key]}]")
        seen.setdefault(key, index)
    return problems[:20]
