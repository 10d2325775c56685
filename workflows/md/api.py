"""Entry points of the MD runner: one system with an ASE calculator, a torch-sim batch, or a
potential spec with the batched/sequential choice (:func:`run_md`, the only place it is made)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workflows.md.ase_backend import AseBackend
from workflows.md.backend import MDBackend
from workflows.md.contract import CHECKPOINT_EVERY_S, MDResult, Thermostat, md_protocol
from workflows.md.guards import StabilityGuards
from workflows.md.runner import run_batch
from workflows.md.torchsim_backend import TorchSimBackend


def run_with_backend(
    backend: MDBackend,
    systems: Sequence[Any],
    temperatures_K: Sequence[float],
    *,
    timestep_fs: float,
    equilibration_steps: int,
    production_steps: int,
    stride: int,
    trajectory_paths: Sequence[str | Path],
    thermostat: str = "nose-hoover",
    thermostat_timescale_fs: float = 100.0,
    seed: int = 0,
    checkpoint_path: str | Path | None = None,
    checkpoint_every_steps: int = 1000,
    checkpoint_every_s: float = CHECKPOINT_EVERY_S,
    guards: StabilityGuards | None = None,
    progress: bool = False,
    candidate_ids: Sequence[str] | None = None,
    potential: str = "",
    overwrite: bool = False,
    _step_hook: Callable[[int], None] | None = None,
) -> list[MDResult]:
    """Validate the protocol for ``backend`` and run one batch (see :func:`run_batch`)."""
    protocol = md_protocol(
        temperatures_K=temperatures_K,
        thermostats=backend.thermostats,
        timestep_fs=timestep_fs,
        equilibration_steps=equilibration_steps,
        production_steps=production_steps,
        stride=stride,
        thermostat=thermostat,
        thermostat_timescale_fs=thermostat_timescale_fs,
        checkpoint_every_steps=checkpoint_every_steps,
        checkpoint_every_s=checkpoint_every_s,
        seed=seed,
        potential=potential,
        guards=guards,
    )
    return run_batch(
        backend,
        systems,
        temperatures_K,
        protocol,
        trajectory_paths=trajectory_paths,
        candidate_ids=candidate_ids,
        checkpoint_path=checkpoint_path,
        progress=progress,
        overwrite=overwrite,
        _step_hook=_step_hook,
    )


def run_nvt(
    atoms: Any,
    calculator: Any,
    *,
    temperature_K: float,
    trajectory_path: str | Path,
    thermostat: Thermostat = "nose-hoover",
    candidate_id: str = "",
    **settings: Any,
) -> MDResult:
    """NVT of one system with an ASE calculator (the ASE back end); ``settings`` as in
    :func:`run_with_backend`."""
    return run_with_backend(
        AseBackend(calculator),
        [atoms],
        [temperature_K],
        trajectory_paths=[trajectory_path],
        thermostat=thermostat,
        candidate_ids=[candidate_id],
        **settings,
    )[0]


def run_nvt_batched(
    systems: Sequence[Any],
    temperatures_K: Sequence[float],
    model: Any,
    **settings: Any,
) -> list[MDResult]:
    """NVT of ``systems[i]`` at ``temperatures_K[i]`` in one torch-sim batch; ``model`` is a
    torch-sim ``ModelInterface``; ``settings`` as in :func:`run_with_backend`."""
    return run_with_backend(TorchSimBackend(model), systems, temperatures_K, **settings)


def run_md(
    systems: Sequence[Any],
    temperatures_K: Sequence[float],
    *,
    potential: str,
    device: str,
    dtype: str,
    batched: bool,
    trajectory_paths: Sequence[str | Path],
    candidate_ids: Sequence[str],
    **settings: Any,
) -> list[MDResult]:
    """Every (system, T) pair with the potential ``potential``: one torch-sim batch
    (``batched``: one model call per step for all pairs, the fast path on GPUs and for small
    cells on CPUs) or one ASE run after another, as atomate2's ``ForceFieldMDMaker`` does."""
    if batched:
        from potentials.registry import load_torchsim_model

        model = load_torchsim_model(potential, device=device, dtype=dtype)
        return run_nvt_batched(
            systems,
            temperatures_K,
            model,
            trajectory_paths=trajectory_paths,
            candidate_ids=candidate_ids,
            potential=potential,
            **settings,
        )
    from potentials.registry import load_calculator

    calc = load_calculator(potential, device=device, dtype=dtype)
    return [
        run_nvt(
            a,
            calc,
            temperature_K=t,
            trajectory_path=p,
            candidate_id=c,
            potential=potential,
            **settings,
        )
        for a, t, p, c in zip(systems, temperatures_K, trajectory_paths, candidate_ids, strict=True)
    ]
