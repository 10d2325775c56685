"""The ilscreen-traj/1 HDF5 format: round trip, truncate-on-resume, errors, XDATCAR export."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from screening.errors import InputError
from screening.hashing import file_sha256
from screening.trajectory import (
    FORMAT,
    TrajectoryWriter,
    export_xdatcar,
    read_trajectory,
)

ATTRS = dict(
    timestep_fs=2.0,
    stride=5,
    target_temperature_K=548.0,
    thermostat="nose-hoover",
    seed=3,
    potential="mace:test",
    candidate_id="Li-Sb/Li3Sb/1x1x1/vac1/seed0",
)
NUMBERS = np.array([3, 3, 3, 51])
CELL = np.diag([4.0, 5.0, 6.0])


def _frames(n: int, start: int = 0) -> list[dict]:
    rng = np.random.default_rng(0)
    return [
        dict(
            positions=rng.normal(size=(4, 3)) * 3 + 7.0,  # unwrapped: may lie outside the cell
            cell=CELL,
            step=(start + k) * 5,
            time_fs=(start + k) * 10.0,
            temperature_K=540.0 + k,
            potential_energy_eV=-10.0 - k,
            kinetic_energy_eV=0.2,
            conserved_eV=-9.8,
        )
        for k in range(n)
    ]


def _write(path, frames, resume_step=None):
    with TrajectoryWriter(path, NUMBERS, ATTRS, resume_step=resume_step) as w:
        for f in frames:
            w.append(**f)


def test_round_trip(tmp_path):
    path = tmp_path / "t.h5"
    frames = _frames(6)
    _write(path, frames)
    traj = read_trajectory(path)
    assert traj.attrs["format"] == FORMAT and traj.attrs["units"].startswith("positions Å")
    assert traj.n_frames == 6 and traj.n_atoms == 4
    assert np.array_equal(traj.positions[3], frames[3]["positions"])
    assert traj.positions.dtype == np.float64
    assert np.array_equal(traj.step, [0, 5, 10, 15, 20, 25])
    assert traj.timestep_between_frames_fs == pytest.approx(10.0)
    assert traj.species_mask("Li").tolist() == [True, True, True, False]
    assert traj.attrs["candidate_id"] == ATTRS["candidate_id"]
    wrapped = traj.wrapped_positions()
    frac = wrapped[0] / np.diag(CELL)
    assert np.all((frac >= 0) & (frac < 1))
    with pytest.raises(InputError):
        traj.species_mask("Xx")


def test_resume_truncates_frames_past_checkpoint(tmp_path):
    path = tmp_path / "t.h5"
    _write(path, _frames(6))  # steps 0..25
    # crash after the checkpoint at step 15: frames 20, 25 must go, then append continues
    _write(path, _frames(3, start=4), resume_step=15)
    traj = read_trajectory(path)
    assert np.array_equal(traj.step, [0, 5, 10, 15, 20, 25, 30])
    assert len(np.unique(traj.step)) == traj.n_frames
    with (
        pytest.raises(ValueError, match="not after"),
        TrajectoryWriter(path, NUMBERS, ATTRS, resume_step=100) as w,
    ):
        w.append(**_frames(1)[0])  # step 0 again: never a duplicate frame


def test_resume_with_other_run_is_refused(tmp_path):
    path = tmp_path / "t.h5"
    _write(path, _frames(2))
    with pytest.raises(InputError, match="target_temperature_K"):
        TrajectoryWriter(path, NUMBERS, {**ATTRS, "target_temperature_K": 900.0}, resume_step=0)
    with pytest.raises(InputError, match="different atoms"):
        TrajectoryWriter(path, np.array([3, 3, 3, 12]), ATTRS, resume_step=0)


def test_reader_errors(tmp_path):
    with pytest.raises(InputError, match="not found"):
        read_trajectory(tmp_path / "missing.h5")
    (tmp_path / "text.h5").write_text("hello")
    with pytest.raises(InputError, match="not an HDF5"):
        read_trajectory(tmp_path / "text.h5")
    with h5py.File(tmp_path / "other.h5", "w") as h5:
        h5.attrs["format"] = "something-else"
    with pytest.raises(InputError, match="format"):
        read_trajectory(tmp_path / "other.h5")


def test_sha256_and_xdatcar_export(tmp_path):
    from ase.io import read

    path = tmp_path / "t.h5"
    _write(path, _frames(3))
    digest = file_sha256(path)
    assert len(digest) == 64 and digest == file_sha256(path)
    traj = read_trajectory(path)
    out = export_xdatcar(traj, tmp_path / "XDATCAR")
    frames = read(out, index=":", format="vasp-xdatcar")
    assert len(frames) == 3
    assert frames[0].get_chemical_symbols() == ["Li", "Li", "Li", "Sb"]
    # XDATCAR holds wrapped positions: equal to ours modulo the cell
    assert np.allclose(frames[2].positions, traj.wrapped_positions()[2], atol=1e-6)
    assert np.allclose(frames[0].cell.array, CELL)


def test_xdatcar_export_reads_with_pymatgen(tmp_path):
    from pymatgen.io.vasp.outputs import Xdatcar

    path = tmp_path / "t.h5"
    _write(path, _frames(4))
    xd = Xdatcar(export_xdatcar(read_trajectory(path), tmp_path / "XDATCAR"))
    assert len(xd.structures) == 4
    assert xd.structures[0].composition.reduced_formula == "Li3Sb"
