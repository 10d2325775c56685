"""NVT molecular dynamics: one runner (:mod:`workflows.md.runner`) and its back ends.

* :func:`run_nvt` — one system with an ASE calculator (:class:`AseBackend`, a batch of one);
* :func:`run_nvt_batched` — many systems, one torch-sim model call per step
  (:class:`TorchSimBackend`);
* :func:`run_md` — a potential spec and the batched/sequential choice (the only place it is made);
* :class:`workflows.md.maker.MDMaker` — the jobflow Maker (imported from its module: jobflow is
  not needed to run MD).

The back-end protocol is in :mod:`workflows.md.backend`; guards and the ``run_is_physical`` rule
in :mod:`workflows.md.guards`; results, protocol checks and checkpoint files in
:mod:`workflows.md.contract`.
"""

from workflows.md.api import run_md, run_nvt, run_nvt_batched, run_with_backend
from workflows.md.ase_backend import AseBackend
from workflows.md.contract import (
    CHECKPOINT_EVERY_S,
    MDInterrupted,
    MDResult,
    default_checkpoint_path,
)
from workflows.md.guards import StabilityGuards, run_is_physical
from workflows.md.torchsim_backend import (
    TorchSimBackend,
    fs_to_torchsim_time,
    kelvin_to_torchsim_kT,
)

__all__ = [
    "CHECKPOINT_EVERY_S",
    "AseBackend",
    "MDInterrupted",
    "MDResult",
    "StabilityGuards",
    "TorchSimBackend",
    "default_checkpoint_path",
    "fs_to_torchsim_time",
    "kelvin_to_torchsim_kT",
    "run_is_physical",
    "run_md",
    "run_nvt",
    "run_nvt_batched",
    "run_with_backend",
]
