"""Identifiers are data, never paths: the one place that turns a name or id into a file path.

Candidate ids (``Li-Sb/Li3Sb/2x2x2/vac1/seed0``) and names from ``candidates.yaml`` become folder
and file names in many writers (``candidates --write``, ``md --out``, plots, HPC layout). Every
writer goes through :func:`id_path` / :func:`id_slug`, which accept only :data:`NAME_PATTERN`
components, and :func:`inside` refuses any resolved path that leaves its root (``..``, absolute
parts, symlinks pointing out).
"""

from __future__ import annotations

import re
from pathlib import Path

from screening.errors import InputError

#: one path component: letters, digits, ``_ . + -``; not starting with ``.`` (no ``..``, no
#: hidden files) and not with ``-`` (no option look-alikes).
NAME_PATTERN = r"^[A-Za-z0-9_+][A-Za-z0-9_.+-]{0,99}$"
NAME_ALLOWED = (
    "1-100 characters: letters, digits, '_', '.', '+', '-'; starting with a letter, digit, "
    "'_' or '+'"
)
_NAME = re.compile(NAME_PATTERN)
#: where ``ilscreen screen`` works by default, and the store it writes there (``query``/``report``
#: read the same one by default)
DEFAULT_WORKDIR = "ilscreen-runs"
DEFAULT_STORE = f"{DEFAULT_WORKDIR}/store"


def is_safe_name(name: str) -> bool:
    """True when ``name`` can be used as one path component as it is."""
    return bool(_NAME.match(name))


def id_parts(identifier: str, *, field: str = "id") -> list[str]:
    """The ``/``-separated components of an id, each checked against :data:`NAME_PATTERN`."""
    parts = identifier.split("/")
    bad = [p for p in parts if not is_safe_name(p)]
    if bad:
        raise InputError(
            f"id {identifier[:200]!r} has component {bad[0][:60]!r} that cannot be a folder name",
            field=field,
            allowed=f"'/'-separated components of {NAME_ALLOWED}",
        )
    return parts


def inside(root: str | Path, path: str | Path, *, field: str = "path") -> Path:
    """``path`` resolved, refused unless it lies under ``root`` resolved (symlinks followed)."""
    base = Path(root).resolve()
    target = Path(path).resolve()
    if target != base and base not in target.parents:
        raise InputError(
            f"path {str(path)[:200]!r} resolves to {target}, outside {base}",
            field=field,
            allowed=f"paths under {base}",
        )
    return target


def id_path(root: str | Path, identifier: str, *suffix: str, field: str = "id") -> Path:
    """``root/<id components>/<suffix...>``, every component checked, the result inside ``root``."""
    for s in suffix:
        id_parts(s, field=field)
    path = Path(root).joinpath(*id_parts(identifier, field=field), *suffix)
    inside(root, path, field=field)
    return path


def id_slug(identifier: str, *, field: str = "id") -> str:
    """One flat file-name component: ``Li-Sb/Li3Sb/1x1x1/vac1/seed0`` → ``Li-Sb_Li3Sb_1x1x1_…``."""
    return "_".join(id_parts(identifier, field=field))


def output_folder(path: str | Path, *, field: str) -> Path:
    """An output folder given by the user: refused when something that is not a folder is there."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise InputError(
            "exists and is not a folder",
            file=folder,
            field=field,
            allowed="a folder (made if missing)",
        )
    return folder
