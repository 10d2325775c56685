"""Atomic file writes: write a temporary sibling, then rename it over the target.

Readers (a resumed run, a concurrent SLURM job, a browser refreshing the report) see either the
old file or the complete new one, never half a file, and a crash leaves no temporary file behind.
The temporary name is unique per call, so concurrent writers of one path cannot clobber each
other's half-written data; the last rename wins. The writer creates the temporary file itself, so
it gets the usual umask permissions (``mkstemp`` would make results private, mode 0600).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; it replaces ``path`` when the block succeeds.

    The temporary name ends in ``.tmp``: writers that infer the format from the suffix (ASE,
    matplotlib) must be given the format explicitly.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike[str], text: str, *, fsync: bool = False) -> Path:
    """Write ``text`` (UTF-8) atomically; ``fsync`` also forces it to disk before the rename
    (state files that must survive a node crash)."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    return Path(path)
