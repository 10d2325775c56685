"""MLIP validation: DFT energies and forces on snapshots of a candidate's MLIP MD trajectory.

For each of N frames (evenly spread over the trajectory after ``skip_fraction``), the potential
that ran the MD and a DFT engine compute energy and forces; the per-candidate force MAE/RMSE and
the offset-free energy MAE are reported next to the model card's held-out numbers, and the
candidate is flagged when the force MAE exceeds a threshold (default 0.10 eV/Å).

Engines: GPAW here (:func:`validate_trajectory`, :class:`MLIPValidationMaker`), VASP on HPC
(:func:`vasp_validation_flow`: atomate2 static jobs with the protocol's settings, then
:func:`compare_snapshots`). Note the card's numbers measure the model against *its training
labels* (for the distilled model: SevenNet-0, not DFT), so a DFT comparison also contains the
teacher's own error.

Every entry point takes an optional results ``store``: the result is then upserted there as a
``validation`` document, which ``ilscreen query`` and ``ilscreen report`` show next to the
candidate whose provenance names the same potential spec and model sha256.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from jobflow import Flow, Maker, job

from screening.ab_initio import (
    DEFAULT_FORCE_MAE_THRESHOLD,
    SnapshotError,
    ValidationResult,
    snapshot_error,
    summarize_validation,
)
from screening.errors import InputError
from screening.hashing import file_sha256
from screening.store import ResultsStore
from workflows.dft_gpaw import GPAWSettings

log = logging.getLogger(__name__)

#: GPAW settings for snapshots: the protocol's 400 eV is unnecessary for forces (GPAW.md: 400 vs
#: 500 eV forces agree within 0.6 meV/Å); k density 2.0 keeps 16-atom cells at 2x2x2
SNAPSHOT_SETTINGS = GPAWSettings(ecut_eV=350.0, kpt_density=2.0)


def select_frames(n_frames: int, n: int, *, skip_fraction: float = 0.2) -> list[int]:
    """``n`` frame indices evenly spread over the trajectory after the first ``skip_fraction``."""
    if n < 1:
        raise InputError(f"need at least one snapshot, got {n}", field="--n", allowed=">= 1")
    if not 0 <= skip_fraction < 1:
        raise InputError(f"skip fraction {skip_fraction} outside [0, 1)", field="skip_fraction")
    first = min(int(np.ceil(skip_fraction * n_frames)), n_frames - 1)
    available = n_frames - first
    if n > available:
        raise InputError(
            f"asked for {n} snapshots but only {available} frames after skipping "
            f"{skip_fraction:.0%} of {n_frames}",
            field="--n",
            allowed=f"1..{available}",
        )
    return [int(i) for i in np.linspace(first, n_frames - 1, n).round().astype(int)]


def card_reference(potential: str, system: str | None) -> tuple[float | None, float | None, str]:
    """(force MAE eV/Å, energy MAE eV/atom, description) from the potential's model card.

    Prefers the card's per-system held-out entry for ``system``; falls back to its overall
    held-out numbers; (None, None, reason) when the potential has no card.
    """
    from potentials.cards import card_summary, load_card
    from potentials.registry import parse_spec

    ps = parse_spec(potential)
    card = load_card(ps.path) if ps.kind == "mace" and ps.path is not None else None
    if not card:
        return None, None, f"no model card for {ps.spec}"
    if system:
        stack: list[Any] = [card.get("metrics", {})]
        while stack:
            node = stack.pop()
            if not isinstance(node, dict):
                continue
            per = node.get("per_system")
            if isinstance(per, dict) and isinstance(per.get(system), dict):
                entry = per[system]
                return (
                    entry.get("force_mae_eV_per_A"),
                    entry.get("energy_mae_eV_per_atom"),
                    f"card {ps.spec}: held-out {system} (vs its training labels)",
                )
            stack.extend(node.values())
    summary = card_summary(card)
    return (
        summary.get("force_mae_eV_per_A"),
        summary.get("energy_mae_eV_per_atom"),
        f"card {ps.spec}: held-out overall (vs its training labels)",
    )


def _system_label(traj: Any, candidate_id: str) -> str | None:
    """Card per-system key: the phase part of the candidate id, else the reduced formula."""
    parts = candidate_id.split("/")
    if len(parts) >= 2:
        return parts[1]
    from pymatgen.core import Composition

    from screening.trajectory import to_ase_frames

    return Composition(to_ase_frames(traj)[0].get_chemical_formula()).reduced_formula


def compare_snapshots(
    frames: list[Any],
    frame_indices: list[int],
    dft: list[tuple[float, np.ndarray]],
    *,
    potential: str,
    dft_engine: str,
    candidate_id: str,
    system: str | None = None,
    threshold: float = DEFAULT_FORCE_MAE_THRESHOLD,
    device: str = "cpu",
    dtype: str = "float64",
    times_fs: list[float] | None = None,
    store: str | None = None,
    **extra: Any,
) -> ValidationResult:
    """MLIP energies/forces on ``frames`` against the DFT ``(energy, forces)`` pairs.

    The result names the potential by its canonical spec and model-file sha256, as a screen's
    provenance does, and is upserted into ``store`` when one is given.
    """
    from potentials.registry import load_calculator, parse_spec

    ps = parse_spec(potential)
    calc = load_calculator(potential, device=device, dtype=dtype)
    errors: list[SnapshotError] = []
    for k, (atoms, (e_dft, f_dft)) in enumerate(zip(frames, dft, strict=True)):
        at = atoms.copy()
        at.calc = calc
        errors.append(
            snapshot_error(
                frame_indices[k],
                e_dft,
                np.asarray(f_dft),
                float(at.get_potential_energy()),
                np.asarray(at.get_forces()),
                time_fs=None if times_fs is None else times_fs[k],
            )
        )
    card_f, card_e, card_src = card_reference(potential, system)
    result = summarize_validation(
        errors,
        candidate_id=candidate_id,
        potential=ps.spec,
        model_sha256=file_sha256(ps.path) if ps.path is not None else None,
        dft_engine=dft_engine,
        threshold_force_mae_eV_A=threshold,
        card_force_mae_eV_A=card_f,
        card_energy_mae_eV_atom=card_e,
        card_source=card_src,
        **extra,
    )
    if store is not None:
        with ResultsStore.open(store) as st:
            st.put(result)
        log.info("%s: validation stored in %s", candidate_id, store)
    return result


def validate_trajectory(
    trajectory: str | Path,
    *,
    n_snapshots: int = 3,
    potential: str | None = None,
    settings: GPAWSettings | None = None,
    threshold: float = DEFAULT_FORCE_MAE_THRESHOLD,
    skip_fraction: float = 0.2,
    device: str = "cpu",
    dtype: str = "float64",
    progress: bool = False,
    store: str | None = None,
) -> ValidationResult:
    """GPAW (PBE) vs the trajectory's own potential on ``n_snapshots`` frames of an HDF5 MD file.

    ``potential`` defaults to the one recorded in the trajectory (the potential that ran it);
    ``store``: results store to put the result in (see :func:`compare_snapshots`).
    """
    from screening.trajectory import read_trajectory, to_ase_frames
    from workflows.dft_gpaw import ENGINE, gpaw_energy_forces

    traj = read_trajectory(trajectory)
    spec = potential or str(traj.attrs.get("potential") or "")
    if not spec:
        raise InputError(
            "the trajectory records no potential; give one", file=trajectory, field="--potential"
        )
    candidate_id = str(traj.attrs.get("candidate_id") or Path(trajectory).stem)
    idx = select_frames(traj.n_frames, n_snapshots, skip_fraction=skip_fraction)
    all_frames = to_ase_frames(traj, wrap=True)
    frames = [all_frames[i] for i in idx]
    s = settings or SNAPSHOT_SETTINGS
    dft: list[tuple[float, np.ndarray]] = []
    from rich.progress import Progress

    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("GPAW snapshots", total=len(frames))
        for atoms in frames:
            dft.append(gpaw_energy_forces(atoms, s))
            bar.advance(task)
    result = compare_snapshots(
        frames,
        idx,
        dft,
        potential=spec,
        dft_engine=ENGINE,
        candidate_id=candidate_id,
        system=_system_label(traj, candidate_id),
        threshold=threshold,
        device=device,
        dtype=dtype,
        times_fs=[float(traj.time_fs[i]) for i in idx],
        trajectory=str(trajectory),
        temperature_K=traj.attrs.get("target_temperature_K"),
        dft_settings=s.model_dump(exclude={"txt"}),
        store=store,
    )
    log.info(
        "%s: force MAE %.3f eV/Å vs GPAW (card %s)%s",
        candidate_id,
        result.force_mae_eV_A,
        result.card_force_mae_eV_A,
        " FLAGGED" if result.flagged else "",
    )
    return result


@dataclass
class MLIPValidationMaker(Maker):
    """jobflow wrapper of :func:`validate_trajectory` (GPAW); output a ValidationResult.

    ``store``: a results-store location (directory, mongodb:// URI, config file) to put it in.
    """

    name: str = "mlip vs gpaw validation"
    n_snapshots: int = 3
    potential: str | None = None
    settings: GPAWSettings = field(default_factory=lambda: SNAPSHOT_SETTINGS.model_copy())
    threshold: float = DEFAULT_FORCE_MAE_THRESHOLD
    store: str | None = None

    @job(output_schema=ValidationResult)
    def make(self, trajectory: str) -> ValidationResult:
        """Validate the potential on snapshots of ``trajectory``."""
        return validate_trajectory(
            trajectory,
            n_snapshots=self.n_snapshots,
            potential=self.potential,
            settings=self.settings,
            threshold=self.threshold,
            store=self.store,
        )


# ----------------------------------------------------------------------------- VASP on HPC


@job
def _compare_vasp(
    trajectory: str,
    frame_indices: list[int],
    energies: list[float],
    forces: list[list[list[float]]],
    potential: str,
    threshold: float,
    store: str | None = None,
) -> ValidationResult:
    from screening.trajectory import read_trajectory, to_ase_frames

    traj = read_trajectory(trajectory)
    frames = to_ase_frames(traj, wrap=True)
    cid = str(traj.attrs.get("candidate_id") or Path(trajectory).stem)
    return compare_snapshots(
        [frames[i] for i in frame_indices],
        frame_indices,
        [(e, np.asarray(f)) for e, f in zip(energies, forces, strict=True)],
        potential=potential,
        dft_engine="VASP, PBE",
        candidate_id=cid,
        system=_system_label(traj, cid),
        threshold=threshold,
        trajectory=trajectory,
        temperature_K=traj.attrs.get("target_temperature_K"),
        store=store,
    )


def vasp_validation_flow(
    trajectory: str | Path,
    *,
    n_snapshots: int = 10,
    potential: str | None = None,
    threshold: float = DEFAULT_FORCE_MAE_THRESHOLD,
    skip_fraction: float = 0.2,
    store: str | None = None,
) -> Flow:
    """atomate2 VASP statics (protocol settings) on N snapshots, then the MLIP comparison.

    ``store``: results store the comparison job puts its result in (reachable from the cluster).
    """
    from pymatgen.io.ase import AseAtomsAdaptor

    from screening.trajectory import read_trajectory, to_ase_frames
    from workflows.vasp import vasp_static_maker

    traj = read_trajectory(trajectory)
    spec = potential or str(traj.attrs.get("potential") or "")
    idx = select_frames(traj.n_frames, n_snapshots, skip_fraction=skip_fraction)
    frames = to_ase_frames(traj, wrap=True)
    maker = vasp_static_maker()
    statics = []
    for i in idx:
        static = maker.make(AseAtomsAdaptor.get_structure(frames[i]))
        static.name = f"vasp static snapshot {i}"
        statics.append(static)
    compare = _compare_vasp(
        str(trajectory),
        idx,
        [s.output.output.energy for s in statics],
        [s.output.output.forces for s in statics],
        spec,
        threshold,
        store,
    )
    compare.name = "mlip vs vasp validation"
    return Flow([*statics, compare], output=compare.output, name="mlip vs vasp validation")


__all__ = [
    "SNAPSHOT_SETTINGS",
    "MLIPValidationMaker",
    "card_reference",
    "compare_snapshots",
    "select_frames",
    "validate_trajectory",
    "vasp_validation_flow",
]
