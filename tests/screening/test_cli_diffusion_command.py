"""`ilscreen diffusion` on ilscreen HDF5 trajectories at three temperatures: JSON output, Arrhenius
fit over the runs, plots, and the clear error for files without time/temperature information."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from screening.cli import app
from screening.errors import InputError
from screening.trajectory import TrajectoryWriter
from screening.units import A2_PER_FS_TO_CM2_PER_S, KB_EV

D0, EA = 1e-2, 0.2  # cm²/s, eV: D(500 K) ≈ 1e-4, D(900 K) ≈ 7.6e-4 cm²/s
DT_FS, STRIDE, N_FRAMES = 2.0, 5, 1000


def _write(path, temperature: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    d_a2fs = D0 * np.exp(-EA / (KB_EV * temperature)) / A2_PER_FS_TO_CM2_PER_S
    frame_dt = DT_FS * STRIDE
    n_li, n_host = 24, 8
    li = rng.uniform(0, 10, (1, n_li, 3)) + np.cumsum(
        rng.normal(scale=np.sqrt(2 * d_a2fs * frame_dt), size=(N_FRAMES, n_li, 3)), axis=0
    )
    host = rng.uniform(0, 10, (1, n_host, 3)) + rng.normal(scale=0.1, size=(N_FRAMES, n_host, 3))
    pos = np.concatenate([li, host], axis=1)
    attrs = {
        "timestep_fs": DT_FS,
        "stride": STRIDE,
        "target_temperature_K": temperature,
        "thermostat": "langevin",
        "seed": seed,
        "potential": "synthetic",
        "candidate_id": "test-LiSb",
    }
    frames = {
        "positions": pos,
        "cell": np.broadcast_to(np.eye(3) * 10.0, (N_FRAMES, 3, 3)),
        "step": np.arange(N_FRAMES) * STRIDE,
        "time_fs": np.arange(N_FRAMES) * frame_dt,
        "temperature_K": np.full(N_FRAMES, temperature),
        "potential_energy_eV": np.zeros(N_FRAMES),
        "kinetic_energy_eV": np.zeros(N_FRAMES),
        "conserved_eV": np.zeros(N_FRAMES),
    }
    with TrajectoryWriter(path, np.array([3] * n_li + [51] * n_host), attrs) as w:
        w.append(**{k: v[0] for k, v in frames.items()})
    # the writer appends frame by frame (~ms each); fill the remaining frames of the same
    # ilscreen-traj/1 datasets in one go to keep the test fast
    with h5py.File(path, "r+") as h5:
        for name, values in frames.items():
            h5[name].resize(N_FRAMES, axis=0)
            h5[name][1:] = values[1:]


@pytest.fixture(scope="module")
def trajectories(tmp_path_factory):
    d = tmp_path_factory.mktemp("md")
    paths = []
    for seed, t in enumerate((500.0, 700.0, 900.0)):
        p = d / f"LiSb_{int(t)}K.h5"
        _write(p, t, seed)
        paths.append(p)
    return paths


def test_json_output_with_arrhenius_and_plots(trajectories, tmp_path):
    args = ["diffusion", *map(str, trajectories), "--format", "json", "--plot", str(tmp_path)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    results = payload["results"]
    assert [r["temperature_K"] for r in results] == [500.0, 700.0, 900.0]
    for r in results:
        d_true = D0 * np.exp(-EA / (KB_EV * r["temperature_K"]))
        assert abs(r["D_cm2_s"] - d_true) < 4 * r["D_sigma_cm2_s"]
        assert r["frame_interval_fs"] == DT_FS * STRIDE
        assert r["converged"] and r["source"]["format"] == "ilscreen-h5"
        assert len(r["source"]["sha256"]) == 64
    arr = payload["arrhenius"]
    assert abs(arr["Ea_eV"] - EA) < 4 * arr["Ea_sigma_eV"]
    assert [e["temperature_K"] for e in arr["extrapolations"]] == [298.0, 348.0]
    assert all(e["extrapolated"] for e in arr["extrapolations"])
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["diffusion_arrhenius.png", "diffusion_msd.png"]
    assert all((tmp_path / n).stat().st_size > 10_000 for n in pngs)


def test_table_output_and_user_window(trajectories):
    result = CliRunner().invoke(app, ["diffusion", str(trajectories[0]), "--window", "1:5"])
    assert result.exit_code == 0, result.output
    assert "(user)" in result.output and "1.0–5.0" in result.output
    assert "Haven ratio assumed 1" in result.output


def test_xdatcar_without_temperature_is_an_input_error(tmp_path):
    path = tmp_path / "XDATCAR"
    # a VASP header only: the temperature is asked for before the frames are parsed
    path.write_text(
        "Li2\n1.0\n4 0 0\n0 4 0\n0 0 4\nLi\n2\nDirect configuration=     1\n"
        "0 0 0\n0.5 0.5 0.5\n"
    )
    result = CliRunner().invoke(app, ["diffusion", str(path), "--timestep", "2", "--stride", "5"])
    assert isinstance(result.exception, InputError)
    assert "--temperature" in str(result.exception)
