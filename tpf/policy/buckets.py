"""Request buckets: a plan's split realized by routers that pick one model per rule.

A router that cannot draw by weight (the vLLM Semantic Router's ``static``
selection returns the first candidate of a decision) can still carry out a
split exactly when each request carries a **bucket**: a two-digit text
``"00"`` .. ``"99"`` computed from its request id. The export gives each
option of a class a set of buckets in proportion to its share (rounded to
whole buckets by largest remainder, so a class's buckets sum to 100), and a
rule per option matches its buckets. The same request id always gets the
same bucket, hence the same model.

:func:`request_bucket` is the one function a client or gateway needs; it uses
the standard library only (``hashlib``), so it can be copied into any Python
gateway hook. The bucket of a request id is the first 8 bytes of the SHA-256
of its UTF-8 text, read as a big-endian integer, modulo 100 (the bias of
``2**64 mod 100`` is below 1e-17 per bucket).

Client (OpenAI-compatible SDK; the router reads the body's ``metadata``)::

    from tpf.policy.buckets import request_bucket
    client.chat.completions.create(model="auto", messages=messages,
                                   extra_body={"metadata": {"tpf_bucket": request_bucket(request_id)}})

Gateway (any Python hook that sees the JSON body and a request id header)::

    body = with_bucket(body, headers.get("x-request-id") or str(uuid.uuid4()))
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from typing import Any

from tpf.errors import PolicyError

N_BUCKETS = 100
METADATA_KEY = "tpf_bucket"
#: Shares must sum to 1 within this before they are rounded to buckets.
SHARE_SUM_TOLERANCE = 1e-6


def request_bucket(request_id: object) -> str:
    """The bucket (``"00"`` .. ``"99"``) of a request id: SHA-256 of its text, first 8 bytes, modulo 100."""
    text = request_id if isinstance(request_id, str) else str(request_id)
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return f"{int.from_bytes(digest[:8], 'big') % N_BUCKETS:02d}"


def with_bucket(body: dict[str, Any], request_id: object) -> dict[str, Any]:
    """A copy of an OpenAI-style request body with ``metadata.tpf_bucket`` set from ``request_id``.

    Other metadata entries are kept; a ``metadata`` that is not a mapping is refused.
    """
    metadata = body.get("metadata") or {}
    if not isinstance(metadata, dict):
        raise PolicyError(f"request body metadata: must be a mapping of text, got {type(metadata).__name__}")
    return {**body, "metadata": {**metadata, METADATA_KEY: request_bucket(request_id)}}


def bucket_counts(shares: Sequence[float], where: str, total: int = N_BUCKETS) -> list[int]:
    """Whole buckets per share by largest remainder (ties: the earlier share), summing to ``total``.

    ``where`` names the split in errors (e.g. ``class 'math-short', hour 3``):
    shares must be finite, >= 0 and sum to 1 within :data:`SHARE_SUM_TOLERANCE`.
    """
    if not shares:
        raise PolicyError(f"{where}: no options to split into buckets")
    bad = [s for s in shares if not (isinstance(s, (int, float)) and math.isfinite(s) and s >= 0)]
    if bad:
        raise PolicyError(f"{where}: shares must be finite numbers >= 0, got {list(shares)}")
    share_sum = math.fsum(shares)
    if abs(share_sum - 1.0) > SHARE_SUM_TOLERANCE:
        raise PolicyError(f"{where}: shares must sum to 1 (within {SHARE_SUM_TOLERANCE:g}), got {share_sum:.9g} "
                          f"from {list(shares)}")
    exact = [s * total for s in shares]
    counts = [math.floor(x) for x in exact]
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:total - sum(counts)]:
        counts[i] += 1
    return counts


def bucket_ranges(counts: Sequence[int]) -> list[tuple[int, int] | None]:
    """Contiguous inclusive bucket ranges for counts in order (None for a count of 0)."""
    ranges: list[tuple[int, int] | None] = []
    start = 0
    for count in counts:
        ranges.append((start, start + count - 1) if count > 0 else None)
        start += count
    return ranges


def bucket_texts(first: int, last: int) -> list[str]:
    """``["00", "01", ...]`` for the inclusive range."""
    return [f"{b:02d}" for b in range(first, last + 1)]


def largest_gap_points(planned: Sequence[float], counts: Sequence[int], total: int = N_BUCKETS) -> float:
    """The largest |planned share - buckets/total| in percentage points."""
    return max(abs(p - c / total) * 100.0 for p, c in zip(planned, counts, strict=True))
