"""Model-card sections made from the screen's own MD runs (``ilscreen md`` trajectories).

The distillation measures stability in short runs of its own; the long checks of a shipped model
(20 ps at 900/1100 K on every lithiated phase, Li3Sb D(900 K) against the teacher) are ordinary
``ilscreen md`` runs. This module turns their HDF5 trajectories into a card section, so the card
reports what the trajectories on disk say (``ilscreen potentials record-md``), not hand-copied
numbers. Sections live under ``card["md_checks"][name]``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from screening.errors import InputError
from workflows.md.guards import run_is_physical, unphysical_reason

#: the student's D(Li) must agree with the teacher's within this factor (issue 3)
MAX_D_RATIO = 2.0


def _closest_contacts(traj: Any) -> tuple[float, float]:
    """Shortest interatomic distance over all frames, and the shortest excluding C–C pairs
    (graphite's own bond is 1.42 Å, below any metal collapse limit)."""
    from ase.neighborlist import neighbor_list

    from screening.trajectory import to_ase_frames

    closest, closest_non_cc = np.inf, np.inf
    for atoms in to_ase_frames(traj, wrap=True):
        i, j, d = neighbor_list("ijd", atoms, 3.0)
        if not len(d):
            continue
        closest = min(closest, float(d.min()))
        z = atoms.numbers
        non_cc = ~((z[i] == 6) & (z[j] == 6))
        if non_cc.any():
            closest_non_cc = min(closest_non_cc, float(d[non_cc].min()))
    return closest, closest_non_cc


def _rounded(x: float, digits: int) -> float | None:
    """JSON-safe: no NaN/inf in the card."""
    return round(x, digits) if np.isfinite(x) else None


def summarize_run(path: Path) -> dict[str, Any]:
    """One card row from one finished (or guard-stopped) ``ilscreen md`` trajectory."""
    from screening.diffusion_files import analyze_file
    from screening.trajectory import read_trajectory

    traj = read_trajectory(path)
    a = traj.attrs
    if a.get("status") not in ("completed", "unstable"):
        raise InputError(
            f"run is not finished (status {a.get('status')!r}): finish it with `ilscreen md`",
            file=path,
            allowed=["completed", "unstable"],
        )
    target = float(a["target_temperature_K"])
    closest, closest_non_cc = _closest_contacts(traj)
    seen = float(a.get("min_distance_seen_A", -1.0))  # the MD guard's checks between frames
    closest = min(closest, seen) if seen >= 0 else closest
    eq_steps = int(a.get("equilibration_steps", 0))
    production_ps = max(0, int(a.get("steps_done", 0)) - eq_steps) * float(a["timestep_fs"]) / 1e3
    # a run stopped by a guard before its first frame has no temperatures or contacts to report
    mean_t = float(traj.temperature_K.mean()) if traj.n_frames else float("nan")
    row: dict[str, Any] = {
        "candidate": str(a["candidate_id"]),
        "potential": str(a["potential"]),
        "n_atoms": traj.n_atoms,
        "temperature_K": target,
        "production_ps": round(production_ps, 2),
        "mean_T_K": _rounded(mean_t, 1),
        "mean_T_deviation_pct": _rounded(100.0 * (mean_t - target) / target, 2),
        "closest_contact_A": _rounded(closest, 3),
        "closest_non_CC_contact_A": _rounded(closest_non_cc, 3),
        "stable": a["status"] == "completed" and run_is_physical(mean_t, target),
        "unstable_reason": a.get("unstable_reason") or None,
        "D_Li_cm2_s": None,
        "D_Li_sigma_cm2_s": None,
        "D_converged": False,
        "Li_hopped": None,
        "trajectory": str(path),
    }
    if a["status"] == "completed" and not row["stable"]:
        row["unstable_reason"] = unphysical_reason(mean_t, target)
    if row["stable"] and (traj.numbers == 3).any():
        try:
            res = analyze_file(path)
        except InputError as exc:  # too few frames or no Li: the row keeps D empty
            row["D_note"] = str(exc)
        else:
            row.update(
                D_Li_cm2_s=res.D_cm2_s,
                D_Li_sigma_cm2_s=res.D_sigma_cm2_s,
                D_converged=res.converged,
                Li_hopped=f"{res.n_hops}/{res.n_species_atoms}",
            )
    return row


def find_runs(folders: Iterable[Path]) -> list[Path]:
    """Every ``T<temp>K.h5`` trajectory under ``folders`` (sorted), or one error naming them."""
    folders = [Path(f) for f in folders]
    paths = sorted({p for f in folders for p in f.rglob("T*K.h5")})
    if not paths:
        where = ", ".join(map(str, folders))
        raise InputError("no ilscreen md trajectories (T*K.h5) found", file=where)
    return paths


def _protocol(path: Path) -> str:
    from screening.trajectory import read_trajectory

    a = read_trajectory(path).attrs
    dt = float(a["timestep_fs"])
    return (
        f"NVT {a['thermostat']} ({float(a['thermostat_timescale_fs']):.0f} fs), {dt:g} fs, "
        f"{int(a['equilibration_steps']) * dt / 1e3:g} ps equilibration + "
        f"{int(a['production_steps']) * dt / 1e3:g} ps production, frames every "
        f"{int(a['stride']) * dt:g} fs, seed {a['seed']}"
    )


def transport_comparison(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Student/teacher D ratio for every (candidate, T) run with more than one potential."""
    groups: dict[tuple[str, float], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["candidate"], r["temperature_K"]), []).append(r)
    out = []
    for (candidate, temp), runs in sorted(groups.items()):
        with_d = [r for r in runs if r["D_Li_cm2_s"]]
        if len({r["potential"] for r in with_d}) < 2:
            continue
        ref, *others = sorted(with_d, key=lambda r: r["potential"].startswith("mace:"))
        for r in others:
            ratio = r["D_Li_cm2_s"] / ref["D_Li_cm2_s"]
            out.append(
                {
                    "candidate": candidate,
                    "temperature_K": temp,
                    "potential": r["potential"],
                    "reference": ref["potential"],
                    "D_ratio": round(ratio, 3),
                    "within_factor_2": 1 / MAX_D_RATIO <= ratio <= MAX_D_RATIO,
                }
            )
    return out


def md_check_section(paths: list[Path], command: str, machine: str) -> dict[str, Any]:
    """A card section from trajectories: protocol, one row per run, comparison and verdict."""
    rows = [summarize_run(p) for p in paths]
    failed = [r for r in rows if not r["stable"]]
    comparison = transport_comparison(rows)
    verdict = (
        f"all {len(rows)} runs stable"
        if not failed
        else f"{len(rows) - len(failed)}/{len(rows)} runs stable; unstable: "
        + "; ".join(f"{r['candidate']} at {r['temperature_K']:.0f} K" for r in failed)
    )
    for c in comparison:
        verdict += (
            f"; D({c['temperature_K']:.0f} K) {c['potential']}/{c['reference']} = "
            f"{c['D_ratio']:.2f} ({'within' if c['within_factor_2'] else 'NOT within'} 2x)"
        )
    return {
        "command": command,
        "protocol": _protocol(paths[0]),
        "machine": machine,
        "date": _dt.date.today().isoformat(),
        "runs": rows,
        "transport_comparison": comparison,
        "verdict": verdict,
    }


def _cell(value: float | None, spec: str, unit: str = "") -> str:
    return "–" if value is None else f"{value:{spec}}{unit}"


def section_markdown(name: str, section: dict[str, Any]) -> list[str]:
    """Markdown of one MD-check section of the card."""
    lines = [
        f"## MD check: {name}",
        "",
        f"`{section['command']}`: {section['protocol']} ({section['machine']}, {section['date']}).",
        "",
        "| candidate | potential | atoms | T (K) | ps done | ⟨T⟩ (K) | ΔT | closest (Å) "
        "| closest non C–C (Å) | stable | D(Li) (cm²/s) | Li hopped |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for e in section["runs"]:
        d = "–"
        if e["D_Li_cm2_s"] is not None:
            d = f"{e['D_Li_cm2_s']:.2e} ± {e['D_Li_sigma_cm2_s']:.1e}"
            d += "" if e["D_converged"] else " (not conv.)"
        ok = "yes" if e["stable"] else f"**no**: {e['unstable_reason']}"
        cells = [
            e["candidate"],
            f"`{e['potential']}`",
            e["n_atoms"],
            f"{e['temperature_K']:.0f}",
            f"{e['production_ps']:.1f}",
            _cell(e["mean_T_K"], ".1f"),
            _cell(e["mean_T_deviation_pct"], "+.1f", " %"),
            _cell(e["closest_contact_A"], ".2f"),
            _cell(e["closest_non_CC_contact_A"], ".2f"),
            ok,
            d,
            e.get("Li_hopped") or "–",
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return [*lines, "", f"Verdict: {section['verdict']}", ""]
