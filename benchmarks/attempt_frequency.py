"""Local-harmonic (Vineyard) attempt frequency of each distinct hop, beside the 10 THz default.

Diagnostic, not used by the screen: for every distinct hop of a phase, the CI-NEB band
(:func:`workflows.neb.relaxed_band`, the screen's settings), then the 3×3 Hessian of the migrating
atom alone (all other atoms fixed; central differences of the forces) at the start minimum and at
the climbing image. Vineyard in this one-atom approximation: ν* = ν₁ν₂ν₃(min) / ν₁ν₂(saddle, real
modes), forward from the start and backward from the end minimum; the saddle must show exactly
one imaginary mode. Prints ν* per hop and direction in THz, to set beside the 10 THz default.

    python benchmarks/attempt_frequency.py --phase Li3Sb --supercell 2
"""

from __future__ import annotations

import argparse

import numpy as np
from ase import Atoms
from ase.units import _amu, _e

from potentials.registry import load_calculator, load_torchsim_model
from screening.campaign import NEBSettings
from screening.migration import distinct_hops, hop_cell, hop_endpoints, migration_graph
from screening.structures import build_structure, load_phase_library
from workflows.neb import relaxed_band
from workflows.neb_band import attach


def atom_hessian(atoms: Atoms, index: int, calc, model, delta: float = 0.01) -> np.ndarray:
    """3×3 force-constant matrix (eV/Å²) of atom ``index``, every other atom held fixed."""
    work = atoms.copy()
    attach([work], model, calc)
    h = np.zeros((3, 3))
    for k in range(3):
        f = []
        for sign in (1, -1):
            pos = atoms.get_positions()
            pos[index, k] += sign * delta
            work.set_positions(pos)
            f.append(work.get_forces()[index])
        h[k] = -(f[0] - f[1]) / (2 * delta)
    return 0.5 * (h + h.T)


def frequencies_THz(h: np.ndarray, mass_amu: float) -> np.ndarray:
    """Signed harmonic frequencies (negative = imaginary) of a 3×3 Hessian, THz."""
    w2 = np.linalg.eigvalsh(h) * _e * 1e20 / (mass_amu * _amu)  # s⁻²
    return np.sign(w2) * np.sqrt(np.abs(w2)) / (2 * np.pi) / 1e12


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--phase", default="Li3Sb")
    ap.add_argument("--supercell", type=int, default=2)
    ap.add_argument("--potential", default="mace:ilscreen-li-alloys")
    ap.add_argument("--dtype", default="float64")
    args = ap.parse_args()
    conv = build_structure(load_phase_library()[args.phase])
    big = conv.copy()
    big.make_supercell([args.supercell] * 3)
    cell, matrix = hop_cell(conv, big)
    calc = load_calculator(args.potential, dtype=args.dtype)
    model = load_torchsim_model(args.potential, dtype=args.dtype)
    print("| hop | length Å | barrier fwd / bwd eV | ν start THz | ν end THz | ν saddle THz | "
          "ν* fwd / bwd THz |")
    print("|---|---|---|---|---|---|---|")
    for hop in distinct_hops(migration_graph(cell, 4.5)):
        start, end = hop_endpoints(cell, hop, matrix)
        band = relaxed_band(start, end, calc, NEBSettings(), model)
        i_top = int(np.argmax(band.energies_eV))
        mover = len(band.images[0]) - 1  # hop_endpoints puts the migrating atom last
        mass = band.images[0].get_masses()[mover]
        nu = [frequencies_THz(atom_hessian(band.images[i], mover, calc, model), mass)
              for i in (0, -1, i_top)]
        e = band.energies_eV
        barriers = f"{e[i_top] - e[0]:.3f} / {e[i_top] - e[-1]:.3f}"
        if i_top in (0, len(band.images) - 1) or (nu[2] < 0).sum() != 1:
            vstar = f"no interior saddle with one imaginary mode (image {i_top})"
        else:
            real = np.prod(nu[2][nu[2] > 0])
            vstar = f"{np.prod(nu[0]) / real:.2f} / {np.prod(nu[1]) / real:.2f}"
        cols = " | ".join(str(np.round(v, 2)) for v in nu)
        print(f"| {hop.label} | {hop.length_A:.3f} | {barriers} | {cols} | {vstar} |", flush=True)


if __name__ == "__main__":
    main()
