"""Atomic file writes: a file is replaced only once its new content is complete on disk.

Used wherever tpf writes an artefact a user may already have (cards, tables,
policies, reports, figures, calibration metadata), so a failed or interrupted
write never leaves a half-written file or destroys the previous one. Standard
library only, so light modules (the policy runtime) can use it.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it replaces ``path``.

    Write the new content to the yielded path; if the block raises, the
    temporary file is removed and ``path`` is left as it was. The folder is
    created if needed; the new file gets the default (umask) permissions.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        yield Path(tmp_name)
        os.chmod(tmp_name, 0o666 & ~_umask())
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` to ``path`` through a temporary file in the same folder, then rename.

    ``fsync`` forces the bytes to disk before the rename (crash safety, not only
    failure safety).
    """
    with replacing(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(text)
        if fsync:
            handle.flush()
            os.fsync(handle.fileno())
    return Path(path)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current
