"""Li vacancy-hop barriers of the shipped student vs its teacher (and any other spec), side by side.

Each potential relaxes the phase cell itself (cell + positions, the screen's relax Maker), then
runs CI-NEB of every distinct hop in the same supercell. Prints one row per hop and potential,
and the TST Ea of each, as markdown for BENCHMARKS.md.

    python benchmarks/neb_barriers.py --phase Li-Sb/Li3Sb --cell primitive --supercell 2 \
        --potentials mace:ilscreen-li-alloys,sevennet:7net-0
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from jobflow import run_locally
from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

from potentials.registry import describe, load_calculator, load_torchsim_model
from screening.barriers import NEBResult, neb_transport
from screening.campaign import NEBSettings, load_campaign
from screening.candidates import generate_candidates
from workflows.neb import phase_barriers
from workflows.relax import mlip_relax_maker


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", default="Li-Sb/Li3Sb", help="SYSTEM/PHASE of candidates.yaml")
    ap.add_argument("--cell", choices=("primitive", "conventional"), default="primitive")
    ap.add_argument("--supercell", type=int, default=2)
    ap.add_argument("--potentials", default="mace:ilscreen-li-alloys,sevennet:7net-0")
    ap.add_argument("--temperatures", default="300,548,900")
    ap.add_argument("--candidates", default="candidates.yaml")
    args = ap.parse_args()
    campaign = load_campaign(args.candidates)
    system, phase = args.phase.split("/")
    cand = next(
        c for c in generate_candidates(campaign, "quick")
        if (c.system, c.phase) == (system, phase) and "thermo" in c.purposes
    )
    cell0 = cand.structure
    if args.cell == "primitive":
        cell0 = SpacegroupAnalyzer(cell0).get_primitive_standard_structure()
    matrix = np.eye(3, dtype=int) * args.supercell
    temps = [float(t) for t in args.temperatures.split(",")]
    settings = NEBSettings()
    rows, summary = [], []
    for spec in args.potentials.split(","):
        dtype = "float64" if spec.startswith("mace") else "float32"
        relax = mlip_relax_maker(spec, dtype=dtype, fmax=0.01, steps=500).make(cell0)
        cell = run_locally(relax, log=False, ensure_success=True)[relax.uuid][1].output.structure
        calc = load_calculator(spec, dtype=dtype)
        model = load_torchsim_model(spec, dtype=dtype) if describe(spec).batched_md else None
        t0 = time.perf_counter()
        hops = phase_barriers(cell, matrix, calc, settings, model=model)
        wall = time.perf_counter() - t0
        n_atoms = len(cell) * args.supercell**3 - 1
        neb = NEBResult(candidate_id=args.phase, potential=spec, n_atoms=n_atoms, n_vacancies=1,
                        cutoff_A=settings.cutoff_A, hops=hops, wall_s=wall)
        a = cell.lattice.abc[0]
        for h in hops:
            rows.append(f"| {spec} | {h.label} | {h.length_A:.3f} | {h.multiplicity} | "
                        f"{h.forward_barrier_eV:.3f} | {h.backward_barrier_eV:.3f} | "
                        f"{h.fmax_eV_A:.3f} | {h.converged} | {h.wall_s:.0f} |")
            print(rows[-1], flush=True)
        tst = neb_transport(cell, matrix, neb, temps, settings)
        d = ", ".join(f"{p.temperature_K:.0f} K {p.D_cm2_s:.2e}" for p in tst.points if p.D_cm2_s)
        perc = f"{tst.percolation_barrier_eV} ({tst.percolation_dimensionality}D)"
        summary.append(f"| {spec} | {a:.3f} | {tst.Ea_eV} ± {tst.Ea_sigma_eV} | {perc} | {d} | "
                       f"{wall:.0f} |")
    print(f"\n{args.phase}, {args.cell} cell × {args.supercell}³, one vacancy\n")
    print("| potential | hop | length Å | × | forward eV | backward eV | fmax eV/Å | conv. | s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\n| potential | a (Å) | Ea(TST) eV | percolation eV | D_TST cm²/s | NEB wall s |")
    print("|---|---|---|---|---|---|")
    print("\n".join(summary))


if __name__ == "__main__":
    main()
