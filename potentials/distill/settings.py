"""Settings of one distillation run and the student architecture presets.

The bottom of :mod:`potentials.distill`: it imports no other stage, so every stage can import it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from screening.errors import InputError

Size = Literal["medium", "small", "tiny"]

#: architecture presets; "medium" is the shipped model (equivariant L=1 features: lower force
#: errors at 1.7x the cost of "small", still 28x faster than SevenNet-0 here, see the card),
#: "small" is the invariant (L=0) variant, "tiny" is for tests and smoke runs
SIZES: dict[str, dict[str, Any]] = {
    "medium": {
        "num_channels": 16,
        "max_L": 1,
        "max_ell": 2,
        "correlation": 2,
        "num_interactions": 2,
        "r_max": 4.5,
        "num_radial_basis": 6,
        "radial_MLP": "[16, 16]",
        "MLP_irreps": "8x0e",
    },
    "small": {
        "num_channels": 16,
        "max_L": 0,
        "max_ell": 2,
        "correlation": 2,
        "num_interactions": 2,
        "r_max": 4.5,
        "num_radial_basis": 6,
        "radial_MLP": "[16, 16]",
        "MLP_irreps": "8x0e",
    },
    "tiny": {
        "num_channels": 4,
        "max_L": 0,
        "max_ell": 1,
        "correlation": 1,
        "num_interactions": 1,
        "r_max": 4.0,
        "num_radial_basis": 4,
        "radial_MLP": "[8]",
        "MLP_irreps": "4x0e",
    },
}


@dataclass
class DistillSettings:
    """All knobs of one distillation run (recorded verbatim in the model card)."""

    out: Path = Path("distill_out")
    teacher: str = "sevennet:7net-0"
    candidates: Path | None = None
    seed: int = 0
    size: Size = "medium"
    rounds: int = 2
    max_minutes: float = 50.0
    name: str = "ilscreen-li-alloys"
    # data recipe
    md_temperatures: tuple[float, ...] = (300.0, 800.0, 1200.0)
    md_steps: int = 50
    md_every: int = 10
    # student exploration: long enough at 1300 K to reach the rare close contacts that an
    # invariant student without contact data met only after 11-14 ps at 1100 K
    al_temperatures: tuple[float, ...] = (900.0, 1300.0)
    al_steps: int = 800
    al_every: int = 100
    al_min_distance: float = 1.7
    max_label_force: float = 20.0  # eV/Å; configurations beyond are dropped (see keep_physical)
    # "mixed" (shipped recipe): the ordered phases of screening's phase library plus the built-in
    # phases of compositions it lacks; "builtin": the built-in table of potentials.distill.phases
    # (no phase library needed); "campaign": the library phases only
    phase_source: Literal["mixed", "builtin", "campaign"] = "mixed"
    phases: list[str] | None = None  # restrict to these phase labels (None: all)
    # training
    epochs_round0: int = 100
    epochs_per_round: int = 60
    batch_size: int = 16
    lr: float = 0.01
    train_threads: int = 1
    dtype: Literal["float32", "float64"] = "float32"
    # "average": per-element least-squares reference energies (mace --E0s average), which absorb
    # the element-dependent cohesive energy; "isolated": teacher energies of isolated atoms
    e0s: Literal["average", "isolated"] = "average"
    # evaluation
    stability_temperatures: tuple[float, ...] = (900.0, 1100.0)
    # one lithiated phase per chemical system (None: every lithiated phase)
    stability_phases: tuple[str, ...] | None = ("Li3Sb", "LiMg", "LiAg", "Li15Si4", "LiC6")
    stability_steps: int = 1000
    timestep_fs: float = 2.0
    speed_steps: int = 20
    evaluate_speed: bool = True
    evaluate_stability: bool = True
    # also test on ordered phases of screening's phase library that are not in the training data
    evaluate_transfer: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def architecture(self) -> dict[str, Any]:
        """Hyper-parameters of the student's MACE architecture (a copy of the preset)."""
        if self.size not in SIZES:
            raise InputError(f"unknown model size '{self.size}'", field="size", allowed=SIZES)
        return dict(SIZES[self.size])


def settings_dict(settings: DistillSettings) -> dict[str, Any]:
    """``settings`` as a JSON-serialisable dict (paths as strings), for the model card."""
    d = asdict(settings)
    d["out"] = str(settings.out)
    d["candidates"] = str(settings.candidates) if settings.candidates else None
    return d
