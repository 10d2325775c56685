"""MLIP vs DFT validation on MD snapshots: metrics, card lookup, and a real GPAW run.

The GPAW part runs a short MLIP NVT MD of the 4-atom primitive Li3Sb cell (shipped model when
present, else SevenNet-0), then PBE energies/forces on 2 snapshots (~20–30 s on 2 cores), stores
the result and reads it back through `query` next to a candidate of the same model; it is skipped
where GPAW is not installed.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from screening.ab_initio import snapshot_error, summarize_validation
from screening.errors import InputError
from workflows.dft_gpaw import gpaw_available
from workflows.validation import card_reference, select_frames


def test_select_frames_spreads_over_the_production():
    assert select_frames(10, 3, skip_fraction=0.2) == [2, 6, 9]
    assert select_frames(5, 1, skip_fraction=0.0) == [0]
    with pytest.raises(InputError, match="snapshots"):
        select_frames(5, 5, skip_fraction=0.2)
    with pytest.raises(InputError):
        select_frames(5, 0)


def test_metrics_pool_snapshots_and_remove_the_energy_offset():
    rng = np.random.default_rng(0)
    snaps = []
    for k, n in enumerate((4, 12)):
        f_dft = rng.normal(size=(n, 3))
        err = np.full((n, 3), 0.05 * (k + 1))  # 0.05 then 0.10 eV/Å on every component
        # the engines' absolute energies differ by a constant 1.5 eV/atom reference shift
        snaps.append(snapshot_error(k, -3.0 * n, f_dft, -3.0 * n + 1.5 * n, f_dft + err))
    assert snaps[0].force_mae_eV_A == pytest.approx(0.05)
    assert snaps[1].max_force_error_eV_A == pytest.approx(0.10 * np.sqrt(3))
    res = summarize_validation(snaps, candidate_id="x", potential="p", dft_engine="GPAW, PBE")
    assert res.force_mae_eV_A == pytest.approx((4 * 0.05 + 12 * 0.10) / 16)  # per component
    assert res.force_rmse_eV_A == pytest.approx(np.sqrt((4 * 0.05**2 + 12 * 0.10**2) / 16))
    assert res.energy_offset_eV_atom == pytest.approx(1.5)
    assert res.energy_mae_eV_atom == pytest.approx(0.0, abs=1e-12)
    assert not res.flagged
    strict = summarize_validation(
        snaps, candidate_id="x", potential="p", dft_engine="d", threshold_force_mae_eV_A=0.05
    )
    assert strict.flagged
    with pytest.raises(InputError, match="shape"):
        snapshot_error(0, 0.0, np.zeros((3, 3)), 0.0, np.zeros((4, 3)))


def test_card_numbers_per_system_then_overall(tmp_path):
    model = tmp_path / "m.model"
    model.write_bytes(b"not loaded by card_reference")
    card = {
        "metrics": {
            "test": {
                "overall": {"force_mae_eV_per_A": 0.05, "energy_mae_eV_per_atom": 0.004},
                "per_system": {
                    "Li3Sb": {"force_mae_eV_per_A": 0.031, "energy_mae_eV_per_atom": 0.002}
                },
            }
        }
    }
    (tmp_path / "m.card.json").write_text(json.dumps(card))
    f, e, src = card_reference(f"mace:{model}", "Li3Sb")
    assert (f, e) == (0.031, 0.002) and "Li3Sb" in src
    f, e, src = card_reference(f"mace:{model}", "LiC6")
    assert (f, e) == (0.05, 0.004) and "overall" in src
    assert card_reference("sevennet:7net-0", "Li3Sb")[0] is None


@pytest.mark.skipif(
    not gpaw_available(), reason="GPAW not installed (install with `bash .ci/install_dft.sh`)"
)
def test_mlip_vs_gpaw_on_li3sb_md_snapshots(tmp_path):
    from potentials.torch_compat import allow_e3nn_constants

    allow_e3nn_constants()
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.symmetry.analyzer import SpacegroupAnalyzer
    from typer.testing import CliRunner

    import workflows.cli_dft  # noqa: F401  (registers the commands)
    from potentials.registry import describe, load_calculator, shipped_models
    from screening.ab_initio import ValidationResult
    from screening.cli.app import app
    from screening.query import query
    from screening.results import CandidateResult, Provenance
    from screening.store import ResultsStore
    from screening.structures import build_structure, load_phase_library
    from workflows.md import run_nvt

    spec = (
        "mace:ilscreen-li-alloys" if "ilscreen-li-alloys" in shipped_models() else "sevennet:7net-0"
    )
    conv = build_structure(load_phase_library()["Li3Sb"])
    prim = SpacegroupAnalyzer(conv).get_primitive_standard_structure()
    traj = tmp_path / "T0900K.h5"
    run_nvt(
        AseAtomsAdaptor.get_atoms(prim),
        load_calculator(spec),
        temperature_K=900.0,
        timestep_fs=2.0,
        equilibration_steps=10,
        production_steps=40,
        stride=10,
        trajectory_path=traj,
        thermostat="langevin",
        seed=1,
        candidate_id="Li-Sb/Li3Sb/prim/vac0",
        potential=spec,
    )
    out, store = tmp_path / "validation.json", tmp_path / "store"
    res = CliRunner().invoke(
        app, ["dft", "validate", str(traj), "--n", "2", "--json", str(out), "--store", str(store)]
    )
    assert res.exit_code == 0, res.output
    assert "force MAE" in res.output and "card" in res.output
    result = ValidationResult.model_validate(json.loads(out.read_text()))
    assert result.potential == spec and result.dft_engine == "GPAW, PBE"
    assert result.n_snapshots == 2 and result.n_atoms == 4
    assert len({s.frame for s in result.snapshots}) == 2
    # a trained potential on its own phase: errors of tens of meV/Å, far from random forces
    assert 0.001 < result.force_mae_eV_A < 0.25
    assert result.max_force_error_eV_A < 1.0
    assert result.energy_mae_eV_atom < 0.05
    assert result.flagged == (result.force_mae_eV_A > 0.10)
    if spec.startswith("mace:"):
        assert result.card_force_mae_eV_A is not None
    else:
        assert result.card_source == f"no model card for {spec}"
    # a screen's candidate document of the same model (spec + sha256 as the screen records them)
    info = describe(spec)
    assert result.model_sha256 == info.sha256 is not None
    prov = Provenance.collect(engine="mlip", settings={}, potential=info.spec,
                              model_sha256=info.sha256)  # fmt: skip
    with ResultsStore.open(store) as s:
        s.put(CandidateResult(candidate_id="Li-Sb/Li3Sb/prim/vac0", system="Li-Sb",
                              phase="Li3Sb", formula="Li3Sb", provenance=prov))  # fmt: skip
    (doc,) = query(store)
    assert doc.validation is not None
    assert doc.validation.force_mae_eV_A == result.force_mae_eV_A
    assert doc.validation.flagged == result.flagged
