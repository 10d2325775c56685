"""MD trajectory files, format ``ilscreen-traj/1`` (HDF5 via h5py; engine-free).

Every MD engine in ``workflows`` (ASE, torch-sim) writes this format and every analysis in
``screening`` reads it with :func:`read_trajectory`; trajectories live in files, never inside
database documents, and are referenced by path + :func:`screening.hashing.file_sha256`.

Layout (one file = one system at one temperature, production frames only)::

    attrs   format="ilscreen-traj/1", timestep_fs (MD step, float), stride (MD steps between
            frames, int), target_temperature_K, thermostat, seed, potential (spec string),
            candidate_id, units="positions Å, time fs, energy eV, T K", plus engine extras
            (engine, equilibration_steps, production_steps, ...)
    numbers             (n_atoms,)            int   atomic numbers
    positions           (n_frames, n_atoms, 3) f8   UNWRAPPED Cartesian positions, Å
    cell                (n_frames, 3, 3)      f8   Å (rows are lattice vectors)
    step                (n_frames,)           i8   MD step counter (continuous from the start of
                                                    equilibration; production starts at
                                                    ``attrs["equilibration_steps"]``)
    time_fs             (n_frames,)           f8   step * timestep_fs
    temperature_K       (n_frames,)           f8   instantaneous kinetic temperature
    potential_energy_eV (n_frames,)           f8
    kinetic_energy_eV   (n_frames,)           f8
    conserved_eV        (n_frames,)           f8   thermostat-extended conserved energy where the
                                                    thermostat has one (Nosé–Hoover chain), else
                                                    the total energy (Langevin)

All per-frame datasets are chunked and resizable along axis 0. :class:`TrajectoryWriter` appends
frames (buffered; the file is open only while a flush writes them, so a killed run leaves a
readable file); opening an existing file with ``resume_step=s`` first truncates it to the frames
with ``step <= s`` (the checkpoint's step), so a resumed run never duplicates frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import h5py
import numpy as np

from screening.atomic import atomic_path
from screening.errors import InputError

FORMAT = "ilscreen-traj/1"
UNITS = "positions Å, time fs, energy eV, T K"
REQUIRED_ATTRS = (
    "timestep_fs",
    "stride",
    "target_temperature_K",
    "thermostat",
    "seed",
    "potential",
    "candidate_id",
)
#: per-frame datasets and their trailing shape (n_atoms filled in at creation) and dtype
_SCALAR_FRAME_SETS = (
    "time_fs",
    "temperature_K",
    "potential_energy_eV",
    "kinetic_energy_eV",
    "conserved_eV",
)
FRAME_DATASETS = ("positions", "cell", "step", *_SCALAR_FRAME_SETS)


@dataclass(frozen=True)
class Trajectory:
    """An MD trajectory read from an ``ilscreen-traj/1`` file (arrays are in memory)."""

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    time_fs: np.ndarray
    step: np.ndarray
    temperature_K: np.ndarray
    potential_energy_eV: np.ndarray
    kinetic_energy_eV: np.ndarray
    conserved_eV: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None

    @property
    def n_frames(self) -> int:
        return int(self.positions.shape[0])

    @property
    def n_atoms(self) -> int:
        return int(self.numbers.shape[0])

    @property
    def timestep_between_frames_fs(self) -> float:
        """Time between consecutive frames in fs (MD timestep × stride)."""
        return float(self.attrs["timestep_fs"]) * int(self.attrs["stride"])

    def species_mask(self, symbol: str) -> np.ndarray:
        """Boolean mask (n_atoms,) selecting atoms of element ``symbol`` (e.g. ``"Li"``)."""
        from ase.data import atomic_numbers

        if symbol not in atomic_numbers:
            raise InputError(
                f"unknown element symbol {symbol!r}", field="species", allowed="element symbols"
            )
        return self.numbers == atomic_numbers[symbol]

    def wrapped_positions(self) -> np.ndarray:
        """Positions wrapped into each frame's cell (for file export / visualisation)."""
        frac = np.einsum("fij,fjk->fik", self.positions, np.linalg.inv(self.cell))
        frac -= np.floor(frac)
        return np.einsum("fij,fjk->fik", frac, self.cell)


def _attr_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.generic):
        return value.item()
    return value


def read_trajectory(path: str | Path) -> Trajectory:
    """Read an ``ilscreen-traj/1`` file; raises InputError for a missing or foreign file."""
    path = Path(path)
    if not path.is_file():
        raise InputError("trajectory file not found", file=path)
    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise InputError(f"not an HDF5 file ({exc})", file=path) from exc
    with handle:
        attrs = {k: _attr_value(v) for k, v in handle.attrs.items()}
        if attrs.get("format") != FORMAT:
            raise InputError(
                f"unsupported trajectory format {attrs.get('format')!r}",
                file=path,
                field="format",
                allowed=[FORMAT],
            )
        missing = [k for k in ("numbers", *FRAME_DATASETS) if k not in handle]
        if missing:
            raise InputError(f"missing datasets {missing}", file=path)
        data = {k: handle[k][()] for k in ("numbers", *FRAME_DATASETS)}
    n = data["positions"].shape[0]
    if any(data[k].shape[0] != n for k in FRAME_DATASETS):
        raise InputError("per-frame datasets have different lengths (corrupt file)", file=path)
    return Trajectory(
        numbers=data["numbers"].astype(int),
        positions=data["positions"],
        cell=data["cell"],
        time_fs=data["time_fs"],
        step=data["step"].astype(np.int64),
        temperature_K=data["temperature_K"],
        potential_energy_eV=data["potential_energy_eV"],
        kinetic_energy_eV=data["kinetic_energy_eV"],
        conserved_eV=data["conserved_eV"],
        attrs=attrs,
        path=path,
    )


class TrajectoryWriter:
    """Append frames to an ``ilscreen-traj/1`` file.

    ``resume_step=None`` creates a fresh file (an existing one is replaced). ``resume_step=s``
    re-opens an existing file and truncates it to the frames with ``step <= s``; the file's
    attributes must match ``attrs`` (same run), else InputError.

    Frames are buffered in memory and written by :meth:`flush` (the engines flush right before
    each checkpoint), which opens the file, appends, and closes it again: between flushes the
    HDF5 file is closed, so a process killed at any moment (even SIGKILL) leaves a readable file.
    """

    def __init__(
        self,
        path: str | Path,
        numbers: np.ndarray,
        attrs: dict[str, Any],
        *,
        resume_step: int | None = None,
    ) -> None:
        self.path = Path(path)
        numbers = np.asarray(numbers, dtype=np.int64)
        missing = [k for k in REQUIRED_ATTRS if k not in attrs]
        if missing:
            raise ValueError(f"trajectory attrs missing {missing}")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._buffer: list[dict[str, Any]] = []
        self._pending_attrs: dict[str, Any] = {}
        if resume_step is None or not self.path.exists():
            self._create(numbers, attrs)
        else:
            with h5py.File(self.path, "r+") as h5:
                self._check_same_run(h5, numbers, attrs)
                self._truncate(h5, resume_step)
        with h5py.File(self.path, "r") as h5:
            self._n_disk = int(h5["step"].shape[0])
            self._last_step = int(h5["step"][-1]) if self._n_disk else None

    def _create(self, numbers: np.ndarray, attrs: dict[str, Any]) -> None:
        # Build the empty file under a temporary name, then rename: never a half-made file.
        n_atoms = len(numbers)
        with atomic_path(self.path) as tmp, h5py.File(tmp, "w") as h5:
            h5.attrs["format"] = FORMAT
            h5.attrs["units"] = UNITS
            for key, value in attrs.items():
                h5.attrs[key] = value
            h5.create_dataset("numbers", data=numbers)
            chunk = max(1, min(64, 1_000_000 // max(1, 24 * n_atoms)))  # ≲1 MB chunks
            h5.create_dataset(
                "positions",
                shape=(0, n_atoms, 3),
                maxshape=(None, n_atoms, 3),
                dtype="f8",
                chunks=(chunk, n_atoms, 3),
            )
            h5.create_dataset(
                "cell", shape=(0, 3, 3), maxshape=(None, 3, 3), dtype="f8", chunks=(256, 3, 3)
            )
            h5.create_dataset("step", shape=(0,), maxshape=(None,), dtype="i8", chunks=(1024,))
            for name in _SCALAR_FRAME_SETS:
                h5.create_dataset(name, shape=(0,), maxshape=(None,), dtype="f8", chunks=(1024,))

    def _check_same_run(self, h5: h5py.File, numbers: np.ndarray, attrs: dict[str, Any]) -> None:
        if h5.attrs.get("format") != FORMAT:
            raise InputError("cannot resume: not an ilscreen-traj/1 file", file=self.path)
        if not np.array_equal(h5["numbers"][()], numbers):
            raise InputError("cannot resume: different atoms in trajectory", file=self.path)
        for key in REQUIRED_ATTRS:
            old, new = _attr_value(h5.attrs.get(key)), attrs[key]
            if old is None or (
                float(old) != float(new) if isinstance(new, float | int) else old != new
            ):
                raise InputError(
                    f"cannot resume: trajectory has {key}={old!r}, run asks for {new!r}",
                    file=self.path,
                    field=key,
                )
        # Extra attributes (status, stop reasons, ...) may be updated by the engine.
        for key, value in attrs.items():
            h5.attrs[key] = value

    @staticmethod
    def _truncate(h5: h5py.File, step: int) -> None:
        steps = h5["step"][()]
        keep = int(np.searchsorted(steps, step, side="right"))
        if keep < len(steps):
            for name in FRAME_DATASETS:
                h5[name].resize(keep, axis=0)

    @property
    def n_frames(self) -> int:
        """Frames written so far (on disk + buffered)."""
        return self._n_disk + len(self._buffer)

    def append(
        self,
        *,
        positions: np.ndarray,
        cell: np.ndarray,
        step: int,
        time_fs: float,
        temperature_K: float,
        potential_energy_eV: float,
        kinetic_energy_eV: float,
        conserved_eV: float,
    ) -> None:
        """Buffer one frame (positions must be unwrapped, Å); steps must increase."""
        if self._last_step is not None and step <= self._last_step:
            raise ValueError(f"frame step {step} not after last step {self._last_step}")
        self._last_step = int(step)
        self._buffer.append(
            {
                "positions": np.array(positions, dtype=np.float64),
                "cell": np.array(cell, dtype=np.float64),
                "step": int(step),
                "time_fs": float(time_fs),
                "temperature_K": float(temperature_K),
                "potential_energy_eV": float(potential_energy_eV),
                "kinetic_energy_eV": float(kinetic_energy_eV),
                "conserved_eV": float(conserved_eV),
            }
        )

    def set_attrs(self, **attrs: Any) -> None:
        """Record run metadata (e.g. ``status``, ``unstable_reason``); written on flush."""
        self._pending_attrs.update(attrs)

    def flush(self) -> None:
        """Append the buffered frames and attributes to the file, then close it again."""
        if not self._buffer and not self._pending_attrs:
            return
        with h5py.File(self.path, "r+") as h5:
            if self._buffer:
                n, k = self._n_disk, len(self._buffer)
                for name in FRAME_DATASETS:
                    h5[name].resize(n + k, axis=0)
                    h5[name][n : n + k] = np.stack([f[name] for f in self._buffer])
            for key, value in self._pending_attrs.items():
                h5.attrs[key] = value
        self._n_disk += len(self._buffer)
        self._buffer.clear()
        self._pending_attrs.clear()

    def close(self) -> None:
        self.flush()

    def __enter__(self) -> TrajectoryWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def to_ase_frames(traj: Trajectory, *, wrap: bool = True) -> list[Any]:
    """The frames as ``ase.Atoms`` (periodic, wrapped by default) with positions in Å."""
    from ase import Atoms

    positions = traj.wrapped_positions() if wrap else traj.positions
    return [
        Atoms(numbers=traj.numbers, positions=positions[i], cell=traj.cell[i], pbc=True)
        for i in range(traj.n_frames)
    ]


def export_xdatcar(traj: Trajectory, path: str | Path) -> Path:
    """Write the trajectory as a VASP XDATCAR (wrapped fractional positions) via ASE.

    The XDATCAR carries no timestep: readers must take it from ``traj.timestep_between_frames_fs``
    (VASP's POTIM × NBLOCK equivalent).
    """
    from ase.io import write

    path = Path(path)
    with atomic_path(path) as tmp:
        write(tmp, to_ase_frames(traj, wrap=True), format="vasp-xdatcar")
    return path


__all__ = [
    "FORMAT",
    "UNITS",
    "Trajectory",
    "TrajectoryWriter",
    "export_xdatcar",
    "read_trajectory",
    "to_ase_frames",
]
