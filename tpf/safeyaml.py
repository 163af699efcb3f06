"""A bounded YAML reader for files a user (or someone else) hands to tpf.

``yaml.safe_load`` builds no objects but will follow aliases without limit: a
"billion laughs" file of nine nested anchors is a few hundred bytes and
expands to 9**9 leaves in anything that walks it. :func:`load_bounded`
refuses, before any value is built, a file larger than ``max_bytes``, one
with more than ``max_aliases`` aliases (``*name``), one nested deeper than
``max_depth`` and one whose aliases expand to more than
:data:`MAX_EXPANDED_NODES` values; each refusal is a :class:`~tpf.errors.ConfigError` naming the
file and the bound.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tpf.errors import ConfigError

MAX_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_DEPTH = 64
MAX_EXPANDED_NODES = 100_000


class _BoundsExceeded(Exception):
    """Raised inside the composer; turned into a ConfigError naming the file."""


class _BoundedLoader(yaml.SafeLoader):
    """A safe loader that counts aliases and nesting while it composes the node tree."""

    max_aliases = MAX_ALIASES
    max_depth = MAX_DEPTH

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            self._aliases += 1
            if self._aliases > self.max_aliases:
                mark = self.peek_event().start_mark
                raise _BoundsExceeded(f"more than {self.max_aliases} aliases (*name), line {mark.line + 1}; "
                                      "a config file this repetitive is refused (alias expansion bomb?)")
        self._depth += 1
        try:
            if self._depth > self.max_depth:
                mark = self.peek_event().start_mark
                raise _BoundsExceeded(f"nested deeper than {self.max_depth} levels, line {mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` holds once every alias is expanded (each shared node counted once per use)."""
    if id(node) in sizes:
        return sizes[id(node)]
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(k, sizes) + _expanded_size(v, sizes) for k, v in node.value)
    sizes[id(node)] = size
    return size


def loads_bounded(text: str, source: str, *, max_aliases: int = MAX_ALIASES, max_depth: int = MAX_DEPTH) -> Any:
    """Parse YAML ``text`` (from ``source``) within the alias and depth bounds; yaml.YAMLError passes through."""
    loader = _BoundedLoader(text)
    loader.max_aliases, loader.max_depth = max_aliases, max_depth
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded = _expanded_size(node, {})
        if expanded > MAX_EXPANDED_NODES:
            raise _BoundsExceeded(f"its aliases expand to {expanded:.3g} values, more than {MAX_EXPANDED_NODES} "
                                  "(alias expansion bomb?)")
        return loader.construct_document(node)
    except _BoundsExceeded as exc:
        raise ConfigError(f"{source}: {exc}") from None
    finally:
        loader.dispose()


def read_text_bounded(path: Path, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of ``path``, refused beyond ``max_bytes`` before it is read whole."""
    with open(path, "rb") as handle:
        raw = handle.read(max_bytes + 1)
    if len(raw) > max_bytes:
        raise ConfigError(f"{path}: larger than {max_bytes} bytes; a config file this large is refused")
    return raw.decode("utf-8")


def load_bounded(path: Path, max_bytes: int = MAX_BYTES) -> Any:
    """Read and parse a YAML file within the size, alias and depth bounds."""
    return loads_bounded(read_text_bounded(path, max_bytes), str(path))
