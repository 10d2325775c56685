"""Batched torch-sim NVT: unit boundaries, agreement with the ASE path, per-system T, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase.build import bulk
from ase.calculators.calculator import Calculator, all_changes

from screening.errors import InputError
from screening.trajectory import read_trajectory
from screening.units import KB_EV, fs_to_ase_time
from workflows.md import (
    MDInterrupted,
    fs_to_torchsim_time,
    kelvin_to_torchsim_kT,
    run_nvt,
    run_nvt_batched,
)

SIGMA, EPS, A_FCC, RC = 3.4, 0.0104, 5.26, 5.0


@pytest.fixture(scope="module")
def lj_model():
    from torch_sim.models.lennard_jones import LennardJonesModel

    torch.set_num_threads(1)
    return LennardJonesModel(
        sigma=SIGMA, epsilon=EPS, cutoff=RC, dtype=torch.float64, use_neighbor_list=False
    )


class TorchSimModelCalculator(Calculator):
    """ASE calculator around a torch-sim model, so both engines use literally the same forces."""

    implemented_properties = ("energy", "forces", "free_energy")

    def __init__(self, model, **kw):
        super().__init__(**kw)
        self.model = model

    def calculate(self, atoms=None, properties=("energy",), system_changes=all_changes):
        import torch_sim as ts

        super().calculate(atoms, properties, system_changes)
        state = ts.io.atoms_to_state(self.atoms, device=self.model.device, dtype=self.model.dtype)
        out = self.model(state)
        self.results["energy"] = self.results["free_energy"] = float(out["energy"][0])
        self.results["forces"] = out["forces"].detach().cpu().numpy()


def argon(repeat: int = 3):
    return bulk("Ar", "fcc", a=A_FCC, cubic=True).repeat((repeat,) * 3)


def msd_at_lag(positions: np.ndarray, lag: int) -> float:
    d = positions[lag:] - positions[:-lag]
    d -= d.mean(axis=1, keepdims=True)  # remove centre-of-mass drift (Langevin)
    return float((d**2).sum(axis=2).mean())


def test_torchsim_unit_boundaries():
    from torch_sim.units import MetalUnits

    # torch-sim integrates in Å/eV/amu: its time unit equals ASE's (10.18 fs) and 1 ps of
    # user time is MetalUnits.time internal units.
    assert fs_to_torchsim_time(1.0) == pytest.approx(fs_to_ase_time(1.0), rel=1e-6)
    assert fs_to_torchsim_time(1000.0) == pytest.approx(float(MetalUnits.time), rel=1e-12)
    assert kelvin_to_torchsim_kT(548.0) == pytest.approx(KB_EV * 548.0, rel=1e-6)


def test_ase_and_torchsim_paths_agree_and_per_system_temperatures(tmp_path, lj_model):
    """Same LJ model, same protocol: ballistic MSD obeys <v²>Δt² in both engines (a wrong time
    conversion fails by orders of magnitude), two temperatures in one batch each reach their own
    target, and the vibrational MSD scales with T and matches the ASE path."""
    dt, stride, eq, prod = 10.0, 1, 200, 300
    common = dict(
        timestep_fs=dt,
        equilibration_steps=eq,
        production_steps=prod,
        stride=stride,
        thermostat="langevin",
        thermostat_timescale_fs=300.0,
        seed=11,
    )
    batched = run_nvt_batched(
        [argon(), argon()],
        [80.0, 160.0],
        lj_model,
        trajectory_paths=[tmp_path / "ts80.h5", tmp_path / "ts160.h5"],
        **common,
    )
    ase_res = run_nvt(
        argon(),
        TorchSimModelCalculator(lj_model),
        temperature_K=80.0,
        trajectory_path=tmp_path / "ase80.h5",
        **common,
    )
    trajs = {
        "ts80": read_trajectory(batched[0].trajectory_path),
        "ts160": read_trajectory(batched[1].trajectory_path),
        "ase80": read_trajectory(ase_res.trajectory_path),
    }
    mass_amu = 39.948
    plateau = {}
    for name, traj in trajs.items():
        assert traj.n_frames == prod // stride + 1
        assert traj.timestep_between_frames_fs == pytest.approx(dt * stride)
        # ballistic regime: MSD(Δt) = 3 kB T / m Δt² (Δt = 10 fs ≪ vibrational period ~ 0.5 ps)
        v2 = 3 * KB_EV * traj.temperature_K.mean() / mass_amu  # eV/amu = (Å/ASE-time)²
        expected = v2 * fs_to_ase_time(dt * stride) ** 2
        assert msd_at_lag(traj.positions, 1) == pytest.approx(expected, rel=0.05), name
        plateau[name] = msd_at_lag(traj.positions, 100)
    assert trajs["ts80"].temperature_K.mean() == pytest.approx(80.0, rel=0.08)
    assert trajs["ts160"].temperature_K.mean() == pytest.approx(160.0, rel=0.08)
    assert trajs["ase80"].temperature_K.mean() == pytest.approx(80.0, rel=0.08)
    # harmonic solid: <u²> ∝ T, and the same in both engines
    assert plateau["ts160"] / plateau["ts80"] == pytest.approx(2.0, rel=0.3)
    assert plateau["ase80"] / plateau["ts80"] == pytest.approx(1.0, rel=0.3)


def test_nose_hoover_batch_reproduces_ase_path(tmp_path, lj_model):
    """Batch entry i starts like run_nvt(seed=seed+i) and integrates ASE's NH-chain algorithm:
    with the same model both engines must give the same trajectory to round-off. This pins the
    fs→time, K→kT and tdamp conversions at the torch-sim boundary."""
    systems = [argon(2), argon(2)]
    systems[1].set_cell(systems[1].cell * 1.02, scale_atoms=True)
    temps = [60.0, 90.0]
    common = dict(timestep_fs=5.0, equilibration_steps=10, production_steps=50, stride=5, seed=3)
    batched = run_nvt_batched(
        systems,
        temps,
        lj_model,
        trajectory_paths=[tmp_path / "b0.h5", tmp_path / "b1.h5"],
        thermostat_timescale_fs=100.0,
        **common,
    )
    for i, res in enumerate(batched):
        ref = run_nvt(
            systems[i],
            TorchSimModelCalculator(lj_model),
            temperature_K=temps[i],
            thermostat_timescale_fs=100.0,
            trajectory_path=tmp_path / f"a{i}.h5",
            **{**common, "seed": common["seed"] + i},
        )
        a, b = read_trajectory(ref.trajectory_path), read_trajectory(res.trajectory_path)
        assert np.array_equal(a.step, b.step)
        assert np.abs(a.positions - b.positions).max() < 1e-8
        assert np.allclose(a.temperature_K, b.temperature_K, rtol=1e-8)
        assert np.allclose(a.conserved_eV, b.conserved_eV, rtol=0, atol=1e-9)
        assert b.attrs["thermostat"] == "nose-hoover"


def _batch(tmp_path, model, **kw):
    settings = dict(
        timestep_fs=5.0,
        equilibration_steps=10,
        production_steps=40,
        stride=5,
        thermostat_timescale_fs=200.0,
        seed=5,
        checkpoint_every_steps=10,
        candidate_ids=["Ar/a", "Ar/b", "Ar/c"],
    )
    settings.update(kw)
    systems = [argon(2), argon(2), argon(2)]
    systems[2].positions *= 1.01  # a different structure in the same batch
    systems[2].cell *= 1.01
    tag = settings.pop("tag")
    paths = [tmp_path / f"{tag}{i}.h5" for i in range(3)]
    return run_nvt_batched(systems, [60.0, 90.0, 60.0], model, trajectory_paths=paths, **settings)


@pytest.mark.parametrize("thermostat", ["nose-hoover", "langevin"])
def test_batched_kill_and_resume_is_bit_identical(tmp_path, lj_model, thermostat):
    ref = _batch(tmp_path, lj_model, tag="ref", thermostat=thermostat)

    def crash(step: int) -> None:
        if step == 37:
            raise MDInterrupted

    with pytest.raises(MDInterrupted):
        _batch(tmp_path, lj_model, tag="res", _step_hook=crash, thermostat=thermostat)
    assert read_trajectory(tmp_path / "res0.h5").step[-1] == 35  # past the checkpoint at 30
    resumed = _batch(tmp_path, lj_model, tag="res", thermostat=thermostat)
    for a, b in zip(ref, resumed, strict=True):
        assert b.resumed_from_step == 30
        ta, tb = read_trajectory(a.trajectory_path), read_trajectory(b.trajectory_path)
        assert np.array_equal(ta.step, tb.step)
        assert np.array_equal(ta.positions, tb.positions)
        assert np.array_equal(ta.kinetic_energy_eV, tb.kinetic_energy_eV)
        assert tb.attrs["candidate_id"] in ("Ar/a", "Ar/b", "Ar/c")
    # different settings are refused while a checkpoint exists
    with pytest.raises(MDInterrupted):
        _batch(tmp_path, lj_model, tag="mis", _step_hook=crash)
    with pytest.raises(InputError, match="different batched-MD settings"):
        _batch(tmp_path, lj_model, tag="mis", seed=6)


def test_batched_checkpoint_by_wall_time(tmp_path, lj_model):
    """Far from a step checkpoint, the wall clock still checkpoints; the resume is bit-identical."""
    ref = _batch(tmp_path, lj_model, tag="ref", thermostat="langevin")

    def crash(step: int) -> None:
        if step == 37:
            raise MDInterrupted

    slow = dict(thermostat="langevin", checkpoint_every_steps=10**6, checkpoint_every_s=1e-9)
    with pytest.raises(MDInterrupted):
        _batch(tmp_path, lj_model, tag="res", _step_hook=crash, **slow)
    resumed = _batch(tmp_path, lj_model, tag="res", **slow)
    for a, b in zip(ref, resumed, strict=True):
        assert b.resumed_from_step == 37
        pa, pb = (read_trajectory(r.trajectory_path).positions for r in (a, b))
        assert np.array_equal(pa, pb)


def test_unstable_system_is_dropped_others_continue(tmp_path, lj_model):
    good, bad = argon(2), argon(2)
    bad.positions[1] = bad.positions[0] + [0.0, 0.0, 1.2]  # overlapping pair: huge repulsion
    res = run_nvt_batched(
        [good, bad],
        [60.0, 60.0],
        lj_model,
        timestep_fs=5.0,
        equilibration_steps=0,
        production_steps=30,
        stride=5,
        seed=1,
        trajectory_paths=[tmp_path / "good.h5", tmp_path / "bad.h5"],
    )
    assert res[0].stable and res[0].n_frames == 7
    assert not res[1].stable and res[1].unstable_reason
    assert res[1].steps_done < 30
    bad_traj = read_trajectory(tmp_path / "bad.h5")
    assert bad_traj.attrs["status"] == "unstable"
    assert np.isfinite(bad_traj.positions).all()


def test_batched_input_errors(tmp_path, lj_model):
    with pytest.raises(InputError, match="thermostat"):
        run_nvt_batched(
            [argon(2)],
            [60.0],
            lj_model,
            timestep_fs=5.0,
            equilibration_steps=0,
            production_steps=5,
            stride=1,
            thermostat="berendsen",
            trajectory_paths=[tmp_path / "x.h5"],
        )
    with pytest.raises(InputError, match="one temperature"):
        run_nvt_batched(
            [argon(2)],
            [60.0, 90.0],
            lj_model,
            timestep_fs=5.0,
            equilibration_steps=0,
            production_steps=5,
            stride=1,
            trajectory_paths=[tmp_path / "x.h5"],
        )
