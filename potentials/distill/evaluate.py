"""Evaluate a distilled student: held-out errors per system and sampling kind, errors on phases it
never saw, MD speed against the teacher and NVT stability. The card is assembled from these numbers
in :mod:`potentials.distill.card`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from potentials.distill.data import ENERGY_KEY, FORCES_KEY, STRESS_KEY, label, min_distance
from potentials.distill.explore import bussi, md_repeat
from potentials.distill.phases import Phase
from potentials.distill.settings import DistillSettings
from screening.contacts import MIN_DISTANCE_A, pair_collapse_limits

log = logging.getLogger(__name__)

EV_PER_A3_TO_GPA = 160.21766208


def sampling_kind(kind: str) -> str:
    """Coarse class of a configuration's ``info["kind"]``, for the card's per-kind errors."""
    if kind.startswith(("contact", "compress")):
        return "short contacts (pushed pairs, compressed cells)"
    if kind.startswith("student_md"):
        return "student MD (active learning)"
    if kind.startswith("md"):
        return "teacher MD"
    return "relaxation, strain, rattle, vacancy"


def test_errors(test: Sequence[Atoms], student: Calculator) -> dict[str, Any]:
    """MAEs of the student against teacher labels on held-out configurations: overall, per
    system and per sampling kind (short-contact configurations carry forces of several eV/Å and
    dominate a plain average; the per-kind rows show the error where MD spends its time)."""
    per: dict[str, dict[str, list[float]]] = {}
    by_kind: dict[str, dict[str, list[float]]] = {}
    for cfg in test:
        at = cfg.copy()
        at.calc = student
        e = float(at.get_potential_energy())
        f = np.array(at.get_forces())
        s = np.array(at.get_stress(voigt=False)).reshape(-1)
        kind = sampling_kind(str(cfg.info.get("kind", "")))
        for rec in (
            per.setdefault(cfg.info["system"], {"e": [], "f": [], "s": []}),
            by_kind.setdefault(kind, {"e": [], "f": [], "s": []}),
        ):
            rec["e"].append(abs(e - cfg.info[ENERGY_KEY]) / len(at))
            rec["f"].extend(np.abs(f - cfg.arrays[FORCES_KEY]).reshape(-1).tolist())
            if STRESS_KEY in cfg.info:
                rec["s"].extend(np.abs(s - np.asarray(cfg.info[STRESS_KEY])).tolist())

    def summary(e: list[float], f: list[float], s: list[float], n: int) -> dict[str, Any]:
        # eV keys first: potentials.cards.card_summary picks the first matching number
        return {
            "force_mae_eV_per_A": round(float(np.mean(f)), 5),
            "energy_mae_eV_per_atom": round(float(np.mean(e)), 6),
            "force_mae_meV_per_A": round(1000 * float(np.mean(f)), 2),
            "energy_mae_meV_per_atom": round(1000 * float(np.mean(e)), 2),
            "stress_mae_GPa": round(EV_PER_A3_TO_GPA * float(np.mean(s)), 3) if s else None,
            "n_configs": n,
        }

    def table(groups: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
        return {k: summary(v["e"], v["f"], v["s"], len(v["e"])) for k, v in sorted(groups.items())}

    all_e = [x for v in per.values() for x in v["e"]]
    all_f = [x for v in per.values() for x in v["f"]]
    all_s = [x for v in per.values() for x in v["s"]]
    return {
        "overall": summary(all_e, all_f, all_s, len(all_e)),
        "per_system": table(per),
        "per_kind": table(by_kind),
    }


def li3sb_vacancy_cell(relaxed_li3sb: Atoms) -> Atoms:
    """Li3Sb 2x2x2 conventional supercell (128 atoms) with one Li vacancy: the paper's MD cell."""
    cell = relaxed_li3sb.repeat((2, 2, 2))
    li = [i for i, s in enumerate(cell.get_chemical_symbols()) if s == "Li"]
    del cell[li[0]]
    cell.info["system"] = "Li3Sb"
    return cell


def md_speed(atoms: Atoms, calc: Calculator, steps: int, timestep_fs: float, seed: int) -> float:
    """Atom-steps per second of NVT MD (after two warm-up steps)."""
    at = atoms.copy()
    at.calc = calc
    dyn = bussi(at, 900.0, timestep_fs, np.random.default_rng(seed))
    dyn.run(2)
    t0 = time.perf_counter()
    dyn.run(steps)
    return len(at) * steps / (time.perf_counter() - t0)


def stability_run(
    atoms: Atoms,
    student: Calculator,
    temperature_k: float,
    steps: int,
    timestep_fs: float,
    seed: int,
) -> dict[str, Any]:
    """Student NVT run (the MD runner's ASE back end, Bussi, taut = 100 fs); records the minimum
    interatomic distance and temperature statistics.

    Stable means :func:`workflows.md.guards.run_is_physical`: no pair closer than its collapse
    limit (:mod:`screening.contacts`: 1.5 Å, or 75 % of the covalent bond for shorter bonds such
    as graphite's C–C) and the mean temperature over the second half within 5 % of the target.
    Contacts and temperature are sampled every 10 steps; the run goes on through a collapse and
    stops only once a pair is closer than 0.8 Å (its guards are set to that alone)."""
    import tempfile

    from ase.neighborlist import neighbor_list

    from screening.trajectory import read_trajectory, to_ase_frames
    from workflows.md import StabilityGuards, run_nvt
    from workflows.md.guards import run_is_physical

    stride = 10
    guards = StabilityGuards(
        min_distance_A=0.8,
        min_bond_fraction=1.0,  # a flat 0.8 Å: every pair's covalent bond is longer
        max_temperature_factor=1e9,
        mean_temperature_tolerance=1e9,
        max_force_eV_per_A=1e12,
        max_displacement_per_step_A=1e9,
        check_every_steps=stride,
    )
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ilscreen-stability-") as tmp:
        res = run_nvt(
            atoms,
            student,
            temperature_K=temperature_k,
            timestep_fs=timestep_fs,
            equilibration_steps=0,
            production_steps=(steps // stride) * stride,
            stride=stride,
            thermostat="bussi",
            thermostat_timescale_fs=100.0,
            seed=seed,
            trajectory_path=Path(tmp) / "stability.h5",
            guards=guards,
        )
        traj = read_trajectory(res.trajectory_path)
    wall = time.perf_counter() - t0
    samples = to_ase_frames(traj, wrap=False)[1:]  # frame 0 is the start, not a sample
    temps = traj.temperature_K[1:]
    dmin = min(min_distance(atoms), res.min_distance_A or np.inf)
    collapsed = False
    for frame in samples:
        i, j, d = neighbor_list("ijd", frame, 2 * MIN_DISTANCE_A)
        collapsed = collapsed or bool(
            (d < pair_collapse_limits(frame.numbers[i], frame.numbers[j])).any()
        )
    half = np.array(temps[len(temps) // 2 :])
    mean_t = float(half.mean()) if len(half) else float("nan")
    return {
        "phase": atoms.info.get("system"),
        "n_atoms": len(atoms),
        "temperature_K": temperature_k,
        "steps": len(temps) * stride,
        "timestep_fs": timestep_fs,
        "duration_ps": len(temps) * stride * timestep_fs / 1000.0,
        "thermostat": "Bussi, taut = 100 fs",
        "min_distance_A": round(dmin, 3),
        "mean_T_K_second_half": round(mean_t, 1),
        "std_T_K_second_half": round(float(half.std()), 1) if len(half) else None,
        "stable": run_is_physical(mean_t, temperature_k, collapsed=collapsed),
        "wall_s": round(wall, 1),
    }


def transfer_errors(
    student: Calculator,
    teacher: Calculator,
    phases: Sequence[Phase],
    rng: np.random.Generator,
    rattles: Sequence[float] = (0.05, 0.1, 0.15),
) -> dict[str, Any]:
    """Student-vs-teacher errors on phases the student was *not* trained on (rattled cells)."""
    configs = []
    for phase in phases:
        for sigma in rattles:
            at = phase.atoms.copy()
            at.set_cell(np.array(at.cell) * (1 + rng.uniform(-0.02, 0.02)), scale_atoms=True)
            at.rattle(sigma, seed=int(rng.integers(1 << 31)))
            lab = label(at, teacher)
            lab.info["system"] = phase.label
            configs.append(lab)
    return test_errors(configs, student)


def evaluate_student(
    settings: DistillSettings,
    student: Calculator,
    teacher: Calculator,
    test: Sequence[Atoms],
    relaxed: dict[str, Atoms],
    lithiated: Sequence[str],
    unseen: Sequence[Phase],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Every measurement the card reports: ``metrics`` (held-out test errors, and transfer errors
    on the ``unseen`` phases when there are any), ``speed`` and ``stability`` (empty when off)."""
    say = progress or log.info
    metrics: dict[str, Any] = {"test": test_errors(test, student)}

    speed: dict[str, Any] = {}
    if settings.evaluate_speed and "Li3Sb" in relaxed:
        say("timing student vs teacher NVT on Li3Sb 2x2x2 with one Li vacancy")
        cell = li3sb_vacancy_cell(relaxed["Li3Sb"])
        s_speed = md_speed(cell, student, 5 * settings.speed_steps, settings.timestep_fs, 0)
        t_speed = md_speed(cell, teacher, settings.speed_steps, settings.timestep_fs, 0)
        import torch

        speed = {
            "student_atom_steps_per_s": round(s_speed, 1),
            "teacher_atom_steps_per_s": round(t_speed, 1),
            "speedup_vs_teacher": round(s_speed / t_speed, 2),
            "system": f"Li3Sb 2x2x2, one Li vacancy ({len(cell)} atoms), "
            f"NVT {settings.timestep_fs} fs",
            "device": "cpu",
            "torch_threads": torch.get_num_threads(),
            "student_dtype": settings.dtype,
            "note": "shared 2-core CPU; both timed in the same process back to back",
        }

    stability: list[dict[str, Any]] = []
    if settings.evaluate_stability:
        wanted = settings.stability_phases
        for lab in lithiated:
            # library labels carry a structure suffix ("LiMg-B2"): match on the formula part
            if wanted is not None and lab not in wanted and lab.split("-")[0] not in wanted:
                continue
            base = relaxed[lab]
            cell = base.repeat(md_repeat(base, 64))
            cell.info["system"] = lab
            for temp in settings.stability_temperatures:
                say(f"stability: {lab} ({len(cell)} atoms) at {temp:.0f} K")
                stability.append(
                    stability_run(
                        cell,
                        student,
                        temp,
                        settings.stability_steps,
                        settings.timestep_fs,
                        settings.seed,
                    )
                )

    if unseen:
        say(f"transfer check on {len(unseen)} library phases not in the training data")
        metrics["transfer_unseen_phases"] = transfer_errors(
            student, teacher, unseen, np.random.default_rng([settings.seed, 999])
        )
    return {"metrics": metrics, "speed": speed, "stability": stability}
