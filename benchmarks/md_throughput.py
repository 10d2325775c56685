"""MD throughput: sequential ASE NVT (one system at a time, as atomate2's ForceFieldMDMaker does)
versus the batched torch-sim path, same potential, same (phase, temperature) pairs.

Measured, not asserted. Usage::

    python benchmarks/md_throughput.py                       # shipped MACE model, else SevenNet-0
    python benchmarks/md_throughput.py --potential lj        # engine overhead only (LJ, no MLIP)
    python benchmarks/md_throughput.py --device cuda --steps 200 --json out.json

The default set is 5 MD phases of candidates.yaml (quick preset cells) × 3 temperatures
(300/548/900 K) = 15 runs. Throughput is atom-steps per second of wall time, model loading
excluded, the initial force evaluation included.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from potentials.torch_compat import allow_e3nn_constants  # noqa: E402

allow_e3nn_constants()

import torch  # noqa: E402

TEMPERATURES = (300.0, 548.0, 900.0)


def pick_phases(n_phases: int, lj: bool) -> tuple[list, list[str]]:
    """``n_phases`` MD structures (distinct phases) from candidates.yaml, or LJ argon cells."""
    if lj:
        from ase.build import bulk

        cells = [(2, 2, 2), (3, 2, 2), (3, 3, 2), (3, 3, 3), (4, 3, 3)][:n_phases]
        return [bulk("Ar", "fcc", a=5.26, cubic=True).repeat(r) for r in cells], [
            f"Ar-fcc-{'x'.join(map(str, r))}" for r in cells
        ]
    from pymatgen.io.ase import AseAtomsAdaptor

    from screening.campaign import load_campaign
    from screening.candidates import generate_candidates

    seen, atoms, ids = set(), [], []
    for cand in generate_candidates(load_campaign(ROOT / "candidates.yaml"), "quick"):
        key = (cand.system, cand.phase)
        if "md" in cand.purposes and key not in seen:
            seen.add(key)
            atoms.append(AseAtomsAdaptor.get_atoms(cand.structure))
            ids.append(cand.id)
        if len(atoms) == n_phases:
            break
    return atoms, ids


def default_potential() -> str:
    from potentials.registry import shipped_models

    return (
        "mace:ilscreen-li-alloys"
        if "ilscreen-li-alloys" in shipped_models()
        else ("sevennet:7net-0")
    )


def load_models(spec: str, device: str, dtype: str):
    """(ASE calculator, torch-sim model) for the same potential."""
    if spec == "lj":
        from ase.calculators.lj import LennardJones
        from torch_sim.models.lennard_jones import LennardJonesModel

        calc = LennardJones(sigma=3.4, epsilon=0.0104, rc=8.0, smooth=False)
        model = LennardJonesModel(
            sigma=3.4,
            epsilon=0.0104,
            cutoff=8.0,
            device=torch.device(device),
            dtype=getattr(torch, dtype),
        )
        return calc, model
    from potentials.registry import load_calculator, load_torchsim_model

    return (
        load_calculator(spec, device=device, dtype=dtype),
        load_torchsim_model(spec, device=device, dtype=dtype),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--potential", default=None, help="spec, or 'lj' (default: auto)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="float32")
    parser.add_argument("--steps", type=int, default=20, help="MD steps per run")
    parser.add_argument("--phases", type=int, default=5)
    parser.add_argument("--thermostat", default="nose-hoover")
    parser.add_argument("--json", type=Path, default=None, help="also write results here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    from workflows.md import StabilityGuards, run_nvt, run_nvt_batched

    spec = args.potential or default_potential()
    phases, ids = pick_phases(args.phases, spec == "lj")
    pairs = [(a, i, t) for a, i in zip(phases, ids, strict=True) for t in TEMPERATURES]
    calc, model = load_models(spec, args.device, args.dtype)
    # Guards stay on (their cost is part of the engine); the distance probe only every 10 steps.
    guards = StabilityGuards(check_every_steps=10)
    common = dict(
        timestep_fs=2.0,
        equilibration_steps=0,
        production_steps=args.steps,
        stride=10,
        thermostat=args.thermostat,
        seed=0,
        guards=guards,
        potential=spec,
        checkpoint_every_steps=10**9,
    )
    n_atoms_total = sum(len(a) for a, _, _ in pairs)
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        seq = [
            run_nvt(
                a,
                calc,
                temperature_K=t,
                trajectory_path=Path(tmp) / f"s{k}.h5",
                candidate_id=i,
                **common,
            )
            for k, (a, i, t) in enumerate(pairs)
        ]
        t_seq = time.perf_counter() - t0
        t0 = time.perf_counter()
        bat = run_nvt_batched(
            [a for a, _, _ in pairs],
            [t for _, _, t in pairs],
            model,
            trajectory_paths=[Path(tmp) / f"b{k}.h5" for k in range(len(pairs))],
            candidate_ids=[i for _, i, _ in pairs],
            **common,
        )
        t_bat = time.perf_counter() - t0
    atom_steps = n_atoms_total * args.steps
    out = {
        "potential": spec,
        "device": args.device,
        "dtype": args.dtype,
        "torch_threads": torch.get_num_threads(),
        "cpu": platform.processor() or platform.machine(),
        "runs": len(pairs),
        "atoms_per_run": [len(a) for a, _, _ in pairs],
        "steps": args.steps,
        "thermostat": args.thermostat,
        "sequential_wall_s": t_seq,
        "batched_wall_s": t_bat,
        "sequential_atom_steps_per_s": atom_steps / t_seq,
        "batched_atom_steps_per_s": atom_steps / t_bat,
        "speedup_batched_over_sequential": t_seq / t_bat,
        "all_stable": all(r.stable for r in seq + bat),
    }
    print(json.dumps(out, indent=2))
    print(
        f"\n{len(pairs)} runs × {args.steps} steps ({n_atoms_total} atoms in total), {spec} on "
        f"{args.device}/{args.dtype}: sequential ASE {out['sequential_atom_steps_per_s']:.0f} "
        f"atom-steps/s, batched torch-sim {out['batched_atom_steps_per_s']:.0f} atom-steps/s "
        f"→ ratio {out['speedup_batched_over_sequential']:.2f}×"
    )
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
