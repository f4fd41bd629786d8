"""Paths: the input must be a readable file; output is written to a temporary sibling and renamed into place."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from trustplane.arena.io._errors import BattleExportError, BattleFileNotFoundError


def input_file(path: str | os.PathLike[str], fmt: str | None = None) -> Path:
    """``path`` as a Path, or :class:`BattleFileNotFoundError` when it is not an existing file."""
    p = Path(path)
    if not p.is_file():
        what = "is a directory, not a file" if p.is_dir() else "does not exist"
        raise BattleFileNotFoundError(
            f"battle file {p.name!r} {what}",
            hint="check the path (relative paths start at the working directory)",
            file=p.name,
            **({"format": fmt} if fmt else {}),
        )
    return p


@contextmanager
def atomic_output(path: str | os.PathLike[str], fmt: str) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``, on failure it is removed.

    A failed export therefore never leaves a truncated file behind nor touches an existing one.
    """
    target = Path(path)
    parent = target.parent
    if not parent.is_dir():
        raise BattleExportError(
            f"cannot write {target.name}: its directory does not exist; nothing was written",
            hint="create the directory first",
            file=target.name,
            format=fmt,
        )
    if target.is_dir():
        raise BattleExportError(
            f"cannot write {target.name}: it is a directory; nothing was written", file=target.name, format=fmt
        )
    tmp = parent / f".{target.name}.{secrets.token_hex(8)}.tmp"
    # O_EXCL: never clobber; mode 0o666 so the process umask applies as for any newly created file.
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(path: str | os.PathLike[str], fmt: str, produce: Callable[[Path], None]) -> None:
    """Run ``produce(tmp)`` and move the result to ``path`` (see :func:`atomic_output`)."""
    with atomic_output(path, fmt) as tmp:
        produce(tmp)
