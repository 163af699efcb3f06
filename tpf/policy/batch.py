"""The router's decisions for many requests at once, identical to :meth:`Router.decide` per request.

The router's runtime (:mod:`tpf.policy.router`) stays standard-library only;
this module applies the same lookup and the same per-id hash to arrays
(numpy), one split at a time: requests sharing (category, input length,
hour, carbon intensity) share a split, and each draws
``uniform_from_id(request_id, salt)`` exactly as ``decide`` does.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from tpf.policy.format import Decision
from tpf.policy.router import Router

_INV_2_32 = 1.0 / 4294967296.0


def uniform_many(request_ids: Sequence[object] | np.ndarray, salt: str = "") -> np.ndarray:
    """:func:`tpf.policy.router.uniform_from_id` of every id (CRC-32 per id, fmix32 vectorized)."""
    salt_crc = zlib.crc32(salt.encode())
    crc = np.fromiter((zlib.crc32((i if isinstance(i, str) else str(i)).encode(), salt_crc)
                       for i in np.asarray(request_ids).tolist()), dtype=np.uint64, count=len(request_ids))
    value = crc ^ (crc >> np.uint64(16))
    value = (value * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
    value ^= value >> np.uint64(13)
    value = (value * np.uint64(0xC2B2AE35)) & np.uint64(0xFFFFFFFF)
    value ^= value >> np.uint64(16)
    return value.astype(np.float64) * _INV_2_32


def decide_many(router: Router, request_ids: np.ndarray, categories: Sequence[str] | np.ndarray,
                n_in_tokens: np.ndarray, hours: np.ndarray | None = None,
                carbon_g_per_kwh: np.ndarray | None = None) -> tuple[np.ndarray, list[Decision]]:
    """(decision index per request, distinct decisions): ``decisions[index[i]]`` is
    ``router.decide(request_ids[i], categories[i], n_in_tokens[i], hours[i], carbon_g_per_kwh[i])``."""
    count = len(request_ids)
    columns: list[Any] = [np.asarray(categories, dtype=object), np.asarray(n_in_tokens, np.float64)]
    columns.append(np.full(count, None, object) if hours is None else np.asarray(hours, np.int64))
    columns.append(np.full(count, None, object) if carbon_g_per_kwh is None
                   else np.asarray(carbon_g_per_kwh, np.float64))
    keys = list(zip(*(c.tolist() for c in columns), strict=True))
    group_of: dict[tuple, int] = {}
    group = np.fromiter((group_of.setdefault(k, len(group_of)) for k in keys), np.int64, count=count)
    uniform = uniform_many(request_ids, router.policy.salt)
    index = np.empty(count, np.int64)
    code_of: dict[Decision, int] = {}
    for key, g in group_of.items():
        cumulative, split = router.resolve(*key)
        codes = np.array([code_of.setdefault(d, len(code_of)) for d in split], np.int64)
        members = group == g
        index[members] = codes[np.searchsorted(np.asarray(cumulative), uniform[members], side="right")]
    return index, list(code_of)
