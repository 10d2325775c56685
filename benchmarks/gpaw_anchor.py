"""The GPAW PBE anchor of Li–Sb: Ef(Li2Sb), Ef(Li3Sb), both plateaus and E(Li bcc) − E(Li fcc).

Each phase's primitive cell is relaxed (cell + positions) with the ``engine: dft`` relax job
(:class:`workflows.dft_gpaw.GPAWRelaxMaker`: BFGS within the space group) at ``--relax``
settings, starting from a cell pre-relaxed with ``--start`` (a PBE-trained potential, so the
GPAW relaxation needs few steps; ``none`` starts from the library cell). Energies are then single
points at ``--final`` settings on the GPAW-relaxed cells (the convergence study,
``benchmarks/gpaw_convergence.py``, says which settings converge Ef to ~5 meV/atom), the Li
references' at ``--li-kd`` (Li metal converges slowly in k; 1-atom cells afford a dense mesh).
``--record SPEC`` writes the comparison of SPEC against this anchor into SPEC's card (fidelity
section ``gpaw``), as
``ilscreen potentials fidelity SPEC --reference gpaw --record`` does.

    OMP_NUM_THREADS=1 python benchmarks/gpaw_anchor.py --relax 400:3 --final 400:5 \\
        --li-kd 12 --json anchor.json --record mace:ilscreen-li-alloys
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from pymatgen.io.ase import AseAtomsAdaptor

ROOT = Path(__file__).resolve().parents[1]


def settings(text: str, smearing: float) -> Any:
    """``ecut:kdensity`` → GPAWSettings."""
    from workflows.dft_gpaw import GPAWSettings

    ecut, kd = (float(x) for x in text.split(":"))
    return GPAWSettings(ecut_eV=ecut, kpt_density=kd, smearing_eV=smearing)


def pre_relax(structure: Any, spec: str) -> Any:
    """Cell + positions relaxation with an MLIP (FIRE, Fréchet filter, 0.01 eV/Å)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    from potentials.registry import load_calculator

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = load_calculator(spec)
    FIRE(FrechetCellFilter(atoms), logfile=None).run(fmax=0.01, steps=300)
    return AseAtomsAdaptor.get_structure(atoms)


def single_point(structure: Any, s: Any) -> float:
    """GPAW total energy (eV) of ``structure`` with settings ``s``."""
    from workflows.dft_gpaw import gpaw_calculator

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = gpaw_calculator(atoms, s)
    return float(atoms.get_potential_energy())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--relax", default="400:3", help="ecut:kdensity of the relaxations")
    ap.add_argument("--final", default="", help="ecut:kdensity of the single points ('' none)")
    ap.add_argument("--li-kd", type=float, default=12.0, help="k density of Li bcc − fcc")
    ap.add_argument("--smearing", type=float, default=0.05)
    ap.add_argument("--fmax", type=float, default=0.05)
    ap.add_argument("--start", default="sevennet:7net-0")
    ap.add_argument("--phases", default="", help="comma-separated phase names (default all)")
    ap.add_argument("--json", type=Path, required=True)
    ap.add_argument("--record", default="", help="potential spec whose card gets the comparison")
    ap.add_argument("--reuse", type=Path, help="earlier --json (its final energies)")
    args = ap.parse_args()

    from jobflow import Flow, run_locally

    from potentials.fidelity import (
        BOUNDS,
        _row,
        compare_system,
        li_bcc_minus_fcc,
        relax_energies,
        system_thermos,
    )
    from screening.campaign import load_campaign
    from screening.candidates import generate_candidates
    from screening.thermo import PhaseEnergy
    from workflows.dft_gpaw import GPAWRelaxMaker, gpaw_version, primitive_cell

    campaign = load_campaign(ROOT / "candidates.yaml")
    campaign = campaign.model_copy(
        update={"systems": [s for s in campaign.systems if s.name == "Li-Sb"]}
    )
    thermo = [c for c in generate_candidates(campaign, "quick") if "thermo" in c.purposes]
    if args.phases:
        thermo = [c for c in thermo if c.phase in args.phases.split(",")]
    relax_s = settings(args.relax, args.smearing)
    out: dict[str, Any] = {"relax": relax_s.model_dump(exclude={"txt"}), "phases": {}}
    out["gpaw_version"] = gpaw_version()
    reused = json.loads(args.reuse.read_text())["phases"] if args.reuse else {}
    reused = {k: v for k, v in reused.items() if "final_e_atom" in v}
    out["phases"].update(reused)
    todo = [c for c in thermo if c.phase not in reused]
    starts = {}
    for c in todo:
        prim = primitive_cell(c.structure)
        starts[c.id] = prim if args.start == "none" else pre_relax(prim, args.start)
    maker = GPAWRelaxMaker(
        settings=relax_s, fmax=args.fmax, steps=60, optimizer="BFGS", fix_symmetry=True
    )
    relaxed: dict[str, dict[str, Any]] = {}
    for c in todo:  # one at a time: progress is printed and saved as each finishes
        job = maker.make(starts[c.id])
        res = run_locally(Flow([job]), ensure_success=True, log=False)[job.uuid][1].output
        relaxed[c.id] = res
        s = res["structure"]
        out["phases"][c.phase] = {
            "id": c.id,
            "n_atoms": len(s),
            "volume_A3_atom": s.volume / len(s),
            "abc": list(s.lattice.abc),
            "relax_e_atom": res["energy_eV"] / len(s),
            **{
                k: res[k]
                for k in ("converged", "steps", "kpts", "n_ibz_kpts", "max_force_eV_A", "wall_s")
            },
        }
        print(f"{c.phase}: {json.dumps(out['phases'][c.phase], default=str)}", flush=True)
        args.json.write_text(json.dumps(out, indent=1, default=str))

    final_s = settings(args.final, args.smearing) if args.final else None
    dense = settings(f"{(final_s or relax_s).ecut_eV}:{args.li_kd}", args.smearing)
    energies: dict[str, PhaseEnergy] = {}
    for c in thermo:
        if c.phase in reused:  # computed by an earlier run with the same settings
            r = reused[c.phase]
            energies[c.id] = PhaseEnergy(
                system=c.system,
                phase=c.phase,
                formula=primitive_cell(c.structure).composition.formula.replace(" ", ""),
                energy_eV=r["final_e_atom"] * r["n_atoms"],
                n_atoms=r["n_atoms"],
                volume_A3=r["volume_A3_atom"] * r["n_atoms"],
                engine="dft",
                potential=f"gpaw-{gpaw_version()}:PBE",
                functional="PBE",
                relaxed=bool(r["converged"]),
                source_id=c.id,
            )
            continue
        s = relaxed[c.id]["structure"]
        t0 = time.perf_counter()
        # Li metal's energy converges slowly in k (1-atom cells): the references get --li-kd
        own = dense if c.role == "reference" else final_s
        e = single_point(s, own) if own else relaxed[c.id]["energy_eV"]
        if own:
            out["phases"][c.phase].update(
                final_e_atom=e / len(s), final_wall_s=time.perf_counter() - t0
            )
            print(f"{c.phase} final: {e / len(s):.5f} eV/atom", flush=True)
        energies[c.id] = PhaseEnergy(
            system=c.system,
            phase=c.phase,
            formula=s.composition.formula.replace(" ", ""),
            energy_eV=e,
            n_atoms=len(s),
            volume_A3=s.volume,
            engine="dft",
            potential=f"gpaw-{gpaw_version()}:PBE",
            functional="PBE",
            relaxed=bool(relaxed[c.id]["converged"]),
            source_id=c.id,
        )
        args.json.write_text(json.dumps(out, indent=1, default=str))
    bcc_fcc = li_bcc_minus_fcc(thermo, energies)
    gpaw_thermo = system_thermos(campaign, thermo, energies)["Li-Sb"]
    out["final"] = final_s.model_dump(exclude={"txt"}) if final_s else None
    out["li_dense_kpt_density"] = args.li_kd
    out["li_bcc_minus_fcc_meV"] = bcc_fcc
    out["thermo"] = gpaw_thermo.model_dump(mode="json")
    out["Ef"] = {p.phase: p.formation_energy_eV_atom for p in gpaw_thermo.phases}
    out["plateaus_V"] = {f"{q.phase_from}->{q.phase_to}": q.voltage_V for q in gpaw_thermo.plateaus}
    print(json.dumps({k: out[k] for k in ("Ef", "plateaus_V", "li_bcc_minus_fcc_meV")}, indent=1))
    args.json.write_text(json.dumps(out, indent=1, default=str))

    if args.record:
        import screening.cli  # noqa: F401  (registers the command modules in order)
        from potentials.cli_fidelity import _record
        from screening.campaign import DFTSettings
        from workflows.dft_campaign import dft_provenance

        relax = campaign.preset("quick").relax
        mine = relax_energies(
            thermo,
            args.record,
            fmax=relax.fmax_eV_A,
            steps=relax.max_steps,
            dtype=campaign.engine.dtype,
        )
        student = system_thermos(campaign, thermo, mine)["Li-Sb"]
        ref = final_s or relax_s
        gpaw = {
            **dft_provenance(
                DFTSettings(
                    ecut_eV=ref.ecut_eV, kpt_density=ref.kpt_density, smearing_eV=ref.smearing_eV
                )
            ),
            "relaxed_at": out["relax"],
            "li_bcc_fcc_kpt_density": args.li_kd,
            "maker": "workflows.dft_gpaw.GPAWRelaxMaker (primitive cells, from "
            f"{args.start}-relaxed cells), single points at the final settings",
        }
        report = {
            "potential": args.record,
            "reference": "gpaw",
            "relax": {
                "fmax_eV_A": relax.fmax_eV_A,
                "max_steps": relax.max_steps,
                "dtype": campaign.engine.dtype,
                "maker": "workflows.relax.mlip_relax_maker (atomate2 ForceFieldRelaxMaker)",
                "gpaw": gpaw,
            },
            "bounds": {k: getattr(BOUNDS, k) for k in BOUNDS.__dataclass_fields__},
            "systems": [compare_system(student, gpaw_thermo, BOUNDS)],
            "li_bcc_fcc": _row(
                "E(Li bcc) − E(Li fcc) (meV/atom)",
                li_bcc_minus_fcc(thermo, mine),
                bcc_fcc,
                BOUNDS.li_bcc_fcc_meV_atom,
            ),
        }
        report["pass"] = report["li_bcc_fcc"]["pass"] is not False and all(
            s["pass"] for s in report["systems"]
        )
        _record(args.record, report)
        from potentials.cards import load_card
        from potentials.distill.card import write_card
        from potentials.registry import parse_spec

        model = parse_spec(args.record).path
        card = load_card(model)  # the command that produced it is this script, not the CLI
        card["fidelity"]["gpaw"]["commands"][-1] = "python " + shlex.join(sys.argv)
        print("recorded in", write_card(card, model))
        out["fidelity"] = report
        args.json.write_text(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
