"""`ilscreen potentials fidelity`: a potential vs a reference on Ef, hull, plateaus, Li bcc/fcc."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import screening.cli  # noqa: F401  (registers the command groups)
from potentials.fidelity import (
    compare_hop_barriers,
    compare_system,
    gpaw_energies,
    li_bcc_minus_fcc,
)
from screening.campaign import campaign_from_dict
from screening.candidates import generate_candidates
from screening.cli.app import app
from screening.thermo import PhaseEnergy, build_system_thermo
from workflows.dft_gpaw import gpaw_available

TINY = {
    "name": "tiny",
    "references": [
        {"element": "Li", "phase": {"name": "Li-bcc", "role": "reference"}},
        {"element": "Li", "phase": {"name": "Li-fcc", "role": "reference"}},
    ],
    "systems": [
        {
            "name": "Li-Mg",
            "elements": ["Li", "Mg"],
            "phases": [
                {"name": "Mg", "library": "Mg-hcp", "role": "host"},
                {"name": "LiMg-B2", "role": "lithiated", "md": False},
            ],
        }
    ],
    "default_preset": "ci",
    # loose relaxations keep the test short; the comparison logic does not depend on them
    "presets": {"ci": {"relax": {"fmax_eV_A": 0.2, "max_steps": 30}}},
}


def _hull(e_li3sb: float) -> object:
    def phase(name: str, formula: str, n: int, energy: float) -> PhaseEnergy:
        return PhaseEnergy(system="Li-Sb", phase=name, formula=formula, energy_eV=energy,
                           n_atoms=n, volume_A3=20.0 * n, engine="mlip")  # fmt: skip

    return build_system_thermo(
        [phase("Li", "Li", 1, -1.9), phase("Sb", "Sb2", 2, -8.2),
         phase("Li2Sb", "Li2Sb", 3, -10.0), phase("Li3Sb", "Li3Sb", 4, e_li3sb)]
    )  # fmt: skip


def test_compare_system_bounds_each_number_and_the_stable_set() -> None:
    same = compare_system(_hull(-12.5), _hull(-12.5))
    assert same["pass"] and all(r["diff"] == 0 for r in same["rows"])
    off = compare_system(_hull(-12.45), _hull(-12.5))  # Ef(Li3Sb) 12.5 meV/atom higher
    rows = {r["quantity"]: r for r in off["rows"]}
    assert rows["Ef Li3Sb (meV/atom)"]["diff"] == pytest.approx(12.5)
    assert rows["Ef Li3Sb (meV/atom)"]["pass"]
    assert rows["V Li2Sb→Li3Sb (V)"]["diff"] == pytest.approx(-0.05) and not off["pass"]
    unstable = compare_system(_hull(-11.0), _hull(-12.5))  # Li3Sb off the hull
    assert not unstable["same_stable_set"] and not unstable["pass"]


def test_hop_barriers_compare_by_hop_and_fail_a_missing_one() -> None:
    rows = compare_hop_barriers({"a": 0.30, "b": 0.50}, {"a": 0.32, "c": 0.4})
    assert [r["pass"] for r in rows] == [True, False, False]
    assert rows[0]["diff"] == pytest.approx(-20.0)


@pytest.mark.parametrize(("reference", "same"), [("mace:ilscreen-li-alloys", True),
                                                 ("chgnet", False)])  # fmt: skip
def test_fidelity_command_on_a_tiny_system(tmp_path: Path, reference: str, same: bool) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(TINY))
    result = CliRunner().invoke(
        app,
        ["potentials", "fidelity", "mace:ilscreen-li-alloys", "--reference", reference,
         "--candidates", str(path), "--preset", "ci", "--format", "json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    (system,) = report["systems"]
    diffs = [abs(r["diff"]) for r in [*system["rows"], report["li_bcc_fcc"]]]
    if same:
        assert report["pass"] and max(diffs) == 0
    else:
        assert max(diffs) > 1e-3


@pytest.mark.skipif(not gpaw_available(), reason="GPAW not installed")
def test_gpaw_reference_relaxes_primitive_cells_with_pbe() -> None:
    """The PBE anchor on the two 1-atom Li references (~15 s): both relax, bcc − fcc is finite."""
    refs = [c for c in generate_candidates(campaign_from_dict(TINY)) if c.role == "reference"]
    energies = gpaw_energies(refs, fmax=0.05, steps=20)
    # the engine: dft screen's own relax and energy jobs, named by code version and settings
    assert {e.engine for e in energies.values()} == {"dft"}
    assert all(e.potential.startswith("gpaw-") and e.functional == "PBE" for e in energies.values())
    assert all(e.n_atoms == 1 for e in energies.values())  # primitive cells, not the 2/4-atom ones
    assert abs(li_bcc_minus_fcc(refs, energies)) < 30.0
