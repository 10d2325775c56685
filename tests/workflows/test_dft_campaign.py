"""`engine: dft`: `ilscreen screen` runs a whole Li–Sb campaign with GPAW (PBE), nothing else.

The end-to-end test runs `ilscreen screen` on tests/workflows/data/mini_dft_campaign.yaml (Li bcc,
Sb A7 and Li3Sb, primitive cells, GPAW PBE at a low but stated 300 eV / 2.5 k points per Å⁻¹) and
checks the physics such a run determines: Ef(Li3Sb) within 0.15 eV/atom of PBE/experiment
(GPAW PBE −0.64 eV/atom, /work/shared/tools/GPAW.md; calorimetry ≈ −0.73 eV/atom, SCIENCE.md),
the Sb→Li3Sb plateau between the EMF steps' neighbourhood (0.5–1.2 V; Weppner & Huggins 0.910 and
0.875 V), the hull's stable set, the Li3Sb gap (PBE 0.72 eV, indirect), provenance, and that MD and
NEB are refused by the cost guard with their estimate instead of being replaced by MLIP numbers.
Schema and guard checks need no GPAW.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml

from screening.campaign import DFTSettings, campaign_from_dict
from screening.errors import InputError
from workflows.dft_gpaw import gpaw_available

DATA = Path(__file__).parent / "data"
MINI_DFT = DATA / "mini_dft_campaign.yaml"
needs_gpaw = pytest.mark.skipif(
    not gpaw_available(), reason="GPAW not installed (install with `bash .ci/install_dft.sh`)"
)


def test_dft_settings_are_checked_and_enter_the_hash_only_for_engine_dft() -> None:
    data = yaml.safe_load(MINI_DFT.read_text())
    with pytest.raises(InputError) as err:
        campaign_from_dict(
            {**data, "engine": {"engine": "dft", "dft": {"ecut": 300}}}, source="c.yaml"
        )
    assert err.value.field == "engine.dft.ecut" and "ecut_eV" in str(err.value)

    def hash_of(engine: str, ecut: float) -> str:
        engine_block = {"engine": engine, "dft": {"ecut_eV": ecut}}
        return campaign_from_dict({**data, "engine": engine_block}, source="c.yaml").settings_hash()

    assert hash_of("dft", 300) != hash_of("dft", 400)  # a DFT setting is science for dft ...
    assert hash_of("mlip", 300) == hash_of("mlip", 400)  # ... and not for an MLIP campaign


def test_cost_guard_scales_with_atoms_kpoints_and_steps() -> None:
    from workflows.dft_dynamics import gpaw_cost_hours, refusal

    dft = DFTSettings(cost_s_per_atom2_kpt_step=0.01, max_hours=1.0)
    # 10 atoms, 4 k points, 900 steps: 0.01 s × 100 × 4 × 900 = 1 h
    assert gpaw_cost_hours(10, 4, 900, dft) == pytest.approx(1.0)
    assert gpaw_cost_hours(20, 4, 900, dft) == pytest.approx(4.0)  # atoms²
    note = refusal("GPAW MD of 20 atoms × 900 steps", 4.0, dft, "transport (MD)")
    assert note.startswith("transport (MD): not computed, GPAW MD of 20 atoms × 900 steps")
    assert "~4 h" in note and "max_hours 1 h" in note


@needs_gpaw
def test_plan_is_dft_with_its_settings_in_provenance(tmp_path: Path) -> None:
    from workflows.screen import build_flow, plan_screen

    plan = plan_screen(MINI_DFT, workdir=tmp_path, engines=("mlip", "dft"))
    prov = plan.provenance
    assert prov.engine == "dft" and prov.model_sha256 is None
    dft = prov.settings["dft"]
    assert dft["code"] == "GPAW" and dft["xc"] == "PBE" and dft["gpaw_version"]
    assert (dft["ecut_eV"], dft["kpt_density"]) == (300.0, 2.5)
    names = [j.name for j in build_flow(plan).jobs]
    assert "gpaw relax Li-Sb/Li3Sb/1x1x1/vac0" in names
    assert not any("nvt md" in n or "neb" in n for n in names)  # both refused by the guard
    assert not any("relax (" in n for n in names)  # no MLIP relaxation anywhere


@pytest.fixture(scope="module")
def dft_screen(tmp_path_factory: pytest.TempPathFactory):
    from typer.testing import CliRunner

    from screening.cli import app

    work = tmp_path_factory.mktemp("dft")
    t0 = time.perf_counter()
    res = CliRunner().invoke(
        app, ["screen", str(MINI_DFT), "--workdir", str(work), "--quiet"], catch_exceptions=False
    )
    wall = time.perf_counter() - t0
    assert res.exit_code == 0, res.output
    return res.output, work, wall


@needs_gpaw
def test_li_sb_campaign_end_to_end_with_gpaw(dft_screen) -> None:
    from workflows.screen import plan_screen, stored_results

    output, work, wall = dft_screen
    assert "gpaw-" in output and "PBE/pw300/k2.5" in output  # what the screen says it runs
    plan = plan_screen(MINI_DFT, workdir=work, engines=("mlip", "dft"))
    docs = stored_results(plan)
    assert docs is not None and [d.candidate_id for d in docs] == ["Li-Sb/Li3Sb/1x1x1/vac1/seed0"]
    (li3sb,) = docs
    t = li3sb.thermo
    # PBE Ef(Li3Sb) ≈ −0.64 eV/atom; experiment ≈ −0.73: within 0.15 eV/atom of both
    assert -0.79 < t.formation_energy_eV_atom < -0.58
    assert 0.5 < t.voltage_V < 1.2  # one plateau, Sb → Li3Sb (no Li2Sb in this hull)
    assert t.e_above_hull_eV_atom == pytest.approx(0.0, abs=1e-9)
    assert li3sb.provenance.engine == "dft"
    assert li3sb.provenance.settings["dft"]["ecut_eV"] == 300.0
    e = li3sb.electronic
    assert e.source == "computed (GPAW, PBE)" and 0.4 < e.band_gap_eV < 1.0
    assert "GPAW-relaxed primitive cell, 4 atoms" in (e.note or "")
    # MD and NEB refused with their estimate, shown per MD temperature; no transport number
    assert li3sb.arrhenius is None and li3sb.neb is None
    assert [(p.temperature_K, p.converged, p.D_cm2_s) for p in li3sb.transport] == [
        (548.0, False, None),
        (900.0, False, None),
    ]
    note = li3sb.transport[0].note or ""
    assert note.startswith("transport (MD): not computed, GPAW MD of 15 atoms × 350 steps × 2 ")
    assert "transport (NEB): not computed, GPAW CI-NEB of" in note
    assert "not computed, GPAW MD" in output  # the screen prints it
    # ~2.5 min on the 2 cores alone; the bound leaves room for a CI machine shared with others
    assert wall < 600, f"the GPAW mini campaign took {wall:.0f} s"


@needs_gpaw
def test_hull_stable_set_and_energies_are_gpaw_only(dft_screen) -> None:
    from screening.store import ResultsStore

    _, work, _ = dft_screen
    with ResultsStore.open(str(work / "store")) as st:
        (sysres,) = st.all("system")
    phases = {p.phase: p for p in sysres.thermo.phases}
    assert sorted(p for p, v in phases.items() if v.on_hull) == ["Li-bcc", "Li3Sb", "Sb"]
    assert sysres.thermo.engine == "dft"
    assert sysres.provenance.engine == "dft"
    assert sysres.thermo.potential.startswith("gpaw-")
    assert sysres.thermo.potential.endswith(":PBE/pw300/k2.5")


def test_submit_still_refuses_dft(tmp_path: Path) -> None:
    from workflows.screen import plan_screen

    with pytest.raises(InputError) as err:
        plan_screen(MINI_DFT, workdir=tmp_path)  # the default: the MLIP-only commands
    assert err.value.field == "engine.engine" and err.value.allowed == "mlip"
