"""Every machine-learned potential behind one interface: spec → ASE calculator / torch-sim model.

Spec strings (``scheme:argument``):

- ``mace:<path>``                 any MACE model file (a pickled ``torch.nn.Module``).
- ``mace:<shipped name>``         a model shipped in ``potentials/models/<name>.model``
                                   (e.g. ``mace:ilscreen-li-alloys``, the project default).
- ``mace-mp:<size>``              MACE-MP foundation models via mace-torch's own ``mace_mp`` loader
                                   (``small``, ``medium``, ``large``, ``medium-mpa-0``, ...); needs
                                   network access or mace's local cache (``~/.cache/mace``).
- ``sevennet:<name or path>``     SevenNet checkpoints; ``7net-0`` (SevenNet-0) ships with sevenn.
- ``chgnet[:<version>]``          CHGNet; ``0.3.0`` (default) ships with chgnet.

Security: MACE model files and SevenNet checkpoints are pickled Python objects, i.e. code. Before
any is unpickled, :func:`potentials.trust.require_trusted` decides: shipped models are checked
against the sha256 on their card, any other file needs ``--trust-model`` or the campaign's
``engine.trusted_models`` (see :mod:`potentials.trust`).

Loaded potentials are cached per ``(spec, device, dtype)`` in this process, so a campaign that asks
for the same potential many times pays the load once.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from potentials.cards import card_summary, load_card
from potentials.trust import require_trusted, trust_model, trust_models
from screening.errors import InputError
from screening.hashing import file_sha256

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

    from screening.campaign import Campaign

logger = logging.getLogger(__name__)


@contextmanager
def _quiet() -> Iterator[None]:
    """Route what mace/chgnet ``print`` at import and load time to the log, not stdout.

    ``--format json`` output must be parseable, and library chatter belongs in the log anyway.
    """
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            yield
    finally:
        text = buffer.getvalue().strip()
        if text:
            logger.debug("%s", text)


def _import_mace() -> None:
    """Import mace once, quietly (its import prints a cuequivariance notice), weights-only kept."""
    from potentials.torch_compat import import_mace

    with _quiet():
        import_mace()


MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_SPEC = "mace:ilscreen-li-alloys"
SCHEMES = ("mace", "mace-mp", "sevennet", "chgnet")
SPEC_HELP = (
    "mace:<path or shipped name>, mace-mp:<small|medium|large|...>, sevennet:<7net-0 or path>, "
    "chgnet[:0.3.0]"
)
DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda")
# SevenNet checkpoints shipped inside the sevenn wheel (names accepted by sevenn's own resolver).
SEVENNET_SHIPPED = ("7net-0", "7net-0_22May2024", "7net-l3i5")
CHGNET_VERSIONS = ("0.3.0", "0.2.0", "r2scan")
# Licences of model families whose files carry no card. Sources: mace-torch ``mace_mp`` docstring
# and https://github.com/ACEsuit/mace-foundations (MACE-MP-0 MIT; mpa/omat/matpes weights ASL).
_MACE_MP_ASL = ("medium-mpa-0", "small-omat-0", "medium-omat-0", "mace-matpes")

Kind = Literal["mace", "mace-mp", "sevennet", "chgnet"]


@dataclass(frozen=True)
class PotentialSpec:
    """A parsed spec: ``kind`` and ``name``; ``path`` is the model file when it is known locally."""

    kind: Kind
    name: str
    path: Path | None

    @property
    def spec(self) -> str:
        """Canonical spec string (the key used for caching and provenance)."""
        if self.kind == "mace" and self.path is not None and self.path.parent == MODELS_DIR:
            return f"mace:{self.path.stem}"
        return f"{self.kind}:{self.name}"


class PotentialInfo(BaseModel):
    """What a potential is, where its file is, what it covers, and whether it can run offline."""

    spec: str = Field(description="canonical spec string")
    kind: str
    path: str | None = Field(None, description="model file (None when not available locally)")
    sha256: str | None = Field(None, description="sha256 of the model file")
    elements: list[str] = Field(default_factory=list, description="chemical symbols covered")
    offline_available: bool
    batched_md: bool = Field(description="a torch-sim model exists for batched MD")
    native_dtype: str = Field(description="dtype the model runs in by default")
    license: str | None = None
    card: dict[str, Any] = Field(default_factory=dict, description="card summary (metrics, speed)")
    card_sha256_ok: bool | None = Field(None, description="card's sha256 equals the file's")
    note: str | None = None


# ----------------------------------------------------------------------------------------- parsing
def shipped_models() -> dict[str, Path]:
    """Shipped MACE models by name (``potentials/models/<name>.model``)."""
    if not MODELS_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(MODELS_DIR.glob("*.model"))}


def _mace_mp_names() -> list[str]:
    _import_mace()
    from mace.calculators.foundations_models import mace_mp_names

    return [n for n in mace_mp_names if n is not None]


def _mace_mp_cached_path(name: str) -> Path | None:
    """mace's cache file for a foundation model (named exactly as mace names it); None if absent."""
    _import_mace()
    from mace.calculators.foundations_models import mace_mp_urls
    from mace.tools.utils import get_cache_dir

    url = mace_mp_urls[name]
    fname = "".join(c for c in os.path.basename(url) if c.isalnum() or c in "_")
    path = Path(get_cache_dir()) / fname
    return path if path.is_file() else None


def parse_spec(spec: str) -> PotentialSpec:
    """Parse and validate a spec string; raise :class:`InputError` listing what is allowed."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError("empty potential spec", field="potential", allowed=SPEC_HELP)
    spec = spec.strip()
    scheme, _, arg = spec.partition(":")
    scheme = scheme.lower()
    if scheme not in SCHEMES:
        raise InputError(
            f"unknown potential scheme '{scheme}' in '{spec}'", field="potential", allowed=SPEC_HELP
        )
    if scheme == "mace":
        return _parse_mace(arg, spec)
    if scheme == "mace-mp":
        name = arg or "medium-mpa-0"
        names = _mace_mp_names()
        if name not in names:
            raise InputError(
                f"unknown MACE-MP foundation model '{name}'", field="potential", allowed=names
            )
        return PotentialSpec("mace-mp", name, _mace_mp_cached_path(name))
    if scheme == "sevennet":
        return _parse_sevennet(arg or "7net-0")
    version = arg or "0.3.0"
    if version not in CHGNET_VERSIONS:
        raise InputError(
            f"unknown CHGNet version '{version}'", field="potential", allowed=CHGNET_VERSIONS
        )
    return PotentialSpec("chgnet", version, _chgnet_checkpoint(version))


def _parse_mace(arg: str, spec: str) -> PotentialSpec:
    shipped = shipped_models()
    if not arg:
        raise InputError(
            "'mace:' needs a model file path or a shipped model name",
            field="potential",
            allowed=[f"mace:{n}" for n in shipped] or "mace:<path to .model file>",
        )
    if arg in shipped:
        return PotentialSpec("mace", arg, shipped[arg])
    path = Path(arg).expanduser()
    if path.is_file():
        return PotentialSpec("mace", str(path.resolve()), path.resolve())
    hint = ""
    if "/" not in arg and not arg.endswith(".model"):
        try:
            if arg in _mace_mp_names():
                hint = f"; for the MACE-MP foundation model use 'mace-mp:{arg}'"
        except ImportError:  # mace missing: the generic message is enough
            pass
    allowed = [f"mace:{n}" for n in shipped] + ["mace:<existing .model file>"]
    raise InputError(
        f"MACE model file not found: '{arg}' (from '{spec}'){hint}",
        file=path,
        field="potential",
        allowed=allowed,
    )


def _parse_sevennet(arg: str) -> PotentialSpec:
    path = Path(arg).expanduser()
    if path.is_file():
        return PotentialSpec("sevennet", str(path.resolve()), path.resolve())
    from potentials.torch_compat import allow_e3nn_constants

    allow_e3nn_constants()
    from sevenn.util import pretrained_name_to_path

    try:
        checkpoint = Path(pretrained_name_to_path(arg))
    except ValueError:
        raise InputError(
            f"unknown SevenNet model '{arg}' (neither a shipped name nor an existing checkpoint)",
            field="potential",
            allowed=[f"sevennet:{n}" for n in SEVENNET_SHIPPED] + ["sevennet:<checkpoint path>"],
        ) from None
    if not checkpoint.is_file():
        raise InputError(
            f"SevenNet checkpoint for '{arg}' is missing from the sevenn installation",
            file=checkpoint,
            field="potential",
        )
    # Canonical name: the shipped alias, so '7net-0' and 'SevenNet-0' share one cache entry.
    return PotentialSpec(
        "sevennet", "7net-0" if arg.lower() in {"7net-0", "sevennet-0"} else arg, checkpoint
    )


def _chgnet_checkpoint(version: str) -> Path | None:
    import importlib.util

    found = importlib.util.find_spec("chgnet")
    if found is None or found.origin is None:
        return None
    folder = Path(found.origin).parent / "pretrained" / version
    files = sorted(folder.glob("*.pth.tar"))
    return files[0] if files else None


# ------------------------------------------------------------------------------------- elements
def _symbols(numbers: Iterable[int]) -> list[str]:
    from ase.data import chemical_symbols

    return [chemical_symbols[int(z)] for z in sorted(set(int(z) for z in numbers))]


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


def _require_trusted(ps: PotentialSpec) -> None:
    """The one gate before a model file of ``ps`` is unpickled (CHGNet loads weights only)."""
    if ps.path is not None and ps.kind != "chgnet":
        require_trusted(ps.path, kind=ps.kind, models_dir=MODELS_DIR)


def _model_facts(ps: PotentialSpec) -> tuple[list[str], str]:
    """Elements covered and native dtype, read from the model file itself (cached per version)."""
    if ps.path is None:
        return [], "float64" if ps.kind == "mace" else "float32"
    _require_trusted(ps)
    stat = ps.path.stat()
    elements, dtype = _facts_cached(ps.kind, ps.path, stat.st_mtime_ns, stat.st_size)
    return list(elements), dtype


@lru_cache(maxsize=32)
def _facts_cached(kind: str, path: Path, _mtime_ns: int, _size: int) -> tuple[tuple[str, ...], str]:
    """Keyed on (mtime, size) so repeated coverage checks do not reload an unchanged model."""
    import torch

    if kind in ("mace", "mace-mp"):
        module = _load_mace_module(path, "cpu")
        dtype = str(next(module.parameters()).dtype).removeprefix("torch.")
        return tuple(_symbols(module.atomic_numbers.tolist())), dtype
    if kind == "sevennet":
        # a sevenn checkpoint is a pickled dict (config + state dict); the shipped one is trusted
        config = torch.load(path, map_location="cpu", weights_only=False)["config"]
        type_map = config.get("_type_map") or {}
        if type_map:
            return tuple(_symbols(type_map.keys())), "float32"
        from ase.data import atomic_numbers

        return tuple(_symbols(atomic_numbers[s] for s in config["chemical_species"])), "float32"
    # CHGNet: the atom-embedding table has one row per atomic number 1..N (N = 94 for 0.3.0).
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    n_rows = checkpoint["model"]["state_dict"]["atom_embedding.embedding.weight"].shape[0]
    return tuple(_symbols(range(1, n_rows + 1))), "float32"


def _license(ps: PotentialSpec, card: dict[str, Any] | None) -> str | None:
    from importlib import metadata

    if card and card.get("license"):
        return str(card["license"])
    if ps.kind == "mace-mp":
        return "ASL (see mace-foundations)" if ps.name.startswith(_MACE_MP_ASL) else "MIT"
    dist = {"sevennet": "sevenn", "chgnet": "chgnet"}.get(ps.kind)
    if dist is None:
        return None
    meta = metadata.metadata(dist)
    if meta.get("License-Expression"):
        return meta["License-Expression"]
    # Trove classifiers name the licence briefly; the "License" field may hold the whole text.
    for classifier in meta.get_all("Classifier") or []:
        if classifier.startswith("License ::"):
            return classifier.split("::")[-1].strip()
    text = meta.get("License") or ""
    return text if 0 < len(text) <= 80 else None


def describe(spec: str) -> PotentialInfo:
    """Describe a potential without building a calculator: file, sha256, elements, card, licence."""
    ps = parse_spec(spec)
    card = load_card(ps.path) if ps.kind == "mace" and ps.path is not None else None
    sha = file_sha256(ps.path) if ps.path is not None else None
    elements, native_dtype = _model_facts(ps)
    note = None
    if ps.kind == "mace-mp" and ps.path is None:
        note = "weights not in mace's local cache; downloaded on first use (needs network)"
    elif ps.kind == "chgnet":
        note = "no torch-sim wrapper in torch-sim 0.3: ASE MD only"
    return PotentialInfo(
        spec=ps.spec,
        kind=ps.kind,
        path=str(ps.path) if ps.path is not None else None,
        sha256=sha,
        elements=elements,
        offline_available=ps.path is not None,
        batched_md=ps.kind != "chgnet",
        native_dtype=native_dtype,
        license=_license(ps, card),
        card=card_summary(card),
        card_sha256_ok=(card.get("sha256") == sha) if card and card.get("sha256") else None,
        note=note,
    )


def check_coverage(spec: str, elements: Iterable[str], source: str | None = None) -> PotentialInfo:
    """Raise :class:`InputError` unless the potential covers every element (call before MD)."""
    info = describe(spec)
    wanted = sorted(set(elements))
    if not info.offline_available:
        raise InputError(
            f"potential '{info.spec}' is not available locally, so its element coverage cannot be "
            "checked; " + _offline_hint(),
            field="potential",
        )
    missing = [e for e in wanted if e not in info.elements]
    if missing:
        where = f" needed by {source}" if source else ""
        raise InputError(
            f"potential '{info.spec}' does not cover element(s) {', '.join(missing)}{where}",
            field="potential",
            allowed=f"elements covered by {info.spec}: {', '.join(info.elements)}",
        )
    return info


def _offline_hint() -> str:
    shipped = [f"mace:{n}" for n in shipped_models()]
    offline = [*shipped, "sevennet:7net-0", "chgnet"]
    return "use an offline potential instead: " + ", ".join(offline)


# ---------------------------------------------------------------------------------------- loading
_CALCULATORS: dict[tuple[str, str, str, str], Any] = {}


def check_device(device: str, *, field: str = "device") -> None:
    """Refuse a device this machine cannot run, before a model file gets the blame."""
    if device not in DEVICES:
        raise InputError(f"unknown device {device!r}", field=field, allowed=DEVICES)
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise InputError(
                f"device 'cuda' requested but torch {torch.__version__} sees no CUDA GPU on this "
                "machine",
                field=field,
                allowed="cpu here; cuda on a machine where torch.cuda.is_available()",
            )


def trust_campaign(campaign: Campaign) -> None:
    """Trust the model files a campaign lists in ``engine.trusted_models``."""
    trust_models(campaign.trusted_model_files)


def trust_spec(spec: str) -> None:
    """``--trust-model``: the user trusts the model file that ``spec`` names."""
    ps = parse_spec(spec)
    if ps.path is not None:
        trust_model(ps.path)


def _check_dtype(dtype: str) -> None:
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype '{dtype}'", field="dtype", allowed=DTYPES)


def _fetch_mace_mp(ps: PotentialSpec) -> Path:
    """Path of a MACE-MP checkpoint: mace's cache if present, else mace's own download."""
    if ps.path is not None:
        return ps.path
    _import_mace()
    from mace.calculators.foundations_models import download_mace_mp_checkpoint

    try:
        with _quiet():
            return Path(download_mace_mp_checkpoint(ps.name))
    except Exception as exc:  # URLError offline, HTTP errors, disk full
        raise InputError(
            f"could not fetch MACE-MP weights '{ps.name}' ({exc}); mace caches them in "
            "~/.cache/mace once downloaded; " + _offline_hint(),
            field="potential",
        ) from exc


def load_calculator(
    spec: str, device: str = "cpu", dtype: str = "float64", *, cache: bool = True
) -> Calculator:
    """ASE calculator for ``spec`` on ``device``.

    ``dtype`` applies to MACE models (float64 recommended for relaxations). SevenNet and CHGNet run
    in float32 only. Model files are code (pickles): untrusted ones are refused before loading
    (:mod:`potentials.trust`); an unusable ``device`` is refused first. With ``cache``
    the same calculator object is returned for repeated calls with the same arguments.
    """
    _check_dtype(dtype)
    check_device(device)
    ps = parse_spec(spec)
    key = ("ase", ps.spec, device, _effective_dtype(ps, dtype))
    if cache and key in _CALCULATORS:
        return _CALCULATORS[key]
    with _quiet():
        calc = _build_calculator(ps, device, dtype)
    logger.info("loaded %s on %s (%s)", ps.spec, device, dtype)
    if cache:
        _CALCULATORS[key] = calc
    return calc


def load_torchsim_model(
    spec: str, device: str = "cpu", dtype: str = "float64", *, cache: bool = True
) -> Any:
    """torch-sim model for batched MD: ``MaceModel`` for MACE specs, ``SevenNetModel`` for SevenNet.

    CHGNet has no torch-sim wrapper (torch-sim 0.3): use :func:`load_calculator` and ASE MD instead.
    Model files are code (pickles): untrusted ones are refused before loading.
    """
    _check_dtype(dtype)
    check_device(device)
    ps = parse_spec(spec)
    if ps.kind == "chgnet":
        raise InputError(
            "batched MD (torch-sim) is unavailable for chgnet: torch-sim 0.3 has no CHGNet "
            "wrapper; use the ASE engine (load_calculator) or a mace/sevennet potential",
            field="potential",
            allowed="mace:<...>, mace-mp:<...>, sevennet:<...>",
        )
    key = ("torchsim", ps.spec, device, _effective_dtype(ps, dtype))
    if cache and key in _CALCULATORS:
        return _CALCULATORS[key]
    with _quiet():
        model = _build_torchsim(ps, device, dtype)
    if cache:
        _CALCULATORS[key] = model
    return model


def _build_calculator(ps: PotentialSpec, device: str, dtype: str) -> Any:
    from potentials.torch_compat import allow_e3nn_constants

    _require_trusted(ps)
    allow_e3nn_constants()
    calc: Any
    if ps.kind in ("mace", "mace-mp"):
        _import_mace()
        from mace.calculators import MACECalculator

        path = ps.path if ps.kind == "mace" else _fetch_mace_mp(ps)
        assert path is not None
        module = _load_mace_module(path, device)
        calc = MACECalculator(models=module, device=device, default_dtype=dtype)
    elif ps.kind == "sevennet":
        from sevenn.calculator import SevenNetCalculator

        _warn_float32(ps, dtype)
        calc = SevenNetCalculator(model=str(ps.path), file_type="checkpoint", device=device)
    else:
        from chgnet.model import CHGNet
        from chgnet.model.dynamics import CHGNetCalculator

        _warn_float32(ps, dtype)
        model = CHGNet.load(model_name=ps.name, use_device=device, verbose=False)
        calc = CHGNetCalculator(model=model, use_device=device)
    return calc


def _build_torchsim(ps: PotentialSpec, device: str, dtype: str) -> Any:
    from potentials.torch_compat import allow_e3nn_constants

    _require_trusted(ps)
    allow_e3nn_constants()
    import torch

    model: Any
    torch_device = torch.device(device)
    if ps.kind in ("mace", "mace-mp"):
        _import_mace()
        from torch_sim.models.mace import MaceModel

        path = ps.path if ps.kind == "mace" else _fetch_mace_mp(ps)
        assert path is not None
        module = _load_mace_module(path, device)
        model = MaceModel(module, device=torch_device, dtype=getattr(torch, dtype))
    else:
        from sevenn.util import model_from_checkpoint
        from torch_sim.models.sevennet import SevenNetModel

        _warn_float32(ps, dtype)
        module, _config = model_from_checkpoint(str(ps.path))
        _sevennet_torchsim_compat(module)
        model = SevenNetModel(module, device=torch_device, dtype=torch.float32)
    return model


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


def _effective_dtype(ps: PotentialSpec, dtype: str) -> str:
    """The dtype the model will actually run in (SevenNet and CHGNet are float32-only)."""
    return dtype if ps.kind in ("mace", "mace-mp") else "float32"


def _warn_float32(ps: PotentialSpec, dtype: str) -> None:
    if dtype != "float32":
        logger.info("%s runs in float32 only; requested %s is ignored", ps.spec, dtype)


def clear_cache() -> None:
    """Forget every cached calculator and torch-sim model (frees their memory)."""
    _CALCULATORS.clear()


def known_specs() -> list[str]:
    """Specs that ``ilscreen potentials list`` shows: shipped MACE, SevenNet-0, CHGNet, MACE-MP."""
    shipped = [f"mace:{n}" for n in shipped_models()]
    if DEFAULT_SPEC not in shipped:  # listed even when missing, so the gap is visible
        shipped.insert(0, DEFAULT_SPEC)
    return [
        *shipped,
        "sevennet:7net-0",
        "chgnet:0.3.0",
        "mace-mp:small",
        "mace-mp:medium",
        "mace-mp:medium-mpa-0",
    ]
