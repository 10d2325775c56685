"""Deliberate handling of ``torch.load(weights_only=True)`` (the default since torch 2.6).

e3nn 0.4.x (used by mace-torch and sevenn) loads its own ``constants.pt`` at import time; that file
pickles Python ``slice`` objects, which the weights-only unpickler rejects. ``slice`` is a plain
builtin with no side effects, so allow-listing it is safe and keeps ``weights_only=True`` for every
other load. Model files themselves (``*.model``) are whole pickled modules — i.e. code — and are
loaded with ``weights_only=False`` only from paths the user chose or the project ships: load only
model files you trust.
"""

from __future__ import annotations

import torch

_DONE = False


def allow_e3nn_constants() -> None:
    """Allow-list the builtins that e3nn's constants file needs. Call before importing e3nn."""
    global _DONE
    if not _DONE:
        torch.serialization.add_safe_globals([slice])
        _DONE = True
