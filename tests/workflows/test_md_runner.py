"""MD runner: the run_is_physical rule, back-end thermostat sets, the ASE back end's Bussi
thermostat (exact resume) and the distillation's stability run going through the runner."""

from __future__ import annotations

import time

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.emt import EMT

from screening.errors import InputError
from screening.trajectory import read_trajectory
from tests.workflows.test_md_ase_nvt import MinimumImageLJ, argon
from workflows.md import MDInterrupted, default_checkpoint_path, run_nvt, run_nvt_batched
from workflows.md.guards import run_is_physical, unphysical_reason


def copper(repeat: int = 2):
    """fcc Cu (32 atoms) with ASE's EMT: a real metal potential, fast enough for MD tests."""
    atoms = bulk("Cu", "fcc", a=3.61, cubic=True).repeat((repeat,) * 3)
    atoms.info["system"] = "Cu"
    return atoms


def test_run_is_physical_one_rule_two_tolerances():
    # the verdict on a finished run: mean T within 5 % of the target, no collapsed pair
    assert run_is_physical(900.0 * 1.049, 900.0)
    assert not run_is_physical(900.0 * 1.051, 900.0)
    assert not run_is_physical(900.0, 900.0, collapsed=True)
    assert not run_is_physical(float("nan"), 900.0)  # no frames: nothing to call physical
    assert "off target" in unphysical_reason(1000.0, 900.0)
    # the in-run abort: 10 %, widened to 2·sqrt(2/3N) (41 % for 16 atoms, 2 % for 10^4 atoms)
    assert unphysical_reason(900.0 * 1.3, 900.0, tolerance=0.10, n_atoms=16) is None
    assert unphysical_reason(900.0 * 1.3, 900.0, tolerance=0.10, n_atoms=10_000) is not None
    assert unphysical_reason(900.0 * 1.08, 900.0, tolerance=0.10, n_atoms=10_000) is None


def test_backend_refuses_a_thermostat_it_does_not_integrate(tmp_path):
    """torch-sim 0.3 has no Bussi: refused before any model is touched, naming the choices."""
    with pytest.raises(InputError, match="thermostat") as err:
        run_nvt_batched(
            [copper()],
            [300.0],
            None,
            timestep_fs=2.0,
            equilibration_steps=0,
            production_steps=10,
            stride=5,
            thermostat="bussi",
            trajectory_paths=[tmp_path / "x.h5"],
        )
    assert "langevin" in str(err.value)


def _bussi(tmp_path, name, **kw):
    # the history-free LJ of the ASE tests: EMT's neighbour-list rebuilds depend on the path
    # taken, which alone makes a resumed EMT run differ from an uninterrupted one at 1e-16 Å
    settings = dict(
        temperature_K=60.0,
        timestep_fs=5.0,
        equilibration_steps=20,
        production_steps=60,
        stride=5,
        thermostat="bussi",
        thermostat_timescale_fs=200.0,
        seed=7,
        checkpoint_every_steps=10,
    )
    settings.update(kw)
    return run_nvt(argon(2), MinimumImageLJ(), trajectory_path=tmp_path / name, **settings)


def test_bussi_kill_and_resume_is_bit_identical(tmp_path):
    ref = _bussi(tmp_path, "ref.h5")
    ref_traj = read_trajectory(ref.trajectory_path)

    def crash(step: int) -> None:
        if step == 47:
            raise MDInterrupted("simulated crash")

    with pytest.raises(MDInterrupted):
        _bussi(tmp_path, "resumed.h5", _step_hook=crash)
    assert default_checkpoint_path(tmp_path / "resumed.h5").exists()
    res = _bussi(tmp_path, "resumed.h5")
    assert res.resumed_from_step == 40
    traj = read_trajectory(res.trajectory_path)
    assert np.array_equal(traj.positions, ref_traj.positions)
    assert np.array_equal(traj.conserved_eV, ref_traj.conserved_eV)
    # Bussi's effective energy (total minus what the thermostat exchanged) is conserved far
    # better than the total energy the thermostat drives (measured: 9e-5 vs 0.16 eV)
    total = ref_traj.potential_energy_eV + ref_traj.kinetic_energy_eV
    assert np.ptp(ref_traj.conserved_eV) < 0.05 * np.ptp(total)


def _plain_bussi_stability(atoms, calc, temperature_k, steps, timestep_fs, seed):
    """Known answer: the distillation's stability check written as a plain ASE loop (Bussi,
    taut 100 fs; T and contacts every 10 steps; stop below 0.8 Å)."""
    from ase import units
    from ase.md.bussi import Bussi
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary
    from ase.neighborlist import neighbor_list

    from screening.contacts import pair_collapse_limits

    at = atoms.copy()
    at.calc = calc
    rng = np.random.default_rng(seed)
    MaxwellBoltzmannDistribution(at, temperature_K=temperature_k, rng=rng)
    Stationary(at)
    dyn = Bussi(
        at, timestep_fs * units.fs, temperature_K=temperature_k, taut=100 * units.fs, rng=rng
    )
    temps, collapsed = [], False
    dmin = float(neighbor_list("d", at, 3.0).min())
    for _ in range(steps // 10):
        dyn.run(10)
        temps.append(float(at.get_temperature()))
        i, j, d = neighbor_list("ijd", at, 3.0)
        dmin = min(dmin, float(d.min()))
        collapsed = collapsed or bool(
            (d < pair_collapse_limits(at.numbers[i], at.numbers[j])).any()
        )
        if dmin < 0.8:
            break
    half = np.array(temps[len(temps) // 2 :])
    return len(temps) * 10, round(dmin, 3), round(float(half.mean()), 1), collapsed


@pytest.mark.parametrize("temperature_k", [900.0, 3000.0])
def test_stability_run_through_the_runner_keeps_its_numbers(temperature_k):
    from potentials.distill.evaluate import stability_run

    t0 = time.perf_counter()
    row = stability_run(copper(), EMT(), temperature_k, 100, 2.0, 0)
    assert time.perf_counter() - t0 < 60
    steps, dmin, mean_t, collapsed = _plain_bussi_stability(
        copper(), EMT(), temperature_k, 100, 2.0, 0
    )
    assert (row["steps"], row["min_distance_A"], row["mean_T_K_second_half"]) == (
        steps,
        dmin,
        mean_t,
    )
    assert row["stable"] == run_is_physical(mean_t, temperature_k, collapsed=collapsed)
