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

import logging
from collections.abc import Callable, Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from potentials.cards import card_summary
from potentials.families import FAMILIES, Family, NotOffline, PotentialSpec, quiet
from potentials.families import shipped_models as _shipped_in
from potentials.trust import require_trusted, trust_model, trust_models
from screening.errors import InputError
from screening.hashing import file_sha256

if TYPE_CHECKING:
    from ase.calculators.calculator import Calculator

    from screening.campaign import Campaign

__all__ = ["PotentialInfo", "PotentialSpec"]  # PotentialSpec: re-exported from families

logger = logging.getLogger(__name__)

MODELS_DIR = Path(__file__).resolve().parent / "models"
DEFAULT_SPEC = "mace:ilscreen-li-alloys"
SCHEMES = tuple(FAMILIES)
SPEC_HELP = ", ".join(f.help for f in FAMILIES.values())
DTYPES = ("float32", "float64")
DEVICES = ("cpu", "cuda")


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
    return _shipped_in(MODELS_DIR)


def parse_spec(spec: str) -> PotentialSpec:
    """Parse and validate a spec string; raise :class:`InputError` listing what is allowed."""
    if not isinstance(spec, str) or not spec.strip():
        raise InputError("empty potential spec", field="potential", allowed=SPEC_HELP)
    spec = spec.strip()
    scheme, _, arg = spec.partition(":")
    family = FAMILIES.get(scheme.lower())
    if family is None:
        raise InputError(
            f"unknown potential scheme '{scheme.lower()}' in '{spec}'",
            field="potential",
            allowed=SPEC_HELP,
        )
    return family.parse(arg, spec, MODELS_DIR)


def _family(ps: PotentialSpec) -> Family:
    return FAMILIES[ps.kind]


def _require_trusted(ps: PotentialSpec) -> None:
    """The one gate before a model file of ``ps`` is unpickled (weights-only families skip it)."""
    if ps.path is not None and _family(ps).pickled:
        require_trusted(ps.path, kind=ps.kind, models_dir=MODELS_DIR)


# ------------------------------------------------------------------------------------- describing
def _model_facts(ps: PotentialSpec) -> tuple[list[str], str]:
    """Elements covered and native dtype, read from the model file itself (cached per version)."""
    if ps.path is None:
        return [], _family(ps).default_dtype
    _require_trusted(ps)
    stat = ps.path.stat()
    elements, dtype = _facts_cached(ps.kind, ps.path, stat.st_mtime_ns, stat.st_size)
    return list(elements), dtype


@lru_cache(maxsize=32)
def _facts_cached(kind: str, path: Path, _mtime_ns: int, _size: int) -> tuple[tuple[str, ...], str]:
    """Keyed on (mtime, size) so repeated coverage checks do not reload an unchanged model."""
    return FAMILIES[kind].facts(path)


def describe(spec: str) -> PotentialInfo:
    """Describe a potential without building a calculator: file, sha256, elements, card, licence."""
    ps = parse_spec(spec)
    family = _family(ps)
    card = family.card(ps)
    sha = file_sha256(ps.path) if ps.path is not None else None
    elements, native_dtype = _model_facts(ps)
    return PotentialInfo(
        spec=ps.spec,
        kind=ps.kind,
        path=str(ps.path) if ps.path is not None else None,
        sha256=sha,
        elements=elements,
        offline_available=ps.path is not None,
        batched_md=family.batched_md,
        native_dtype=native_dtype,
        license=str(card["license"]) if card and card.get("license") else family.license(ps),
        card=card_summary(card),
        card_sha256_ok=(card.get("sha256") == sha) if card and card.get("sha256") else None,
        note=family.note(ps),
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
    offline = [s for family in FAMILIES.values() for s in family.offline_specs(MODELS_DIR)]
    return "use an offline potential instead: " + ", ".join(offline)


def known_specs() -> list[str]:
    """Specs that ``ilscreen potentials list`` shows: shipped MACE, SevenNet-0, CHGNet, MACE-MP."""
    specs = [s for family in FAMILIES.values() for s in family.listed(MODELS_DIR)]
    if DEFAULT_SPEC not in specs:  # listed even when missing, so the gap is visible
        specs.insert(0, DEFAULT_SPEC)
    return specs


# ---------------------------------------------------------------------------------------- loading
_CACHE: dict[tuple[str, str, str, str], Any] = {}


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


def _load(
    what: str,
    spec: str,
    device: str,
    dtype: str,
    cache: bool,
    build: Callable[[Family, PotentialSpec], Any],
) -> Any:
    """Validate, look in the cache, pass the trust gate, then let the family build ``what``."""
    if dtype not in DTYPES:
        raise InputError(f"unknown dtype '{dtype}'", field="dtype", allowed=DTYPES)
    check_device(device)
    ps = parse_spec(spec)
    family = _family(ps)
    key = (what, ps.spec, device, family.effective_dtype(dtype))
    if cache and key in _CACHE:
        return _CACHE[key]
    _require_trusted(ps)
    from potentials.torch_compat import allow_e3nn_constants

    allow_e3nn_constants()
    try:
        with quiet():
            built = build(family, ps)
    except NotOffline as exc:
        raise InputError(f"{exc}; {_offline_hint()}", field="potential") from exc.__cause__
    logger.info("loaded %s (%s) on %s (%s)", ps.spec, what, device, dtype)
    if cache:
        _CACHE[key] = built
    return built


def load_calculator(
    spec: str, device: str = "cpu", dtype: str = "float64", *, cache: bool = True
) -> Calculator:
    """ASE calculator for ``spec`` on ``device``.

    ``dtype`` applies to MACE models (float64 recommended for relaxations). SevenNet and CHGNet run
    in float32 only. Model files are code (pickles): untrusted ones are refused before loading
    (:mod:`potentials.trust`); an unusable ``device`` is refused first. With ``cache``
    the same calculator object is returned for repeated calls with the same arguments.
    """
    return _load("ase", spec, device, dtype, cache, lambda f, ps: f.calculator(ps, device, dtype))


def load_torchsim_model(
    spec: str, device: str = "cpu", dtype: str = "float64", *, cache: bool = True
) -> Any:
    """torch-sim model for batched MD: ``MaceModel`` for MACE specs, ``SevenNetModel`` for SevenNet.

    CHGNet has no torch-sim wrapper (torch-sim 0.3): use :func:`load_calculator` and ASE MD instead.
    Model files are code (pickles): untrusted ones are refused before loading.
    """
    return _load(
        "torchsim", spec, device, dtype, cache, lambda f, ps: f.torchsim_model(ps, device, dtype)
    )
