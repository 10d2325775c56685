"""Convergence of the GPAW PBE anchor (Li–Sb) in plane-wave cutoff and k density.

Single points on fixed geometries (the library cells reduced to primitive cells, so every setting
sees the same structures): total energy per atom of Li bcc, Li fcc, Sb A7, Li2Sb and Li3Sb, and
from them Ef(Li2Sb), Ef(Li3Sb) (vs Li bcc + Sb A7) and E(bcc) − E(fcc). Convergence is judged on
those differences, the numbers the screen reads, not on total energies.

    OMP_NUM_THREADS=1 python benchmarks/gpaw_convergence.py --json conv.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pymatgen.io.ase import AseAtomsAdaptor

ROOT = Path(__file__).resolve().parents[1]
PHASES = {
    "Li-bcc": "Li/Li-bcc/1x1x1/vac0",
    "Li-fcc": "Li/Li-fcc/1x1x1/vac0",
    "Sb": "Li-Sb/Sb/1x1x1/vac0",
    "Li2Sb": "Li-Sb/Li2Sb/1x1x1/vac0",
    "Li3Sb": "Li-Sb/Li3Sb/1x1x1/vac0",
}


def cells() -> dict[str, Any]:
    """Primitive cells of the Li–Sb phases of candidates.yaml."""
    from screening.campaign import load_campaign
    from screening.candidates import generate_candidates
    from workflows.dft_gpaw import primitive_cell

    cands = {c.id: c for c in generate_candidates(load_campaign(ROOT / "candidates.yaml"))}
    return {k: primitive_cell(cands[v].structure) for k, v in PHASES.items()}


def single_point(structure: Any, ecut: float, kd: float, smearing: float) -> dict[str, Any]:
    """E/atom, mesh, IBZ size, SCF iterations and wall time of one GPAW SCF."""
    from workflows.dft_gpaw import GPAWSettings, gpaw_calculator, kpoint_mesh

    s = GPAWSettings(ecut_eV=ecut, kpt_density=kd, smearing_eV=smearing)
    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = gpaw_calculator(atoms, s)
    t0 = time.perf_counter()
    e = float(atoms.get_potential_energy())
    wall = time.perf_counter() - t0
    calc = atoms.calc
    try:
        iters = int(calc.get_number_of_iterations())
    except Exception:  # not every GPAW front end has it
        iters = None
    return {
        "e_atom": e / len(atoms), "n_atoms": len(atoms), "kpts": kpoint_mesh(atoms, s),
        "n_ibz": len(calc.get_ibz_k_points()), "iterations": iters, "wall_s": wall,
    }  # fmt: skip


def differences(e: dict[str, float]) -> dict[str, float]:
    """Ef (eV/atom, vs Li bcc + Sb A7) and E(bcc) − E(fcc) (meV/atom) from energies per atom."""
    out: dict[str, float] = {}
    if "Li-bcc" in e and "Li-fcc" in e:
        out["bcc_minus_fcc_meV"] = 1e3 * (e["Li-bcc"] - e["Li-fcc"])
    for phase, x in (("Li2Sb", 2), ("Li3Sb", 3)):
        if phase in e and "Li-bcc" in e and "Sb" in e:
            out[f"Ef_{phase}"] = e[phase] - (x * e["Li-bcc"] + e["Sb"]) / (x + 1)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grid", default="300:2.5,500:3,600:3,400:4.5,400:6,500:5",
                    help="ecut:kdensity pairs")  # fmt: skip
    ap.add_argument("--li-kd", default="9,12", help="extra k densities for Li bcc/fcc only")
    ap.add_argument("--phases", default=",".join(PHASES))
    ap.add_argument("--smearing", type=float, default=0.05)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    structures = cells()
    wanted = args.phases.split(",")
    out = {"smearing_eV": args.smearing, "settings": []}
    pairs = [tuple(float(x) for x in p.split(":")) for p in args.grid.split(",")]
    pairs += [(400.0, float(k)) for k in args.li_kd.split(",") if k]
    for ecut, kd in pairs:
        li_only = (ecut, kd) not in pairs[: len(args.grid.split(","))]
        row: dict[str, Any] = {"ecut_eV": ecut, "kpt_density": kd, "phases": {}}
        for name in wanted:
            if li_only and not name.startswith("Li-"):
                continue
            row["phases"][name] = single_point(structures[name], ecut, kd, args.smearing)
            p = row["phases"][name]
            print(f"{ecut:.0f} eV k{kd:g} {name}: {p['e_atom']:.5f} eV/atom, mesh {p['kpts']}"
                  f" ({p['n_ibz']} irr.), {p['iterations']} it, {p['wall_s']:.0f} s",
                  flush=True)  # fmt: skip
        row["differences"] = differences({k: v["e_atom"] for k, v in row["phases"].items()})
        print(f"  -> {row['differences']}", flush=True)
        out["settings"].append(row)
        if args.json:
            args.json.write_text(json.dumps(out, indent=1))
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
