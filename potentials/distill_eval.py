"""Evaluate a distilled student: held-out errors per system, MD speed, MD stability, model card."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import logging
import platform
import time
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from ase import Atoms, units
from ase.calculators.calculator import Calculator

from potentials import distill_data as dd
from potentials.card_md_checks import section_markdown
from potentials.fidelity import fidelity_markdown
from screening.atomic import write_text_atomic
from screening.contacts import MIN_DISTANCE_A, pair_collapse_limits
from screening.hashing import file_sha256

if TYPE_CHECKING:
    from potentials.distill import DistillSettings

log = logging.getLogger(__name__)

EV_PER_A3_TO_GPA = 160.21766208


def load_student(path: Path, dtype: str = "float32") -> Calculator:
    """ASE calculator for a student model file (never cached: the file changes between rounds)."""
    from potentials.torch_compat import allow_e3nn_constants

    allow_e3nn_constants()
    try:
        from potentials.registry import load_calculator
    except ImportError:
        load_calculator = None
    if load_calculator is not None:
        return load_calculator(
            f"mace:{Path(path).resolve()}", device="cpu", dtype=dtype, cache=False
        )
    import torch

    from potentials.torch_compat import import_mace

    import_mace()
    from mace.calculators import MACECalculator

    module = torch.load(path, weights_only=False, map_location="cpu")  # trusted: our own file
    return MACECalculator(models=module, device="cpu", default_dtype=dtype)


def md_repeat(atoms: Atoms, min_atoms: int) -> tuple[int, int, int]:
    """Smallest near-isotropic repetition giving at least ``min_atoms`` atoms."""
    rep = [1, 1, 1]
    lengths = atoms.cell.lengths()
    while len(atoms) * int(np.prod(rep)) < min_atoms:
        i = int(np.argmin([lengths[k] * rep[k] for k in range(3)]))
        rep[i] += 1
    return (rep[0], rep[1], rep[2])


def _bussi(atoms: Atoms, temperature_k: float, timestep_fs: float, rng: np.random.Generator):
    from ase.md.bussi import Bussi
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary

    MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_k, rng=rng)
    Stationary(atoms)
    # Bussi (stochastic velocity rescaling): canonical, and gentle enough that temperature swings
    # reflect the potential, not the thermostat; 100 fs coupling time.
    return Bussi(
        atoms, timestep_fs * units.fs, temperature_K=temperature_k, taut=100 * units.fs, rng=rng
    )


def explore(
    atoms: Atoms,
    student: Calculator,
    temperature_k: float,
    steps: int,
    every: int,
    rng: np.random.Generator,
    min_distance: float,
    timestep_fs: float = 2.0,
) -> list[Atoms]:
    """Student NVT exploration: snapshots every ``every`` steps plus every frame (checked each 10
    steps) whose minimum distance falls below ``min_distance``; stops early if atoms collapse."""
    at = atoms.copy()
    at.calc = student
    dyn = _bussi(at, temperature_k, timestep_fs, rng)
    frames: list[Atoms] = []
    for step in range(10, steps + 1, 10):
        dyn.run(10)
        dmin = dd.min_distance(at)
        if step % every == 0 or dmin < min_distance:
            snap = at.copy()
            snap.calc = None
            snap.info = {
                "system": atoms.info.get("system"),
                "kind": f"student_md{temperature_k:.0f}K",
            }
            frames.append(snap)
        if dmin < 1.0:  # collapsed: the labelled frames teach the student; no point going on
            log.warning(
                "%s at %.0f K collapsed (d_min %.2f Å)",
                atoms.info.get("system"),
                temperature_k,
                dmin,
            )
            break
    return frames


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
            rec["e"].append(abs(e - cfg.info[dd.ENERGY_KEY]) / len(at))
            rec["f"].extend(np.abs(f - cfg.arrays[dd.FORCES_KEY]).reshape(-1).tolist())
            if dd.STRESS_KEY in cfg.info:
                rec["s"].extend(np.abs(s - np.asarray(cfg.info[dd.STRESS_KEY])).tolist())

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
    dyn = _bussi(at, 900.0, timestep_fs, np.random.default_rng(seed))
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
    dmin = min(dd.min_distance(atoms), res.min_distance_A or np.inf)
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


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("mace-torch", "torch", "e3nn", "sevenn", "ase", "ilscreen"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _teacher_license(spec: str) -> str:
    dist = "sevenn" if spec.startswith("sevennet") else spec.split(":")[0]
    try:
        meta = metadata.metadata(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    return (
        meta.get("License-Expression") or (classifiers[0] if classifiers else "unknown")
    ).strip()


def build_card(
    settings: DistillSettings,
    model_path: Path,
    teacher: Calculator,
    test: Sequence[Atoms],
    relaxed: dict[str, Atoms],
    lithiated: Sequence[str],
    history: list[dict[str, Any]],
    n_data: dict[str, int],
    train_systems: Sequence[str],
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Measure the student and assemble the model card (JSON-serialisable dict)."""
    from potentials.distill import settings_dict

    say = progress or log.info
    student = load_student(model_path, settings.dtype)
    metrics = {"test": test_errors(test, student)}

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

    counts: dict[str, int] = {}
    for c in test:
        counts[c.info["system"]] = counts.get(c.info["system"], 0) + 1
    teacher_license = _teacher_license(settings.teacher)
    return {
        "name": settings.name,
        "file": model_path.name,
        "sha256": file_sha256(model_path),
        "size_bytes": model_path.stat().st_size,
        "format": "MACE model (whole pickled torch.nn.Module, mace-torch), load on CPU",
        "dtype": settings.dtype,
        "elements": sorted({s for a in relaxed.values() for s in a.get_chemical_symbols()}),
        "teacher": settings.teacher,
        "teacher_info": {
            "spec": settings.teacher,
            "model": "SevenNet-0 (11Jul2024), shipped in the sevenn wheel"
            if settings.teacher.startswith("sevennet")
            else settings.teacher,
            "license": teacher_license,
        },
        "architecture": {
            "model": "ScaleShiftMACE",
            "pair_repulsion": "ZBL",
            **settings.architecture(),
        },
        "data": {
            "seed": settings.seed,
            "n_configs": n_data,
            "systems": list(train_systems),
            "split": "by configuration, stratified per system, 10 % validation / 10 % test "
            "per data round, seeded",
            "recipe": {
                "round0": "teacher FIRE relaxation (positions + cell, <= 40 steps) of each phase; "
                "strains -4, -2, +2, +5 % and two random shears; rattles 0.03-0.20 Å; "
                "two compressed cells (-6 %, -10 %) with 0.25/0.30 Å rattles; "
                "four contact-pair cells (one nearest-neighbour pair pushed to 45-85 % of its "
                "bond, >= 1.2 Å, half of them Li-Li); two single-vacancy rattled cells; "
                "teacher Langevin MD (weak friction) from Maxwell-Boltzmann velocities at "
                f"{settings.md_temperatures} K, {settings.md_steps} steps x 2 fs, "
                f"snapshot every {settings.md_every}; labels with max |F| > "
                f"{settings.max_label_force} eV/Å dropped",
                "active_learning": f"{settings.rounds} rounds: student Bussi NVT at "
                f"{settings.al_temperatures} K, {settings.al_steps} steps x "
                f"{settings.timestep_fs} fs "
                f"on >= 40-atom supercells of every lithiated phase; snapshots every "
                f"{settings.al_every} steps plus any frame with d_min < "
                f"min({settings.al_min_distance} Å, 0.85 x the phase's equilibrium d_min)"
                ";"
                " all relabelled by the teacher",
                "labels": "teacher energy, forces, stress (9 components, eV/Å^3)",
                "E0s": "per-element least-squares average (mace --E0s average)"
                if settings.e0s == "average"
                else "teacher energies of isolated atoms",
            },
            "phase_source": settings.phase_source,
            "phases": {
                lab: {"formula": a.get_chemical_formula(), "n_atoms": len(a)}
                for lab, a in relaxed.items()
            },
            "test_configs_per_system": counts,
        },
        "training": {
            "history": history,
            "trainer": "mace.cli.run_train (EMA, AMSGrad, "
            "ReduceLROnPlateau), Huber loss (delta 0.01) on energy/atom, forces and stress, "
            "weights E 10, F 100, S 10; the written model is mace's lowest-validation-loss epoch",
        },
        "metrics": metrics,
        "speed": speed,
        "stability": stability,
        "license": "MIT (model code: mace-torch, MIT); weights trained on labels produced by "
        f"SevenNet-0 ({teacher_license}) - see license_notes",
        "license_notes": (
            "The student weights are fitted to energies/forces/stresses computed with SevenNet-0 "
            f"(sevenn, {teacher_license}); no SevenNet code or weights are contained in this file. "
            "MACE architecture code is mace-torch (MIT). Check your own requirements before "
            "redistributing derived models."
        ),
        "settings": settings_dict(settings),
        "software": _versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }


def card_markdown(card: dict[str, Any]) -> str:
    """Human-readable card."""
    lines = [
        f"# Model card: {card['name']}",
        "",
        f"- file: `{card['file']}` ({card['size_bytes'] / 1e6:.2f} MB), sha256 `{card['sha256']}`",
        f"- format: {card['format']}; dtype {card['dtype']}",
        f"- elements: {', '.join(card['elements'])}",
        f"- teacher: `{card['teacher']}` — {card['teacher_info']['model']} "
        f"(license: {card['teacher_info']['license']})",
        f"- architecture: {json.dumps(card['architecture'])}",
        f"- data: {json.dumps(card['data']['n_configs'])}; seed {card['data']['seed']}; "
        f"{card['data']['split']}",
        f"- created: {card['created']}; wall time {card.get('wall_time_min', '?')} min",
        "",
        "## Data recipe",
        "",
    ]
    lines += [f"- **{k}**: {v}" for k, v in card["data"]["recipe"].items()]
    lines += [
        "",
        "## Held-out test errors vs teacher",
        "",
        "| system | n | energy MAE (meV/atom) | force MAE (meV/Å) | stress MAE (GPa) |",
        "|---|---|---|---|---|",
    ]
    test = card["metrics"]["test"]
    for name, m in [*test["per_system"].items(), ("**all**", test["overall"])]:
        lines.append(
            f"| {name} | {m['n_configs']} | {m['energy_mae_meV_per_atom']} | "
            f"{m['force_mae_meV_per_A']} | {m['stress_mae_GPa']} |"
        )
    if test.get("per_kind"):
        lines += [
            "",
            "By sampling kind:",
            "",
            "| kind | n | energy MAE (meV/atom) | force MAE (meV/Å) |",
            "|---|---|---|---|",
        ]
        for name, m in test["per_kind"].items():
            lines.append(
                f"| {name} | {m['n_configs']} | {m['energy_mae_meV_per_atom']} | "
                f"{m['force_mae_meV_per_A']} |"
            )
    sp = card.get("speed") or {}
    lines += ["", "## Speed", ""]
    if sp:
        lines.append(
            f"{sp['system']}: student {sp['student_atom_steps_per_s']} atom-steps/s, teacher "
            f"{sp['teacher_atom_steps_per_s']} atom-steps/s → **{sp['speedup_vs_teacher']}x** "
            f"({sp['device']}, {sp['torch_threads']} thread(s), {sp['note']})."
        )
    else:
        lines.append("not measured")
    lines += [
        "",
        "## MD stability (student NVT)",
        "",
        "| phase | atoms | T (K) | ps | d_min (Å) | <T> 2nd half (K) | σ_T (K) | stable |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in card.get("stability") or []:
        lines.append(
            f"| {r['phase']} | {r['n_atoms']} | {r['temperature_K']:.0f} | {r['duration_ps']} | "
            f"{r['min_distance_A']} | {r['mean_T_K_second_half']} | {r['std_T_K_second_half']} | "
            f"{'yes' if r['stable'] else '**no**'} |"
        )
    lines += [
        "",
        "Stable: d_min > 1.5 Å and mean T within 5 % of target.",
        "",
        *(
            line
            for name, section in (card.get("md_checks") or {}).items()
            for line in section_markdown(name, section)
        ),
        *(
            line
            for ref, report in (card.get("fidelity") or {}).items()
            for line in [f"## Fidelity vs {ref}", "", *fidelity_markdown(report)]
        ),
        "## License",
        "",
        card["license"],
        "",
        card["license_notes"],
        "",
    ]
    if card.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in card["notes"]], ""]
    return "\n".join(lines)


def write_card(card: dict[str, Any], model_path: Path) -> tuple[Path, Path]:
    """Write ``<stem>.card.json`` and ``<stem>.card.md`` next to the model (atomically)."""
    stem = model_path.with_suffix("")
    paths = (Path(f"{stem}.card.json"), Path(f"{stem}.card.md"))
    texts = (json.dumps(card, indent=1) + "\n", card_markdown(card))
    for path, text in zip(paths, texts, strict=True):
        write_text_atomic(path, text)
    return paths


def transfer_errors(
    student: Calculator,
    teacher: Calculator,
    phases: Sequence[dd.Phase],
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
            lab = dd.label(at, teacher)
            lab.info["system"] = phase.label
            configs.append(lab)
    return test_errors(configs, student)
