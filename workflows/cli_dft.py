"""``ilscreen dft ...`` (GPAW, local) and ``ilscreen vasp ...`` (inputs for the HPC protocol).

* ``ilscreen dft gap CANDIDATE_ID``      PBE band gap + DOS at E_F → electronic class
* ``ilscreen dft validate TRAJ --n 3``   MLIP vs GPAW forces on MD snapshots, next to the card
  (``--store DIR``: into the results store, where ``ilscreen query``/``report`` show it)
* ``ilscreen vasp inputs CANDIDATE_ID --out DIR``  INCAR/KPOINTS/POSCAR/POTCAR.spec per job type

Heavy imports (gpaw, atomate2, torch) happen inside the commands so ``ilscreen --help`` stays fast.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from screening.cli.app import app, console
from screening.errors import InputError

dft_app = typer.Typer(
    help="Local DFT (GPAW, PBE): band gaps and MLIP validation.", no_args_is_help=True
)
vasp_app = typer.Typer(
    help="VASP (atomate2) inputs for the reference protocol.", no_args_is_help=True
)
app.add_typer(dft_app, name="dft")
app.add_typer(vasp_app, name="vasp")

CandidatesOpt = Annotated[Path, typer.Option("--candidates", help="campaign YAML")]
PresetOpt = Annotated[str | None, typer.Option("--preset", help="quick | standard | paper")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="also write the result as JSON")]


def _candidate(candidates: Path, candidate_id: str, preset: str | None) -> Any:
    from screening.campaign import load_campaign
    from screening.candidates import generate_candidates

    campaign = load_campaign(candidates)
    name = preset or campaign.default_preset
    found = {c.id: c for c in generate_candidates(campaign, name)}
    if candidate_id not in found:
        raise InputError(
            f"unknown candidate {candidate_id!r} under preset {name!r}",
            file=candidates,
            field="CANDIDATE_ID",
            allowed=sorted(found),
        )
    return found[candidate_id]


def _write_json(model: Any, path: Path | None) -> None:
    if path is not None:
        from workflows.dft_gpaw import write_result

        write_result(model, path)
        console.print(f"wrote {path}")


@dft_app.command("gap")
def gap_command(
    candidate_id: Annotated[str, typer.Argument(help="candidate id, e.g. Li-Sb/Li3Sb/1x1x1/vac0")],
    candidates: CandidatesOpt = Path("candidates.yaml"),
    preset: PresetOpt = None,
    ecut: Annotated[float, typer.Option("--ecut", help="plane-wave cutoff, eV")] = 350.0,
    kpt_density: Annotated[
        float, typer.Option("--kpt-density", help="k points per Å⁻¹ (Gamma-centred, even)")
    ] = 3.0,
    primitive: Annotated[
        bool, typer.Option("--primitive/--as-is", help="reduce to the primitive cell first")
    ] = True,
    max_atoms: Annotated[
        int, typer.Option("--max-atoms", help="refuse larger cells (GPAW here is for small cells)")
    ] = 32,
    json_out: JsonOpt = None,
) -> None:
    """PBE band gap and DOS at E_F of a candidate's cell with GPAW → electronic class."""
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer

    from workflows.dft_gpaw import GPAWSettings, gpaw_band_gap

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    cand = _candidate(candidates, candidate_id, preset)
    structure = cand.structure
    if primitive and structure.is_ordered:
        structure = SpacegroupAnalyzer(structure, symprec=1e-3).get_primitive_standard_structure()
    if len(structure) > max_atoms:
        raise InputError(
            f"{candidate_id} has {len(structure)} atoms; use a thermo cell "
            f"(…/1x1x1/vac0) or raise --max-atoms",
            field="CANDIDATE_ID",
            allowed=f"cells with <= {max_atoms} atoms",
        )
    settings = GPAWSettings(ecut_eV=ecut, kpt_density=kpt_density)
    with console.status(f"GPAW PBE SCF of {cand.phase} ({len(structure)} atoms)"):
        result = gpaw_band_gap(structure, cand.phase, settings=settings, primitive=False)
    ea = result.assessment()
    console.print(
        f"[bold]{cand.phase}[/] ({result.formula}, {result.n_atoms} atoms, k {result.kpts}, "
        f"{ecut:g} eV): gap {result.band_gap_eV:.3f} eV"
        + (f" ({'direct' if result.is_direct else 'indirect'})" if result.band_gap_eV > 0 else "")
        + f", DOS(E_F) {result.dos_at_fermi:.3g} states/eV/atom → {ea.electronic_class.value} "
        f"({ea.source}), {result.wall_s:.1f} s",
        highlight=False,
    )
    _write_json(result, json_out)


@dft_app.command("validate")
def validate_command(
    trajectory: Annotated[Path, typer.Argument(help="ilscreen HDF5 MD trajectory")],
    n: Annotated[int, typer.Option("--n", help="number of snapshots")] = 3,
    potential: Annotated[
        str | None, typer.Option("--potential", help="default: the one that ran the MD")
    ] = None,
    threshold: Annotated[
        float, typer.Option("--threshold", help="flag above this force MAE, eV/Å")
    ] = 0.10,
    ecut: Annotated[float, typer.Option("--ecut", help="plane-wave cutoff, eV")] = 350.0,
    kpt_density: Annotated[float, typer.Option("--kpt-density", help="k points per Å⁻¹")] = 2.0,
    json_out: JsonOpt = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="also put the result in this results store (directory, mongodb:// URI or "
            ".yaml/.json config), where `ilscreen query` and `ilscreen report` show it",
        ),
    ] = None,
) -> None:
    """MLIP vs GPAW (PBE) energies/forces on N snapshots of an MD trajectory."""
    from potentials.torch_compat import allow_e3nn_constants

    allow_e3nn_constants()
    from rich.table import Table

    from workflows.dft_gpaw import GPAWSettings
    from workflows.validation import validate_trajectory

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = validate_trajectory(
        trajectory,
        n_snapshots=n,
        potential=potential,
        settings=GPAWSettings(ecut_eV=ecut, kpt_density=kpt_density),
        threshold=threshold,
        progress=True,
        store=store,
    )
    table = Table(title=f"{result.candidate_id}: {result.potential} vs {result.dft_engine}")
    for col in ("frame", "t (fs)", "F MAE (eV/Å)", "F RMSE", "max |ΔF|", "ΔE (eV/atom)"):
        table.add_column(col, justify="right")
    for s in result.snapshots:
        table.add_row(
            str(s.frame),
            f"{s.time_fs:g}" if s.time_fs is not None else "",
            f"{s.force_mae_eV_A:.3f}",
            f"{s.force_rmse_eV_A:.3f}",
            f"{s.max_force_error_eV_A:.3f}",
            f"{(s.mlip_energy_eV - s.dft_energy_eV) / s.n_atoms:+.4f}",
        )
    console.print(table)
    card = (
        f"{result.card_force_mae_eV_A:.3f} eV/Å ({result.card_source})"
        if result.card_force_mae_eV_A is not None
        else str(result.card_source)
    )
    console.print(
        f"force MAE {result.force_mae_eV_A:.3f} eV/Å (RMSE {result.force_rmse_eV_A:.3f}), "
        f"energy MAE {1000 * result.energy_mae_eV_atom:.1f} meV/atom (offset removed); "
        f"card: {card}; threshold {result.threshold_force_mae_eV_A:g} eV/Å → "
        + ("[bold red]FLAGGED[/]" if result.flagged else "[green]ok[/]")
    )
    _write_json(result, json_out)
    if store is not None:
        console.print(f"stored in {store} (model sha256 {str(result.model_sha256)[:12]})")


@vasp_app.command("inputs")
def vasp_inputs_command(
    candidate_id: Annotated[
        str, typer.Argument(help="candidate id, e.g. Li-Sb/Li3Sb/2x2x2/vac1/site0")
    ],
    out: Annotated[Path, typer.Option("--out", help="new directory for the inputs")],
    candidates: CandidatesOpt = Path("candidates.yaml"),
    preset: PresetOpt = "paper",
    jobs: Annotated[
        str, typer.Option("--jobs", help="comma-separated: relax, static, md")
    ] = "relax,static,md",
    segment_ps: Annotated[
        float, typer.Option("--segment-ps", help="length of one chained MD run, ps")
    ] = 50.0,
) -> None:
    """Write the protocol's VASP inputs (POTCAR.spec: symbols only) for a candidate."""
    from workflows.vasp import JOB_TYPES, write_vasp_inputs

    chosen = tuple(j.strip() for j in jobs.split(",") if j.strip())
    bad = [j for j in chosen if j not in JOB_TYPES]
    if bad or not chosen:
        raise InputError(f"unknown job type(s) {bad or jobs!r}", field="--jobs", allowed=JOB_TYPES)
    from screening.campaign import load_campaign

    campaign = load_campaign(candidates)
    name = preset or campaign.default_preset
    cand = _candidate(candidates, candidate_id, name)
    written = write_vasp_inputs(
        cand.structure,
        out,
        job_types=chosen,  # type: ignore[arg-type]
        temperatures=tuple(campaign.temperatures_for(name)),
        md=campaign.preset(name).md,
        segment_ps=segment_ps,
    )
    for key, path in written.items():
        console.print(f"{key:>10}: {path}")
