"""The model card of a distilled student: assembled here from the run's settings, data and the
measurements of :mod:`potentials.distill.evaluate`, written as ``<stem>.card.json`` and
``<stem>.card.md`` next to the model. Commands that add sections to an existing card
(``ilscreen potentials record-md``, ``fidelity --record``) rewrite it through :func:`write_card`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from ase import Atoms

from potentials.card_md_checks import section_markdown
from potentials.distill.settings import DistillSettings, settings_dict
from potentials.fidelity import fidelity_markdown
from screening.atomic import write_text_atomic
from screening.hashing import file_sha256


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for dist in ("mace-torch", "torch", "e3nn", "sevenn", "ase", "ilscreen"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            out[dist] = metadata.version(dist)
    return out


def _teacher_license(spec: str) -> str:
    dist = "sevenn" if spec.startswith("sevennet") else spec.split(":")[0]
    try:
        meta = metadata.metadata(dist)
    except metadata.PackageNotFoundError:
        return "unknown"
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License")]
    return (
        meta.get("License-Expression") or (classifiers[0] if classifiers else "unknown")
    ).strip()


def assemble_card(
    settings: DistillSettings,
    model_path: Path,
    relaxed: dict[str, Atoms],
    test: Sequence[Atoms],
    history: list[dict[str, Any]],
    n_data: dict[str, int],
    train_systems: Sequence[str],
    dropped: dict[int, int],
    evaluation: dict[str, Any],
    wall_time_min: float,
) -> dict[str, Any]:
    """The model card (a JSON-serialisable dict): provenance, data recipe, training history and the
    ``evaluation`` of :func:`potentials.distill.evaluate.evaluate_student`."""
    counts: dict[str, int] = {}
    for c in test:
        counts[c.info["system"]] = counts.get(c.info["system"], 0) + 1
    teacher_license = _teacher_license(settings.teacher)
    return {
        "name": settings.name,
        "file": model_path.name,
        "sha256": file_sha256(model_path),
        "size_bytes": model_path.stat().st_size,
        "format": "MACE model (whole pickled torch.nn.Module, mace-torch), load on CPU",
        "dtype": settings.dtype,
        "elements": sorted({s for a in relaxed.values() for s in a.get_chemical_symbols()}),
        "teacher": settings.teacher,
        "teacher_info": {
            "spec": settings.teacher,
            "model": "SevenNet-0 (11Jul2024), shipped in the sevenn wheel"
            if settings.teacher.startswith("sevennet")
            else settings.teacher,
            "license": teacher_license,
        },
        "architecture": {
            "model": "ScaleShiftMACE",
            "pair_repulsion": "ZBL",
            **settings.architecture(),
        },
        "data": {
            "seed": settings.seed,
            "n_configs": n_data,
            "systems": list(train_systems),
            "split": "by configuration, stratified per system, 10 % validation / 10 % test "
            "per data round, seeded",
            "recipe": {
                "round0": "teacher FIRE relaxation (positions + cell, <= 40 steps) of each phase; "
                "strains -4, -2, +2, +5 % and two random shears; rattles 0.03-0.20 Å; "
                "two compressed cells (-6 %, -10 %) with 0.25/0.30 Å rattles; "
                "four contact-pair cells (one nearest-neighbour pair pushed to 45-85 % of its "
                "bond, >= 1.2 Å, half of them Li-Li); two single-vacancy rattled cells; "
                "teacher Langevin MD (weak friction) from Maxwell-Boltzmann velocities at "
                f"{settings.md_temperatures} K, {settings.md_steps} steps x 2 fs, "
                f"snapshot every {settings.md_every}; labels with max |F| > "
                f"{settings.max_label_force} eV/Å dropped",
                "active_learning": f"{settings.rounds} rounds: student Bussi NVT at "
                f"{settings.al_temperatures} K, {settings.al_steps} steps x "
                f"{settings.timestep_fs} fs "
                f"on >= 40-atom supercells of every lithiated phase; snapshots every "
                f"{settings.al_every} steps plus any frame with d_min < "
                f"min({settings.al_min_distance} Å, 0.85 x the phase's equilibrium d_min)"
                ";"
                " all relabelled by the teacher",
                "labels": "teacher energy, forces, stress (9 components, eV/Å^3)",
                "E0s": "per-element least-squares average (mace --E0s average)"
                if settings.e0s == "average"
                else "teacher energies of isolated atoms",
            },
            "phase_source": settings.phase_source,
            "phases": {
                lab: {"formula": a.get_chemical_formula(), "n_atoms": len(a)}
                for lab, a in relaxed.items()
            },
            "test_configs_per_system": counts,
            "dropped_unphysical_per_round": dropped,
        },
        "training": {
            "history": history,
            "trainer": "mace.cli.run_train (EMA, AMSGrad, "
            "ReduceLROnPlateau), Huber loss (delta 0.01) on energy/atom, forces and stress, "
            "weights E 10, F 100, S 10; the written model is mace's lowest-validation-loss epoch",
        },
        "metrics": evaluation["metrics"],
        "speed": evaluation["speed"],
        "stability": evaluation["stability"],
        "license": "MIT (model code: mace-torch, MIT); weights trained on labels produced by "
        f"SevenNet-0 ({teacher_license}) - see license_notes",
        "license_notes": (
            "The student weights are fitted to energies/forces/stresses computed with SevenNet-0 "
            f"(sevenn, {teacher_license}); no SevenNet code or weights are contained in this file. "
            "MACE architecture code is mace-torch (MIT). Check your own requirements before "
            "redistributing derived models."
        ),
        "settings": settings_dict(settings),
        "software": _versions(),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "wall_time_min": wall_time_min,
    }


def card_markdown(card: dict[str, Any]) -> str:
    """Human-readable card."""
    lines = [
        f"# Model card: {card['name']}",
        "",
        f"- file: `{card['file']}` ({card['size_bytes'] / 1e6:.2f} MB), sha256 `{card['sha256']}`",
        f"- format: {card['format']}; dtype {card['dtype']}",
        f"- elements: {', '.join(card['elements'])}",
        f"- teacher: `{card['teacher']}` — {card['teacher_info']['model']} "
        f"(license: {card['teacher_info']['license']})",
        f"- architecture: {json.dumps(card['architecture'])}",
        f"- data: {json.dumps(card['data']['n_configs'])}; seed {card['data']['seed']}; "
        f"{card['data']['split']}",
        f"- created: {card['created']}; wall time {card.get('wall_time_min', '?')} min",
        "",
        "## Data recipe",
        "",
    ]
    lines += [f"- **{k}**: {v}" for k, v in card["data"]["recipe"].items()]
    lines += [
        "",
        "## Held-out test errors vs teacher",
        "",
        "| system | n | energy MAE (meV/atom) | force MAE (meV/Å) | stress MAE (GPa) |",
        "|---|---|---|---|---|",
    ]
    test = card["metrics"]["test"]
    for name, m in [*test["per_system"].items(), ("**all**", test["overall"])]:
        lines.append(
            f"| {name} | {m['n_configs']} | {m['energy_mae_meV_per_atom']} | "
            f"{m['force_mae_meV_per_A']} | {m['stress_mae_GPa']} |"
        )
    if test.get("per_kind"):
        lines += [
            "",
            "By sampling kind:",
            "",
            "| kind | n | energy MAE (meV/atom) | force MAE (meV/Å) |",
            "|---|---|---|---|",
        ]
        for name, m in test["per_kind"].items():
            lines.append(
                f"| {name} | {m['n_configs']} | {m['energy_mae_meV_per_atom']} | "
                f"{m['force_mae_meV_per_A']} |"
            )
    sp = card.get("speed") or {}
    lines += ["", "## Speed", ""]
    if sp:
        lines.append(
            f"{sp['system']}: student {sp['student_atom_steps_per_s']} atom-steps/s, teacher "
            f"{sp['teacher_atom_steps_per_s']} atom-steps/s → **{sp['speedup_vs_teacher']}x** "
            f"({sp['device']}, {sp['torch_threads']} thread(s), {sp['note']})."
        )
    else:
        lines.append("not measured")
    lines += [
        "",
        "## MD stability (student NVT)",
        "",
        "| phase | atoms | T (K) | ps | d_min (Å) | <T> 2nd half (K) | σ_T (K) | stable |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in card.get("stability") or []:
        lines.append(
            f"| {r['phase']} | {r['n_atoms']} | {r['temperature_K']:.0f} | {r['duration_ps']} | "
            f"{r['min_distance_A']} | {r['mean_T_K_second_half']} | {r['std_T_K_second_half']} | "
            f"{'yes' if r['stable'] else '**no**'} |"
        )
    lines += [
        "",
        "Stable: d_min > 1.5 Å and mean T within 5 % of target.",
        "",
        *(
            line
            for name, section in (card.get("md_checks") or {}).items()
            for line in section_markdown(name, section)
        ),
        *(
            line
            for ref, report in (card.get("fidelity") or {}).items()
            for line in [f"## Fidelity vs {ref}", "", *fidelity_markdown(report)]
        ),
        "## License",
        "",
        card["license"],
        "",
        card["license_notes"],
        "",
    ]
    if card.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in card["notes"]], ""]
    return "\n".join(lines)


def write_card(card: dict[str, Any], model_path: Path) -> tuple[Path, Path]:
    """Write ``<stem>.card.json`` and ``<stem>.card.md`` next to the model (atomically)."""
    stem = model_path.with_suffix("")
    paths = (Path(f"{stem}.card.json"), Path(f"{stem}.card.md"))
    texts = (json.dumps(card, indent=1) + "\n", card_markdown(card))
    for path, text in zip(paths, texts, strict=True):
        write_text_atomic(path, text)
    return paths
