"""Trajectory files → unwrapped arrays for the diffusion analysis, the format told by content.

ilscreen HDF5 (magic bytes), vasprun.xml (XML root ``<modeling>``) and XDATCAR (VASP header: a
scale line, three lattice rows, element and count lines, ``Direct configuration``), each also
gzip-compressed, under any file name. pymatgen parses the VASP files.
"""

from __future__ import annotations

import gzip
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict

from screening.errors import InputError
from screening.hashing import file_sha256

Format = Literal["ilscreen-h5", "xdatcar", "vasprun"]
FORMATS = ["ilscreen HDF5 (ilscreen-traj/1)", "vasprun.xml", "XDATCAR", "each optionally gzipped"]
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_GZIP_MAGIC = b"\x1f\x8b"


class TrajectorySource(BaseModel):
    """Which file a result came from (content hash: a result traces back to its exact input)."""

    model_config = ConfigDict(frozen=True)

    path: str
    sha256: str
    format: Format


@dataclass(frozen=True)
class LoadedTrajectory:
    """Arrays needed by :func:`screening.diffusion.analyze_diffusion`, read from a file."""

    numbers: np.ndarray
    positions: np.ndarray  # (n_frames, n_atoms, 3) unwrapped Å
    cell: np.ndarray  # (n_frames, 3, 3)
    time_fs: np.ndarray
    temperature_K: float | None
    source: TrajectorySource


def _head(path: Path, n: int = 4096) -> tuple[bytes, bool]:
    """The first ``n`` bytes of the (decompressed) file and whether it is gzipped."""
    with path.open("rb") as fh:
        raw = fh.read(n)
    if raw.startswith(_GZIP_MAGIC):
        try:
            with gzip.open(path, "rb") as fh:
                return fh.read(n), True
        except (OSError, EOFError) as exc:
            raise InputError(f"corrupt gzip file: {exc}", file=path) from None
    return raw, False


def _looks_like_xdatcar(lines: list[str]) -> bool:
    try:
        float(lines[1].split()[0])
        rows = [[float(v) for v in lines[i].split()] for i in (2, 3, 4)]
    except (IndexError, ValueError):
        return False
    return all(len(r) == 3 for r in rows) and any("configuration" in ln for ln in lines[5:9])


def detect_format(path: str | Path) -> tuple[Format, bool]:
    """(format, gzipped) from the file's content; one clear error when it is none we read."""
    path = Path(path)
    if not path.is_file():
        raise InputError("file not found", file=path)
    head, gz = _head(path)
    if head.startswith(_HDF5_MAGIC):
        return "ilscreen-h5", gz
    text = head.decode("utf-8", errors="replace")
    stripped = text.lstrip()
    if stripped.startswith("<?xml") or stripped.startswith("<modeling"):
        if "<modeling" in text:
            return "vasprun", gz
    elif _looks_like_xdatcar(text.splitlines()):
        return "xdatcar", gz
    raise InputError(
        "not a trajectory format ilscreen reads (checked the file's content)",
        file=path,
        allowed=FORMATS,
    )


def unwrap_fractional(frac: np.ndarray, lattices: np.ndarray) -> np.ndarray:
    """Unwrapped Cartesian positions from wrapped fractional coordinates (n_frames, n_atoms, 3).

    Between consecutive frames each atom takes the shortest (minimum-image) fractional step, so an
    atom crossing a face keeps going instead of jumping back by a lattice vector. Valid while atoms
    move less than half a cell per frame (always true for MD output every few fs).
    """
    step = np.diff(frac, axis=0)
    step -= np.round(step)
    unwrapped = np.concatenate([frac[:1], frac[:1] + np.cumsum(step, axis=0)], axis=0)
    return np.einsum("tai,tij->taj", unwrapped, lattices)


def _pymatgen_path(path: Path, gz: bool, tmp: Path) -> str:
    """pymatgen picks decompression by file extension: give gzipped content a ``.gz`` name."""
    if gz and not path.name.lower().endswith(".gz"):
        target = tmp / "trajectory.gz"
        shutil.copyfile(path, target)
        return str(target)
    if not gz and path.name.lower().endswith((".gz", ".bz2", ".xz", ".lzma")):
        target = tmp / "trajectory"
        shutil.copyfile(path, target)
        return str(target)
    return str(path)


def load_vasp_trajectory(
    path: str | Path, timestep_fs: float | None = None, stride: int | None = None
) -> LoadedTrajectory:
    """Read an XDATCAR or vasprun.xml (pymatgen) and unwrap it.

    XDATCAR carries no time step: ``timestep_fs`` (POTIM) and ``stride`` (NBLOCK) are required.
    vasprun.xml: POTIM is read from the file unless given; every ionic step is stored (stride 1);
    the temperature is TEBEG when TEBEG == TEEND (NVT), else None.
    """
    path = Path(path)
    fmt, gz = detect_format(path)
    if fmt == "ilscreen-h5":
        raise InputError("an ilscreen HDF5 trajectory, not a VASP file", file=path)
    temperature = None
    with tempfile.TemporaryDirectory(prefix="ilscreen-traj-") as tmp:
        readable = _pymatgen_path(path, gz, Path(tmp))
        try:
            if fmt == "xdatcar":
                from pymatgen.io.vasp.outputs import Xdatcar

                if timestep_fs is None or stride is None:
                    raise InputError(
                        "an XDATCAR has no time information: "
                        "give --timestep (POTIM, fs) and --stride (NBLOCK)",
                        file=path,
                        field="timestep/stride",
                    )
                structures = Xdatcar(readable).structures
            else:
                from pymatgen.io.vasp.outputs import Vasprun

                vr = Vasprun(
                    readable, parse_dos=False, parse_eigen=False, parse_projected_eigen=False
                )
                structures = vr.structures
                if timestep_fs is None:
                    timestep_fs = vr.parameters.get("POTIM")
                    if timestep_fs is None:
                        raise InputError(
                            "no POTIM in vasprun; give --timestep", file=path, field="POTIM"
                        )
                stride = 1 if stride is None else stride
                tebeg, teend = vr.parameters.get("TEBEG"), vr.parameters.get("TEEND")
                if tebeg and (teend is None or teend < 0 or abs(teend - tebeg) < 1e-6):
                    temperature = float(tebeg)
        except InputError:
            raise
        except Exception as exc:  # pymatgen's parse errors on truncated or corrupt files
            raise InputError(
                f"cannot read this {fmt} (truncated or corrupt?): {type(exc).__name__}: {exc}",
                file=path,
            ) from None
    if not timestep_fs > 0 or stride < 1:
        raise InputError(
            f"timestep must be > 0 fs and stride ≥ 1, got {timestep_fs}, {stride}", file=path
        )
    if len(structures) < 2:
        raise InputError(f"only {len(structures)} frame(s)", file=path)
    numbers = np.array([site.specie.Z for site in structures[0]], dtype=int)
    frac = np.array([s.frac_coords for s in structures], dtype=np.float64)
    lattices = np.array([s.lattice.matrix for s in structures], dtype=np.float64)
    positions = unwrap_fractional(frac, lattices)
    time_fs = np.arange(len(structures)) * float(timestep_fs) * int(stride)
    return LoadedTrajectory(
        numbers=numbers,
        positions=positions,
        cell=lattices,
        time_fs=time_fs,
        temperature_K=temperature,
        source=TrajectorySource(path=str(path.resolve()), sha256=file_sha256(path), format=fmt),
    )


def load_trajectory_file(
    path: str | Path, *, timestep_fs: float | None = None, stride: int | None = None
) -> LoadedTrajectory:
    """Load an ilscreen HDF5 trajectory (time, temperature from the file) or a VASP one."""
    path = Path(path)
    fmt, _ = detect_format(path)
    if fmt != "ilscreen-h5":
        return load_vasp_trajectory(path, timestep_fs, stride)
    from screening.trajectory import read_trajectory

    traj = read_trajectory(path)
    target = traj.attrs.get("target_temperature_K")
    if target is None and len(traj.temperature_K):
        target = float(np.mean(traj.temperature_K))
    positions = np.asarray(traj.positions, dtype=np.float64)
    if not np.isfinite(positions).all():
        raise InputError("corrupt trajectory: non-finite positions", file=path)
    return LoadedTrajectory(
        numbers=np.asarray(traj.numbers, dtype=int),
        positions=positions,
        cell=np.asarray(traj.cell, dtype=np.float64),
        time_fs=np.asarray(traj.time_fs, dtype=np.float64),
        temperature_K=None if target is None else float(target),
        source=TrajectorySource(
            path=str(path.resolve()), sha256=file_sha256(path), format="ilscreen-h5"
        ),
    )


__all__ = [
    "FORMATS",
    "LoadedTrajectory",
    "TrajectorySource",
    "detect_format",
    "load_trajectory_file",
    "load_vasp_trajectory",
    "unwrap_fractional",
]
