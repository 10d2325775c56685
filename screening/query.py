"""Read ranked candidates from a results store (Python API behind ``ilscreen query``).

>>> from screening.query import query
>>> docs = query("campaign/store", system="Li-Sb", passing=True, sort="score")
>>> docs[0].validation  # MLIP-vs-DFT check of its potential (``ilscreen dft validate --store``)
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from screening.results import CandidateResult
from screening.store import ResultsStore

#: criterion names → short column labels
CRITERION_COLUMNS = {
    "potential": "C1",
    "reversibility": "C2",
    "mixed_conduction": "C3",
    "formation_energy": "Ef_ok",
}


def query(
    store: ResultsStore | str | Path | None,
    system: str | None = None,
    passing: bool = False,
    sort: str = "score",
) -> list[CandidateResult]:
    """Candidate documents from ``store`` (a ResultsStore or a location), filtered and sorted.

    ``sort``: score (high first), Ea (low first), D (high first), voltage (low first),
    Ef (low first), rank. Failed candidates come last; they are never dropped unless
    ``passing`` is set.
    """
    if isinstance(store, ResultsStore):
        return store.ranking(system=system, passing=passing, sort=sort)
    with ResultsStore.open(store, create=False) as s:
        return s.ranking(system=system, passing=passing, sort=sort)


def _mark(passed: bool | None) -> str:
    return {True: "pass", False: "fail", None: "n/a"}[passed]


def _comparison(doc: CandidateResult, quantity: str, side: str) -> float | None:
    """One side of an MD-vs-NEB-TST comparison, if it was made."""
    comps = doc.neb.comparisons if doc.neb else []
    c = next((c for c in comps if c.quantity == quantity), None)
    return getattr(c, side) if c else None


def flat_row(doc: CandidateResult) -> dict[str, Any]:
    """One flat row per candidate: the numbers shown in tables and written to CSV/JSON."""
    op = doc.operating_point()
    arr = doc.arrhenius
    el = doc.electronic
    val = doc.validation
    si, se, sol = doc.sigma_ion, doc.sigma_e, doc.dissolution
    c3 = doc.criterion("mixed_conduction")
    row: dict[str, Any] = {
        "rank": doc.rank,
        "candidate_id": doc.candidate_id,
        "system": doc.system,
        "formula": doc.formula,
        "status": doc.status,
    }
    for name, col in CRITERION_COLUMNS.items():
        c = doc.criterion(name)
        row[col] = _mark(c.passed) if c else "n/a"
    row.update(
        {
            "Ef_eV_atom": doc.thermo.formation_energy_eV_atom,
            "e_above_hull_eV_atom": doc.thermo.e_above_hull_eV_atom,
            "voltage_V": doc.thermo.voltage_V,
            "T_op_K": op.temperature_K if op else doc.T_op_K,
            "D_op_cm2_s": op.D_cm2_s if op else None,
            "D_op_sigma_cm2_s": op.D_sigma_cm2_s if op else None,
            "Ea_eV": arr.Ea_eV if arr else None,
            "Ea_sigma_eV": arr.Ea_sigma_eV if arr else None,
            "transport_source": arr.source if arr else None,
            "Ea_md_eV": _comparison(doc, "Ea_eV", "md"),
            "Ea_neb_eV": doc.neb.Ea_eV if doc.neb else None,
            "Ea_neb_sigma_eV": doc.neb.Ea_sigma_eV if doc.neb else None,
            "percolation_barrier_eV": doc.neb.percolation_barrier_eV if doc.neb else None,
            "percolation_dimensionality": doc.neb.percolation_dimensionality if doc.neb else None,
            "neb_hop_barriers_eV": (
                [round(h.forward_barrier_eV, 4) for h in doc.neb.neb.hops] if doc.neb else None
            ),
            "md_tst_disagree": (
                [c.quantity for c in doc.neb.comparisons if not c.agree] if doc.neb else None
            ),
            "electronic_class": el.electronic_class.value if el else "unknown",
            "electronic_source": el.source if el else "none",
            "sigma_ion_S_cm": si.S_cm if si else None,
            "sigma_ion_sigma_S_cm": si.sigma_S_cm if si else None,
            "sigma_ion_source": si.source if si else "none",
            "sigma_e_S_cm": se.S_cm if se else None,
            "sigma_e_range_S_cm": list(se.range_S_cm) if se and se.range_S_cm else None,
            "sigma_e_source": se.source if se else "none",
            "conduction_class": c3.values.get("conduction_class", "?") if c3 else "?",
            "sigma_e_over_sigma_ion": c3.values.get("sigma_e_ratio") if c3 else None,
            "solution_energy_eV": sol.solution_energy_eV if sol else None,
            "solution_energy_source": sol.source if sol else "none",
            "solution_energy_note": doc.dissolution_note,
            "mlip_dft_force_mae_eV_A": val.force_mae_eV_A if val else None,
            "mlip_dft_engine": val.dft_engine if val else None,
            "mlip_dft_flagged": val.flagged if val else None,
            "score": doc.score,
            "pareto": doc.pareto,
            "passing": doc.passing,
            "provenance": doc.provenance.short(),
            "settings_hash": doc.settings_hash,
            "reason": doc.reason,
            "flags": "; ".join(doc.flags),
        }
    )
    return row


def to_json(docs: Sequence[CandidateResult], full: bool = True) -> str:
    """JSON list: full documents (default) or flat rows."""
    if full:
        return json.dumps([d.model_dump(mode="json") for d in docs], indent=2)
    return json.dumps([flat_row(d) for d in docs], indent=2)


def to_csv(docs: Sequence[CandidateResult]) -> str:
    """CSV of the flat rows (header always written)."""
    buf = io.StringIO()
    fields = list(flat_row(docs[0]).keys()) if docs else ["candidate_id"]
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    for d in docs:
        w.writerow(flat_row(d))
    return buf.getvalue()


def _num(v: float | None, fmt: str = ".3f") -> str:
    return "–" if v is None else format(v, fmt)


def _pm(v: float | None, s: float | None, fmt: str) -> str:
    if v is None:
        return "–"
    return f"{v:{fmt}} ± {s:{fmt}}" if s is not None else f"{v:{fmt}}"


def _g(v: Any, fmt: str) -> str:
    return "?" if v is None else format(v, fmt)


def explain(doc: CandidateResult) -> list[str]:
    """One line per criterion: verdict, the numbers, and the rule that decided it."""
    if doc.status == "failed":
        return [f"{doc.candidate_id}: failed, not ranked: {doc.reason}"]
    lines = [f"{doc.candidate_id}: rank {doc.rank}, score {_g(doc.score, '.2f')}, "
             f"{'passing' if doc.passing else 'not passing'}"]  # fmt: skip
    for c in doc.criteria:
        v = c.values
        if c.name == "potential":
            text = (f"V = {_g(v['voltage_V'], '.3f')} V; rule 0 < V and "
                    f"{v['window_min_V']:g} ≤ V ≤ {v['window_max_V']:g} V")  # fmt: skip
        elif c.name == "reversibility":
            dv = v["volume_change_step"]
            text = (
                f"E_hull {_g(v['e_above_hull_eV_atom'], '.3f')} / neighbour "
                f"{_g(v['neighbour_e_above_hull_eV_atom'], '.3f')} eV/atom "
                f"(≤ {v['max_e_above_hull_eV_atom']:g}); |ΔV| {_g(dv and abs(dv), '.0%')} "
                f"(≤ {v['max_volume_change_per_step']:.0%}); D(T_op) "
                f"{_g(v['D_op_cm2_s'], '.1e')} cm²/s (≥ {v['min_D_op_cm2_s']:g})"
            )
        elif c.name == "mixed_conduction":
            lo, hi = v["sigma_e_low_S_cm"], v["sigma_e_high_S_cm"]
            band = f" [{lo:.0e}–{hi:.0e}]" if lo is not None and hi is not None else ""
            pm = v["sigma_ion_sigma_S_cm"]
            text = (
                f"σ_ion {_g(v['sigma_ion_S_cm'], '.1e')}"
                f"{f' ± {pm:.1e}' if pm is not None else ''} S/cm ({v['sigma_ion_source']}); "
                f"σ_e {_g(v['sigma_e_S_cm'], '.1e')}{band} S/cm ({v['sigma_e_source']}) at "
                f"{_g(v['T_op_K'], 'g')} K; {v['conduction_class']}: {v['class_rule']}; "
                f"D(T_op) ≥ {v['min_D_op_cm2_s']:g} cm²/s"
            )
        else:
            sol = doc.dissolution
            origin = f" ({sol.source}, vs Li + {sol.li_richest_phase})" if sol else ""
            text = (
                f"E_f {_g(v['formation_energy_eV_atom'], '.3f')} eV/atom (< 0); E_sol(M in Li) "
                f"{_g(v['solution_energy_eV'], '.2f')} eV{origin} → M solubility in Li "
                f"exp(−E_sol/k_BT) = {_g(v['m_solubility_in_li'], '.0e')} at "
                f"{_g(v['T_op_K'], 'g')} K (≤ {v['max_m_solubility_in_li']:g})"
            )
        note = f" — {c.note}" if c.note else ""
        lines.append(f"{CRITERION_COLUMNS[c.name]} {c.name}: {_mark(c.passed)}: {text}{note}")
    lines += _transport_lines(doc)
    return lines


def _transport_lines(doc: CandidateResult) -> list[str]:
    """Where D(T_op) and Ea come from, and how MD and NEB-TST compare."""
    arr, neb = doc.arrhenius, doc.neb
    out = []
    if arr is not None:
        rule = (
            "MD converged at >= 2 temperatures"
            if arr.source == "MD"
            else "MD converged at < 2 temperatures, so the NEB-TST hop network"
        )
        sigma = arr.Ea_sigma_eV or 0.0
        out.append(f"transport: {arr.source}: Ea {arr.Ea_eV:.3f} ± {sigma:.3f} eV ({rule})")
    if neb is not None:
        hops = ", ".join(
            f"{h.forward_barrier_eV:.2f}/{h.backward_barrier_eV:.2f}" for h in neb.neb.hops
        )
        out.append(
            f"NEB ({neb.neb.potential}): hop barriers fwd/bwd {hops} eV; percolation "
            f"{_g(neb.percolation_barrier_eV, '.3f')} eV ({neb.percolation_dimensionality}D); "
            f"Ea(TST) {_g(neb.Ea_eV, '.3f')} eV"
        )
        for c in neb.comparisons:
            verdict = "agree" if c.agree else "DISAGREE (beyond 2 combined σ)"
            out.append(f"MD vs NEB-TST {c.quantity}: {c.md:.3g} vs {c.tst:.3g}: {verdict}")
    return out


def _conduction_cell(r: dict[str, Any]) -> str:
    """'mixed 9.7e-02', or '?' when the class is unknown."""
    cls, ratio = r["conduction_class"], r["sigma_e_over_sigma_ion"]
    if cls == "?":
        return "[yellow]?[/]"
    return f"{cls.split()[0]} {'≥ ' if r['sigma_ion_S_cm'] is None else ''}{_num(ratio, '.0e')}"


def _validation_cell(r: dict[str, Any]) -> str:
    """'0.043 GPAW', red with ⚠ when above the stored threshold, '–' when not validated."""
    mae = r["mlip_dft_force_mae_eV_A"]
    if mae is None:
        return "–"
    text = f"{mae:.3f} {r['mlip_dft_engine'].split(',')[0]}"
    return f"[red]{text} ⚠[/]" if r["mlip_dft_flagged"] else text


def transport_notes(docs: Sequence[CandidateResult]) -> list[str]:
    """One line per MD temperature flagged not converged, with the analysis' reason (these never
    enter an Arrhenius fit; converged points with D ≤ 0 are also left out, see the report)."""
    lines = []
    for d in docs:
        for t in d.transport:
            if t.converged is False:
                length = "" if t.duration_ps is None else f", {t.duration_ps:g} ps"
                why = t.note or "no reason recorded"
                lines.append(f"{d.candidate_id} at {t.temperature_K:g} K{length}: {why}")
    return lines


def _source_mark(source: str | None) -> str:
    """Which transport the row's D and Ea come from: MD or NEB-TST."""
    return {"MD": " (MD)", "NEB-TST": " (NEB-TST)"}.get(source or "", "")


def rich_table(docs: Sequence[CandidateResult], title: str = "ilscreen ranking"):
    """A rich Table of the ranking (imported lazily: rich is only needed for the CLI)."""
    from rich.table import Table

    t = Table(title=title, show_lines=False)
    for col in ("#", "candidate", "C1 C2 C3", "Ef eV/at", "V", "D(T_op) cm²/s", "Ea eV",
                "electronic", "σ_e/σ_ion", "E_sol eV", "ΔF DFT eV/Å", "score", "P",
                "provenance"):  # fmt: skip
        t.add_column(col, overflow="fold")
    style = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "n/a": "[yellow]?[/]"}
    for d in docs:
        r = flat_row(d)
        if d.status == "failed":
            t.add_row("–", d.candidate_id, "", "", "", "", "", "", "", "", "", "[red]failed[/]",
                      "", f"[red]{d.reason or ''}[/]")  # fmt: skip
            continue
        src = r["electronic_source"]
        src_short = "computed" if src.startswith("computed") else src.split(":")[0]
        t.add_row(
            str(r["rank"] or "–"),
            d.candidate_id,
            " ".join(style[r[c]] for c in ("C1", "C2", "C3")),
            _num(r["Ef_eV_atom"]),
            _num(r["voltage_V"]),
            _pm(r["D_op_cm2_s"], r["D_op_sigma_cm2_s"], ".1e"),
            _pm(r["Ea_eV"], r["Ea_sigma_eV"], ".2f") + _source_mark(r["transport_source"]),
            f"{r['electronic_class']} ({src_short})",
            _conduction_cell(r),
            _num(r["solution_energy_eV"], ".2f"),
            _validation_cell(r),
            _num(r["score"], ".2f"),
            "★" if d.pareto else "",
            r["provenance"],
        )
    return t
