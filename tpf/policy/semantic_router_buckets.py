"""Exact splits for the vLLM Semantic Router: one decision per option, chosen by the request's bucket.

The router never reads a ``modelRefs`` weight: with ``algorithm: static`` it
returns the first candidate of the decision that wins (highest ``priority``;
``src/semantic-router/pkg/selection/static.go`` and
``pkg/decision/engine.go``). A class split over k options (model, reasoning,
effort) therefore becomes k decisions:

* the class's own decision (``priority``: the class's conditions only) names
  the option of the largest share and keeps the buckets no other option has;
* each other option gets a decision one priority higher (``priority + 1``)
  whose rule is ``AND[class conditions, metadata <option's buckets>]``;

with the buckets ``00`` .. ``99`` handed out in contiguous ranges, largest
share first, in proportion to the shares (largest remainder,
:func:`tpf.policy.buckets.bucket_counts`). The bucket sets are disjoint, so at
most one bucket decision of a class matches a request. The router's
``metadata`` signal (``routing.signals.metadata``: ``name``, ``key``,
``predicate.in``) reads the request body's ``metadata.tpf_bucket`` text; a
request without it gets the class's own decision (the largest share).
"""

from __future__ import annotations

from typing import Any

from tpf.policy.buckets import METADATA_KEY, bucket_counts, bucket_ranges, bucket_texts


def bucket_signal_name(first: int, last: int) -> str:
    """``tpf_bucket_57_99``: the metadata signal matching buckets first..last (inclusive)."""
    return f"tpf_bucket_{first:02d}_{last:02d}"


def bucket_signal(first: int, last: int) -> dict[str, Any]:
    """The metadata rule of one bucket range (the router's MetadataRule: name, key, predicate.in)."""
    return {"name": bucket_signal_name(first, last), "description": f"request buckets {first:02d}-{last:02d} "
            f"(metadata.{METADATA_KEY}, tpf.policy.buckets.request_bucket of the request id)",
            "key": METADATA_KEY, "predicate": {"in": bucket_texts(first, last)}}


def split_by_bucket(refs: list[dict[str, Any]], where: str,
                    notes: list[str]) -> list[tuple[dict[str, Any], tuple[int, int]]]:
    """Each kept ref (one candidate, weight 1.0) with its inclusive bucket range, largest share first.

    ``refs`` carry the split as ``weight`` (decreasing); they are normalized to
    sum to 1 (the policy's weights do, within 1e-9, before the export's
    6-digit rounding). A ref left without a bucket is dropped and noted.
    """
    total = sum(ref["weight"] for ref in refs)
    shares = [ref["weight"] / total for ref in refs]
    out = []
    for ref, share, span in zip(refs, shares, bucket_ranges(bucket_counts(shares, where)), strict=True):
        if span is None:
            notes.append(f"{where}: {share:.2%} {ref['model']} gets no bucket after rounding to whole "
                         "buckets; its requests go to the other options")
            continue
        out.append(({**ref, "weight": 1.0}, span))
    return out


def bucket_text(span: tuple[int, int]) -> str:
    return f"{span[0]:02d}-{span[1]:02d}"
