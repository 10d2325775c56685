"""The distillation pipeline: a small, fast MACE student for Li–M alloys from a universal teacher.

``distill(DistillSettings(...))``, CLI ``ilscreen potentials distill``:

1. phases → teacher relaxation, perturbations, short teacher MD → labelled round-0 data
   (:mod:`potentials.distill.phases`, :mod:`potentials.distill.data`);
2. seeded train/validation/test split by configuration, stratified per system;
3. train a small MACE (ZBL pair repulsion on) with mace-torch's own trainer
   (:mod:`potentials.distill.train`);
4. active learning, ``rounds`` times: run the *student's* NVT MD at 900–1300 K on every lithiated
   phase (:mod:`potentials.distill.explore`), keep snapshots (all those with short contacts), label
   them with the teacher, add them to the data (split by configuration again) and continue
   training from the last checkpoint;
5. evaluate on the held-out test set per system, time student vs teacher MD, run student NVT
   stability checks (:mod:`potentials.distill.evaluate`), hash the model and write the card
   (:mod:`potentials.distill.card`).

Every stage writes its result into ``out`` and is skipped when the file already exists, so an
interrupted run resumes where it stopped. Everything random draws from seeded generators.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from ase import Atoms
from ase.calculators.calculator import Calculator

from potentials.distill import data as dd
from potentials.distill.calculators import load_student, load_teacher
from potentials.distill.card import assemble_card, write_card
from potentials.distill.evaluate import evaluate_student
from potentials.distill.explore import explore, md_repeat
from potentials.distill.phases import Phase, select_phases, unseen_library_phases
from potentials.distill.settings import DistillSettings
from potentials.distill.train import isolated_e0s, train
from screening.atomic import atomic_path
from screening.errors import InputError

log = logging.getLogger(__name__)

#: where :func:`install_model` puts models by default (the registry's shipped-model folder)
MODELS_DIR = Path(__file__).resolve().parents[1] / "models"


def _set_threads(n: int) -> None:
    import torch

    os.environ["OMP_NUM_THREADS"] = str(n)
    torch.set_num_threads(n)


def _explore_round(
    settings: DistillSettings,
    student: Calculator,
    relaxed: dict[str, Atoms],
    lithiated: list[str],
    rng: np.random.Generator,
) -> list[Atoms]:
    """Student MD snapshots of one active-learning round, every lithiated phase and temperature."""
    snaps: list[Atoms] = []
    for lab in lithiated:
        base = relaxed[lab].repeat(md_repeat(relaxed[lab], 40))
        for temp in settings.al_temperatures:
            # "short contact" relative to the phase's own shortest bond (C-C in graphite
            # layers is 1.42 Å, below any absolute threshold that suits metals)
            threshold = min(settings.al_min_distance, 0.85 * dd.min_distance(relaxed[lab]))
            snaps += explore(
                base,
                student,
                temp,
                settings.al_steps,
                settings.al_every,
                rng,
                threshold,
                settings.timestep_fs,
            )
    return snaps


def distill(
    settings: DistillSettings,
    progress: Callable[[str], None] | None = None,
    phases: list[Phase] | None = None,
) -> dict[str, Any]:
    """Run the whole pipeline; returns the model card (also written next to the model).

    ``phases`` overrides the phase selection of :func:`potentials.distill.phases.select_phases`.
    """
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
    relaxed = {a.info["system"]: a for a in dd.read_extxyz(relaxed_path)}
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
        train_set, valid, test = splits()
        epochs = settings.epochs_round0 + r * settings.epochs_per_round
        say(
            f"round {r}: training on {len(train_set)} configs (valid {len(valid)}) "
            f"to epoch {epochs}"
        )
        _set_threads(settings.train_threads)
        model_path = train(
            train_set,
            valid,
            out / "train",
            settings.name,
            arch,
            epochs,
            settings,
            e0s=isolated_e0s(teacher, train_set, out) if settings.e0s == "isolated" else None,
        )
        _set_threads(1)
        history.append(
            {"round": r, "n_train": len(train_set), "n_valid": len(valid), "epochs": epochs}
        )
        if r == settings.rounds or time.monotonic() > deadline:
            if r < settings.rounds:
                say("time budget reached: skipping remaining active-learning rounds")
            break
        nxt = data_dir / f"round{r + 1}.extxyz"
        if nxt.exists():
            continue
        say(f"round {r + 1}: student MD exploration on {len(lithiated)} lithiated phases")
        student = load_student(model_path, settings.dtype)
        # one generator per round, so a resumed run draws exactly what a fresh run would
        snaps = _explore_round(
            settings, student, relaxed, lithiated, np.random.default_rng([settings.seed, r + 1])
        )
        labelled = [dd.label(s, teacher) for s in snaps]
        dd.assign_ids(labelled, start=1000 * (r + 1) * 100)
        dd.write_extxyz(nxt, labelled)
        say(f"round {r + 1}: {len(labelled)} teacher-labelled student snapshots")

    assert model_path is not None
    train_set, valid, test = splits()
    say("evaluating the student on the held-out test set")
    evaluation = evaluate_student(
        settings,
        load_student(model_path, settings.dtype),
        teacher,
        test,
        relaxed,
        lithiated,
        unseen_library_phases(relaxed) if settings.evaluate_transfer else [],
        progress=say,
    )
    card = assemble_card(
        settings,
        model_path,
        relaxed,
        test,
        history,
        n_data={"train": len(train_set), "valid": len(valid), "test": len(test)},
        train_systems=sorted({c.info["system"] for c in train_set}),
        dropped=dropped,
        evaluation=evaluation,
        wall_time_min=round((time.monotonic() - t_start) / 60.0, 1),
    )
    write_card(card, model_path)
    return card


def install_model(model_path: Path, models_dir: Path | None = None) -> Path:
    """Copy a distilled model and its card files into ``potentials/models/`` (atomic renames)."""
    models_dir = models_dir or MODELS_DIR
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
