"""`engine: vasp` campaigns: one clear error without VASP, and a whole mini campaign through
atomate2's VASP Makers with the STAND-IN binary.

The stand-in (tests/standins/vasp_std) is not VASP: it computes with the shipped MACE model and
writes VASP's files. Everything else is the production path: atomate2 writes the inputs with the
protocol's generators, custodian runs the binary with VASP's handlers and validators, emmet parses
the runs, and the MLIP screen's own hull, diffusion/Arrhenius and ranking jobs take it from there.
Because the stand-in's energies are the shipped model's, the VASP path's formation energies must
match an MLIP screen with that model (the known answer: the plumbing carries energies unchanged).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from pymatgen.io.vasp import Incar

from screening.cli import main

DATA = Path(__file__).parent / "data"
MINI = DATA / "mini_vasp_campaign.yaml"
STANDIN = Path(__file__).resolve().parents[1] / "standins" / "vasp_std"


def read_text(path: Path) -> str:
    """A run file as atomate2 leaves it: gzipped after the job, plain while it runs."""
    import gzip

    return (gzip.open(path, "rt") if path.suffix == ".gz" else path.open()).read()


def standin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Configure the site the way a cluster would, pointing at the stand-in binary."""
    monkeypatch.setenv("ATOMATE2_VASP_CMD", f"{sys.executable} {STANDIN}")
    monkeypatch.setenv("ILSCREEN_VASP_POTCAR_SPEC", "1")  # no licensed POTCARs here
    monkeypatch.setenv("ILSCREEN_CUSTODIAN_POLL_S", "0.2")  # seconds-long runs, not hours
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


def run_cli(args: list[str], monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["ilscreen", *args])
    with pytest.raises(SystemExit) as ended:
        main()
    out = capsys.readouterr()
    return int(ended.value.code or 0), out.out + out.err


@pytest.mark.parametrize("missing", ["command", "potcars"])
def test_screen_without_vasp_is_one_error_never_an_mlip_run(
    missing: str, tmp_path: Path, monkeypatch, capsys
) -> None:
    campaign = tmp_path / "campaign.yaml"
    campaign.write_text(MINI.read_text())
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ILSCREEN_VASP_POTCAR_SPEC", raising=False)
    monkeypatch.delenv("PMG_VASP_PSP_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.atomate2.yaml, no ~/.config/.pmgrc.yaml
    if missing == "command":
        monkeypatch.delenv("ATOMATE2_VASP_CMD", raising=False)  # atomate2's default: vasp_std
        monkeypatch.setenv("PATH", "/usr/bin:/bin")
        setting = "ATOMATE2_VASP_CMD"
    else:
        monkeypatch.setenv("ATOMATE2_VASP_CMD", f"{sys.executable} {STANDIN}")
        setting = "PMG_VASP_PSP_DIR"
    code, text = run_cli(["screen", str(campaign), "--workdir", str(tmp_path / "w")],
                         monkeypatch, capsys)  # fmt: skip
    assert code == 2, text
    assert f"field '{setting}'" in text and "campaign.yaml" in text and "allowed:" in text
    assert "Traceback" not in text and "mlip" not in text.lower().split("allowed")[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["campaign.yaml"]  # nothing ran


@pytest.mark.parametrize(
    "command",
    [["md", "--all", "--out", "o"], ["neb", "Li-Sb/Li3Sb/1x1x1/vac1/seed0", "--json", "o"]],
)
def test_mlip_only_commands_refuse_vasp(command, tmp_path: Path, monkeypatch, capsys) -> None:
    standin_env(monkeypatch)
    monkeypatch.chdir(tmp_path)
    code, text = run_cli([*command, "--candidates", str(MINI)], monkeypatch, capsys)
    assert code == 2, text
    assert "engine.engine" in text and "'vasp'" in text and "allowed: mlip" in text
    assert not (tmp_path / "o").exists()


@pytest.fixture(scope="module")
def screened(tmp_path_factory: pytest.TempPathFactory):
    from workflows.screen import plan_screen, run_screen

    mp = pytest.MonkeyPatch()
    standin_env(mp)
    work = tmp_path_factory.mktemp("vasp-screen")
    try:
        plan = plan_screen(MINI, workdir=work, engines=("mlip", "dft", "vasp"))
        docs = run_screen(plan, progress=False)
    finally:
        mp.undo()
    return plan, docs


@pytest.mark.slow
def test_tiny_vasp_campaign_ranks_with_provenance(screened) -> None:
    plan, docs = screened
    assert plan.provenance.engine == "vasp"
    assert [c.id for c in plan.md_targets] == [
        "Li-Sb/Li3Sb/1x1x1/vac1/seed0",
        "Li-Mg/LiMg-B2/2x2x2/vac1/seed0",
    ]
    assert sorted(d.candidate_id for d in docs) == sorted(c.id for c in plan.md_targets)
    for d in docs:
        prov = d.provenance
        assert prov.engine == "vasp" and prov.settings_hash == plan.provenance.settings_hash
        assert prov.settings["vasp"]["functional"] == "PBE (GGA = PE)"
        assert prov.settings["vasp"]["incar"]["ENCUT"] == 400
        # the VASP version the runs' vasprun.xml report: here the stand-in says what it is
        version = prov.package_versions["vasp"]
        assert version.startswith("6.4.2") and "stand-in (not vasp)" in version.lower()
        assert d.thermo.formation_energy_eV_atom < 0 and 0 < d.thermo.voltage_V < 2.0
        assert d.electronic.band_gap_eV == 0.0 and "VASP" in (d.electronic.source or "")
        assert [t.temperature_K for t in d.transport] == [900.0, 1200.0]
        for t in d.transport:
            assert t.trajectory_path.endswith("K.XDATCAR") and Path(t.trajectory_path).is_file()
            assert not t.converged or t.D_cm2_s > 0


@pytest.mark.slow
def test_md_segments_carry_the_protocol_and_continue(screened) -> None:
    plan, _ = screened
    seg = sorted(plan.md_dir.glob("Li-Sb/Li3Sb/*/*/*/T0900K/*"))
    assert [p.name for p in seg] == ["01-prod1", "02-prod2"]
    for p in seg:
        incar = Incar.from_file(next(p.glob("INCAR*")))
        assert str(incar["GGA"]).upper() == "PE" and incar["ENCUT"] == 400
        assert incar["POTIM"] == 2 and incar["MDALGO"] == 2 and incar["ML_LMLFF"] is True
        assert incar["NSW"] == 100 and incar["NBLOCK"] == 5 and incar["TEBEG"] == 900
    log2 = read_text(next(seg[1].glob("vasp.out*")))
    # the second segment continued the first: its velocities and its force-field data
    assert "velocities read from POSCAR" in log2 and "ML_AB read: 20 training" in log2


@pytest.mark.slow
def test_formation_energies_are_those_of_the_relaxation_runs(screened) -> None:
    """The hull is built from the relaxations' own vasprun.xml energies (MP2020-corrected, as
    VASP/PBE energies are): rebuilt here from the files, it gives the stored Ef and voltage."""
    from pymatgen.io.vasp import Vasprun

    from screening.thermo import PhaseEnergy, build_system_thermo

    plan, docs = screened
    relax = plan.workdir / "vasp" / plan.provenance.settings_hash[:12] / "relax"
    for d in docs:
        phases = []
        for cand in plan.candidates:
            if "thermo" not in cand.purposes or cand.system not in (d.system, "Li"):
                continue
            vr = next((relax / cand.id).glob("vasprun.xml*"))
            run = Vasprun(str(vr), parse_potcar_file=False, parse_dos=False, parse_eigen=False)
            s = run.final_structure
            phases.append(PhaseEnergy(
                system=d.system, phase=cand.phase, formula=s.composition.formula.replace(" ", ""),
                energy_eV=run.final_energy, n_atoms=len(s), volume_A3=s.volume, engine="vasp",
                relaxed=True, source_id=cand.id,
            ))  # fmt: skip
        thermo = build_system_thermo(phases)
        mine = next(p for p in thermo.phases if p.phase == d.phase)
        assert d.thermo.formation_energy_eV_atom == pytest.approx(mine.formation_energy_eV_atom)
        assert thermo.corrections.startswith("MP2020")
