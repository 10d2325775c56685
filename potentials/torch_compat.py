"""Deliberate handling of ``torch.load(weights_only=True)`` (the default since torch 2.6).

e3nn 0.4.x (used by mace-torch and sevenn) loads its own ``constants.pt`` at import time; that file
pickles Python ``slice`` objects, which the weights-only unpickler rejects. ``slice`` is a plain
builtin with no side effects, so allow-listing it is safe and keeps ``weights_only=True`` for every
other load. Model files themselves (``*.model``) are whole pickled modules — i.e. code — and are
loaded with ``weights_only=False`` only from paths the user chose or the project ships: load only
model files you trust.

mace-torch sets ``TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD=1`` in ``os.environ`` when imported, which would
silently turn *every* later ``torch.load`` of the process into a full unpickle. :func:`import_mace`
imports it and restores the variable, so the weights-only default keeps protecting all other loads.
"""

from __future__ import annotations

import os

import torch

_FORCE_UNSAFE = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"

_DONE = False


def allow_e3nn_constants() -> None:
    """Allow-list the builtins that e3nn's constants file needs. Call before importing e3nn."""
    global _DONE
    if not _DONE:
        torch.serialization.add_safe_globals([slice])
        _DONE = True


def import_mace() -> None:
    """Import mace-torch (and e3nn) without keeping mace's process-wide weights-only override."""
    allow_e3nn_constants()
    before = os.environ.get(_FORCE_UNSAFE)
    try:
        import e3nn.o3  # noqa: F401  (loads its constants with weights_only=True, before mace)
        import mace.calculators
        import mace.modules  # noqa: F401
    finally:
        if before is None:
            os.environ.pop(_FORCE_UNSAFE, None)
        else:
            os.environ[_FORCE_UNSAFE] = before
