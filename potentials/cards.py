"""Model cards: the JSON file shipped next to a model (``<stem>.card.json``) and its short summary.

A card records where a model comes from (teacher, training data), what it covers (elements), how
good and fast it is (metrics, speed), its sha256 and its licence. This module only reads cards;
writing them belongs to the code that produces the model (:mod:`potentials.distill.card`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from screening.errors import InputError

CARD_SUFFIX = ".card.json"


def card_path_for(model_path: str | Path) -> Path:
    """Where the card of ``model_path`` lives: same folder, ``<stem>.card.json``."""
    model_path = Path(model_path)
    return model_path.with_name(model_path.stem + CARD_SUFFIX)


def load_card(model_path: str | Path) -> dict[str, Any] | None:
    """The card next to ``model_path`` as a dict, or ``None`` when the model has no card."""
    path = card_path_for(model_path)
    if not path.is_file():
        return None
    try:
        card = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"model card is not valid JSON ({exc})", file=path) from exc
    if not isinstance(card, dict):
        raise InputError("model card must be a JSON object", file=path)
    return card


def _find_number(tree: Any, *words: str) -> float | None:
    """First number in a nested dict whose key path contains every word (case-insensitive).

    Cards from different producers nest their metrics differently (``metrics.test.forces_mae`` or
    ``metrics.force_mae_eV_per_A``); searching by key words keeps the summary robust to that.
    """
    stack: list[tuple[str, Any]] = [("", tree)]
    while stack:
        prefix, node = stack.pop(0)
        if isinstance(node, dict):
            stack.extend((f"{prefix}.{k}".lower(), v) for k, v in node.items())
        elif (
            isinstance(node, int | float)
            and not isinstance(node, bool)
            and all(w in prefix for w in words)
        ):
            return float(node)
    return None


def card_summary(card: dict[str, Any] | None) -> dict[str, Any]:
    """The few card numbers a user compares potentials by (held-out force MAE, speed)."""
    if not card:
        return {}
    metrics = card.get("metrics", {})
    # Prefer held-out ("test"/"val"/"holdout") errors over training errors.
    force_mae = None
    for split in ("test", "holdout", "held", "val"):
        force_mae = _find_number(metrics, split, "force", "mae")
        if force_mae is not None:
            break
    if force_mae is None:
        force_mae = _find_number(metrics, "force", "mae")
    energy_mae = None
    for split in ("test", "holdout", "held", "val"):
        energy_mae = _find_number(metrics, split, "energy", "mae")
        if energy_mae is not None:
            break
    speed = card.get("speed")
    atom_steps = speedup = None
    if isinstance(speed, dict):
        # distilled cards time the student and its teacher; the model's own speed is "student"
        atom_steps = _find_number(speed, "student", "atom") or _find_number(speed, "atom")
        speedup = _find_number(speed, "speedup")
    elif isinstance(speed, int | float):
        atom_steps = float(speed)
    summary = {
        "name": card.get("name"),
        "teacher": card.get("teacher"),
        "force_mae_eV_per_A": force_mae,
        "energy_mae_eV_per_atom": energy_mae,
        "speed_atom_steps_per_s": atom_steps,
        "speedup_vs_teacher": speedup,
    }
    return {k: v for k, v in summary.items() if v is not None}
