"""Campaign schema: what ``candidates.yaml`` may contain, validated by pydantic v2.

``load_campaign(path)`` is the only entry point for files: YAML and validation problems become one
``InputError`` naming the file, the field path (``systems[2].phases[0].elements``) and the allowed
values. Every model forbids unknown fields so a misspelled key fails instead of being ignored.
"""

from __future__ import annotations

import hashlib
import json
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)
from pymatgen.core import Element

from screening.errors import InputError, short_repr
from screening.limits import MAX_INTERVAL_FS, MAX_MD_PS, MAX_TEMPERATURE_K, MAX_TIMESTEP_FS
from screening.paths import NAME_ALLOWED, is_safe_name
from screening.ranking import RankingThresholds

PositiveFloat = Annotated[float, Field(gt=0)]
Kelvin = Annotated[float, Field(gt=0, le=MAX_TEMPERATURE_K, description="K")]
IntervalFs = Annotated[float, Field(gt=0, le=MAX_INTERVAL_FS)]
Role = Literal["reference", "host", "lithiated"]
Thermostat = Literal["nose-hoover", "langevin"]
EngineName = Literal["mlip", "vasp", "dft"]
ElectronicEngine = Literal["auto", "gpaw", "literature"]


class _Strict(BaseModel):
    # inf/nan are never a physical setting: refuse them everywhere instead of failing inside MD
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


def _check_name(value: str) -> str:
    """System and phase names become folder names (candidate ids): one safe path component."""
    if not is_safe_name(value):
        raise ValueError(f"name {short_repr(value)} is not allowed; use {NAME_ALLOWED}")
    return value


class SupercellPolicy(_Strict):
    """Either the smallest diagonal multiples reaching ``min_width`` Å, or an explicit matrix."""

    min_width: float | None = Field(
        default=None, gt=0, description="minimum perpendicular width, Å"
    )
    matrix: list[int] | list[list[int]] | None = Field(
        default=None, description="3 diagonal multiples or a 3x3 integer matrix"
    )
    max_atoms: int = Field(default=600, gt=0, description="refuse supercells with more atoms")

    @model_validator(mode="after")
    def _one_rule(self) -> SupercellPolicy:
        if (self.min_width is None) == (self.matrix is None):
            raise ValueError("give exactly one of min_width or matrix")
        if self.matrix is not None:
            m = self.matrix
            flat = m if all(isinstance(v, int) for v in m) else None
            if flat is not None and (len(flat) != 3 or any(v < 1 for v in flat)):
                raise ValueError("matrix must be 3 positive integers or a 3x3 integer matrix")
            if flat is None and (len(m) != 3 or any(len(row) != 3 for row in m)):  # type: ignore[arg-type]
                raise ValueError("matrix must be 3 positive integers or a 3x3 integer matrix")
            if flat is None and round(float(np.linalg.det(np.asarray(m)))) <= 0:
                raise ValueError(
                    f"matrix {m} has determinant {round(float(np.linalg.det(np.asarray(m))))}; "
                    "a supercell matrix needs a positive determinant (right-handed, non-singular)"
                )
        return self


class VacancyConfig(_Strict):
    """Remove ``count`` Li atoms from a supercell.

    mode ``distinct``: one candidate per symmetry-distinct Li site (count must be 1);
    ``random``: one candidate per seed, sites drawn with ``numpy.random.default_rng(seed)``.
    Default: distinct for count 1, random otherwise.
    """

    count: int = Field(ge=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    mode: Literal["distinct", "random"] | None = None
    max_distinct: int = Field(
        default=4, ge=1, description="above this many distinct Li sites, sample seeds instead"
    )

    @model_validator(mode="after")
    def _distinct_single(self) -> VacancyConfig:
        if self.mode == "distinct" and self.count != 1:
            raise ValueError("mode 'distinct' needs count 1 (use 'random' for several vacancies)")
        if any(s < 0 for s in self.seeds):
            raise ValueError("seeds must be >= 0")
        return self

    @property
    def effective_mode(self) -> str:
        """The mode actually used."""
        return self.mode or ("distinct" if self.count == 1 else "random")


class OrderingSpec(_Strict):
    """Ordered approximants of a disordered phase: seeded random ordering of the partial sites."""

    method: Literal["random"] = "random"
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    supercell: list[int] = Field(
        default_factory=lambda: [2, 2, 2], description="cell of the thermo approximant"
    )


class MDSettings(_Strict):
    """NVT molecular dynamics settings (units: fs, ps)."""

    timestep_fs: float = Field(default=2.0, gt=0, le=MAX_TIMESTEP_FS)
    equilibration_ps: float = Field(default=10.0, ge=0, le=MAX_MD_PS)
    production_ps: float = Field(default=1990.0, gt=0, le=MAX_MD_PS)
    sample_interval_fs: IntervalFs = 100.0
    ensemble: Literal["nvt"] = "nvt"
    thermostat: Thermostat = "nose-hoover"
    thermostat_timescale_fs: IntervalFs = 100.0

    @model_validator(mode="after")
    def _sampling(self) -> MDSettings:
        if self.sample_interval_fs < self.timestep_fs:
            raise ValueError("sample_interval_fs must be >= timestep_fs")
        return self


class RelaxSettings(_Strict):
    """Cell + positions relaxation of every phase before the hull (FIRE, Fréchet cell filter)."""

    fmax_eV_A: PositiveFloat = Field(default=0.02, description="force convergence criterion")
    max_steps: int = Field(default=300, gt=0)


class NEBSettings(_Strict):
    """Climbing-image NEB of the distinct Li vacancy hops and their transition-state rates.

    The attempt frequency is a stated default (10 THz, typical of Li optical phonons) with a
    factor-of-3 uncertainty; ``barrier_sigma_eV`` is the barrier error carried into σ(D_TST)
    (30 meV: the student-vs-teacher bound of the model-fidelity check).
    """

    enabled: bool = True
    cutoff_A: float = Field(default=4.5, gt=0, le=8.0, description="longest Li–Li hop considered")
    n_images: int = Field(default=5, ge=1, le=15)
    fmax_eV_A: PositiveFloat = Field(default=0.05, description="band force criterion")
    endpoint_fmax_eV_A: PositiveFloat = 0.02
    max_steps: int = Field(default=300, gt=0, le=5000)
    max_hops: int = Field(
        default=12, ge=1, le=100, description="distinct hops computed, shortest first"
    )
    spring_eV_A2: PositiveFloat = 0.1
    attempt_frequency_THz: float = Field(default=10.0, gt=0, le=100)
    sigma_ln_attempt_frequency: float = Field(default=1.0986, ge=0, le=5)
    barrier_sigma_eV: float = Field(default=0.03, ge=0, le=0.5)


class VaspSettings(_Strict):
    """``engine: vasp``: how the reference-protocol MD is cut into restartable VASP runs.

    The electronic settings are the protocol's (workflows.vasp); the VASP command and POTCARs
    are site configuration (atomate2's ``VASP_CMD``, pymatgen's ``PMG_VASP_PSP_DIR``).
    """

    segment_ps: float = Field(
        default=50.0, gt=0, le=MAX_MD_PS, description="longest MD segment (one VASP run), ps"
    )
    ml_force_field: bool = Field(default=True, description="VASP's on-the-fly MLFF (ML_LMLFF)")


class Preset(_Strict):
    """A named protocol; fields left empty fall back to the campaign's values."""

    description: str = ""
    md: MDSettings = Field(default_factory=MDSettings)
    relax: RelaxSettings = Field(default_factory=RelaxSettings)
    neb: NEBSettings = Field(default_factory=NEBSettings)
    temperatures: list[Kelvin] | None = Field(default=None, min_length=1)
    supercell: SupercellPolicy | None = None
    vacancies: list[VacancyConfig] | None = Field(default=None, min_length=1)


class DFTSettings(_Strict):
    """``engine: dft``: GPAW plane-wave settings of every relaxation, energy and band gap.

    Defaults (400 eV, 5 k points per Å⁻¹, Fermi–Dirac 0.05 eV) put Ef(Li3Sb) within ~2 meV/atom
    of 600 eV and of 6 per Å⁻¹ (BENCHMARKS.md, "GPAW PBE anchor"); Li metal converges slowest in
    k. MD and NEB with GPAW run only where the estimated cost, ``cost_s_per_atom2_kpt_step`` ×
    atoms² × k points × steps, fits in ``max_hours``; otherwise the row says what it would have
    cost. The coefficient: a 128-atom Li3Sb SCF from scratch took 6.4 min on 2 cores (500 eV, Γ,
    /work/shared/tools/GPAW.md), 0.023 s per atom²·k point; one MD step restarts from the last
    wavefunctions, taken as 1/3 of that.
    """

    xc: Literal["PBE"] = "PBE"
    ecut_eV: float = Field(default=400.0, gt=100, le=2000, description="plane-wave cutoff")
    kpt_density: float = Field(
        default=5.0, gt=0, le=20, description="k points per Å⁻¹ (Gamma-centred, even)"
    )
    smearing_eV: float = Field(default=0.05, gt=0, le=0.5, description="Fermi–Dirac width")
    optimizer: Literal["BFGS", "FIRE"] = "BFGS"
    fix_symmetry: bool = Field(default=True, description="relax within the space group")
    max_hours: float = Field(default=1.0, ge=0, description="MD/NEB cost guard, hours")
    cost_s_per_atom2_kpt_step: float = Field(default=8e-3, gt=0)


class EngineSettings(_Strict):
    """Which engine computes energies/forces, and where.

    ``potential`` drives the MD; ``thermo_potential`` every relaxation behind the hull, voltages
    and dissolution energies. They differ by default because the shipped student, 28x faster for
    MD, misses its teacher's formation energies and Li bcc/fcc order beyond the fidelity bounds
    (``ilscreen potentials fidelity``; README), while the teacher relaxes primitive cells in
    seconds. ``null`` means: the MD potential for both.
    """

    engine: EngineName = "mlip"
    vasp: VaspSettings = Field(default_factory=VaspSettings)
    potential: str = "mace:ilscreen-li-alloys"
    thermo_potential: str | None = "sevennet:7net-0"
    device: Literal["cpu", "cuda"] = "cpu"
    dtype: Literal["float32", "float64"] = "float64"
    trusted_models: list[str] = Field(
        default_factory=list,
        description="model files (relative to this campaign file) that may be loaded although "
        "they are not shipped: model files are pickles, i.e. code; list only files you trust",
    )
    dft: DFTSettings = Field(default_factory=DFTSettings)


class ElectronicSettings(_Strict):
    """Where criterion 3's band gap / DOS at E_F comes from.

    ``gpaw``: a PBE band-gap job (GPAW) on the MLIP-relaxed primitive cell of every MD phase with
    at most ``max_atoms`` atoms; larger phases fall back to cited literature (else unknown), with
    a note saying why. ``literature``: cited values only. ``auto``: ``gpaw`` where GPAW is
    installed, else ``literature`` (resolved once, when the screen is planned). The default stays
    ``literature`` so a campaign only pays for DFT when it asks for it.
    """

    engine: ElectronicEngine = "literature"
    max_atoms: int = Field(
        default=8,
        gt=0,
        description="largest primitive cell given to GPAW (measured on 2 cores: Li3Sb 4 atoms "
        "8 s, LiAg-B2 2 atoms 44 s, LiC6 7 atoms 171 s; a 16-atom metallic P1 cell ~3 min)",
    )


class PhaseSpec(_Strict):
    """A phase of a system: a library entry, a structure file or an MP id."""

    name: Annotated[str, AfterValidator(_check_name)]
    library: str | None = Field(default=None, description="key in the phase library (default name)")
    structure_file: str | None = None
    mp_id: str | None = None
    role: Role
    md: bool = Field(default=False, description="IL candidate: gets MD supercells and vacancies")
    supercell: SupercellPolicy | None = None
    vacancies: list[VacancyConfig] | None = Field(default=None, min_length=1)
    ordering: OrderingSpec | None = None

    @model_validator(mode="after")
    def _one_source(self) -> PhaseSpec:
        given = [x for x in (self.library, self.structure_file, self.mp_id) if x is not None]
        if len(given) > 1:
            raise ValueError("give at most one of library, structure_file, mp_id")
        if self.md and self.role != "lithiated":
            raise ValueError("only lithiated phases can be MD (IL) candidates")
        return self


def _check_element(sym: str) -> str:
    if not Element.is_valid_symbol(sym):
        raise ValueError(f"unknown element {sym!r}")
    return sym


class SystemSpec(_Strict):
    """A Li–M system and its phases."""

    name: Annotated[str, AfterValidator(_check_name)]
    elements: list[str] = Field(min_length=2)
    phases: list[PhaseSpec] = Field(min_length=1)
    supercell: SupercellPolicy | None = None
    vacancies: list[VacancyConfig] | None = Field(default=None, min_length=1)

    @field_validator("elements")
    @classmethod
    def _elements(cls, v: list[str]) -> list[str]:
        for sym in v:
            _check_element(sym)
        if "Li" not in v:
            raise ValueError("a system must contain Li")
        if len(set(v)) != len(v):
            raise ValueError("elements must not repeat")
        return v

    @model_validator(mode="after")
    def _has_host(self) -> SystemSpec:
        if not any(p.role == "host" for p in self.phases):
            raise ValueError(
                f"system {self.name} has no host phase (role: host): the delithiated end member "
                "its hull and voltage profile start from"
            )
        return self


class ReferenceSpec(_Strict):
    """An elemental reference phase (e.g. bcc and fcc Li)."""

    element: str
    phase: PhaseSpec

    @field_validator("element")
    @classmethod
    def _element(cls, v: str) -> str:
        return _check_element(v)


def _check_ranking(th: RankingThresholds) -> RankingThresholds:
    """Finite thresholds and weights that can rank: each weight >= 0, at least one > 0."""
    for key, value in th.model_dump().items():
        values = list(value.values()) if isinstance(value, dict) else value
        values = values if isinstance(values, list | tuple) else [values]
        if any(isinstance(v, float) and not np.isfinite(v) for v in values):
            raise ValueError(f"{key} must be finite (got {short_repr(value)})")
    if any(w < 0 for w in th.weights.values()) or not any(w > 0 for w in th.weights.values()):
        raise ValueError(
            f"weights must be >= 0 with at least one > 0 (got {short_repr(th.weights)})"
        )
    return th


def _default_presets() -> dict[str, Preset]:
    return {
        "quick": Preset(
            description="minutes on a CPU: short MD, small cells, hot temperatures only",
            md=MDSettings(
                equilibration_ps=1.0,
                production_ps=8.0,
                sample_interval_fs=20.0,
                thermostat="langevin",
                thermostat_timescale_fs=100.0,
            ),
            temperatures=[548.0, 900.0],
            supercell=SupercellPolicy(min_width=7.0, max_atoms=200),
        ),
        "standard": Preset(
            description="workstation screen: 100 ps production at all temperatures",
            md=MDSettings(equilibration_ps=5.0, production_ps=100.0, sample_interval_fs=50.0),
        ),
        "paper": Preset(
            description="reference protocol: NVT Nose-Hoover, 2 fs, 10 ps + 1990 ps",
            md=MDSettings(),
        ),
    }


class Campaign(_Strict):
    """The whole campaign: systems, references, protocol presets, criteria and engine."""

    name: str = "ilscreen"
    description: str = ""
    phase_library: str | None = Field(
        default=None, description="extra phase library yaml (relative to this file)"
    )
    systems: list[SystemSpec] = Field(min_length=1)
    # after systems: a file with no systems is told that first
    references: list[ReferenceSpec] = Field(default_factory=list, validate_default=True)
    supercell: SupercellPolicy = Field(default_factory=lambda: SupercellPolicy(min_width=10.0))
    vacancies: list[VacancyConfig] = Field(
        default_factory=lambda: [VacancyConfig(count=1), VacancyConfig(count=4, seeds=[0])],
        min_length=1,
    )
    temperatures: list[Kelvin] = Field(default_factory=lambda: [300.0, 548.0, 900.0], min_length=1)
    operating_temperatures: list[Kelvin] = Field(
        default_factory=lambda: [298.0, 348.0], min_length=1
    )
    presets: dict[str, Preset] = Field(default_factory=_default_presets)
    default_preset: str = "standard"
    ranking: Annotated[RankingThresholds, AfterValidator(_check_ranking)] = Field(
        default_factory=RankingThresholds
    )
    engine: EngineSettings = Field(default_factory=EngineSettings)
    electronic: ElectronicSettings = Field(default_factory=ElectronicSettings)

    _source: Path | None = PrivateAttr(default=None)

    @field_validator("references")
    @classmethod
    def _li_reference(cls, v: list[ReferenceSpec]) -> list[ReferenceSpec]:
        if not any(r.element == "Li" for r in v):
            raise ValueError(
                "no Li reference: voltages vs Li+/Li need one, e.g. "
                "{element: Li, phase: {name: Li-bcc, role: reference}}"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Campaign:
        if self.default_preset not in self.presets:
            raise ValueError(
                f"default_preset {self.default_preset!r} is not one of the presets "
                f"({', '.join(self.presets)})"
            )
        names = [s.name for s in self.systems]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"duplicate system names: {', '.join(dup)}")
        return self

    @property
    def source(self) -> Path | None:
        """The yaml file this campaign was read from (None when built in code)."""
        return self._source

    @property
    def base_dir(self) -> Path:
        """Directory relative paths resolve against."""
        return self._source.parent if self._source is not None else Path.cwd()

    def preset(self, name: str | None = None) -> Preset:
        """The named preset (default: ``default_preset``); unknown names raise InputError."""
        key = name or self.default_preset
        if key not in self.presets:
            raise InputError(
                f"unknown preset {key!r}", file=self._source, field="preset", allowed=self.presets
            )
        return self.presets[key]

    def temperatures_for(self, preset: str | None = None) -> list[float]:
        """MD temperatures (K) under a preset."""
        p = self.preset(preset)
        return list(p.temperatures if p.temperatures is not None else self.temperatures)

    @property
    def trusted_model_files(self) -> list[Path]:
        """``engine.trusted_models`` resolved against the campaign's folder."""
        paths = [Path(p).expanduser() for p in self.engine.trusted_models]
        return [p if p.is_absolute() else self.base_dir / p for p in paths]

    def settings_hash(self, preset: str | None = None) -> str:
        """sha256 of the canonical JSON of the campaign (and the chosen preset name).

        Which files are trusted is a permission, not a setting: it does not enter the hash.
        """
        # GPAW settings are science only for `engine: dft`; other campaigns keep their hash
        ignored = {"trusted_models"} | ({"dft"} if self.engine.engine != "dft" else set())
        ignored |= {"vasp"} if self.engine.engine != "vasp" else set()
        science = self.model_dump(mode="json", exclude={"engine": ignored})
        payload = {"campaign": science, "preset": preset}
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


# ----------------------------------------------------------------------------- error formatting


def format_loc(loc: tuple[Any, ...]) -> str:
    """('systems', 2, 'phases', 0, 'elements') → 'systems[2].phases[0].elements'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class that owns the last element of ``loc`` (to list its allowed fields)."""
    cls: Any = Campaign
    for part in loc:
        if isinstance(part, int) or cls is None:
            continue
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)):
            return None
        field = cls.model_fields.get(part)
        if field is None:
            return None
        cls = _unwrap(field.annotation)
    return cls if isinstance(cls, type) and issubclass(cls, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """list[X] / X | None / dict[str, X] → X (first BaseModel found)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _unwrap(arg)
        if found is not None:
            return found
    return None


def _input_error(exc: ValidationError, file: Path) -> InputError:
    err = exc.errors()[0]
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    # pydantic adds union-member tags ('list[int]', 'float', ...) into loc; keep real fields only
    loc = tuple(p for p in loc if isinstance(p, int) or ("[" not in p and p not in _TYPE_TAGS))
    kind = err["type"]
    allowed: Any = None
    msg = err["msg"]
    if kind == "extra_forbidden":
        owner = _model_at(loc[:-1])
        msg = f"unknown field {loc[-1]!r}"
        if owner is not None:
            allowed = list(owner.model_fields)
    elif kind == "missing":
        msg = "required field is missing"
    elif kind in ("literal_error", "enum"):
        allowed = err.get("ctx", {}).get("expected")
        msg = f"invalid value {short_repr(err.get('input'))}"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    else:
        msg = f"{msg} (got {short_repr(err.get('input'))})"
    return InputError(msg, file=file, field=format_loc(loc) or None, allowed=allowed)


_TYPE_TAGS = {"float", "int", "str", "bool", "list", "dict", "none", "tuple"}


def campaign_from_dict(data: Any, *, source: str | Path | None = None) -> Campaign:
    """Validate a parsed mapping; errors become one InputError naming ``source``."""
    file = Path(source) if source is not None else Path("<campaign>")
    if not isinstance(data, dict):
        raise InputError("the campaign file must be a YAML mapping", file=file)
    try:
        campaign = Campaign.model_validate(data)
    except ValidationError as exc:
        raise _input_error(exc, file) from None
    campaign._source = Path(source).resolve() if source is not None else None
    return campaign


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a campaign yaml; any problem raises one ``InputError``."""
    from screening.safe_yaml import load_yaml

    file = Path(path)
    if not file.is_file():
        raise InputError("campaign file not found", file=file)
    return campaign_from_dict(load_yaml(file), source=file)


def campaign_json_schema() -> dict[str, Any]:
    """JSON schema of the campaign file (``ilscreen schema``)."""
    return Campaign.model_json_schema()


__all__ = [
    "Campaign",
    "ElectronicSettings",
    "EngineSettings",
    "MDSettings",
    "OrderingSpec",
    "PhaseSpec",
    "Preset",
    "RankingThresholds",
    "ReferenceSpec",
    "RelaxSettings",
    "SupercellPolicy",
    "SystemSpec",
    "VacancyConfig",
    "campaign_from_dict",
    "campaign_json_schema",
    "format_loc",
    "load_campaign",
]
