"""Atomic file writes: a file is replaced only once its new content is complete on disk.

Used wherever tpf writes an artefact a user may already have (cards, tables,
policies, reports, figures, calibration metadata), so a failed or interrupted
write never leaves a half-written file or destroys the previous one. Standard
library only, so light modules (the policy runtime) can use it.

What an output path may be:

* absent (the file is created, its folder too), or an existing regular file
  (replaced as a whole);
* a symbolic link: the link is followed and the file it points to is written
  (the link stays a link); its final target obeys the same rules;
* anything else is refused with :class:`~tpf.errors.OutputPathError` before a
  byte is written: a folder, a device (``/dev/null``, ``/dev/zero``), a FIFO,
  a socket, or a path whose folder is a file.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tpf.errors import OutputPathError

_KINDS = (
    (stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
)


def _kind(mode: int) -> str:
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a regular file"


def not_a_folder(folder: Path) -> str | None:
    """Where ``folder`` meets something that is not a folder, as the start of a sentence
    (``"is"`` or ``"lies inside PART, which is"``), or None where it can be an output folder.

    A new path is fine when its existing parts are folders; the first existing
    part that is not a folder (a file, a FIFO, a device) is named.
    """
    for part in (folder, *folder.parents):
        if part.exists() and not part.is_dir():
            return "is" if part == folder else f"lies inside {part}, which is"
        if part.is_dir():
            return None
    return None


def checked_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to ``path`` replaces: ``path`` itself, or the file its symlinks lead to.

    Raises :class:`OutputPathError` naming ``path`` when the target exists and
    is not a regular file, or when a parent of it is a file.
    """
    given = Path(path)
    target = Path(os.path.realpath(given)) if given.is_symlink() else given
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except NotADirectoryError:
        mode = None
    except OSError as exc:
        raise OutputPathError(f"{given}: cannot write here: {exc.strerror or exc}") from exc
    if mode is not None and not stat.S_ISREG(mode):
        via = f" (the symlink leads to {target})" if target != given else ""
        raise OutputPathError(f"{given}: refusing to write: the path is {_kind(mode)}{via}; "
                              "give a path to a regular file")
    for parent in target.parents:
        if parent.exists():
            if not parent.is_dir():
                raise OutputPathError(f"{given}: cannot write here: {parent} is a file, not a folder")
            break
    return target


@contextmanager
def replacing(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``'s target; on success it replaces the target.

    Write the new content to the yielded path; if the block raises, the
    temporary file is removed and ``path`` is left as it was. The folder is
    created if needed; the new file gets the default (umask) permissions.
    The target rules (symlinks followed, non-regular files refused) are in
    the module docstring.
    """
    target = checked_target(path)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise OutputPathError(f"{path}: cannot write here: {exc.strerror or exc}") from exc
    os.close(fd)
    try:
        yield Path(tmp_name)
        os.chmod(tmp_name, 0o666 & ~_umask())
        checked_target(path)  # nothing replaced the target with a device meanwhile
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
