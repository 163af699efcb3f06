"""Check routing policies: size, JSON syntax, version, schema, then semantics.

Every problem is reported with its JSON path (``$.classes[2].decisions[0].weight``),
all at once, in one :class:`tpf.errors.PolicyError` whose ``problems`` attribute
lists them. ``jsonschema`` is imported only when a policy is checked, so that
``import tpf.policy`` stays cheap.
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from tpf.atomic import write_text_atomic
from tpf.errors import PolicyError
from tpf.policy.format import (
    FORMAT_NAME,
    FORMAT_VERSION,
    HOURS_PER_DAY,
    Policy,
    policy_from_dict,
    policy_to_dict,
)

MAX_POLICY_BYTES = 16 * 1024 * 1024
WEIGHT_SUM_TOLERANCE = 1e-9
MAX_LISTED_PROBLEMS = 50
_SUPPORTED_MAJOR = int(FORMAT_VERSION.split(".")[0])


def _raise(where: str, problems: list[str]) -> None:
    shown = problems[:MAX_LISTED_PROBLEMS]
    lines = [f"  - {p}" for p in shown]
    if len(problems) > len(shown):
        lines.append(f"  - ... and {len(problems) - len(shown)} more")
    noun = "problem" if len(problems) == 1 else "problems"
    error = PolicyError(f"{where}: invalid policy, {len(problems)} {noun}:\n" + "\n".join(lines), problems)
    raise error


# --- reading --------------------------------------------------------------------------------


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed in a policy (numbers must be finite)")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"duplicate key {key!r} in one object")
        out[key] = value
    return out


def parse_policy_text(text: str | bytes, where: str = "<policy>") -> Any:
    """Parse JSON, refusing NaN/Infinity, duplicate keys and undecodable bytes."""
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        return json.loads(text, parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except UnicodeDecodeError as exc:
        raise PolicyError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except json.JSONDecodeError as exc:
        raise PolicyError(
            f"{where}: not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from exc
    except (ValueError, RecursionError) as exc:
        raise PolicyError(f"{where}: not a usable JSON document: {exc}") from exc


def read_policy_data(path: str | os.PathLike[str], max_bytes: int = MAX_POLICY_BYTES) -> Any:
    """Read and parse a policy file, refusing files over ``max_bytes``."""
    where = str(path)
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise PolicyError(
                f"{where}: file is {size} bytes; a policy may be at most {max_bytes} bytes"
            )
        with open(path, "rb") as handle:
            raw = handle.read(max_bytes + 1)
    except OSError as exc:
        raise PolicyError(f"{where}: cannot read policy file: {exc.strerror or exc}") from exc
    if len(raw) > max_bytes:
        raise PolicyError(f"{where}: file exceeds {max_bytes} bytes")
    return parse_policy_text(raw, where)


# --- version and schema ---------------------------------------------------------------------


def version_problem(data: Any) -> str | None:
    """A refusal for a foreign or unsupported-major document, else None."""
    if not isinstance(data, dict):
        return f"$: must be a JSON object, got {type(data).__name__}"
    if data.get("format") != FORMAT_NAME:
        return f"$.format: must be {FORMAT_NAME!r}, got {data.get('format')!r}"
    version = data.get("format_version")
    parts = version.split(".") if isinstance(version, str) else []
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return f"$.format_version: must look like 'MAJOR.MINOR' (this tpf reads {FORMAT_VERSION}), got {version!r}"
    major = int(parts[0])
    if major > _SUPPORTED_MAJOR:
        return (f"$.format_version: {version} is a newer major version than this tpf reads "
                f"({_SUPPORTED_MAJOR}.x); upgrade tpf to load it")
    if major < _SUPPORTED_MAJOR:
        return f"$.format_version: {version} is an old major version; this tpf reads {_SUPPORTED_MAJOR}.x"
    return None


def load_schema() -> dict[str, Any]:
    """The published JSON Schema of the policy format."""
    text = resources.files("tpf.policy").joinpath("policy.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def json_path(parts: Iterable[Any]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)


@functools.lru_cache(maxsize=1)
def _validator() -> Any:
    import jsonschema

    return jsonschema.Draft202012Validator(load_schema())


def schema_problems(data: Any) -> list[str]:
    errors = sorted(_validator().iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    return [f"{json_path(e.absolute_path)}: {_short(e.message)}" for e in errors]


def _short(message: str, limit: int = 300) -> str:
    return message if len(message) <= limit else message[:limit] + "..."


# --- semantics ------------------------------------------------------------------------------


def _decision_list_problems(items: list[dict[str, Any]], where: str, models: set[str]) -> list[str]:
    out = []
    total = math.fsum(item["weight"] for item in items)
    if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
        out.append(f"{where}: weights must sum to 1 (within {WEIGHT_SUM_TOLERANCE:g}), got {total!r}")
    for i, item in enumerate(items):
        if item["model"] not in models:
            out.append(f"{where}[{i}].model: {item['model']!r} is not a declared model; "
                       f"known: {sorted(models)}")
    return out


def _hour_problems(entries: list[dict[str, Any]], where: str) -> list[str]:
    seen: dict[int, int] = {}
    out = []
    for i, entry in enumerate(entries):
        for hour in entry["hours"]:
            if hour in seen:
                out.append(f"{where}[{i}].hours: hour {hour} already given in {where}[{seen[hour]}]")
            seen.setdefault(hour, i)
    missing = [h for h in range(HOURS_PER_DAY) if h not in seen]
    if missing:
        out.append(f"{where}: hours 0-23 must each appear once; missing {missing}")
    return out


def _interval_problems(spans: list[tuple[float, float | None]], where: str, what: str) -> list[str]:
    """Intervals [min, max) listed in order must tile [0, inf) without gaps or overlaps."""
    out = []
    expected_start: float | None = 0.0
    for i, (low, high) in enumerate(spans):
        if expected_start is None:
            out.append(f"{where}[{i}]: follows a {what} open to infinity; nothing may follow it")
            break
        if low != expected_start:
            out.append(f"{where}[{i}]: must start at {expected_start:g} (listed in order, no gaps "
                       f"or overlaps), starts at {low:g}")
        if high is not None and not high > low:
            out.append(f"{where}[{i}]: max must be > min, got [{low:g}, {high:g})")
        expected_start = high
    if expected_start is not None:
        out.append(f"{where}: the last {what} must be open-ended (max null) so that [0, inf) is covered")
    return out


def _class_problems(cls: dict[str, Any], where: str, models: set[str]) -> list[str]:
    out = _decision_list_problems(cls["decisions"], f"{where}.decisions", models)
    hours = cls.get("by_hour") or []
    for j, entry in enumerate(hours):
        out += _decision_list_problems(entry["decisions"], f"{where}.by_hour[{j}].decisions", models)
    if hours:
        out += _hour_problems(hours, f"{where}.by_hour")
    bands = cls.get("by_carbon") or []
    for j, band in enumerate(bands):
        out += _decision_list_problems(band["decisions"], f"{where}.by_carbon[{j}].decisions", models)
    if bands:
        spans = [(b["min_g_per_kwh"], b["max_g_per_kwh"]) for b in bands]
        out += _interval_problems(spans, f"{where}.by_carbon", "carbon band")
    return out


def _bucket_problems(classes: list[dict[str, Any]]) -> list[str]:
    by_category: dict[str, list[tuple[int, dict[str, Any]]]] = {}
    for i, cls in enumerate(classes):
        by_category.setdefault(cls["category"], []).append((i, cls))
    out = []
    for category, members in by_category.items():
        members.sort(key=lambda m: m[1].get("n_in_min_tokens", 0))
        spans = [(m[1].get("n_in_min_tokens", 0), m[1].get("n_in_max_tokens")) for m in members]
        where = f"$.classes[category={category!r}] (classes {[m[0] for m in members]})"
        out += _interval_problems(spans, where, "input-length bucket")
    return out


def _prices_problems(prices: dict[str, Any] | None) -> list[str]:
    if prices is None:
        return []
    return [f"$.prices.{key}: must hold 1 value (all day) or 24 (by hour), got {len(prices[key])}"
            for key in ("accuracy_per_it_j", "carbon_g_per_kwh")
            if key in prices and len(prices[key]) not in ((0, 1, 24) if key == "carbon_g_per_kwh" else (1, 24))]


def semantic_problems(data: dict[str, Any], models: Iterable[str] | None = None) -> list[str]:
    """Rules beyond the schema; ``data`` must already satisfy the schema."""
    declared = set(data["models"])
    out = []
    if models is not None:
        allowed = set(models)
        out += [f"$.models: {m!r} is not among the known models {sorted(allowed)}"
                for m in data["models"] if m not in allowed]
        declared &= allowed
    classes = data["classes"]
    names = [c["name"] for c in classes]
    out += [f"$.classes: duplicate class name {n!r}" for n in sorted({n for n in names if names.count(n) > 1})]
    for i, cls in enumerate(classes):
        out += _class_problems(cls, f"$.classes[{i}]", declared)
    out += _bucket_problems(classes)
    out += _prices_problems(data.get("prices"))
    categories = {c["category"] for c in classes}
    if data["default_category"] not in categories:
        out.append(f"$.default_category: {data['default_category']!r} is not the category of any "
                   f"class; categories: {sorted(categories)}")
    return out


def policy_problems(data: Any, models: Iterable[str] | None = None) -> list[str]:
    """Every problem of a parsed policy document (empty when it is valid)."""
    refusal = version_problem(data)
    if refusal is not None:
        return [refusal]
    problems = schema_problems(data)
    if problems:
        return problems
    return semantic_problems(data, models)


# --- entry points ---------------------------------------------------------------------------


def check_policy_data(data: Any, models: Iterable[str] | None = None, where: str = "<policy>") -> None:
    problems = policy_problems(data, models)
    if problems:
        _raise(where, problems)


def load_policy(
    source: str | os.PathLike[str] | dict[str, Any] | Policy,
    models: Iterable[str] | None = None,
    max_bytes: int = MAX_POLICY_BYTES,
) -> Policy:
    """Load and fully check a policy from a file path, a parsed dict or a :class:`Policy`.

    Raises :class:`PolicyError` listing every problem; a policy that loads is
    safe to route with.
    """
    if isinstance(source, Policy):
        data, where = policy_to_dict(source), f"policy {source.name or '<unnamed>'}"
    elif isinstance(source, dict):
        data, where = source, "<policy dict>"
    else:
        data, where = read_policy_data(source, max_bytes), str(source)
    check_policy_data(data, models, where)
    return policy_from_dict(data)


def save_policy(policy: Policy, path: str | os.PathLike[str]) -> Path:
    """Check ``policy`` and write it as JSON atomically (a failed write leaves the old file)."""
    data = policy_to_dict(policy)
    check_policy_data(data, where=str(path))
    # default permissions (umask), so routers can read it
    return write_text_atomic(path, json.dumps(data, indent=2, allow_nan=False) + "\n")
