"""Distil a small, fast MACE model for Li–M alloys from a universal teacher potential.

Pipeline (``distill(DistillSettings(...))``, CLI ``ilscreen potentials distill``):

1. phases → teacher relaxation, perturbations, short teacher MD → labelled round-0 data
   (:mod:`potentials.distill_data`);
2. seeded train/validation/test split by configuration, stratified per system;
3. train a small MACE (ZBL pair repulsion on) with mace-torch's own trainer
   (:mod:`potentials.distill_train`);
4. active learning, ``rounds`` times: run the *student's* NVT MD at 900–1300 K on every lithiated
   phase, keep snapshots (all those with short contacts), label them with the teacher, add them to
   the data (split by configuration again) and continue training from the last checkpoint;
5. evaluate on the held-out test set per system, time student vs teacher MD, run student NVT
   stability checks, hash the model and write the card (:mod:`potentials.distill_eval`).

Every stage writes its result into ``out`` and is skipped when the file already exists, so an
interrupted run resumes where it stopped. Everything random draws from one seeded generator.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from screening.atomic import atomic_path
from screening.errors import InputError

log = logging.getLogger(__name__)

Size = Literal["medium", "small", "tiny"]

#: architecture presets; "medium" is the shipped model (equivariant L=1 features: lower force
#: errors at 1.7x the cost of "small", still 28x faster than SevenNet-0 here, see the card),
#: "small" was the first shipped model, "tiny" is for tests and smoke runs
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
    # student exploration: long enough at 1300 K to reach the rare close contacts that broke the
    # first shipped model only after 11-14 ps at 1100 K
    al_temperatures: tuple[float, ...] = (900.0, 1300.0)
    al_steps: int = 800
    al_every: int = 100
    al_min_distance: float = 1.7
    max_label_force: float = 20.0  # eV/Å; configurations beyond are dropped (see keep_physical)
    # "mixed" (shipped recipe): the ordered phases of screening's phase library plus the built-in
    # phases of compositions it lacks; "builtin": distill_data's own table (no screening needed);
    # "campaign": the library phases only
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
        if self.size not in SIZES:
            raise InputError(f"unknown model size '{self.size}'", field="size", allowed=SIZES)
        return dict(SIZES[self.size])


def load_teacher(spec: str, device: str = "cpu"):
    """ASE calculator for the teacher ``spec`` (via :mod:`potentials.registry` when present).

    ``emt`` (ASE's effective-medium theory; Cu, Ag, Au, Ni, Pd, Pt, Al) is accepted as a cheap,
    offline teacher for tests.
    """
    if spec == "emt":
        from ase.calculators.emt import EMT

        return EMT()
    from potentials.torch_compat import allow_e3nn_constants

    allow_e3nn_constants()
    try:
        from potentials.registry import load_calculator
    except ImportError:
        load_calculator = None
    if load_calculator is not None:
        return load_calculator(spec, device=device, dtype="float32", cache=False)
    if spec not in ("sevennet:7net-0", "sevennet"):
        raise InputError(
            f"teacher '{spec}' needs potentials.registry",
            field="teacher",
            allowed=["sevennet:7net-0", "emt"],
        )
    from sevenn.calculator import SevenNetCalculator

    return SevenNetCalculator("7net-0", device=device)


def select_phases(settings: DistillSettings):
    """Phases to sample: the campaign's when available (or from ``candidates``), else built-in."""
    from potentials import distill_data as dd

    if settings.candidates is not None:
        # the campaign's own phases (library entries of its systems and references)
        from screening.campaign import load_campaign

        campaign = load_campaign(settings.candidates)
        names: list[str] = []
        specs = [r.phase for r in campaign.references]
        for item in [*specs, *(p for s in campaign.systems for p in s.phases)]:
            key = getattr(item, "library", None) or getattr(item, "name", None)
            if key:
                names.append(str(key))
        phases = dd.library_phases(names)
        if not phases:
            raise InputError(
                "no ordered library phases found in the campaign", file=settings.candidates
            )
    elif settings.phase_source == "campaign":
        phases = dd.campaign_phases()
        if phases is None:
            raise InputError(
                "screening.structures is not available", field="phase_source", allowed=["builtin"]
            )
    elif settings.phase_source == "builtin":
        phases = dd.builtin_phases()
    elif settings.phase_source == "mixed":
        phases = dd.mixed_phases()
    else:
        raise InputError(
            f"unknown phase source '{settings.phase_source}'",
            field="phase_source",
            allowed=["mixed", "builtin", "campaign"],
        )
    if settings.phases:
        known = {p.label for p in phases}
        bad = [p for p in settings.phases if p not in known]
        if bad:
            raise InputError(f"unknown phase(s) {bad}", field="phases", allowed=sorted(known))
        phases = [p for p in phases if p.label in settings.phases]
    return phases


def _set_threads(n: int) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)


def distill(
    settings: DistillSettings,
    progress: Callable[[str], None] | None = None,
    phases: list[Any] | None = None,
) -> dict[str, Any]:
    """Run the whole pipeline; returns the model card (also written next to the model).

    ``phases`` (a list of :class:`potentials.distill_data.Phase`) overrides the phase selection.
    """
    from potentials import distill_data as dd
    from potentials import distill_eval as de
    from potentials import distill_train as dt

    t_start = time.monotonic()
    deadline = t_start + 60.0 * settings.max_minutes
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    data_dir = out / "data"
    data_dir.mkdir(exist_ok=True)
    arch = settings.architecture()
    rng = np.random.default_rng(settings.seed)
    say = progress or (lambda msg: log.info(msg))

    _set_threads(1)  # labelling / MD: one thread (the machine is shared)
    teacher = load_teacher(settings.teacher)
    phases = phases if phases is not None else select_phases(settings)
    relaxed_path = data_dir / "relaxed.extxyz"
    round0 = data_dir / "round0.extxyz"
    if not round0.exists():
        say(f"round 0: sampling {len(phases)} phases with the teacher")
        configs, relaxed = dd.generate_initial(
            phases,
            teacher,
            rng,
            settings.md_temperatures,
            settings.md_steps,
            settings.md_every,
            progress=lambda p: say(f"  teacher sampling {p}"),
        )
        dd.assign_ids(configs)
        dd.write_extxyz(relaxed_path, list(relaxed.values()))
        dd.write_extxyz(round0, configs)
    relaxed_list = dd.read_extxyz(relaxed_path)
    relaxed = {a.info["system"]: a for a in relaxed_list}
    lithiated = [p.label for p in phases if p.lithiated]

    # split by configuration once per round file, keep earlier assignments
    dropped: dict[int, int] = {}

    def splits() -> tuple[list, list, list]:
        tr: list = []
        va: list = []
        te: list = []
        r = 0
        while (data_dir / f"round{r}.extxyz").exists():
            raw = dd.read_extxyz(data_dir / f"round{r}.extxyz")
            cfgs = dd.keep_physical(raw, settings.max_label_force)
            dropped[r] = len(raw) - len(cfgs)
            a, b, c = dd.split(cfgs, np.random.default_rng([settings.seed, 100 + r]))
            tr += a
            va += b
            te += c
            r += 1
        return tr, va, te

    model_path: Path | None = None
    history: list[dict[str, Any]] = []
    for r in range(settings.rounds + 1):
        train, valid, test = splits()
        epochs = settings.epochs_round0 + r * settings.epochs_per_round
        say(f"round {r}: training on {len(train)} configs (valid {len(valid)}) to epoch {epochs}")
        _set_threads(settings.train_threads)
        model_path = dt.train(
            train,
            valid,
            out / "train",
            settings.name,
            arch,
            epochs,
            settings,
            e0s=dd_isolated_e0s(teacher, train, out) if settings.e0s == "isolated" else None,
        )
        _set_threads(1)
        history.append({"round": r, "n_train": len(train), "n_valid": len(valid), "epochs": epochs})
        if r == settings.rounds or time.monotonic() > deadline:
            if r < settings.rounds:
                say("time budget reached: skipping remaining active-learning rounds")
            break
        nxt = data_dir / f"round{r + 1}.extxyz"
        if nxt.exists():
            continue
        say(f"round {r + 1}: student MD exploration on {len(lithiated)} lithiated phases")
        student = de.load_student(model_path, settings.dtype)
        # one generator per round, so a resumed run draws exactly what a fresh run would
        rng = np.random.default_rng([settings.seed, r + 1])
        snaps = []
        for lab in lithiated:
            base = relaxed[lab].repeat(de.md_repeat(relaxed[lab], 40))
            for temp in settings.al_temperatures:
                # "short contact" relative to the phase's own shortest bond (C-C in graphite
                # layers is 1.42 Å, below any absolute threshold that suits metals)
                threshold = min(settings.al_min_distance, 0.85 * dd.min_distance(relaxed[lab]))
                snaps += de.explore(
                    base,
                    student,
                    temp,
                    settings.al_steps,
                    settings.al_every,
                    rng,
                    threshold,
                    settings.timestep_fs,
                )
        labelled = [dd.label(s, teacher) for s in snaps]
        dd.assign_ids(labelled, start=1000 * (r + 1) * 100)
        dd.write_extxyz(nxt, labelled)
        say(f"round {r + 1}: {len(labelled)} teacher-labelled student snapshots")

    assert model_path is not None
    train, valid, test = splits()
    say("evaluating the student on the held-out test set")
    card = de.build_card(
        settings,
        model_path,
        teacher,
        test,
        relaxed,
        lithiated,
        history,
        n_data={"train": len(train), "valid": len(valid), "test": len(test)},
        train_systems=sorted({c.info["system"] for c in train}),
        progress=say,
    )
    card["data"]["dropped_unphysical_per_round"] = dropped
    if settings.evaluate_transfer:
        unseen = _unseen_library_phases(relaxed)
        if unseen:
            say(f"transfer check on {len(unseen)} library phases not in the training data")
            card["metrics"]["transfer_unseen_phases"] = de.transfer_errors(
                de.load_student(model_path, settings.dtype),
                teacher,
                unseen,
                np.random.default_rng([settings.seed, 999]),
            )
    card["wall_time_min"] = round((time.monotonic() - t_start) / 60.0, 1)
    de.write_card(card, model_path)
    return card


def _unseen_library_phases(relaxed: dict[str, Any]) -> list[Any]:
    """Ordered library phases whose formula (reduced) is not among the trained phases, plus the
    library's Li2Sb when the trained Li2Sb is the built-in antifluorite surrogate."""
    from ase import Atoms

    from potentials import distill_data as dd

    try:
        library = dd.library_phases()
    except ImportError:
        return []
    trained = {Atoms(a).get_chemical_formula(empirical=True) for a in relaxed.values()}
    elements = {s for a in relaxed.values() for s in a.get_chemical_symbols()}
    return [
        p
        for p in library
        if set(p.atoms.get_chemical_symbols()) <= elements
        and (
            p.atoms.get_chemical_formula(empirical=True) not in trained
            or (p.label == "Li2Sb" and len(relaxed.get("Li2Sb", p.atoms)) != len(p.atoms))
        )
    ]


def dd_isolated_e0s(teacher, train, out: Path) -> dict[int, float]:
    """Teacher energies of isolated atoms, one per element in the training data (cached)."""
    import json

    from ase import Atoms

    path = out / "data" / "e0s.json"
    cached: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    numbers = sorted({int(z) for c in train for z in c.numbers})
    for z in numbers:
        if str(z) not in cached:
            atom = Atoms(numbers=[z], cell=[20.0, 20.0, 20.0], pbc=False)
            atom.calc = teacher
            cached[str(z)] = float(atom.get_potential_energy())
    path.write_text(json.dumps(cached, indent=1))
    return {z: cached[str(z)] for z in numbers}


def settings_dict(settings: DistillSettings) -> dict[str, Any]:
    d = asdict(settings)
    d["out"] = str(settings.out)
    d["candidates"] = str(settings.candidates) if settings.candidates else None
    return d


def install_model(model_path: Path, models_dir: Path | None = None) -> Path:
    """Copy a distilled model and its card files into ``potentials/models/`` (atomic renames)."""
    import shutil

    models_dir = models_dir or Path(__file__).resolve().parent / "models"
    models_dir.mkdir(parents=True, exist_ok=True)
    stem = model_path.with_suffix("")
    sources = [model_path, Path(f"{stem}.card.json"), Path(f"{stem}.card.md")]
    for src in sources:
        if not src.exists():
            raise InputError("missing file to install", file=src)
    for src in sources:
        with atomic_path(models_dir / src.name) as tmp:
            shutil.copyfile(src, tmp)
    return models_dir / model_path.name
