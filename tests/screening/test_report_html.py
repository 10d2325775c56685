"""HTML report: content, embedded plots, failed candidates, and a headless-Chromium render."""

from __future__ import annotations

import os
import shutil
import subprocess

import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from screening.electronic import assess_electronic
from screening.report import render_report, report_from_store
from screening.results import (
    ArrheniusSummary,
    CandidateResult,
    OperatingPoint,
    Provenance,
    SystemResult,
    ThermoSummary,
    TransportPoint,
    apply_ranking,
)
from screening.store import ResultsStore
from screening.thermo import PhaseEnergy, build_system_thermo

SETTINGS = {"engine": "mlip", "potential": "mace:test"}


def _png(path, label):
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([1, 2, 3], [3, 1, 2])
    ax.set_title(label)
    fig.savefig(path)
    plt.close(fig)
    return str(path)


def build_docs(tmp_path):
    ph = [PhaseEnergy(system="Li-Sb", phase=n, formula=n, energy_eV=e, n_atoms=k,
                      volume_A3=v, engine="mlip", potential="mace:test")
          for n, e, k, v in (("Li", -1.9, 1, 20.0), ("Sb", -4.1, 1, 30.0),
                             ("Li2Sb", -9.7, 3, 60.0), ("Li3Sb", -12.45, 4, 70.0))]  # fmt: skip
    thermo = build_system_thermo(ph)
    prov = Provenance.collect(engine="mlip", potential="mace:test", settings=SETTINGS, seeds=[0])
    sysdoc = SystemResult(system="Li-Sb", thermo=thermo, provenance=prov)
    arr = _png(tmp_path / "arrhenius.png", "Arrhenius Li3Sb")
    msd = _png(tmp_path / "msd900.png", "MSD 900 K")
    li3sb = CandidateResult(
        candidate_id="Li-Sb/Li3Sb/2x2x2/vac1/seed0", system="Li-Sb", phase="Li3Sb",
        formula="Li3Sb", thermo=ThermoSummary.from_phase(thermo, "Li3Sb"),
        transport=[TransportPoint(temperature_K=900, D_cm2_s=2e-6, D_sigma_cm2_s=3e-7,
                                  converged=True, n_hops=500, trajectory_path="md/900.h5",
                                  trajectory_sha256="ab" * 32, msd_plot_path=msd)],
        arrhenius=ArrheniusSummary(Ea_eV=0.25, Ea_sigma_eV=0.03, D0_cm2_s=1e-3, plot_path=arr,
                                   operating=[OperatingPoint(temperature_K=298.15, D_cm2_s=1e-9,
                                                             D_sigma_cm2_s=4e-10)]),
        electronic=assess_electronic("Li3Sb", literature={}), provenance=prov,  # no gap: unknown
    )  # fmt: skip
    failed = CandidateResult(
        candidate_id="Li-Sb/Li2Sb/2x2x2/vac1/seed0", system="Li-Sb", phase="Li2Sb",
        formula="Li2Sb", status="failed", reason="MD exploded at 900 K (T > 5000 K)",
        provenance=prov,
    )  # fmt: skip
    return apply_ranking([li3sb, failed], T_op_K=298.15), sysdoc


def test_report_content(tmp_path):
    docs, sysdoc = build_docs(tmp_path)
    path = render_report(docs, [sysdoc], tmp_path / "out", source="test")
    text = path.read_text()
    for needle in (
        "Ranking",
        "Li-Sb/Li3Sb/2x2x2/vac1/seed0",
        "Sb → Li2Sb",
        "0.900",
        "0.850",
        "MD exploded at 900 K",
        "Provenance",
        "mace:test",
        "unknown",
        "1.00e-09",
    ):
        assert needle in text, needle
    # hull + voltage + σ_e-vs-σ_ion map (drawn here) + Arrhenius + MSD (from the documents)
    assert text.count("data:image/png;base64,") == 5
    assert (tmp_path / "out" / "plots" / "conduction_map.png").is_file()
    # Li3Sb has no band gap here (empty table): left off the map with the reason, explained
    assert "not on the map:" in text and "σ_e unknown" in text
    assert "C3 mixed_conduction: n/a" in text and "Ef_ok formation_energy:" in text
    assert (tmp_path / "out" / "plots" / "Li-Sb_mlip_hull.png").is_file()


def test_report_from_store(tmp_path):
    docs, sysdoc = build_docs(tmp_path)
    with ResultsStore.open(tmp_path / "store") as s:
        s.put_many([*docs, sysdoc])
        path = report_from_store(s, tmp_path / "rep")
    assert "Li-Sb/Li2Sb/2x2x2/vac1/seed0" in path.read_text()


@pytest.mark.skipif(shutil.which("chromium") is None,
                    reason="chromium not installed (apt-get install -y chromium)")  # fmt: skip
def test_report_renders_in_headless_chromium(tmp_path):
    docs, sysdoc = build_docs(tmp_path)
    path = render_report(docs, [sysdoc], tmp_path / "out")
    shot = tmp_path / "shot.png"
    cmd = ["chromium", "--headless", "--no-sandbox", "--disable-gpu",
           "--disable-background-networking", "--disable-dev-shm-usage", "--hide-scrollbars",
           f"--screenshot={shot}", "--window-size=1400,1800", f"file://{path}"]  # fmt: skip
    subprocess.run(cmd, capture_output=True, timeout=120, check=False,
                   env={**os.environ, "HOME": str(tmp_path)})  # fmt: skip
    assert shot.is_file() and shot.stat().st_size > 20_000  # a blank page is a few kB
    keep = os.environ.get("ILSCREEN_KEEP_SCREENSHOT")
    if keep:
        shutil.copy(shot, keep)
