"""`engine.thermo_potential`: relaxations/hulls with one potential, MD with another (issue 14).

Wiring and planning only (nothing runs): the Flow's relax and energy jobs carry the thermo
potential, the MD job the MD potential, and both enter the settings hash.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from screening.errors import InputError
from screening.report import _potentials
from workflows.screen import build_flow, plan_screen

MINI = Path(__file__).parent / "data" / "mini_campaign.yaml"
STUDENT = "mace:ilscreen-li-alloys"


def _write(tmp_path: Path, engine: dict[str, Any]) -> Path:
    data = yaml.safe_load(MINI.read_text())
    data["engine"] = engine
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_flow_relaxes_with_thermo_potential_and_runs_md_with_md_potential(tmp_path: Path) -> None:
    plan = plan_screen(MINI, workdir=tmp_path)  # no engine section: the defaults
    assert (plan.potential, plan.thermo_potential) == (STUDENT, "sevennet:7net-0")
    jobs = build_flow(plan).jobs
    relaxes = [j for j in jobs if j.name.startswith("relax ")]
    assert relaxes and {j.function.__self__.calculator_kwargs["spec"] for j in relaxes} == {
        "sevennet:7net-0"
    }
    energies = [j for j in jobs if j.name.startswith("energy ")]
    assert energies and {j.function_kwargs["potential"] for j in energies} == {"sevennet:7net-0"}
    (md,) = [j for j in jobs if j.name.startswith("nvt md")]
    assert md.function.__self__.potential == STUDENT
    settings = plan.provenance.settings
    assert (settings["potential"], settings["thermo_potential"]) == (STUDENT, "sevennet:7net-0")
    # the report's provenance table says which potential computed what
    assert _potentials(plan.provenance) == f"MD {STUDENT}; thermo sevennet:7net-0"


def test_thermo_potential_enters_the_hash_but_not_the_md_dir(tmp_path: Path) -> None:
    teacher = plan_screen(MINI, workdir=tmp_path)
    student = plan_screen(MINI, workdir=tmp_path, thermo_potential=STUDENT)
    assert student.thermo_potential == STUDENT
    assert teacher.provenance.settings_hash != student.provenance.settings_hash
    assert teacher.md_dir == student.md_dir  # the MD does not depend on the thermo potential
    same = plan_screen(_write(tmp_path, {"thermo_potential": None}), workdir=tmp_path)
    assert same.thermo_potential == same.potential == STUDENT  # null: the MD potential for both


def test_bad_thermo_potential_names_the_campaign_field(tmp_path: Path) -> None:
    with pytest.raises(InputError) as err:
        plan_screen(_write(tmp_path, {"thermo_potential": "nonsense:x"}), workdir=tmp_path)
    assert err.value.field == "engine.thermo_potential"
