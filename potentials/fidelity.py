"""Fidelity of a potential against a reference on the numbers the ranking reads.

Per-configuration errors (meV/atom, meV/Å) do not bound what the screen uses: *differences between
relaxed phases* (formation energies, hull, voltage plateaus, volume changes) and the Li bcc/fcc
order. This module relaxes every thermo phase of a campaign with both potentials through the
screen's own relax Maker (:func:`workflows.relax.mlip_relax_maker`), builds each system's hull with
:func:`screening.thermo.build_system_thermo` exactly as the Flow does, and compares the two against
the bounds of issue 14.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the card renderer imports this module; keep it light
    from screening.campaign import Campaign, DFTSettings
    from screening.candidates import Candidate
    from screening.thermo import PhaseEnergy, SystemThermo


@dataclass(frozen=True)
class FidelityBounds:
    """How far the potential may sit from its reference on each quantity the ranking reads."""

    formation_meV_atom: float = 15.0
    plateau_V: float = 0.04
    li_bcc_fcc_meV_atom: float = 5.0
    hop_barrier_meV: float = 30.0


BOUNDS = FidelityBounds()


def relax_energies(
    candidates: Sequence[Candidate],
    spec: str,
    *,
    fmax: float,
    steps: int,
    device: str = "cpu",
    dtype: str = "float64",
    dft: DFTSettings | None = None,
) -> dict[str, PhaseEnergy]:
    """Relax every candidate with ``spec`` through the screen's Maker; ``{candidate id: energy}``.

    Runs the same atomate2 jobs under ``run_locally`` as ``ilscreen screen``, so a difference found
    here is a difference the screen would see. ``system`` of each energy is the candidate's own;
    :func:`system_thermos` re-labels the shared Li references per system. ``spec`` ``gpaw``: the
    ``engine: dft`` relaxations with ``dft`` (the campaign's ``engine.dft``).
    """
    if spec == "gpaw":
        return gpaw_energies(candidates, fmax=fmax, steps=steps, dft=dft)
    from jobflow import Flow, JobStore, run_locally
    from maggma.stores import MemoryStore

    from workflows.jobs import phase_energy
    from workflows.relax import mlip_relax_maker

    maker = mlip_relax_maker(spec, device=device, dtype=dtype, fmax=fmax, steps=steps)
    jobs = {c.id: maker.make(c.structure) for c in candidates}
    responses = run_locally(
        Flow(list(jobs.values())),
        store=JobStore(MemoryStore(), additional_stores={"data": MemoryStore()}),
        create_folders=False,
        ensure_success=True,
        log=False,
    )
    by_id = {c.id: c for c in candidates}
    return {
        cid: phase_energy.original(
            responses[job.uuid][1].output,
            system=by_id[cid].system,
            phase=by_id[cid].phase,
            candidate_id=cid,
            engine="mlip",
            potential=spec,
        )
        for cid, job in jobs.items()
    }


def gpaw_energies(
    candidates: Sequence[Candidate], *, fmax: float, steps: int, dft: DFTSettings | None = None
) -> dict[str, PhaseEnergy]:
    """The PBE anchor: the ``engine: dft`` screen's own GPAW relaxation and energy jobs
    (:mod:`workflows.dft_campaign`) on each candidate's primitive cell, under ``run_locally``.

    Primitive cells keep PBE affordable on a CPU; energies per atom do not depend on the cell.
    """
    from jobflow import Flow, run_locally

    from screening.campaign import DFTSettings
    from workflows.dft_campaign import dft_spec, gpaw_phase_energy, gpaw_settings
    from workflows.dft_gpaw import GPAWRelaxMaker, primitive_cell

    dft = dft or DFTSettings()
    maker = GPAWRelaxMaker(settings=gpaw_settings(dft), fmax=fmax, steps=steps,
                           optimizer=dft.optimizer, fix_symmetry=dft.fix_symmetry)  # fmt: skip
    jobs = {c.id: maker.make(primitive_cell(c.structure)) for c in candidates}
    responses = run_locally(Flow(list(jobs.values())), ensure_success=True, log=False)
    by_id = {c.id: c for c in candidates}
    return {
        cid: gpaw_phase_energy.original(
            responses[job.uuid][1].output, system=by_id[cid].system, phase=by_id[cid].phase,
            candidate_id=cid, potential=dft_spec(dft), xc=dft.xc,
        )
        for cid, job in jobs.items()
    }


def system_thermos(
    campaign: Campaign, candidates: Sequence[Candidate], energies: Mapping[str, PhaseEnergy]
) -> dict[str, SystemThermo]:
    """Each system's hull from relaxed energies, the Li references entering every system (as in
    :class:`workflows.flows.ScreeningFlowMaker`; the first approximant of a phase stands for it)."""
    from screening.thermo import build_system_thermo

    out: dict[str, SystemThermo] = {}
    for system in campaign.systems:
        phases: dict[str, PhaseEnergy] = {}
        for c in candidates:
            elements = {e.symbol for e in c.structure.composition.elements}
            own = c.role != "reference" and c.system == system.name
            shared = c.role == "reference" and elements <= set(system.elements)
            if (own or shared) and c.phase not in phases:
                phases[c.phase] = energies[c.id].model_copy(update={"system": system.name})
        if phases:
            out[system.name] = build_system_thermo(list(phases.values()))
    return out


def li_bcc_minus_fcc(
    candidates: Sequence[Candidate], energies: Mapping[str, PhaseEnergy]
) -> float | None:
    """E(Li bcc) − E(Li fcc) in meV/atom from the relaxed Li references (None without both).

    The sign decides which Li the hull, the voltages and the dissolution energies are measured
    from; bcc is told apart by space group 229, fcc by 225, as the dissolution step does.
    """
    per_atom: dict[int, float] = {}
    for c in candidates:
        if c.role == "reference" and c.formula.rstrip("0123456789") == "Li":
            e = energies[c.id]
            per_atom.setdefault(c.spacegroup_number or 0, e.energy_eV / e.n_atoms)
    if 229 not in per_atom or 225 not in per_atom:
        return None
    return 1e3 * (per_atom[229] - per_atom[225])


def _row(quantity: str, value: float | None, ref: float | None, bound: float | None) -> dict:
    diff = None if value is None or ref is None else value - ref
    ok = None if bound is None else diff is not None and abs(diff) <= bound
    return {
        "quantity": quantity,
        "value": value,
        "reference": ref,
        "diff": diff,
        "bound": bound,
        "pass": ok,
    }


def compare_system(
    student: SystemThermo, reference: SystemThermo, bounds: FidelityBounds = BOUNDS
) -> dict[str, Any]:
    """Rows (value, reference, diff, bound, pass) for one system's Ef, E above hull, plateaus and
    volume changes, plus whether the stable set is the same. Energies in meV/atom, volumes in %.

    E above hull and volume changes are reported without a bound (the issue bounds Ef, plateaus and
    the stable set, which fix them to the accuracy the ranking needs).
    """
    rows = []
    ref_phases = {p.phase: p for p in reference.phases}
    for p in student.phases:
        r = ref_phases.get(p.phase)
        if not p.x_li_per_m or r is None:  # elements: Ef = 0 by construction
            continue
        rows.append(
            _row(
                f"Ef {p.phase} (meV/atom)",
                1e3 * p.formation_energy_eV_atom,
                1e3 * r.formation_energy_eV_atom,
                bounds.formation_meV_atom,
            )
        )
        rows.append(
            _row(
                f"E_hull {p.phase} (meV/atom)",
                1e3 * p.e_above_hull_eV_atom,
                1e3 * r.e_above_hull_eV_atom,
                None,
            )
        )
    ref_steps = {(q.phase_from, q.phase_to): q for q in reference.plateaus}
    steps = {(q.phase_from, q.phase_to): q for q in student.plateaus}
    for key in dict.fromkeys([*steps, *ref_steps]):
        s, r = steps.get(key), ref_steps.get(key)
        name = f"{key[0]}→{key[1]}"
        rows.append(_row(f"V {name} (V)", s and s.voltage_V, r and r.voltage_V, bounds.plateau_V))
        rows.append(
            _row(f"ΔV/V {name} (%)", s and 100 * s.volume_change, r and 100 * r.volume_change, None)
        )
    stable = sorted(p.phase for p in student.phases if p.on_hull)
    ref_stable = sorted(p.phase for p in reference.phases if p.on_hull)
    ok = stable == ref_stable and all(r["pass"] is not False for r in rows)
    return {
        "system": student.system,
        "stable": stable,
        "reference_stable": ref_stable,
        "same_stable_set": stable == ref_stable,
        "rows": rows,
        "pass": ok,
    }


def compare_hop_barriers(
    barriers: Mapping[str, float], reference: Mapping[str, float], bounds: FidelityBounds = BOUNDS
) -> list[dict[str, Any]]:
    """Rows for each distinct vacancy-hop barrier (eV in, meV out), keyed by hop label.

    The place where NEB barriers of the MD candidates (``workflows.neb``) enter the fidelity
    check: pass ``{hop label: barrier eV}`` from both potentials; a hop only one side has fails.
    """
    return [
        _row(
            f"Ea {hop} (meV)",
            None if hop not in barriers else 1e3 * barriers[hop],
            None if hop not in reference else 1e3 * reference[hop],
            bounds.hop_barrier_meV,
        )
        for hop in dict.fromkeys([*barriers, *reference])
    ]


def fidelity_report(
    campaign: Campaign,
    candidates: Sequence[Candidate],
    spec: str,
    reference: str,
    *,
    fmax: float,
    steps: int,
    device: str = "cpu",
    dtype: str = "float64",
    bounds: FidelityBounds = BOUNDS,
) -> dict[str, Any]:
    """Relax the thermo candidates with ``spec`` and ``reference`` and compare them system by
    system, plus the Li bcc − fcc difference; ``pass`` is every bound met."""
    thermo = [c for c in candidates if "thermo" in c.purposes]
    dft = campaign.engine.dft
    kw = dict(fmax=fmax, steps=steps, device=device, dtype=dtype, dft=dft)
    mine, ref = relax_energies(thermo, spec, **kw), relax_energies(thermo, reference, **kw)
    ours, theirs = system_thermos(campaign, thermo, mine), system_thermos(campaign, thermo, ref)
    systems = [compare_system(ours[name], theirs[name], bounds) for name in ours]
    li = _row(
        "E(Li bcc) − E(Li fcc) (meV/atom)",
        li_bcc_minus_fcc(thermo, mine),
        li_bcc_minus_fcc(thermo, ref),
        bounds.li_bcc_fcc_meV_atom,
    )
    return {
        "potential": spec,
        "reference": reference,
        "relax": {
            "fmax_eV_A": fmax,
            "max_steps": steps,
            "dtype": dtype,
            "maker": "workflows.relax.mlip_relax_maker (atomate2 ForceFieldRelaxMaker)",
            **({"gpaw": _gpaw_settings(dft)} if "gpaw" in (spec, reference) else {}),
        },
        "bounds": {k: getattr(bounds, k) for k in bounds.__dataclass_fields__},
        "systems": systems,
        "li_bcc_fcc": li,
        "pass": li["pass"] is not False and all(s["pass"] for s in systems),
    }


def _gpaw_settings(dft: DFTSettings) -> dict[str, Any]:
    """The GPAW side's settings and code version, as the DFT screen records them."""
    from workflows.dft_campaign import dft_provenance

    return {**dft_provenance(dft), "maker": "workflows.dft_gpaw.GPAWRelaxMaker (primitive cells)"}


def _fmt(x: float | None) -> str:
    return "—" if x is None else f"{x:+.3f}" if abs(x) < 10 else f"{x:+.1f}"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else "pass" if ok else "**FAIL**"


def fidelity_markdown(report: Mapping[str, Any]) -> list[str]:
    """Markdown lines of a fidelity report: the card's fidelity section and the CLI table."""
    lines = [
        f"Potential `{report['potential']}` vs reference `{report['reference']}`; relaxations "
        f"{report['relax']['maker']}, fmax {report['relax']['fmax_eV_A']} eV/Å. "
        f"Overall: {'pass' if report['pass'] else '**FAIL**'}.",
        "",
        "| system | quantity | potential | reference | diff | bound | verdict |",
        "|---|---|---|---|---|---|---|",
    ]
    for s in report["systems"]:
        lines += [
            f"| {s['system']} | {r['quantity']} | {_fmt(r['value'])} | {_fmt(r['reference'])} | "
            f"{_fmt(r['diff'])} | {r['bound'] if r['bound'] is not None else ''} | "
            f"{_verdict(r['pass'])} |"
            for r in s["rows"]
        ]
        lines.append(
            f"| {s['system']} | stable set | {', '.join(s['stable'])} | "
            f"{', '.join(s['reference_stable'])} | | same | {_verdict(s['same_stable_set'])} |"
        )
    li = report["li_bcc_fcc"]
    lines.append(
        f"| Li | {li['quantity']} | {_fmt(li['value'])} | {_fmt(li['reference'])} | "
        f"{_fmt(li['diff'])} | {li['bound']} | {_verdict(li['pass'])} |"
    )
    return [*lines, ""]
