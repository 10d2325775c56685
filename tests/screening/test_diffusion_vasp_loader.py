"""VASP path: an XDATCAR (written by ASE, wrapped coordinates crossing the cell faces) is unwrapped
by the loader and gives the same D as the original arrays."""

from __future__ import annotations

import ase.io
import numpy as np
import pytest
from ase import Atoms

from screening.diffusion import analyze_diffusion
from screening.diffusion_files import analyze_file
from screening.errors import InputError
from screening.trajectory_files import load_vasp_trajectory
from screening.units import A2_PER_FS_TO_CM2_PER_S

BOX = 8.0


def _trajectory(n_frames: int = 600, seed: int = 0):
    rng = np.random.default_rng(seed)
    d_a2fs = 3e-4 / A2_PER_FS_TO_CM2_PER_S  # fast: atoms cross the 8 Å cell faces
    dt = 5.0
    li = rng.uniform(0, BOX, (1, 12, 3)) + np.cumsum(
        rng.normal(scale=np.sqrt(2 * d_a2fs * dt), size=(n_frames, 12, 3)), axis=0
    )
    host = rng.uniform(0, BOX, (1, 4, 3)) + rng.normal(scale=0.08, size=(n_frames, 4, 3))
    return np.concatenate([li, host], axis=1), dt


@pytest.fixture(scope="module")
def xdatcar(tmp_path_factory):
    pos, dt = _trajectory()
    images = []
    for p in pos:
        atoms = Atoms("Li12Sb4", positions=p, cell=np.eye(3) * BOX, pbc=True)
        atoms.wrap()
        images.append(atoms)
    path = tmp_path_factory.mktemp("vasp") / "XDATCAR"
    ase.io.write(path, images, format="vasp-xdatcar")
    return path, pos, dt


def test_loader_unwraps_boundary_crossings(xdatcar):
    path, pos, dt = xdatcar
    # atoms leave the cell, so the file's wrapped coordinates jump by a lattice vector
    assert ((pos[:, :12] < 0) | (pos[:, :12] >= BOX)).any(axis=(0, 2)).sum() >= 6
    traj = load_vasp_trajectory(path, timestep_fs=dt / 2, stride=2)
    np.testing.assert_allclose(traj.time_fs[:3], [0.0, dt, 2 * dt])
    np.testing.assert_allclose(traj.positions - traj.positions[0], pos - pos[0], atol=1e-5)
    assert list(traj.numbers) == [3] * 12 + [51] * 4
    assert traj.source.format == "xdatcar" and len(traj.source.sha256) == 64


def test_same_D_from_file_and_arrays(xdatcar):
    path, pos, dt = xdatcar
    numbers = np.array([3] * 12 + [51] * 4)
    ref = analyze_diffusion(pos, np.arange(len(pos)) * dt, numbers, np.eye(3) * BOX, 700.0)
    res = analyze_file(path, timestep_fs=dt, stride=1, temperature_K=700.0)
    assert res.D_cm2_s == pytest.approx(ref.D_cm2_s, rel=1e-5)
    assert res.volume_A3 == pytest.approx(BOX**3)
    assert res.source is not None and res.source.path.endswith("XDATCAR")


def test_xdatcar_needs_timestep_and_temperature(xdatcar):
    path, _, _ = xdatcar
    with pytest.raises(InputError, match="timestep"):
        load_vasp_trajectory(path)
    with pytest.raises(InputError, match="temperature"):  # refused before parsing the file
        analyze_file(path, timestep_fs=5.0, stride=1)


def test_format_told_by_content_under_any_name_and_gzipped(xdatcar, tmp_path):
    """An XDATCAR called run.dat, and the same gzipped as traj (no extension), read the same."""
    import gzip
    import shutil

    from screening.trajectory_files import detect_format

    path, _, dt = xdatcar
    plain = tmp_path / "run.dat"
    shutil.copyfile(path, plain)
    packed = tmp_path / "traj"
    with open(path, "rb") as src, gzip.open(packed, "wb") as dst:
        shutil.copyfileobj(src, dst)
    assert detect_format(plain) == ("xdatcar", False)
    assert detect_format(packed) == ("xdatcar", True)
    ref = load_vasp_trajectory(path, timestep_fs=dt, stride=1)
    for other in (plain, packed):
        got = load_vasp_trajectory(other, timestep_fs=dt, stride=1)
        np.testing.assert_allclose(got.positions, ref.positions)
    # a vasprun by its XML root, whatever its name; the XDATCAR message names what is missing
    xml = tmp_path / "md_output.txt"
    xml.write_text('<?xml version="1.0" encoding="ISO-8859-1"?>\n<modeling>\n</modeling>\n')
    assert detect_format(xml) == ("vasprun", False)
    with pytest.raises(InputError, match="XDATCAR does not record the temperature"):
        analyze_file(plain, timestep_fs=dt, stride=1)


def test_unreadable_files_get_one_clear_error(xdatcar, tmp_path):
    path, _, dt = xdatcar
    junk = tmp_path / "notes.txt"
    junk.write_text("hello\n")
    with pytest.raises(InputError, match="not a trajectory format") as err:
        analyze_file(junk, temperature_K=600.0)
    assert "XDATCAR" in str(err.value) and "vasprun" in str(err.value)
    lines = path.read_text().splitlines()
    truncated = tmp_path / "XDATCAR_cut"
    truncated.write_text("\n".join(lines[: len(lines) // 2 - 3]) + "\n0.1 0.2\n")
    with pytest.raises(InputError, match=r"truncated or corrupt|frame"):
        analyze_file(truncated, timestep_fs=dt, stride=1, temperature_K=600.0)
    with pytest.raises(InputError, match="not found"):
        analyze_file(tmp_path / "missing", temperature_K=600.0)
