"""ASE NVT engine: thermostat physics, exact kill-and-resume, guards, settings checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from screening.errors import InputError
from screening.trajectory import read_trajectory
from screening.units import FS_TO_ASE_TIME, fs_to_ase_time
from workflows.md import MDInterrupted, default_checkpoint_path, run_nvt
from workflows.md.guards import StabilityGuards, closest_contact

# Argon-like LJ: sigma 3.4 Å, epsilon 10.4 meV, fcc a = 5.26 Å.
SIGMA, EPS, A_FCC = 3.4, 0.0104, 5.26


class MinimumImageLJ(Calculator):
    """Vectorised LJ (energy-shifted at ``rc``) for cubic cells with rc < L/2.

    ASE's own LennardJones calculator loops over atoms in Python (~70 ms per call for 256 atoms);
    this one is ~50x faster, which keeps the physics tests (108 atoms, thousands of steps) fast.
    """

    implemented_properties = ("energy", "forces", "free_energy")

    def __init__(self, sigma: float = SIGMA, epsilon: float = EPS, rc: float = 8.5, **kw):
        super().__init__(**kw)
        self.sigma, self.epsilon, self.rc = sigma, epsilon, rc

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        super().calculate(atoms, properties, system_changes)
        pos = self.atoms.positions
        lengths = np.diag(self.atoms.cell.array)
        rc = min(self.rc, 0.4999 * lengths.min())  # minimum image needs rc < L/2
        sr6 = (self.sigma / rc) ** 6
        shift = 4 * self.epsilon * (sr6 * sr6 - sr6)
        d = pos[None, :, :] - pos[:, None, :]
        d -= lengths * np.round(d / lengths)
        r2 = np.einsum("ijk,ijk->ij", d, d)
        np.fill_diagonal(r2, np.inf)
        mask = r2 < rc**2
        inv6 = np.where(mask, (self.sigma**2 / r2) ** 3, 0.0)
        e_pair = np.where(mask, 4 * self.epsilon * (inv6 * inv6 - inv6) - shift, 0.0)
        # F_i = sum_j dU/dr * (r_i - r_j)/r with d = r_j - r_i
        f_scalar = np.where(mask, 24 * self.epsilon * (2 * inv6 * inv6 - inv6) / r2, 0.0)
        forces = -np.einsum("ij,ijk->ik", f_scalar, d)
        self.results["energy"] = self.results["free_energy"] = 0.5 * float(e_pair.sum())
        self.results["forces"] = forces


def argon(repeat: int = 4):
    return bulk("Ar", "fcc", a=A_FCC, cubic=True).repeat((repeat,) * 3)


def _run(tmp_path: Path, name: str, **kw):
    settings = dict(
        temperature_K=60.0,
        timestep_fs=5.0,
        equilibration_steps=20,
        production_steps=60,
        stride=5,
        thermostat="nose-hoover",
        thermostat_timescale_fs=200.0,
        seed=7,
        checkpoint_every_steps=10,
    )
    settings.update(kw)
    atoms = settings.pop("atoms", argon(2))
    return run_nvt(atoms, MinimumImageLJ(), trajectory_path=tmp_path / name, **settings)


def test_fs_to_ase_time_boundary():
    # ASE time unit = Å·sqrt(amu/eV) = 10.1805 fs
    assert fs_to_ase_time(1.0) == pytest.approx(1 / 10.1805055, rel=1e-6)
    assert pytest.approx(1.0, rel=1e-6) == FS_TO_ASE_TIME * 10.1805055


def test_calculator_forces_match_finite_differences():
    atoms = argon(2)
    atoms.rattle(0.05, seed=1)
    atoms.calc = MinimumImageLJ()
    f = atoms.get_forces()
    from ase.calculators.fd import calculate_numerical_forces

    assert np.allclose(f, calculate_numerical_forces(atoms, eps=1e-5), atol=1e-6)
    assert np.abs(f).max() > 1e-3


@pytest.mark.parametrize("thermostat", ["nose-hoover", "langevin"])
def test_thermostat_reaches_and_holds_target(tmp_path, thermostat):
    # 108 atoms: instantaneous T fluctuates by sqrt(2/3N) ~ 8%; with 100 fs coupling the
    # production mean over 15 ps must sit within 3% of the target (over seeds 1-7 we measured
    # |deviation| <= 1.6%, Langevin ~1% low from its finite-timestep error at 10 fs).
    res = _run(
        tmp_path,
        f"{thermostat}.h5",
        atoms=argon(3),
        temperature_K=80.0,
        timestep_fs=10.0,
        equilibration_steps=300,
        production_steps=1500,
        stride=10,
        thermostat=thermostat,
        thermostat_timescale_fs=100.0,
        checkpoint_every_steps=5000,
    )
    assert res.stable, res.unstable_reason
    assert res.mean_temperature_K == pytest.approx(80.0, rel=0.03)
    expected_std = 80.0 * np.sqrt(2 / (3 * 108))
    assert 0.5 * expected_std < res.std_temperature_K < 2.0 * expected_std
    traj = read_trajectory(res.trajectory_path)
    assert traj.n_frames == 151
    assert traj.step[0] == 300 and np.all(np.diff(traj.step) == 10)
    assert traj.time_fs[1] - traj.time_fs[0] == pytest.approx(100.0)
    if thermostat == "nose-hoover":
        # the extended (thermostat) energy is conserved much better than the total energy
        assert abs(res.conserved_drift_eV_per_atom_per_ps) < 1e-4
        total = traj.potential_energy_eV + traj.kinetic_energy_eV
        assert np.ptp(traj.conserved_eV) < 0.2 * np.ptp(total)


@pytest.mark.parametrize("thermostat", ["nose-hoover", "langevin"])
def test_kill_and_resume_is_bit_identical(tmp_path, thermostat):
    ref = _run(tmp_path, "ref.h5", thermostat=thermostat)
    ref_traj = read_trajectory(ref.trajectory_path)

    def crash(step: int) -> None:
        if step == 47:  # after the checkpoint at 40 and frames 45 (written, then truncated)
            raise MDInterrupted("simulated crash")

    with pytest.raises(MDInterrupted):
        _run(tmp_path, "resumed.h5", thermostat=thermostat, _step_hook=crash)
    assert default_checkpoint_path(tmp_path / "resumed.h5").exists()
    partial = read_trajectory(tmp_path / "resumed.h5")
    assert partial.step[-1] == 45  # a frame past the checkpoint, to be dropped on resume
    res = _run(tmp_path, "resumed.h5", thermostat=thermostat)
    assert res.resumed_from_step == 40
    traj = read_trajectory(res.trajectory_path)
    assert np.array_equal(traj.step, ref_traj.step)  # no duplicated / missing frames
    assert np.array_equal(traj.positions, ref_traj.positions)
    assert np.array_equal(traj.conserved_eV, ref_traj.conserved_eV)
    assert res.mean_temperature_K == ref.mean_temperature_K
    assert not default_checkpoint_path(tmp_path / "resumed.h5").exists()


def test_checkpoint_by_wall_time_between_step_checkpoints(tmp_path):
    """A run slower than its step interval still checkpoints (here: after every step) and resumes
    bit-identically from there."""
    ref = read_trajectory(_run(tmp_path, "ref.h5").trajectory_path)

    def crash(step: int) -> None:
        if step == 47:
            raise MDInterrupted("simulated crash")

    slow = dict(checkpoint_every_steps=10**6, checkpoint_every_s=1e-9)
    with pytest.raises(MDInterrupted):
        _run(tmp_path, "resumed.h5", _step_hook=crash, **slow)
    res = _run(tmp_path, "resumed.h5", **slow)
    assert res.resumed_from_step == 47  # not 0: the wall clock forced checkpoints
    assert np.array_equal(read_trajectory(res.trajectory_path).positions, ref.positions)
    with pytest.raises(InputError, match="checkpoint_every_s"):
        _run(tmp_path, "bad.h5", checkpoint_every_s=0.0)


def test_sigkill_subprocess_then_resume(tmp_path):
    """A real SIGKILL mid-run (no Python clean-up) still resumes to the uninterrupted result."""
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_md_ase_nvt import _run
        from pathlib import Path
        def hook(step):
            if step == 37:  # checkpoint at 30, frame 35 taken but not yet flushed
                os.kill(os.getpid(), signal.SIGKILL)
        _run(Path({str(tmp_path)!r}), "killed.h5", _step_hook=hook)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()[-2000:]
    killed = read_trajectory(tmp_path / "killed.h5")  # readable: the file was closed
    assert killed.step[-1] == 30 and killed.attrs["status"] == "running"
    res = _run(tmp_path, "killed.h5")
    assert res.resumed_from_step == 30
    ref = _run(tmp_path, "ref.h5")
    a, b = read_trajectory(res.trajectory_path), read_trajectory(ref.trajectory_path)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.step, b.step)


def test_resume_with_different_settings_is_refused(tmp_path):
    def crash(step: int) -> None:
        if step == 25:
            raise MDInterrupted

    with pytest.raises(MDInterrupted):
        _run(tmp_path, "x.h5", _step_hook=crash)
    with pytest.raises(InputError, match="different MD settings"):
        _run(tmp_path, "x.h5", temperature_K=70.0)
    res = _run(tmp_path, "x.h5", temperature_K=70.0, overwrite=True)
    assert res.stable and res.resumed_from_step is None


def test_finished_run_is_reused(tmp_path):
    first = _run(tmp_path, "done.h5")
    again = _run(tmp_path, "done.h5")
    assert again.sha256 == first.sha256 and again.n_frames == first.n_frames


def test_collapse_is_flagged_and_file_stays_consistent(tmp_path):
    # A purely attractive potential (epsilon < 0 flips LJ: repulsion-free collapse)
    class Attractive(MinimumImageLJ):
        def __init__(self):
            super().__init__(epsilon=-0.05)

    atoms = argon(2)
    res = run_nvt(
        atoms,
        Attractive(),
        temperature_K=60.0,
        timestep_fs=5.0,
        equilibration_steps=0,
        production_steps=400,
        stride=5,
        seed=1,
        trajectory_path=tmp_path / "collapse.h5",
        guards=StabilityGuards(check_every_steps=2),
    )
    assert not res.stable
    assert res.unstable_reason
    traj = read_trajectory(res.trajectory_path)
    assert traj.attrs["status"] == "unstable" and traj.attrs["unstable_reason"]
    assert np.isfinite(traj.positions).all()
    assert res.steps_done < 400


def test_collapse_limit_is_per_pair():
    """1.5 Å flags Li contacts, but graphite's 1.42 Å C–C bond is healthy (75 % of 2 r_cov)."""
    from ase import Atoms

    guards = StabilityGuards()
    diamond = bulk("C", "diamond", a=3.57)  # C–C 1.546 Å: healthy
    contact = closest_contact(diamond, guards)
    assert contact.worst_A > contact.limit_A

    def pair(symbols: str, d: float):
        c = closest_contact(Atoms(symbols, [[0, 0, 0], [d, 0, 0]], cell=[10] * 3, pbc=True), guards)
        return c.worst_A < c.limit_A

    assert not pair("C2", 1.42)  # graphite bond
    assert pair("C2", 1.05)  # collapsed: below 0.75 × 1.52 Å
    assert pair("Li2", 1.42)  # Li–Li at a C–C bond length has collapsed
    assert not pair("Li2", 2.6)


def test_huge_timestep_is_flagged(tmp_path):
    # A stiff (1 eV) LJ with helium masses has a vibrational period of a few fs: a 10 fs step
    # blows up at once; the guard must stop the run and say why.
    atoms = argon(2)
    atoms.set_masses([4.0] * len(atoms))
    res = run_nvt(
        atoms,
        MinimumImageLJ(epsilon=1.0),
        temperature_K=300.0,
        timestep_fs=10.0,
        equilibration_steps=0,
        production_steps=200,
        stride=5,
        seed=1,
        trajectory_path=tmp_path / "hot.h5",
    )
    assert not res.stable
    assert "instantaneous T" in res.unstable_reason or "|F|" in res.unstable_reason
    assert res.steps_done < 5
    traj = read_trajectory(res.trajectory_path)
    assert np.isfinite(traj.positions).all()


def test_bad_settings_raise_input_error(tmp_path):
    with pytest.raises(InputError, match="thermostat"):
        _run(tmp_path, "bad.h5", thermostat="berendsen")
    with pytest.raises(InputError, match="timestep_fs"):
        _run(tmp_path, "bad.h5", timestep_fs=-1.0)
