"""The model families behind :mod:`potentials.registry`, one class each (see :class:`Family`).

A family knows how to parse the argument of its spec (``scheme:argument``), which elements and
dtype its model file declares, its licence, which dtypes it runs in, and how to build an ASE
calculator and a torch-sim model. The registry adds what all families share: the trust gate before
any file is unpickled, the cache of loaded potentials, and the cache of file facts. A new family is
a new class here plus its line in :data:`FAMILIES`.

Model files are code (pickles). A family's ``facts``, ``calculator`` and ``torchsim_model`` may
unpickle ``ps.path``; the registry calls them only after :func:`potentials.trust.require_trusted`
accepted it (for families whose ``pickled`` is true).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from potentials.family import (
    Family,
    NotOffline,
    PotentialSpec,
    dist_license,
    quiet,
    symbols,
)
from screening.errors import InputError

__all__ = ["FAMILIES", "Family", "NotOffline", "PotentialSpec", "quiet", "shipped_models"]


def _import_mace() -> None:
    """Import mace once, quietly (its import prints a cuequivariance notice), weights-only kept."""
    from potentials.torch_compat import import_mace

    with quiet():
        import_mace()


def shipped_models(models_dir: Path) -> dict[str, Path]:
    """Shipped MACE models by name (``<models_dir>/<name>.model``)."""
    if not models_dir.is_dir():
        return {}
    return {p.stem: p for p in sorted(models_dir.glob("*.model"))}


def _load_mace_module(path: Path, device: str) -> Any:
    """Unpickle a MACE model file. Model files are code: only trusted files must be loaded."""
    _import_mace()  # the pickle references mace.modules classes
    import torch

    try:
        module = torch.load(path, weights_only=False, map_location=device)
    except Exception as exc:  # corrupt file, not a torch file, missing class
        raise InputError(
            f"could not load MACE model ({exc})", file=path, field="potential"
        ) from exc
    if not isinstance(module, torch.nn.Module) or not hasattr(module, "atomic_numbers"):
        raise InputError(
            "file is not a MACE model (expected a pickled torch.nn.Module with atomic_numbers)",
            file=path,
            field="potential",
        )
    return module


def _mace_mp_names() -> list[str]:
    _import_mace()
    from mace.calculators.foundations_models import mace_mp_names

    return [n for n in mace_mp_names if n is not None]


class _MaceModels(Family):
    """What MACE files and MACE-MP weights share: the module, its dtypes, calculator and model."""

    def _model_file(self, ps: PotentialSpec) -> Path:
        raise NotImplementedError

    def facts(self, path: Path) -> tuple[tuple[str, ...], str]:
        module = _load_mace_module(path, "cpu")
        dtype = str(next(module.parameters()).dtype).removeprefix("torch.")
        return tuple(symbols(module.atomic_numbers.tolist())), dtype

    def effective_dtype(self, dtype: str) -> str:
        return dtype

    def calculator(self, ps: PotentialSpec, device: str, dtype: str) -> Any:
        _import_mace()
        from mace.calculators import MACECalculator

        module = _load_mace_module(self._model_file(ps), device)
        return MACECalculator(models=module, device=device, default_dtype=dtype)

    def torchsim_model(self, ps: PotentialSpec, device: str, dtype: str) -> Any:
        _import_mace()
        import torch
        from torch_sim.models.mace import MaceModel

        module = _load_mace_module(self._model_file(ps), device)
        return MaceModel(module, device=torch.device(device), dtype=getattr(torch, dtype))


class Mace(_MaceModels):
    """``mace:<path>`` or ``mace:<shipped name>`` (``potentials/models/<name>.model``)."""

    scheme = "mace"
    help = "mace:<path or shipped name>"
    default_dtype = "float64"

    def parse(self, arg: str, spec: str, models_dir: Path) -> PotentialSpec:
        shipped = shipped_models(models_dir)
        if not arg:
            raise InputError(
                "'mace:' needs a model file path or a shipped model name",
                field="potential",
                allowed=[f"mace:{n}" for n in shipped] or "mace:<path to .model file>",
            )
        if arg in shipped:
            return PotentialSpec(self.scheme, arg, shipped[arg])
        path = Path(arg).expanduser()
        if path.is_file():
            path = path.resolve()
            # a shipped model named by its path keeps its short canonical name
            name = path.stem if path.parent == models_dir else str(path)
            return PotentialSpec(self.scheme, name, path)
        hint = ""
        if "/" not in arg and not arg.endswith(".model"):
            try:
                if arg in _mace_mp_names():
                    hint = f"; for the MACE-MP foundation model use 'mace-mp:{arg}'"
            except ImportError:  # mace missing: the generic message is enough
                pass
        raise InputError(
            f"MACE model file not found: '{arg}' (from '{spec}'){hint}",
            file=path,
            field="potential",
            allowed=[f"mace:{n}" for n in shipped] + ["mace:<existing .model file>"],
        )

    def card(self, ps: PotentialSpec) -> dict[str, Any] | None:
        from potentials.cards import load_card

        return load_card(ps.path) if ps.path is not None else None

    def offline_specs(self, models_dir: Path) -> list[str]:
        return [f"mace:{n}" for n in shipped_models(models_dir)]

    def listed(self, models_dir: Path) -> list[str]:
        return self.offline_specs(models_dir)

    def _model_file(self, ps: PotentialSpec) -> Path:
        assert ps.path is not None
        return ps.path


# Licences of MACE-MP weights (their files carry no card). Sources: mace-torch ``mace_mp`` docstring
# and https://github.com/ACEsuit/mace-foundations (MACE-MP-0 MIT; mpa/omat/matpes weights ASL).
_MACE_MP_ASL = ("medium-mpa-0", "small-omat-0", "medium-omat-0", "mace-matpes")


class MaceMp(_MaceModels):
    """``mace-mp:<size>``: MACE-MP foundation models through mace-torch's own loader and cache."""

    scheme = "mace-mp"
    help = "mace-mp:<small|medium|large|...>"
    shown = ("mace-mp:small", "mace-mp:medium", "mace-mp:medium-mpa-0")

    def parse(self, arg: str, spec: str, models_dir: Path) -> PotentialSpec:
        name = arg or "medium-mpa-0"
        names = _mace_mp_names()
        if name not in names:
            raise InputError(
                f"unknown MACE-MP foundation model '{name}'", field="potential", allowed=names
            )
        return PotentialSpec(self.scheme, name, self._cached_path(name))

    @staticmethod
    def _cached_path(name: str) -> Path | None:
        """mace's cache file for a model (named exactly as mace names it); None if absent."""
        _import_mace()
        from mace.calculators.foundations_models import mace_mp_urls
        from mace.tools.utils import get_cache_dir

        url = mace_mp_urls[name]
        fname = "".join(c for c in os.path.basename(url) if c.isalnum() or c in "_")
        path = Path(get_cache_dir()) / fname
        return path if path.is_file() else None

    def license(self, ps: PotentialSpec) -> str | None:
        return "ASL (see mace-foundations)" if ps.name.startswith(_MACE_MP_ASL) else "MIT"

    def note(self, ps: PotentialSpec) -> str | None:
        if ps.path is None:
            return "weights not in mace's local cache; downloaded on first use (needs network)"
        return None

    def _model_file(self, ps: PotentialSpec) -> Path:
        """mace's cache if present, else mace's own download."""
        if ps.path is not None:
            return ps.path
        _import_mace()
        from mace.calculators.foundations_models import download_mace_mp_checkpoint

        try:
            with quiet():
                return Path(download_mace_mp_checkpoint(ps.name))
        except Exception as exc:  # URLError offline, HTTP errors, disk full
            raise NotOffline(
                f"could not fetch MACE-MP weights '{ps.name}' ({exc}); mace caches them in "
                "~/.cache/mace once downloaded"
            ) from exc


# SevenNet checkpoints shipped inside the sevenn wheel (names accepted by sevenn's own resolver).
SEVENNET_SHIPPED = ("7net-0", "7net-0_22May2024", "7net-l3i5")


class SevenNet(Family):
    """``sevennet:<name or path>``; ``7net-0`` (SevenNet-0) ships with sevenn. float32 only."""

    scheme = "sevennet"
    help = "sevennet:<7net-0 or path>"
    offline = shown = ("sevennet:7net-0",)

    def parse(self, arg: str, spec: str, models_dir: Path) -> PotentialSpec:
        arg = arg or "7net-0"
        path = Path(arg).expanduser()
        if path.is_file():
            return PotentialSpec(self.scheme, str(path.resolve()), path.resolve())
        from potentials.torch_compat import allow_e3nn_constants

        allow_e3nn_constants()
        from sevenn.util import pretrained_name_to_path

        try:
            checkpoint = Path(pretrained_name_to_path(arg))
        except ValueError:
            raise InputError(
                f"unknown SevenNet model '{arg}' (neither a shipped name nor an existing "
                "checkpoint)",
                field="potential",
                allowed=[f"sevennet:{n}" for n in SEVENNET_SHIPPED]
                + ["sevennet:<checkpoint path>"],
            ) from None
        if not checkpoint.is_file():
            raise InputError(
                f"SevenNet checkpoint for '{arg}' is missing from the sevenn installation",
                file=checkpoint,
                field="potential",
            )
        # Canonical name: the shipped alias, so '7net-0' and 'SevenNet-0' share one cache entry.
        name = "7net-0" if arg.lower() in {"7net-0", "sevennet-0"} else arg
        return PotentialSpec(self.scheme, name, checkpoint)

    def facts(self, path: Path) -> tuple[tuple[str, ...], str]:
        import torch

        # a sevenn checkpoint is a pickled dict (config + state dict)
        config = torch.load(path, map_location="cpu", weights_only=False)["config"]
        type_map = config.get("_type_map") or {}
        if type_map:
            return tuple(symbols(type_map.keys())), "float32"
        from ase.data import atomic_numbers

        return tuple(symbols(atomic_numbers[s] for s in config["chemical_species"])), "float32"

    def license(self, ps: PotentialSpec) -> str | None:
        return dist_license("sevenn")

    def calculator(self, ps: PotentialSpec, device: str, dtype: str) -> Any:
        from sevenn.calculator import SevenNetCalculator

        self._warn_float32(ps, dtype)
        return SevenNetCalculator(model=str(ps.path), file_type="checkpoint", device=device)

    def torchsim_model(self, ps: PotentialSpec, device: str, dtype: str) -> Any:
        import torch
        from sevenn.util import model_from_checkpoint
        from torch_sim.models.sevennet import SevenNetModel

        self._warn_float32(ps, dtype)
        module, _config = model_from_checkpoint(str(ps.path))
        _sevennet_torchsim_compat(module)
        return SevenNetModel(module, device=torch.device(device), dtype=torch.float32)


def _sevennet_torchsim_compat(module: Any) -> None:
    """Bridge torch-sim 0.3's SevenNetModel (written for sevenn ≥ 0.11) to sevenn 0.10 models.

    torch-sim reads ``model.modal_map`` and ``sevenn._keys.DATA_MODALITY`` (multi-fidelity support,
    added in sevenn 0.11). Single-fidelity 0.10 models such as SevenNet-0 have neither; giving them
    an empty modal map and the key name makes torch-sim pass ``modality=None``, which the model
    ignores. Tested against the ASE SevenNetCalculator in tests/potentials/test_registry_loading.py.
    """
    import sevenn._keys as sevenn_keys

    if not hasattr(module, "modal_map"):
        module.modal_map = None
    if not hasattr(sevenn_keys, "DATA_MODALITY"):
        sevenn_keys.DATA_MODALITY = "data_modality"


CHGNET_VERSIONS = ("0.3.0", "0.2.0", "r2scan")


class Chgnet(Family):
    """``chgnet[:<version>]``; ``0.3.0`` (default) ships with chgnet. float32, ASE MD only."""

    scheme = "chgnet"
    help = "chgnet[:0.3.0]"
    pickled = False  # CHGNet checkpoints are loaded weights-only
    batched_md = False
    offline = ("chgnet",)
    shown = ("chgnet:0.3.0",)

    def parse(self, arg: str, spec: str, models_dir: Path) -> PotentialSpec:
        version = arg or "0.3.0"
        if version not in CHGNET_VERSIONS:
            raise InputError(
                f"unknown CHGNet version '{version}'", field="potential", allowed=CHGNET_VERSIONS
            )
        return PotentialSpec(self.scheme, version, self._checkpoint(version))

    @staticmethod
    def _checkpoint(version: str) -> Path | None:
        import importlib.util

        found = importlib.util.find_spec("chgnet")
        if found is None or found.origin is None:
            return None
        folder = Path(found.origin).parent / "pretrained" / version
        files = sorted(folder.glob("*.pth.tar"))
        return files[0] if files else None

    def facts(self, path: Path) -> tuple[tuple[str, ...], str]:
        import torch

        # the atom-embedding table has one row per atomic number 1..N (N = 94 for 0.3.0)
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        n_rows = checkpoint["model"]["state_dict"]["atom_embedding.embedding.weight"].shape[0]
        return tuple(symbols(range(1, n_rows + 1))), "float32"

    def license(self, ps: PotentialSpec) -> str | None:
        return dist_license("chgnet")

    def note(self, ps: PotentialSpec) -> str | None:
        return "no torch-sim wrapper in torch-sim 0.3: ASE MD only"

    def calculator(self, ps: PotentialSpec, device: str, dtype: str) -> Any:
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        self._warn_float32(ps, dtype)
        model = CHGNet.load(model_name=ps.name, use_device=device, verbose=False)
        return CHGNetCalculator(model=model, use_device=device)

    def torchsim_model(self, ps: PotentialSpec, device: str, dtype: str) -> Any:
        raise InputError(
            "batched MD (torch-sim) is unavailable for chgnet: torch-sim 0.3 has no CHGNet "
            "wrapper; use the ASE engine (load_calculator) or a mace/sevennet potential",
            field="potential",
            allowed="mace:<...>, mace-mp:<...>, sevennet:<...>",
        )


# The table. Offline families first: this is the order of `potentials list` and of the hints.
FAMILIES: dict[str, Family] = {f.scheme: f for f in (Mace(), SevenNet(), Chgnet(), MaceMp())}
