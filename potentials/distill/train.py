"""Train the student with mace-torch's own trainer (``mace.cli.run_train``) in a subprocess.

A subprocess keeps mace's global logging / default-dtype changes out of the caller and lets the
thread count be set before torch starts. Successive active-learning rounds call :func:`train` with
the same ``work`` directory and a larger epoch count: ``--restart_latest`` continues from the last
checkpoint (weights, optimizer, scheduler) on the enlarged data set instead of starting again.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ase import Atoms
from ase.calculators.calculator import Calculator

from potentials.distill.data import ENERGY_KEY, FORCES_KEY, STRESS_KEY, write_extxyz
from potentials.distill.settings import DistillSettings
from potentials.trust import trust_model

log = logging.getLogger(__name__)

_LAUNCH = (
    "import sys; from potentials.torch_compat import allow_e3nn_constants; "
    "allow_e3nn_constants(); from mace.cli.run_train import main; main()"
)


def mace_arguments(
    train_file: Path,
    valid_file: Path,
    work: Path,
    name: str,
    arch: dict[str, Any],
    epochs: int,
    settings: DistillSettings,
    e0s: dict[int, float] | None,
    restart: bool,
) -> list[str]:
    """Command-line arguments for ``mace.cli.run_train``."""
    args = [
        f"--name={name}",
        f"--seed={settings.seed}",
        f"--work_dir={work}",
        f"--model_dir={work}",
        f"--train_file={train_file}",
        f"--valid_file={valid_file}",
        # a Python dict literal with integer keys (mace reads it with ast.literal_eval)
        "--E0s=" + (repr({int(k): float(v) for k, v in e0s.items()}) if e0s else "average"),
        "--model=ScaleShiftMACE",  # shift = mean interaction energy: faster convergence
        # ZBL short-range repulsion: physically correct wall at short distances, so the student
        # cannot collapse atoms where the training data are sparse
        "--pair_repulsion",
        f"--num_channels={arch['num_channels']}",
        f"--max_L={arch['max_L']}",
        f"--max_ell={arch['max_ell']}",
        f"--correlation={arch['correlation']}",
        f"--num_interactions={arch['num_interactions']}",
        f"--r_max={arch['r_max']}",
        f"--num_radial_basis={arch['num_radial_basis']}",
        f"--radial_MLP={arch['radial_MLP']}",
        f"--MLP_irreps={arch['MLP_irreps']}",
        f"--energy_key={ENERGY_KEY}",
        f"--forces_key={FORCES_KEY}",
        f"--stress_key={STRESS_KEY}",
        # Huber, not MSE: the short-contact configurations carry forces of several eV/Å, and
        # under MSE a few of them made the validation loss rise while every MAE fell, so mace's
        # best-loss checkpoint (the model it writes) was an early, poor epoch
        "--loss=huber",
        "--huber_delta=0.01",
        "--compute_stress=True",
        "--energy_weight=10.0",
        "--forces_weight=100.0",
        "--stress_weight=10.0",
        f"--batch_size={settings.batch_size}",
        f"--valid_batch_size={2 * settings.batch_size}",
        f"--lr={settings.lr}",
        f"--max_num_epochs={epochs}",
        "--scheduler_patience=8",
        "--ema",
        "--ema_decay=0.99",
        "--amsgrad",
        f"--default_dtype={settings.dtype}",
        "--device=cpu",
        "--save_cpu",
        "--error_table=PerAtomMAE",
        "--eval_interval=2",
        "--num_workers=0",
    ]
    if restart:
        args.append("--restart_latest")
    return args


def train(
    train_set: Sequence[Atoms],
    valid_set: Sequence[Atoms],
    work: Path,
    name: str,
    arch: dict[str, Any],
    epochs: int,
    settings: DistillSettings,
    e0s: dict[int, float] | None,
) -> Path:
    """Train (or continue training) the student; returns the path of the saved ``.model``."""
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    train_file = work / "train.xyz"
    valid_file = work / "valid.xyz"
    write_extxyz(train_file, train_set)
    write_extxyz(valid_file, valid_set)
    restart = any((work / "checkpoints").glob("*.pt"))
    args = mace_arguments(train_file, valid_file, work, name, arch, epochs, settings, e0s, restart)
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(settings.train_threads)
    log_path = work / "mace_train.log"
    log.info("training: %s", " ".join(args))
    with open(log_path, "a") as fh:
        proc = subprocess.run(
            [sys.executable, "-c", _LAUNCH, *args],
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            cwd=work,
            check=False,
        )
    model = work / f"{name}.model"
    if proc.returncode != 0 or not model.exists():
        tail = log_path.read_text().splitlines()[-20:]
        raise RuntimeError("mace training failed:\n" + "\n".join(tail))
    trust_model(model)  # written by the training run this process started
    return model


def isolated_e0s(teacher: Calculator, train_set: Sequence[Atoms], out: Path) -> dict[int, float]:
    """Teacher energies of isolated atoms, one per element in the training data (cached in
    ``out/data/e0s.json``): the ``e0s="isolated"`` alternative to mace's least-squares E0s."""
    path = out / "data" / "e0s.json"
    cached: dict[str, float] = json.loads(path.read_text()) if path.exists() else {}
    numbers = sorted({int(z) for c in train_set for z in c.numbers})
    for z in numbers:
        if str(z) not in cached:
            atom = Atoms(numbers=[z], cell=[20.0, 20.0, 20.0], pbc=False)
            atom.calc = teacher
            cached[str(z)] = float(atom.get_potential_energy())
    path.write_text(json.dumps(cached, indent=1))
    return {z: cached[str(z)] for z in numbers}
