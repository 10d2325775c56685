"""Checksums used for provenance and idempotency: one implementation for the whole project."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any


def settings_hash(settings: Mapping[str, Any]) -> str:
    """sha256 of the canonical JSON of ``settings`` (sorted keys): same inputs → same hash."""
    blob = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file, read in chunks (trajectories and model files can be large)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()
