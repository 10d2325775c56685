"""``ilscreen md``: NVT MD of candidates at several temperatures, in one batch (resumable).

Heavy imports (torch, potentials, jobflow) happen inside the command so ``ilscreen --help`` stays
fast.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any

import typer

from screening.cli.app import TrustModelOpt, app, console
from screening.errors import InputError, short_repr
from screening.limits import MAX_TEMPERATURE_K
from screening.paths import output_folder


def parse_temperatures(text: str) -> list[float]:
    """``"548,900"`` → ``[548.0, 900.0]``; InputError on anything else."""
    try:
        values = [float(t) for t in text.split(",") if t.strip()]
    except ValueError:
        values = []
    if not values or any(not 0 < v <= MAX_TEMPERATURE_K for v in values):
        raise InputError(
            f"bad temperature list {short_repr(text)}",
            field="--temperatures",
            allowed=f"comma-separated kelvin values in (0, {MAX_TEMPERATURE_K:g}], e.g. 548,900",
        )
    return values


def resolve_engine(
    campaign: Any,
    potential: str | None,
    device: str | None,
    trust_model: bool,
    *,
    source: str | Path | None = None,
) -> tuple[str, str]:
    """(potential spec, device) of an MLIP command: its options over the campaign's, trust and
    device checked before any model file is read. ``md`` and ``neb`` run the MLIP only: a
    campaign asking for another engine is refused (never an MLIP run in its place)."""
    from potentials.registry import check_device, trust_campaign, trust_spec

    if campaign.engine.engine != "mlip":
        raise InputError(
            f"engine '{campaign.engine.engine}' runs under `ilscreen screen` (and vasp under "
            "`ilscreen submit`); this command runs the MLIP only",
            file=source,
            field="engine.engine",
            allowed=["mlip"],
        )
    trust_campaign(campaign)
    spec = potential or campaign.engine.potential
    if trust_model:
        trust_spec(spec)
    dev = device or campaign.engine.device
    check_device(dev, field="--device" if device else "engine.device")
    return spec, dev


@app.command("md")
def md_command(
    candidate_ids: Annotated[
        list[str] | None,
        typer.Argument(help="candidate ids, e.g. Li-Sb/Li3Sb/2x2x2/vac1/seed0", show_default=False),
    ] = None,
    all_md: Annotated[
        bool, typer.Option("--all", help="every MD candidate of the preset (as `screen` runs)")
    ] = False,
    candidates: Annotated[Path, typer.Option("--candidates", help="campaign YAML")] = Path(
        "candidates.yaml"
    ),
    temperatures: Annotated[
        str | None,
        typer.Option("--temperatures", help="K, comma-separated (default: the preset's)"),
    ] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="quick | standard | paper")] = None,
    potential: Annotated[
        str | None, typer.Option("--potential", help="potential spec (default: the campaign's)")
    ] = None,
    device: Annotated[str | None, typer.Option("--device", help="cpu or cuda")] = None,
    out: Annotated[Path, typer.Option("--out", help="output directory")] = Path("ilscreen-md"),
    batched: Annotated[
        bool,
        typer.Option("--batched/--sequential", help="one torch-sim batch or ASE one by one"),
    ] = True,
    seed: Annotated[int, typer.Option("--seed", help="velocity / noise seed")] = 0,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="discard existing trajectories and checkpoints")
    ] = False,
    progress: Annotated[bool, typer.Option("--progress/--no-progress")] = True,
    trust_model: TrustModelOpt = False,
) -> None:
    """Run (or resume) NVT MD of each CANDIDATE_ID at each temperature; one HDF5 file per run.

    All (candidate, T) pairs go into one torch-sim batch (``--batched``, default). Re-running the
    same command resumes from the last checkpoint, or returns at once when the runs have finished.
    Exit code 3 when any run was flagged unstable (e.g. a model stability check).
    """
    from rich.table import Table

    from screening.campaign import load_campaign
    from screening.candidates import generate_candidates
    from workflows.flows import md_targets
    from workflows.md.maker import MDMaker

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if progress:  # off a terminal, progress comes as INFO lines of workflows.md (StepProgress)
        logging.getLogger("workflows.md").setLevel(logging.INFO)
    campaign = load_campaign(candidates)
    preset_name = preset or campaign.default_preset
    md_settings = campaign.preset(preset_name).md
    temps = (
        parse_temperatures(temperatures) if temperatures else campaign.temperatures_for(preset_name)
    )
    found = {c.id: c for c in generate_candidates(campaign, preset_name)}
    md_ids = [c.id for c in md_targets(list(found.values()))]
    if all_md == bool(candidate_ids):
        raise InputError(
            "give CANDIDATE_ID(s) or --all, not both and not neither",
            file=candidates, field="CANDIDATE_ID", allowed=md_ids,
        )  # fmt: skip
    ids = md_ids if all_md else list(candidate_ids or [])
    if len(set(ids)) != len(ids):
        raise InputError(
            f"candidate ids given twice: {sorted({i for i in ids if ids.count(i) > 1})}",
            file=candidates, field="CANDIDATE_ID", allowed="each id once",
        )  # fmt: skip
    for cid in ids:
        if cid not in found:
            raise InputError(
                f"unknown candidate {cid!r} under preset {preset_name!r}",
                file=candidates,
                field="CANDIDATE_ID",
                allowed=md_ids or sorted(found),
            )
    spec, dev = resolve_engine(campaign, potential, device, trust_model, source=candidates)
    output_folder(out, field="--out")
    runs = [(cid, t) for cid in ids for t in temps]
    maker = MDMaker(
        potential=spec,
        device=dev,
        dtype=campaign.engine.dtype,
        md=md_settings,
        seed=seed,
        out_dir=str(out),
        batched=batched,
        progress=progress,
    )
    console.print(
        f"[bold]ilscreen md[/] {len(ids)} candidate(s), "
        f"{sum(len(found[cid].structure) for cid in ids)} atoms, preset {preset_name}, "
        f"T = {', '.join(f'{t:g}' for t in temps)} K, {spec} on {dev}, "
        f"{'batched torch-sim' if batched else 'sequential ASE'}"
    )
    results = maker.run(
        [found[cid].structure for cid, _ in runs],
        [cid for cid, _ in runs],
        [t for _, t in runs],
        overwrite=overwrite,
    )

    table = Table(title=f"NVT MD, preset {preset_name}")
    for col in (
        "candidate",
        "T target (K)",
        "frames",
        "T mean ± std (K)",
        "drift (eV/atom/ps)",
        "closest (Å)",
        "status",
        "trajectory",
    ):
        table.add_column(col)
    for r in results:
        mean = (
            "-"
            if r.mean_temperature_K is None
            else (f"{r.mean_temperature_K:.1f} ± {r.std_temperature_K:.1f}")
        )
        drift = (
            "-"
            if r.conserved_drift_eV_per_atom_per_ps is None
            else (f"{r.conserved_drift_eV_per_atom_per_ps:.2e}")
        )
        status = "[green]stable[/]" if r.stable else f"[red]UNSTABLE[/]: {r.unstable_reason}"
        closest = "-" if r.min_distance_A is None else f"{r.min_distance_A:.2f}"
        table.add_row(
            r.candidate_id,
            f"{r.target_temperature_K:g}",
            str(r.n_frames),
            mean,
            drift,
            closest,
            status,
            r.trajectory_path,
        )
    console.print(table)
    if not all(r.stable for r in results):
        raise typer.Exit(code=3)
