"""Distillation pipeline end to end on a tiny problem, and the shipped model's card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from ase.build import bulk

from potentials.distill.calculators import load_student
from potentials.distill.data import (
    ENERGY_KEY,
    FORCES_KEY,
    contact_configs,
    keep_physical,
    label,
    min_distance,
    split,
)
from potentials.distill.explore import explore
from potentials.distill.phases import Phase, mixed_phases
from potentials.distill.pipeline import distill
from potentials.distill.settings import DistillSettings
from screening.hashing import file_sha256

MODELS = Path(__file__).resolve().parents[2] / "potentials" / "models"
SHIPPED = MODELS / "ilscreen-li-alloys.model"
REQUIRED_KEYS = {
    "name",
    "file",
    "sha256",
    "teacher",
    "teacher_info",
    "architecture",
    "data",
    "metrics",
    "speed",
    "stability",
    "license",
    "license_notes",
    "settings",
    "dtype",
    "elements",
}


def _tiny_phases() -> list[Phase]:
    # 2-atom Cu-Ag B2 cell and 2-atom fcc-derived Ag: EMT (the test teacher) covers Cu and Ag
    cuag = bulk("CuAg", "cesiumchloride", a=3.1)
    ag = bulk("Ag", "fcc", a=4.09, cubic=False).repeat((2, 1, 1))
    return [
        Phase("CuAg", "Cu-Ag", cuag, lithiated=True, source="test"),
        Phase("Ag", "Cu-Ag", ag, lithiated=False, source="test"),
    ]


def test_split_is_by_configuration_and_seeded() -> None:
    configs = []
    for i in range(20):
        at = bulk("Ag", "fcc", a=4.09)
        at.info = {"system": "A" if i < 10 else "B", "config_id": i}
        configs.append(at)
    a = split(configs, np.random.default_rng(1))
    b = split(configs, np.random.default_rng(1))
    ids = [sorted(c.info["config_id"] for c in part) for part in a]
    assert ids == [sorted(c.info["config_id"] for c in part) for part in b]
    flat = [i for part in ids for i in part]
    assert sorted(flat) == list(range(20))  # disjoint and complete
    for part in a[1:]:  # every system in validation and test
        assert {c.info["system"] for c in part} == {"A", "B"}


def test_contact_configs_push_one_pair_into_the_repulsive_wall() -> None:
    """Li3Sb-like cell: half the pushed pairs are Li-Li, all between 1.2 Å and 85 % of the bond."""
    li3sb = next(p.atoms for p in mixed_phases() if p.label == "Li3Sb")
    d_eq = min_distance(li3sb)
    configs = contact_configs(li3sb, np.random.default_rng(0), n=6)
    assert len(configs) == 6
    assert sum(c.info["kind"].startswith("contact_LiLi") for c in configs) >= 3
    for c in configs:
        assert len(c) == len(li3sb)
        assert 1.1 < min_distance(c) < 0.9 * max(d_eq, 2.9)


def test_mixed_phases_use_real_structures_and_keep_missing_compositions() -> None:
    labels = {p.label for p in mixed_phases()}
    # the library's P-62c Li2Sb and its Li-Si phases replace built-in surrogates ...
    assert {"Li2Sb", "LiSi", "Li13Si4", "Li15Si4"} <= labels
    # ... and the Li-rich bcc Li3Mg, which the library lacks, stays
    assert "Li3Mg" in labels
    li2sb = next(p for p in mixed_phases() if p.label == "Li2Sb")
    assert "surrogate" not in li2sb.source and len(li2sb.atoms) == 18


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One tiny distillation (EMT teacher, 4-channel MACE, 2 epochs), shared by the tests below."""
    out = tmp_path_factory.mktemp("distill") / "run"
    settings = DistillSettings(
        out=out,
        teacher="emt",
        size="tiny",
        rounds=0,
        seed=3,
        md_temperatures=(600.0,),
        md_steps=10,
        md_every=5,
        epochs_round0=2,
        batch_size=4,
        train_threads=1,
        stability_temperatures=(900.0,),
        stability_steps=20,
        evaluate_speed=False,
        stability_phases=None,
        name="tiny",
    )
    return out, distill(settings, phases=_tiny_phases())


def test_tiny_distillation_end_to_end(tiny_run: tuple[Path, dict]) -> None:
    out, card = tiny_run
    model = out / "train" / "tiny.model"
    assert model.exists()
    on_disk = json.loads((out / "train" / "tiny.card.json").read_text())
    assert on_disk.keys() >= REQUIRED_KEYS
    assert on_disk["sha256"] == file_sha256(model) == card["sha256"]
    per = on_disk["metrics"]["test"]["per_system"]
    assert set(per) == {"CuAg", "Ag"}
    for m in per.values():
        assert np.isfinite(m["force_mae_meV_per_A"]) and m["n_configs"] >= 1
    assert (out / "train" / "tiny.card.md").read_text().startswith("# Model card")
    assert on_disk["stability"] and on_disk["stability"][0]["phase"] == "CuAg"
    assert on_disk["elements"] == ["Ag", "Cu"]

    at = bulk("CuAg", "cesiumchloride", a=3.1).repeat((2, 2, 2))
    at.rattle(0.05, seed=0)
    at.calc = load_student(model, "float32")
    assert np.isfinite(at.get_potential_energy())
    forces = at.get_forces()
    assert forces.shape == (16, 3) and np.all(np.isfinite(forces))
    # translation invariance: forces of a conservative potential sum to ~0
    assert np.abs(forces.sum(axis=0)).max() < 1e-3


def test_active_learning_snapshots_are_labelled(tiny_run: tuple[Path, dict]) -> None:
    """Student MD exploration → teacher labels, the data of one active-learning round."""
    from ase.calculators.emt import EMT

    out, _ = tiny_run
    student = load_student(out / "train" / "tiny.model", "float32")
    base = bulk("CuAg", "cesiumchloride", a=3.1).repeat((2, 2, 2))
    base.info["system"] = "CuAg"
    snaps = explore(base, student, 900.0, 20, 10, np.random.default_rng(0), min_distance=1.7)
    assert len(snaps) == 2 and all(s.info["system"] == "CuAg" for s in snaps)
    labelled = [label(s, EMT()) for s in snaps]
    assert all(np.isfinite(s.info[ENERGY_KEY]) for s in labelled)
    assert labelled[0].arrays[FORCES_KEY].shape == (16, 3)
    assert keep_physical(labelled) == labelled  # thermal snapshots are physical


def test_shipped_model_card_matches_file() -> None:
    if not SHIPPED.exists():
        pytest.skip("shipped model not built yet")
    card = json.loads((MODELS / "ilscreen-li-alloys.card.json").read_text())
    assert card.keys() >= REQUIRED_KEYS
    assert card["sha256"] == file_sha256(SHIPPED)
    assert card["file"] == SHIPPED.name
    per = card["metrics"]["test"]["per_system"]
    # every required lithiated system has held-out errors (library labels carry a structure
    # suffix, e.g. "LiAg-B2")
    for system in ("Li3Sb", "Li2Sb", "LiMg", "LiAg", "Li15Si4", "LiC6"):
        (key,) = [k for k in per if k.split("-")[0] == system]
        assert per[key]["force_mae_meV_per_A"] >= 0.0  # recorded (data, not a quality gate)
    assert card["speed"]["speedup_vs_teacher"] > 0
    assert (MODELS / "ilscreen-li-alloys.card.md").exists()


def test_cli_distill_is_registered() -> None:
    from typer.testing import CliRunner

    from screening.cli import app

    result = CliRunner().invoke(app, ["potentials", "distill", "--help"])
    assert result.exit_code == 0
    assert "--teacher" in result.output and "--rounds" in result.output
