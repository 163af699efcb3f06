"""The routing runtime: apply a policy to requests, deterministically per request id.

``Router(policy).decide(request_id, category, n_in_tokens, hour, carbon_g_per_kwh)``
returns a :class:`~tpf.policy.format.Decision`. Lookup order:

1. the category's classes (an unknown category uses the policy's default category);
2. the input-length bucket [n_in_min_tokens, n_in_max_tokens) holding ``n_in_tokens``;
3. the split: the carbon band holding ``carbon_g_per_kwh`` if one is given and the
   class has bands, else the entry for ``hour`` (hour of day, taken modulo 24) if
   one is given and the class has an hourly schedule, else the all-day split;
4. the decision: ``u = uniform(request_id)`` in [0, 1) picks the decision whose
   cumulative-weight interval holds ``u``.

``uniform`` is a fixed, documented hash, identical across processes and
platforms: CRC-32 (zlib) of the UTF-8 bytes of ``salt + str(request_id)``, mixed
by the MurmurHash3 32-bit finalizer, divided by 2**32. A replay with the same
ids therefore makes the same decisions.

Everything that can be wrong with a policy is checked when the router is built
(:func:`tpf.policy.validate.load_policy`); ``decide`` does not raise for any
category, input length, hour, carbon intensity or request id: a value that is
not a usable number (None, NaN, a Decimal NaN, infinite hour, text) counts as
absent, and text that is not valid Unicode (a lone surrogate) is hashed with
its code points as they are (UTF-8 with ``surrogatepass``).
Standard library only.
"""

from __future__ import annotations

import os
import zlib
from bisect import bisect_right
from typing import Any

from tpf.policy.format import HOURS_PER_DAY, Choice, Decision, Policy, PolicyClass
from tpf.policy.validate import load_policy

_MASK32 = 0xFFFFFFFF
_INV_2_32 = 1.0 / 4294967296.0


_NOT_A_NUMBER = (TypeError, ValueError, ArithmeticError)  # text, NaN, Decimal NaN, inf


def _id_bytes(request_id: object) -> bytes:
    """The bytes hashed for ``request_id``: its text in UTF-8, lone surrogates kept."""
    try:
        data = request_id if isinstance(request_id, str) else str(request_id)
    except Exception:  # an id whose str() fails: hashed by its type name
        data = f"<{type(request_id).__name__}>"
    return data.encode("utf-8", "surrogatepass")


def uniform_from_id(request_id: object, salt: str = "") -> float:
    """The deterministic uniform draw in [0, 1) the router uses for ``request_id``."""
    return _mix32(zlib.crc32(_id_bytes(request_id), zlib.crc32(salt.encode()))) * _INV_2_32


def _mix32(value: int) -> int:
    """MurmurHash3 fmix32: a bijection on 32-bit integers with full avalanche."""
    value ^= value >> 16
    value = (value * 0x85EBCA6B) & _MASK32
    value ^= value >> 13
    value = (value * 0xC2B2AE35) & _MASK32
    return value ^ (value >> 16)


class _Split:
    """A weighted list of decisions with precomputed cumulative weights."""

    __slots__ = ("cumulative", "decisions", "only", "choices")

    def __init__(self, choices: tuple[Choice, ...]):
        positive = [c for c in choices if c.weight > 0]
        total = sum(c.weight for c in positive)
        running, cumulative = 0.0, []
        for choice in positive:
            running += choice.weight / total
            cumulative.append(running)
        cumulative[-1] = 1.0  # u < 1 always lands on a decision
        self.choices = choices
        self.cumulative = tuple(cumulative)
        self.decisions = tuple(c.decision for c in positive)
        self.only = self.decisions[0] if len(self.decisions) == 1 else None

    def pick(self, u: float) -> Decision:
        return self.only if self.only is not None else self.decisions[bisect_right(self.cumulative, u)]


class _ClassTable:
    __slots__ = ("name", "all_day", "hours", "carbon_lows", "carbon_splits")

    def __init__(self, cls: PolicyClass):
        self.name = cls.name
        self.all_day = _Split(cls.choices)
        hours: list[_Split | None] = [None] * HOURS_PER_DAY
        for entry in cls.by_hour:
            split = _Split(entry.choices)
            for hour in entry.hours:
                hours[hour] = split
        self.hours: tuple[_Split, ...] | None = (
            tuple(h for h in hours if h is not None) if cls.by_hour else None
        )
        bands = sorted(cls.by_carbon, key=lambda band: band.min_g_per_kwh)
        self.carbon_lows = tuple(band.min_g_per_kwh for band in bands)
        self.carbon_splits = tuple(_Split(band.choices) for band in bands)

    def split(self, hour: Any, carbon_g_per_kwh: Any) -> _Split:
        if self.carbon_lows and carbon_g_per_kwh is not None:
            try:
                if carbon_g_per_kwh == carbon_g_per_kwh:  # NaN is no intensity
                    index = bisect_right(self.carbon_lows, carbon_g_per_kwh) - 1
                    return self.carbon_splits[index if index > 0 else 0]
            except _NOT_A_NUMBER:  # not a number: as if no intensity were given
                pass
        if self.hours is not None and hour is not None:
            try:
                return self.hours[int(hour) % HOURS_PER_DAY]
            except _NOT_A_NUMBER:  # NaN, inf, text: as if no hour were given
                pass
        return self.all_day


class _CategoryTable:
    __slots__ = ("lows", "classes", "single")

    def __init__(self, classes: list[PolicyClass]):
        ordered = sorted(classes, key=lambda cls: cls.n_in_min_tokens)
        self.lows = tuple(cls.n_in_min_tokens for cls in ordered)
        self.classes = tuple(_ClassTable(cls) for cls in ordered)
        self.single = self.classes[0] if len(self.classes) == 1 else None

    def lookup(self, n_in_tokens: Any) -> _ClassTable:
        if self.single is not None:
            return self.single
        try:
            index = bisect_right(self.lows, n_in_tokens or 0) - 1
        except _NOT_A_NUMBER:  # not a number: the first bucket
            return self.classes[0]
        return self.classes[index if index > 0 else 0]


class Router:
    """Apply a checked routing policy to requests (see the module docstring)."""

    def __init__(
        self,
        policy: Policy | str | os.PathLike[str] | dict[str, Any],
        models: list[str] | None = None,
    ):
        self.policy = load_policy(policy, models)
        self._salt_crc = zlib.crc32(self.policy.salt.encode())
        grouped: dict[str, list[PolicyClass]] = {}
        for cls in self.policy.classes:
            grouped.setdefault(cls.category, []).append(cls)
        self._categories = {name: _CategoryTable(members) for name, members in grouped.items()}
        self._default = self._categories[self.policy.default_category]

    @classmethod
    def from_file(cls, path: str | os.PathLike[str], models: list[str] | None = None) -> Router:
        return cls(path, models)

    def _table(self, category: Any) -> _CategoryTable:
        try:
            return self._categories.get(category, self._default)
        except TypeError:  # an unhashable category names no class
            return self._default

    def class_name(self, category: Any, n_in_tokens: Any = 0) -> str:
        """The policy class a request of this category and input length falls in."""
        return self._table(category).lookup(n_in_tokens).name

    def split(
        self, category: Any, n_in_tokens: Any = 0, hour: Any = None, carbon_g_per_kwh: Any = None
    ) -> tuple[Choice, ...]:
        """The weighted decisions that apply to such a request (before the per-id draw)."""
        return self._table(category).lookup(n_in_tokens).split(hour, carbon_g_per_kwh).choices

    def resolve(
        self, category: Any, n_in_tokens: Any = 0, hour: Any = None, carbon_g_per_kwh: Any = None
    ) -> tuple[tuple[float, ...], tuple[Decision, ...]]:
        """The split ``decide`` draws from: (cumulative weights, decisions); the decision of a
        request is ``decisions[bisect_right(cumulative, uniform_from_id(request_id, salt))]``."""
        split = self._table(category).lookup(n_in_tokens).split(hour, carbon_g_per_kwh)
        return split.cumulative, split.decisions

    def decide(
        self,
        request_id: object,
        category: Any,
        n_in_tokens: Any = 0,
        hour: Any = None,
        carbon_g_per_kwh: Any = None,
    ) -> Decision:
        """The decision for one request; the same arguments always give the same decision."""
        # the hot path: _table, lookup and uniform_from_id inlined (same results, fewer calls)
        try:
            table = self._categories.get(category, self._default)
        except TypeError:  # an unhashable category names no class
            table = self._default
        cls = table.single
        if cls is None:
            cls = table.lookup(n_in_tokens)
        split = cls.split(hour, carbon_g_per_kwh)
        if split.only is not None:
            return split.only
        value = zlib.crc32(_id_bytes(request_id), self._salt_crc)
        value ^= value >> 16
        value = (value * 0x85EBCA6B) & _MASK32
        value ^= value >> 13
        value = (value * 0xC2B2AE35) & _MASK32
        value ^= value >> 16
        return split.decisions[bisect_right(split.cumulative, value * _INV_2_32)]
