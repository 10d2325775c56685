"""Criterion 3 inside `ilscreen screen`: GPAW band gaps on the MLIP-relaxed phases of the Flow.

The GPAW test runs the mini campaign (tests/workflows/data/mini_campaign.yaml) end to end with
``electronic: {engine: gpaw}``: real atomate2 relaxations with the shipped MACE model, real MD, and
real GPAW PBE on the relaxed primitive cells (Li3Sb 4 atoms, LiMg-B2 2 atoms; ~25 s of GPAW).
Reference: Li3Sb PBE Kohn–Sham gap 0.72 eV, indirect Γ→X (/work/shared/tools/GPAW.md).
Schema, plan-time and Flow-wiring checks need no GPAW.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from jobflow import OutputReference

import workflows.dft_gpaw
from screening.campaign import ElectronicSettings, campaign_from_dict
from screening.electronic import ElectronicClass, assess_electronic
from screening.errors import InputError
from workflows.dft_gpaw import INSTALL_HINT, gpaw_available
from workflows.screen import build_flow, plan_screen, resolve_electronic_engine, run_screen

MINI = Path(__file__).parent / "data" / "mini_campaign.yaml"
needs_gpaw = pytest.mark.skipif(
    not gpaw_available(), reason="GPAW not installed (install with `bash .ci/install_dft.sh`)"
)


def _mini(electronic: dict[str, Any] | None) -> dict[str, Any]:
    data = yaml.safe_load(MINI.read_text())
    if electronic is not None:
        data["electronic"] = electronic
    return data


def _write(tmp_path: Path, data: dict[str, Any]) -> Path:
    path = tmp_path / "campaign.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("electronic", "field", "allowed"),
    [
        ({"engine": "vasp"}, "electronic.engine", ["'auto'", "'gpaw'", "'literature'"]),
        ({"engine": "gpaw", "max_atoms": 0}, "electronic.max_atoms", []),
        ({"engine": "gpaw", "max_atom": 8}, "electronic.max_atom", ["engine", "max_atoms"]),
    ],
)
def test_bad_electronic_settings_name_field_and_allowed_values(
    electronic: dict[str, Any], field: str, allowed: list[str]
) -> None:
    with pytest.raises(InputError) as err:
        campaign_from_dict(_mini(electronic), source="c.yaml")
    assert err.value.file == "c.yaml" and err.value.field == field
    for value in allowed:
        assert value in (err.value.allowed or "")


def test_engine_is_resolved_at_plan_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """`auto` follows GPAW's presence; `gpaw` without GPAW fails before any work starts."""
    assert campaign_from_dict(_mini(None)).electronic == ElectronicSettings()  # literature
    literature = campaign_from_dict(_mini({"engine": "literature"}))
    auto = campaign_from_dict(_mini({"engine": "auto"}))
    gpaw = campaign_from_dict(_mini({"engine": "gpaw"}))
    assert resolve_electronic_engine(literature, "c.yaml") == "literature"
    if gpaw_available():
        assert resolve_electronic_engine(auto, "c.yaml") == "gpaw"
        assert resolve_electronic_engine(gpaw, "c.yaml") == "gpaw"
    monkeypatch.setattr(workflows.dft_gpaw, "gpaw_available", lambda: False)  # as if absent
    assert resolve_electronic_engine(auto, "c.yaml") == "literature"
    with pytest.raises(InputError) as err:
        resolve_electronic_engine(gpaw, "c.yaml")
    assert err.value.field == "electronic.engine" and err.value.file == "c.yaml"
    assert INSTALL_HINT in str(err.value) and "literature" in (err.value.allowed or "")


def test_resolved_engine_enters_the_settings_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One `auto` campaign screened with and without GPAW must not share stored results."""
    path = _write(tmp_path, _mini({"engine": "auto"}))
    monkeypatch.setattr(workflows.dft_gpaw, "gpaw_available", lambda: True)  # planning only
    with_gpaw = plan_screen(path, workdir=tmp_path / "w")
    monkeypatch.setattr(workflows.dft_gpaw, "gpaw_available", lambda: False)
    without = plan_screen(path, workdir=tmp_path / "w")
    assert (with_gpaw.electronic_engine, without.electronic_engine) == ("gpaw", "literature")
    assert without.md_dir == with_gpaw.md_dir  # MD does not depend on the electronic engine
    assert with_gpaw.provenance.settings_hash != without.provenance.settings_hash
    # an HPC job re-planning on a node without GPAW keeps the submit-time decision, or fails loudly
    assert plan_screen(path, workdir=tmp_path / "w", electronic_engine="literature").provenance \
        .settings_hash == without.provenance.settings_hash  # fmt: skip
    with pytest.raises(InputError):
        plan_screen(path, workdir=tmp_path / "w", electronic_engine="gpaw")


def test_flow_gives_small_phases_a_gap_job_on_their_relaxed_cell(tmp_path: Path) -> None:
    """Wiring only (nothing runs): gap job ← relax job output; too-large phases get a note."""
    plan = plan_screen(MINI, workdir=tmp_path)
    campaign = plan.campaign.model_copy(
        update={"electronic": ElectronicSettings(engine="gpaw", max_atoms=3)}
    )
    flow = build_flow(dataclasses.replace(plan, campaign=campaign, electronic_engine="gpaw"))
    jobs = {j.name: j for j in flow.jobs}
    (gap,) = [j for name, j in jobs.items() if name.startswith("band gap")]
    assert gap.name == "band gap Li-Mg/LiMg-B2"
    structure_ref, phase = gap.function_args
    assert isinstance(structure_ref, OutputReference) and phase == "LiMg-B2"
    assert structure_ref.uuid == jobs["relax Li-Mg/LiMg-B2/1x1x1/vac0"].uuid
    assert structure_ref.attributes == (("a", "structure"),)
    final = flow.jobs[-1].function_kwargs
    assert set(final["band_gaps"]) == {"Li-Mg/LiMg-B2"}
    # Li3Sb: 16-atom conventional cell, 4-atom primitive > 3 → literature fallback with the reason
    assert final["electronic_notes"] == {
        "Li-Sb/Li3Sb": "primitive cell 4 atoms > electronic.max_atoms 3"
    }
    assert not [j for j in build_flow(plan).jobs if j.name.startswith("band gap")]


def test_fallback_note_says_why_nothing_was_computed() -> None:
    why = "primitive cell 38 atoms > electronic.max_atoms 8"
    unknown = assess_electronic("Li13Si4", formula="Li13Si4", note=why)  # no entry on purpose
    assert unknown.electronic_class is ElectronicClass.UNKNOWN and unknown.source == "none"
    assert unknown.note is not None and unknown.note.startswith(why)
    big = assess_electronic("Li15Si4", formula="Li15Si4", note=why)  # too big, but cited
    assert big.electronic_class is ElectronicClass.METAL and "doi:10.1021/" in big.source
    assert big.note is not None and big.note.startswith(why)
    cited = assess_electronic("LiMg-bcc-x25", formula="LiMg", note=why)
    assert cited.source.startswith("literature: ") and cited.note is not None
    assert cited.note.startswith(why) and len(cited.note) > len(why)


@pytest.fixture(scope="module")
def gpaw_screen(tmp_path_factory: pytest.TempPathFactory):
    work = tmp_path_factory.mktemp("gpaw_screen")
    plan = plan_screen(_write(work, _mini({"engine": "gpaw", "max_atoms": 8})), workdir=work)
    return plan, run_screen(plan, batched=True, progress=False)


@needs_gpaw
def test_li3sb_class_is_computed_by_gpaw_in_the_screen(gpaw_screen) -> None:
    plan, docs = gpaw_screen
    assert plan.electronic_engine == "gpaw"
    li3sb = next(d for d in docs if d.phase == "Li3Sb")
    e = li3sb.electronic
    assert e is not None and e.source == "computed (GPAW, PBE)"
    # PBE gap of Li3Sb (0.72 eV at the PBE lattice); the MLIP-relaxed cell is close to it
    assert e.band_gap_eV == pytest.approx(0.72, abs=0.15)
    assert e.dos_at_fermi is not None and e.dos_at_fermi < 1e-3  # nothing inside the gap
    assert e.note is not None and "4 atoms" in e.note  # the primitive cell, not the 16-atom one
    # 0.72 eV > max_band_gap_eV 0.5: labelled insulator; criterion 3 uses σ_e from the gap:
    # intrinsic at 298 K with the 0.5 eV PBE scissor, ≈ 4e-9 S/cm (×/÷ 20 for ±0.15 eV)
    assert e.electronic_class is ElectronicClass.INSULATOR
    se = li3sb.sigma_e
    assert se is not None and se.source == "estimate (intrinsic; gap from computed (GPAW, PBE))"
    assert se.S_cm is not None and 1e-11 < se.S_cm < 1e-6
    c3 = li3sb.criterion("mixed_conduction")
    assert c3 is not None and c3.values["sigma_e_S_cm"] == se.S_cm


@needs_gpaw
def test_b2_limg_is_a_computed_metal_in_the_same_screen(gpaw_screen) -> None:
    _, docs = gpaw_screen
    limg = next(d for d in docs if d.phase == "LiMg-B2")
    e = limg.electronic
    assert e is not None and e.source == "computed (GPAW, PBE)"  # computed wins over literature
    assert e.band_gap_eV == 0.0 and e.electronic_class is ElectronicClass.METAL
    # free-electron-like sp metal: a few tenths of a state per eV per atom at E_F
    assert e.dos_at_fermi is not None and 0.1 < e.dos_at_fermi < 1.0
    # Drude σ_e ~1e5 S/cm: an electronic conductor whatever its (short-MD) σ_ion
    c3 = limg.criterion("mixed_conduction")
    assert c3 is not None and c3.values["conduction_class"] == "electronic conductor"
    assert c3.passed is False


def test_gap_job_gives_a_reason_instead_of_failing_the_screen(monkeypatch) -> None:
    """A cell that outgrew max_atoms, or a GPAW failure, becomes a note, not a failed ranking."""
    from pymatgen.core import Lattice, Structure

    from workflows.jobs import phase_band_gap

    # antifluorite Li3Sb, conventional 16-atom cell (primitive: 4 atoms)
    li3sb = Structure.from_spacegroup(
        "Fm-3m", Lattice.cubic(6.57), ["Sb", "Li", "Li"], [[0, 0, 0], [0.25] * 3, [0.5] * 3]
    )
    why = phase_band_gap.original(li3sb, "Li3Sb", max_atoms=2)
    assert why == "relaxed primitive cell 4 atoms > electronic.max_atoms 2"

    def scf_fails(*_a, **_k):
        raise RuntimeError("SCF did not converge")

    monkeypatch.setattr(workflows.dft_gpaw, "gpaw_band_gap", scf_fails)
    assert "SCF did not converge" in phase_band_gap.original(li3sb, "Li3Sb", max_atoms=8)
