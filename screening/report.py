"""Self-contained HTML report of a results store (``ilscreen report``).

One file, ``<out>/report.html``, with PNGs embedded as base64 so it can be mailed or archived:
ranking table, per-system convex hull and voltage profile (drawn here from the stored thermo
documents), per-candidate criteria, MLIP-vs-DFT validation next to the model card's held-out error,
Arrhenius and MSD plots (PNG files referenced in the documents, embedded when they exist), failed
candidates with reasons, and provenance.
"""

from __future__ import annotations

import base64
import html
import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from screening.ab_initio import ValidationResult
from screening.atomic import write_text_atomic
from screening.conduction_plots import plot_conduction_map
from screening.query import explain, flat_row
from screening.results import CandidateResult, Provenance, SystemResult
from screening.store import ResultsStore
from screening.thermo import plot_convex_hull, plot_voltage_profile

log = logging.getLogger(__name__)

_CSS = """
body{font-family:system-ui,Segoe UI,Helvetica,Arial,sans-serif;margin:1.5em;color:#222}
h1{font-size:1.5em}h2{border-bottom:1px solid #ccc;margin-top:1.6em}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}
th{background:#f0f0f0}.pass{color:#080;font-weight:bold}.fail{color:#b00;font-weight:bold}
.na{color:#a70}.failed{background:#fdd}.small{font-size:.8em;color:#555}
img{max-width:480px;margin:4px;border:1px solid #ddd}.pareto{color:#a60}
"""


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v))


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "–" if v is None else format(v, spec)


def _img(path: str | Path | None, alt: str) -> str:
    """An <img> with the PNG inlined, or a note when the file is missing."""
    if not path:
        return ""
    p = Path(path)
    if not p.is_file():
        return f'<p class="small">{_e(alt)}: file not found ({_e(p)})</p>'
    data = base64.b64encode(p.read_bytes()).decode()
    return f'<img alt="{_e(alt)}" title="{_e(alt)}" src="data:image/png;base64,{data}">'


def _val(v: object) -> object:
    """Criterion values: floats to 4 significant digits, the rest as is."""
    return format(v, ".4g") if isinstance(v, float) else v


def _mark(v: str) -> str:
    cls = {"pass": "pass", "fail": "fail"}.get(v, "na")
    sym = {"pass": "✓", "fail": "✗"}.get(v, "?")
    return f'<span class="{cls}">{sym}</span>'


def _electronic_cell(cls: str, source: str) -> str:
    """Class plus where it came from; a literature citation goes in the tooltip, not the row."""
    short = source.split(":")[0] if source.startswith("literature") else source
    return f"{_e(cls)}<br><span class='small' title='{_e(source)}'>{_e(short)}</span>"


def _validation_cell(v: ValidationResult | None) -> str:
    """Force MAE vs DFT, flagged in red above its threshold, with the card's held-out MAE."""
    if v is None:
        return "–"
    mark = '<span class="fail">⚠</span>' if v.flagged else '<span class="pass">✓</span>'
    card = "–" if v.card_force_mae_eV_A is None else f"{v.card_force_mae_eV_A:.3f}"
    return (
        f"{v.force_mae_eV_A:.3f} {mark}<br><span class='small'>{_e(v.dft_engine)}, "
        f"{v.n_snapshots} snapshots; card {card}; threshold {v.threshold_force_mae_eV_A:g}</span>"
    )


def _validation_line(v: ValidationResult | None) -> str:
    """The candidate section's sentence on the potential's DFT check."""
    if v is None:
        return "<p class='small'>MLIP vs DFT: not validated (ilscreen dft validate --store)</p>"
    t = "" if v.temperature_K is None else f" at {v.temperature_K:.0f} K"
    card = (
        f"{v.card_force_mae_eV_A:.3f} eV/Å ({_e(v.card_source)})"
        if v.card_force_mae_eV_A is not None
        else _e(v.card_source or "no model card")
    )
    verdict = (
        f'<span class="fail">FLAGGED: above {v.threshold_force_mae_eV_A:g} eV/Å</span>'
        if v.flagged
        else f'<span class="pass">ok</span> (threshold {v.threshold_force_mae_eV_A:g} eV/Å)'
    )
    return (
        f"<p>MLIP vs DFT ({_e(v.potential)} vs {_e(v.dft_engine)}, {v.n_snapshots} MD snapshots"
        f"{t}): force MAE {v.force_mae_eV_A:.3f} eV/Å (RMSE {v.force_rmse_eV_A:.3f}, max "
        f"{v.max_force_error_eV_A:.3f}), energy MAE {1000 * v.energy_mae_eV_atom:.1f} meV/atom "
        f"(offset removed); model card held-out: {card}; {verdict}</p>"
    )


def _ranking_table(docs: Sequence[CandidateResult]) -> str:
    head = ("#", "candidate", "formula", "C1 potential", "C2 reversible", "C3 MIEC", "E_f ok",
            "E_f (eV/atom)", "E_hull", "V vs Li⁺/Li", "T_op (K)", "D(T_op) (cm²/s)",
            "E_a (eV)", "electronic", "MLIP vs DFT F MAE (eV/Å)", "score", "Pareto",
            "provenance")  # fmt: skip
    out = ["<table><tr>" + "".join(f"<th>{_e(h)}</th>" for h in head) + "</tr>"]
    for d in docs:
        r = flat_row(d)
        if d.status == "failed":
            out.append(
                f'<tr class="failed"><td>–</td><td>{_e(d.candidate_id)}</td><td>{_e(d.formula)}'
                f'</td><td colspan="{len(head) - 3}">failed: {_e(d.reason)}</td></tr>'
            )
            continue
        d_op = "–" if r["D_op_cm2_s"] is None else f"{r['D_op_cm2_s']:.2e}"
        if r["D_op_sigma_cm2_s"] is not None and r["D_op_cm2_s"] is not None:
            d_op += f" ± {r['D_op_sigma_cm2_s']:.1e}"
        ea = _fmt(r["Ea_eV"])
        if r["Ea_sigma_eV"] is not None and r["Ea_eV"] is not None:
            ea += f" ± {r['Ea_sigma_eV']:.3f}"
        cells = [
            _e(r["rank"]), _e(d.candidate_id), _e(d.formula), _mark(r["C1"]), _mark(r["C2"]),
            _mark(r["C3"]), _mark(r["Ef_ok"]), _fmt(r["Ef_eV_atom"]),
            _fmt(r["e_above_hull_eV_atom"]), _fmt(r["voltage_V"]), _fmt(r["T_op_K"], ".1f"),
            _e(d_op), _e(ea),
            _electronic_cell(r["electronic_class"], r["electronic_source"]),
            _validation_cell(d.validation), _fmt(r["score"]),
            '<span class="pareto">★</span>' if d.pareto else "",
            _e(r["provenance"]),
        ]  # fmt: skip
        out.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _system_section(sysdoc: SystemResult, plot_dir: Path) -> str:
    t = sysdoc.thermo
    slug = f"{t.system}_{t.engine}".replace("/", "_")
    hull = sysdoc.hull_plot_path
    volt = sysdoc.voltage_plot_path
    if not hull or not Path(hull).is_file():
        hull = plot_convex_hull(t, plot_dir / f"{slug}_hull.png")
    if not volt or not Path(volt).is_file():
        volt = plot_voltage_profile(t, plot_dir / f"{slug}_voltage.png")
    rows = "".join(
        f"<tr><td>{_e(p.phase_from)} → {_e(p.phase_to)}</td><td>{p.x_from:.3g} → {p.x_to:.3g}"
        f"</td><td>{p.voltage_V:.3f}</td><td>{100 * p.volume_change:.1f} %</td></tr>"
        for p in t.plateaus
    )
    phases = "".join(
        f"<tr><td>{_e(p.phase)}</td><td>{_e(p.formula)}</td>"
        f"<td>{p.formation_energy_eV_atom:.3f}</td><td>{p.e_above_hull_eV_atom:.3f}</td>"
        f"<td>{'yes' if p.on_hull else 'no'}</td></tr>"
        for p in t.phases
    )
    full = (
        f"{100 * t.full_lithiation_volume_change:.0f} % (to {_e(t.full_lithiation_phase)})"
        if t.full_lithiation_volume_change is not None
        else "–"
    )
    return f"""
<h3>{_e(t.system)} — {_e(t.engine)} {_e(t.potential or "")}</h3>
<p class="small">energies: {_e(t.corrections)}; settings {_e(sysdoc.settings_hash[:12])}</p>
{_img(hull, f"{t.system} convex hull")}{_img(volt, f"{t.system} voltage profile")}
<table><tr><th>plateau</th><th>x in LiₓM</th><th>V vs Li⁺/Li</th><th>ΔV/V</th></tr>{rows}</table>
<p>average voltage: {_fmt(t.average_voltage_V)} V; full lithiation volume change: {full}</p>
<table><tr><th>phase</th><th>formula</th><th>E_f (eV/atom)</th><th>E_hull (eV/atom)</th>
<th>on hull</th></tr>{phases}</table>"""


def _candidate_section(d: CandidateResult) -> str:
    if d.status == "failed":
        return f"<h3>{_e(d.candidate_id)} — failed</h3><p>{_e(d.reason)}</p>"
    crit = "".join(
        f"<tr><td>{_e(c.name)}</td><td>{_mark({True: 'pass', False: 'fail'}.get(c.passed, 'n/a'))}"
        f"</td><td>{c.score:.3f}</td><td class='small'>"
        + ", ".join(f"{_e(k)}={_e(_val(v))}" for k, v in c.values.items())
        + f"</td><td>{_e(c.note)}</td></tr>"
        for c in d.criteria
    )
    tr = "".join(
        f"<tr><td>{t.temperature_K:.0f}</td><td>{_fmt(t.D_cm2_s, '.3e')}</td>"
        f"<td>{_fmt(t.D_sigma_cm2_s, '.1e')}</td><td>{_fmt(t.sigma_S_cm, '.3e')}</td>"
        f"<td>{_e(t.converged)}</td><td>{_e(t.n_hops)}</td>"
        f"<td class='small'>{_e(t.trajectory_path)}<br>"
        f"sha256 {_e((t.trajectory_sha256 or '')[:16])}</td></tr>"
        for t in d.transport
    )
    plots = ""
    if d.arrhenius:
        plots += _img(d.arrhenius.plot_path, f"{d.candidate_id} Arrhenius")
    for t in d.transport:
        plots += _img(t.msd_plot_path, f"{d.candidate_id} MSD {t.temperature_K:.0f} K")
    for path in d.neb.plot_paths if d.neb else []:
        plots += _img(path, f"{d.candidate_id} NEB {Path(path).stem}")
    flags = f"<p class='small'>flags: {_e('; '.join(d.flags))}</p>" if d.flags else ""
    why = "".join(f"<li>{_e(line)}</li>" for line in explain(d)[1:])
    return f"""
<h3>{_e(d.candidate_id)} ({_e(d.formula)}) — rank {_e(d.rank)}, score {_fmt(d.score)}</h3>
{flags}
<ul class="small">{why}</ul>
{_validation_line(d.validation)}
<table><tr><th>criterion</th><th>passed</th><th>score</th><th>values</th><th>note</th></tr>
{crit}</table>
<table><tr><th>T (K)</th><th>D (cm²/s)</th><th>σ_D</th><th>σ_ion (S/cm)</th><th>converged</th>
<th>hops</th><th>trajectory</th></tr>{tr}</table>
{_neb_table(d)}
{plots}"""


def _neb_table(d: CandidateResult) -> str:
    """The candidate's NEB hops and TST line, where the NEB ran."""
    if d.neb is None:
        return ""
    rows = "".join(
        f"<tr><td>{h.label}</td><td>{h.length_A:.2f}</td><td>{h.multiplicity}</td>"
        f"<td>{h.forward_barrier_eV:.3f}</td><td>{h.backward_barrier_eV:.3f}</td>"
        f"<td>{h.fmax_eV_A:.3f}</td><td>{_e(h.converged)}</td></tr>"
        for h in d.neb.neb.hops
    )
    tst = ", ".join(
        f"{p.temperature_K:.0f} K: {_fmt(p.D_cm2_s, '.2e')}" for p in d.neb.points
    )
    perc = d.neb.percolation_barrier_eV
    return (
        f"<p class='small'>NEB ({_e(d.neb.neb.potential)}): Ea(TST) {_fmt(d.neb.Ea_eV)} eV, "
        f"percolation barrier {_fmt(perc)} eV ({d.neb.percolation_dimensionality}D); "
        f"D_TST {_e(tst)}</p>"
        "<table><tr><th>hop</th><th>length (Å)</th><th>×</th><th>forward (eV)</th>"
        f"<th>backward (eV)</th><th>fmax (eV/Å)</th><th>converged</th></tr>{rows}</table>"
    )


def _potentials(p: Provenance) -> str:
    """Which potential computed what: the MD one, and the thermo one where it differs."""
    thermo = p.settings.get("thermo_potential")
    if thermo in (None, p.potential):
        return p.potential or ""
    return f"MD {p.potential}; thermo {thermo}"


def _provenance_section(docs: Sequence[CandidateResult | SystemResult]) -> str:
    seen: dict[str, CandidateResult | SystemResult] = {}
    for d in docs:
        seen.setdefault(d.settings_hash, d)
    out = []
    for h, d in seen.items():
        p = d.provenance
        vers = ", ".join(f"{k} {v}" for k, v in sorted(p.package_versions.items()))
        out.append(
            f"<tr><td>{_e(h[:12])}</td><td>{_e(p.engine)}</td><td>{_e(_potentials(p))}</td>"
            f"<td class='small'>{_e((p.model_sha256 or '')[:16])}</td><td>{_e(p.seeds)}</td>"
            f"<td class='small'>{_e(p.created_at)}</td><td class='small'>{_e(vers)}</td></tr>"
        )
    return (
        "<table><tr><th>settings</th><th>engine</th><th>potential</th><th>model sha256</th>"
        "<th>seeds</th><th>created</th><th>versions</th></tr>" + "".join(out) + "</table>"
    )


def _conduction_section(docs: Sequence[CandidateResult], plot_dir: Path) -> str:
    """σ_e vs σ_ion map with the class bands; candidates it cannot place are listed with why."""
    ok = [d for d in docs if d.status == "ok"]
    if not ok:
        return "<p>no ranked candidates</p>"
    png, left_out = plot_conduction_map(ok, plot_dir / "conduction_map.png")
    rules = {d.candidate_id: (c.values.get("class_rule") if (c := d.criterion("mixed_conduction"))
                              else None) for d in ok}  # fmt: skip
    missing = "".join(f"<li>{_e(i)}: {_e(rules[i])}</li>" for i in left_out)
    if not missing:
        return _img(png, "σ_e vs σ_ion at T_op")
    note = f"<p class='small'>not on the map:</p><ul class='small'>{missing}</ul>"
    return _img(png, "σ_e vs σ_ion at T_op") + note


def render_report(
    candidates: Sequence[CandidateResult],
    systems: Sequence[SystemResult],
    out_dir: str | Path,
    *,
    title: str = "ilscreen report",
    source: str = "",
) -> Path:
    """Write ``<out_dir>/report.html`` (and the plots it draws under ``<out_dir>/plots``)."""
    out_dir = Path(out_dir)
    plot_dir = out_dir / "plots"
    plot_dir.mkdir(parents=True, exist_ok=True)
    ranked = sorted(
        candidates,
        key=lambda d: (d.status != "ok", d.rank if d.rank is not None else 10**9, d.candidate_id),
    )
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    n_pass = sum(d.passing for d in ranked)
    body = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title><style>{_CSS}</style>
</head><body>
<h1>{_e(title)}</h1>
<p class="small">generated {now} from {_e(source)}; {len(ranked)} candidates, {n_pass} passing all
criteria, {sum(d.status == "failed" for d in ranked)} failed. C1: potential in window near 0 V;
C2: reversible (near hull, volume step, kinetics); C3: mixed conductor by σ_e/σ_ion at T_op;
? = missing data (does not pass). ★ = Pareto set over (−V, log D(T_op), −E_f). MLIP vs DFT:
force MAE of the MD potential on MD snapshots (⚠ = above the threshold; not part of the ranking).
</p>
<h2>Ranking</h2>
{_ranking_table(ranked)}
<h2>Conduction: σ_e vs σ_ion at T_op</h2>
{_conduction_section(ranked, plot_dir)}
<h2>Systems</h2>
{"".join(_system_section(s, plot_dir) for s in systems) or "<p>no system documents</p>"}
<h2>Candidates</h2>
{"".join(_candidate_section(d) for d in ranked) or "<p>no candidates</p>"}
<h2>Provenance</h2>
{_provenance_section([*ranked, *systems])}
</body></html>
"""
    path = out_dir / "report.html"
    write_text_atomic(path, body)
    log.info("report written to %s", path)
    return path


def report_from_store(
    store: ResultsStore | str | Path | None, out_dir: str | Path, system: str | None = None
) -> Path:
    """Render the report for everything (or one system) in ``store``."""
    s = store if isinstance(store, ResultsStore) else ResultsStore.open(store)
    try:
        cands = s.ranking(system=system, sort="rank")
        systems = [d for d in s.all(kind="system") if system is None or d.system == system]
        return render_report(cands, systems, out_dir, source=s.name)  # type: ignore[arg-type]
    finally:
        if s is not store:
            s.close()
