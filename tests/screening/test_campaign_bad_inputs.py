"""Bad campaign input: one InputError naming file, field and allowed values; nothing written."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import screening.cli  # noqa: F401  (registers the commands on the app)
from screening.campaign import Campaign, load_campaign
from screening.cli.app import app
from screening.errors import InputError

BASE: dict[str, Any] = {
    "name": "t",
    "references": [{"element": "Li", "phase": {"name": "Li-bcc", "role": "reference"}}],
    "systems": [
        {
            "name": "Li-Sb",
            "elements": ["Li", "Sb"],
            "supercell": {"matrix": [2, 2, 2]},
            "phases": [
                {"name": "Sb", "library": "Sb-A7", "role": "host"},
                {"name": "Li3Sb", "role": "lithiated", "md": True},
            ],
        },
    ],
    "vacancies": [{"count": 1}, {"count": 4, "seeds": [0]}],
}


def _set(data: dict[str, Any], path: str, value: Any) -> None:
    keys: list[Any] = [int(k) if k.isdigit() else k for k in path.split(".")]
    node: Any = data
    for k in keys[:-1]:
        node = node[k]
    if value is _DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value


_DELETE = object()

# (case id, edits, expected field, substrings expected in the message)
CASES: list[tuple[str, list[tuple[str, Any]], str | None, list[str]]] = [
    (
        "unknown_element",
        [("systems.0.elements", ["Li", "Xx"])],
        "systems[0].elements",
        ["unknown element 'Xx'"],
    ),
    (
        "missing_field",
        [("systems.0.phases.1.role", _DELETE)],
        "systems[0].phases[1].role",
        ["missing"],
    ),
    (
        "misspelled_field",
        [("tempratures", [300])],
        "tempratures",
        ["unknown field", "temperatures", "operating_temperatures"],
    ),
    (
        "temperature_nonpositive",
        [("temperatures", [300, 0])],
        "temperatures[1]",
        ["greater than 0"],
    ),
    (
        "bad_role",
        [("systems.0.phases.1.role", "anode")],
        "systems[0].phases[1].role",
        ["'reference'", "'host'", "'lithiated'"],
    ),
    (
        "unknown_engine",
        [("engine", {"engine": "lammps"})],
        "engine.engine",
        ["'mlip'", "'vasp'", "'dft'"],
    ),
    (
        "bad_thermostat",
        [("presets", {"standard": {"md": {"thermostat": "berendsen"}}})],
        "presets.standard.md.thermostat",
        ["'nose-hoover'", "'langevin'"],
    ),
    (
        "negative_timestep",
        [("presets", {"standard": {"md": {"timestep_fs": -2}}})],
        "presets.standard.md.timestep_fs",
        ["greater than 0"],
    ),
    ("wrong_type", [("systems.0.phases.1.md", "often")], "systems[0].phases[1].md", ["boolean"]),
    ("empty_systems", [("systems", [])], "systems", ["at least 1"]),
    ("too_many_vacancies", [("vacancies", [{"count": 500}])], "vacancies[0].count", ["only 96 Li"]),
    (
        "missing_structure_file",
        [("systems.0.phases.1", {"name": "X", "structure_file": "nope.cif", "role": "lithiated"})],
        "systems[0].phases[1].structure_file",
        ["nope.cif", "does not exist"],
    ),
    (
        "duplicate_ids",
        [
            ("systems.0.phases.1.name", "Sb"),
            ("systems.0.phases.1.library", "Sb-A7"),
            ("systems.0.phases.1.role", "host"),
            ("systems.0.phases.1.md", False),
        ],
        "systems[0].phases[1].name",
        ["duplicate candidate id 'Li-Sb/Sb/1x1x1/vac0'"],
    ),
    (
        "supercell_too_large",
        [("systems.0.supercell", {"matrix": [4, 4, 4], "max_atoms": 300})],
        "systems[0].supercell",
        ["1024 atoms", "max_atoms=300"],
    ),
    (
        "unknown_library_phase",
        [("systems.0.phases.1.name", "Li9Sb")],
        "systems[0].phases[1].name",
        ["unknown library phase 'Li9Sb'", "Li3Sb"],
    ),
    (
        "element_not_in_system",
        [("systems.0.phases.1.name", "LiC6")],
        "systems[0].phases[1]",
        ["contains C", "Li, Sb"],
    ),
    (
        "bad_supercell_rule",
        [("supercell", {"min_width": 10, "matrix": [1, 1, 1]})],
        "supercell",
        ["exactly one of min_width or matrix"],
    ),
    (
        "bad_voltage_window",
        [("ranking", {"voltage_window_V": [1.0, 0.0]})],
        "ranking.voltage_window_V",
        ["low < high"],
    ),
    (
        "distinct_needs_single",
        [("vacancies", [{"count": 2, "mode": "distinct"}])],
        "vacancies[0]",
        ["mode 'distinct' needs count 1"],
    ),
    (
        "md_on_host",
        [("systems.0.phases.0.md", True)],
        "systems[0].phases[0]",
        ["only lithiated phases"],
    ),
    ("default_preset_unknown", [("default_preset", "fast")], None, ["'fast'", "quick"]),
    (
        "system_without_li",
        [("systems.0.elements", ["Sb", "Bi"])],
        "systems[0].elements",
        ["must contain Li"],
    ),
]


def _write(tmp_path: Path, edits: list[tuple[str, Any]]) -> Path:
    data = copy.deepcopy(BASE)
    for path, value in edits:
        _set(data, path, value)
    f = tmp_path / "bad.yaml"
    f.write_text(yaml.safe_dump(data))
    return f


def test_base_is_valid(tmp_path: Path) -> None:
    f = _write(tmp_path, [])
    result = CliRunner().invoke(app, ["validate", str(f)])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output


@pytest.mark.parametrize(("case", "edits", "field", "needles"), CASES, ids=[c[0] for c in CASES])
def test_bad_input(
    tmp_path: Path, case: str, edits: list[tuple[str, Any]], field: str | None, needles: list[str]
) -> None:
    f = _write(tmp_path, edits)
    out = tmp_path / "written"
    result = CliRunner().invoke(app, ["candidates", str(f), "--write", str(out)])
    exc = result.exception
    assert isinstance(exc, InputError), (case, result.output, exc)
    text = str(exc)
    assert "bad.yaml" in text and exc.file is not None and exc.file.endswith("bad.yaml")
    if field is not None:
        assert exc.field == field, text
        assert f"field '{field}'" in text
    for needle in needles:
        assert needle in text, (needle, text)
    assert "\n" not in text
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["bad.yaml"]


def test_malformed_yaml(tmp_path: Path) -> None:
    f = tmp_path / "broken.yaml"
    f.write_text("systems:\n  - name: Li-Sb\n    elements: [Li, Sb\n")
    with pytest.raises(InputError, match=r"broken\.yaml: malformed YAML at line \d+"):
        load_campaign(f)


def test_unknown_preset_lists_allowed(tmp_path: Path) -> None:
    f = _write(tmp_path, [])
    result = CliRunner().invoke(app, ["candidates", str(f), "--preset", "turbo"])
    assert isinstance(result.exception, InputError)
    assert "allowed: quick, standard, paper" in str(result.exception)
    assert result.exception.field == "preset"


def test_missing_file() -> None:
    with pytest.raises(InputError, match="not found"):
        load_campaign("/nonexistent/campaign.yaml")


def test_settings_hash_stable_and_sensitive(tmp_path: Path) -> None:
    a = load_campaign(_write(tmp_path, []))
    b = Campaign.model_validate(copy.deepcopy(BASE))
    assert a.settings_hash() == b.settings_hash()
    c = Campaign.model_validate({**copy.deepcopy(BASE), "temperatures": [300, 600]})
    assert c.settings_hash() != a.settings_hash()
    assert a.settings_hash("quick") != a.settings_hash("paper")
