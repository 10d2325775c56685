"""CI-NEB of one hop with one ASE calculator per image vs the batched band (workflows/neb_band).

Same hop, same settings, alternating runs; prints wall time, steps and barriers of each and the
ratio. Default: the Li3Sb 2×2×2 tet–oct hop with the shipped model in float32.

    python benchmarks/neb_band_speed.py --phase Li3Sb --hop 0 --repeats 2
"""

from __future__ import annotations

import argparse
import time

from potentials.registry import load_calculator, load_torchsim_model
from screening.campaign import NEBSettings
from screening.migration import distinct_hops, hop_cell, hop_endpoints, migration_graph
from screening.structures import build_structure, load_phase_library
from workflows.neb import hop_barrier


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", default="Li3Sb", help="phase library name")
    ap.add_argument("--supercell", type=int, default=2)
    ap.add_argument("--hop", type=int, default=0, help="index of the distinct hop, shortest first")
    ap.add_argument("--potential", default="mace:ilscreen-li-alloys")
    ap.add_argument("--dtype", default="float32")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    conv = build_structure(load_phase_library()[args.phase])
    big = conv.copy()
    big.make_supercell([args.supercell] * 3)
    cell, matrix = hop_cell(conv, big)
    hop = distinct_hops(migration_graph(cell, 4.5))[args.hop]
    start, end = hop_endpoints(cell, hop, matrix)
    settings = NEBSettings(max_steps=200)
    calc = load_calculator(args.potential, dtype=args.dtype)
    model = load_torchsim_model(args.potential, dtype=args.dtype)
    for _ in range(args.repeats):
        wall = {}
        for label, m in (("per-image ASE", None), ("batched band", model)):
            t0 = time.perf_counter()
            r = hop_barrier(start, end, hop, calc, settings, m)
            wall[label] = time.perf_counter() - t0
            print(f"{label:14s} {wall[label]:7.1f} s, {r.steps} steps, barrier "
                  f"{r.forward_barrier_eV:.4f}/{r.backward_barrier_eV:.4f} eV", flush=True)
        print(f"ratio per-image / batched: {wall['per-image ASE'] / wall['batched band']:.2f}")


if __name__ == "__main__":
    main()
