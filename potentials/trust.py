"""Which model files may be unpickled: the decision is made before any byte is loaded.

MACE model files and SevenNet checkpoints are Python pickles: loading one runs whatever code it
names. So a file is loaded only when it is

* a model shipped in ``potentials/models/`` whose sha256 equals the one on its card,
* a checkpoint installed by a package manager inside the ``sevenn`` / ``chgnet`` packages, or a
  MACE-MP file mace-torch downloaded itself (``mace-mp:<name>``), or
* a file the user trusted: ``--trust-model`` on the command line, ``engine.trusted_models`` in the
  campaign file, or one this process wrote itself (a distilled student, a test model).

Trusted paths live in the environment variable :data:`TRUST_ENV` (``os.pathsep``-separated), so
jobs this process starts (MD workers, local SLURM submissions) inherit the decision.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterable
from pathlib import Path

from screening.errors import InputError
from screening.hashing import file_sha256

TRUST_ENV = "ILSCREEN_TRUSTED_MODELS"
TRUST_HOW = (
    "shipped models (sha256 checked against their card); any other model file only with "
    "--trust-model or listed in the campaign's engine.trusted_models"
)


def trusted_paths() -> list[Path]:
    """Model files the user (or this process) trusted."""
    return [Path(p) for p in os.environ.get(TRUST_ENV, "").split(os.pathsep) if p]


def trust_model(path: str | Path) -> None:
    """Record that ``path`` may be unpickled, in this process and the ones it starts."""
    resolved = Path(path).expanduser().resolve()
    current = trusted_paths()
    if resolved not in current:
        os.environ[TRUST_ENV] = os.pathsep.join(str(p) for p in [*current, resolved])


def trust_models(paths: Iterable[str | Path]) -> None:
    """:func:`trust_model` for each path."""
    for path in paths:
        trust_model(path)


def _package_dirs() -> list[Path]:
    """Folders of the packages whose shipped checkpoints are installed code, not user files."""
    dirs = []
    for name in ("sevenn", "chgnet"):
        found = importlib.util.find_spec(name)
        if found is not None and found.origin is not None:
            dirs.append(Path(found.origin).resolve().parent)
    return dirs


def require_trusted(path: Path, *, kind: str, models_dir: Path) -> None:
    """Raise InputError unless ``path`` may be unpickled (see module doc); loads nothing."""
    from potentials.cards import load_card

    resolved = path.resolve()
    if kind == "mace-mp":  # mace-torch's own download, named by mace itself
        return
    if resolved.parent == models_dir.resolve():
        card = load_card(resolved) or {}
        expected = card.get("sha256")
        actual = file_sha256(resolved)
        if expected == actual:
            return
        raise InputError(
            f"shipped model file does not match its card (sha256 {actual[:12]}..., card "
            f"{str(expected)[:12]}...): it was modified or its card is missing; reinstall it",
            file=resolved,
            field="potential",
            allowed=TRUST_HOW,
        )
    if resolved in trusted_paths():
        return
    if any(d in resolved.parents for d in _package_dirs()):
        return
    raise InputError(
        "refusing to load an untrusted model file: model files are Python pickles and run code "
        "when loaded; load only files you trust",
        file=resolved,
        field="potential",
        allowed=TRUST_HOW,
    )
