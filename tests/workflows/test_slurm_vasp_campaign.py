"""An `engine: vasp` campaign on a real (single-node) SLURM with the STAND-IN VASP binary.

The stand-in (tests/standins/vasp_std) is not VASP: it computes with the shipped MACE model and
writes VASP's files; everything around it is the production path (atomate2 Makers, custodian,
emmet, the screen's hull/diffusion/ranking jobs, ``ilscreen submit``'s SLURM jobs). The two-system
mini campaign goes to the queue as one job per MD candidate (its VASP segments at every
temperature) plus the dependent ranking job; one MD segment is ``scancel``-ed while it writes its
XDATCAR; ``ilscreen resubmit`` reruns only that segment (the finished ones are re-parsed) and the
campaign ends ranked with D at every temperature from the concatenated XDATCARs (and Ea where the
diffusion estimator accepts two temperatures; in these 15-atom cells over 2 ps it may not).
``bash .ci/with_slurm.sh`` starts the SLURM (CI runs the whole suite under it); without one this
test skips.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from pymatgen.io.vasp import Incar

from workflows import hpc
from workflows.vasp_runs import DONE_MARKER, md_segment_dirs, segment_names


def _sibling(name: str) -> Any:
    """A neighbouring test module (pytest runs with --import-mode=importlib: no plain import)."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_slurm_test = _sibling("test_slurm_campaign")
slurm_up, wait_for = _slurm_test.slurm_up, _slurm_test.wait_for
read_text = _sibling("test_vasp_campaign").read_text
MINI = Path(__file__).parent / "data" / "mini_vasp_campaign_slurm.yaml"
STANDIN = Path(__file__).resolve().parents[1] / "standins" / "vasp_std"

_why = slurm_up()
_required = os.environ.get("ILSCREEN_REQUIRE_SLURM") == "1"
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_why is not None and not _required, reason=_why or ""),
]


def xdatcar_frames(folder: Path) -> int:
    p = folder / "XDATCAR"
    if not p.is_file():
        return 0
    return sum(line.startswith("Direct configuration") for line in p.open(errors="replace"))


def test_vasp_campaign_killed_segment_resubmitted_ends_ranked(tmp_path, monkeypatch) -> None:
    if _why is not None:
        pytest.fail(f"ILSCREEN_REQUIRE_SLURM=1 but: {_why}")
    t0 = time.monotonic()
    # the site configuration the SLURM jobs inherit (sbatch exports the environment)
    monkeypatch.setenv("ATOMATE2_VASP_CMD", f"{sys.executable} {STANDIN}")
    monkeypatch.setenv("ILSCREEN_VASP_POTCAR_SPEC", "1")
    monkeypatch.setenv("ILSCREEN_CUSTODIAN_POLL_S", "0.2")
    queue = hpc.SlurmQueue()
    work = tmp_path / "slurm"
    res = hpc.Resources(time="00:20:00", final_time="00:20:00", cpus=1)
    sub = hpc.submit_campaign(MINI, workdir=work, resources=res, queue=queue)
    plan = hpc.PlanArgs.from_file(work / "hpc" / "plan.json").plan()
    assert plan.provenance.engine == "vasp"
    assert list(sub.md_jobs) == [c.id for c in plan.md_targets] and sub.final_job

    # --- kill the first candidate's job while its second segment writes its XDATCAR
    victim = plan.md_targets[0].id
    t_first = plan.campaign.temperatures_for(plan.preset)[0]
    segs = md_segment_dirs(plan.md_dir, victim, t_first, segment_names(plan, t_first))
    assert len(segs) == 2

    def mid_segment():
        return (
            (segs[0] / DONE_MARKER).is_file()
            and xdatcar_frames(segs[1]) > 0
            and not (segs[1] / DONE_MARKER).is_file()
        )

    wait_for(mid_segment, 300, f"{victim}'s second MD segment to be running", every=0.1)
    queue.cancel(sub.md_jobs[victim])
    wait_for(lambda: not queue.active([sub.md_jobs[victim]]), 60, "the cancelled job to leave")
    killed_frames = xdatcar_frames(segs[1])
    assert not (segs[1] / DONE_MARKER).is_file()  # really interrupted, not finished

    def recorded_failure():
        # squeue drops the job at once; the job itself records its end a moment later (custodian
        # finishes its checks of the killed run first)
        rows = {r.task: r for r in hpc.campaign_status(work, queue=queue)}
        done = rows[victim].state == "failed" and "terminated by" in rows[victim].detail
        return rows if done else None

    rows = wait_for(recorded_failure, 60, "the killed job to record its end", every=0.5)
    assert "terminated by the scheduler" in rows[victim].detail
    assert rows[victim].kind == "md" and "frames on disk" in rows[victim].detail  # as MLIP rows
    assert rows["final"].state != "done"

    # --- resubmit: only the killed candidate and a new ranking job
    again = hpc.resubmit(work, queue=queue)
    assert list(again.md_jobs) == [victim] and again.final_job

    def finished():
        rows = {r.task: r for r in hpc.campaign_status(work, queue=queue)}
        if rows["final"].state == "failed":
            log = sorted((work / "hpc" / "logs").glob("final-*.out"))[-1].read_text()
            raise AssertionError(f"final job failed: {rows['final'].detail}\n{log[-3000:]}")
        return rows if rows["final"].state == "done" else None

    rows = wait_for(finished, 600, "the ranking job", every=1.0)
    assert all(r.state == "done" for r in rows.values())
    log = (
        work / "hpc" / "logs" / f"{hpc.task_slug(victim)}-{again.md_jobs[victim]}.out"
    ).read_text()
    # the finished first segment was re-parsed, the killed one run again from its inputs
    assert f"finished VASP run in {segs[0]} reused" in log, log[-3000:]
    assert f"removing the unfinished VASP run in {segs[1]}" in log, log[-3000:]
    final_log = next((work / "hpc" / "logs").glob(f"final-{again.final_job}.out")).read_text()
    n_segments = sum(
        len(segment_names(plan, t)) for t in plan.campaign.temperatures_for(plan.preset)
    ) * len(plan.md_targets)
    assert final_log.count("reused (not re-running)") >= n_segments  # no MD in the final job

    # --- the reference protocol in every MD INCAR, and the continuation between segments
    for folder in plan.md_dir.glob("**/0*-prod*"):
        incar = Incar.from_file(next(folder.glob("INCAR*")))
        assert str(incar["GGA"]).upper() == "PE" and incar["ENCUT"] == 400
        assert incar["POTIM"] == 2 and incar["MDALGO"] == 2 and incar["ML_LMLFF"] is True
    out2 = read_text(next(segs[1].glob("vasp.out*")))
    assert "velocities read from POSCAR" in out2 and "ML_AB read:" in out2

    # --- ranked, with D and Ea from the XDATCARs
    from workflows.screen import stored_results

    docs = stored_results(plan)
    assert docs is not None and sorted(d.candidate_id for d in docs) == sorted(
        c.id for c in plan.md_targets
    )
    for d in docs:
        assert d.provenance.engine == "vasp" and d.provenance.package_versions["vasp"]
        assert [t.temperature_K for t in d.transport] == [1200.0, 1400.0]
        for t in d.transport:  # D at every temperature, from the concatenated XDATCARs
            assert t.trajectory_path.endswith(".XDATCAR") and t.D_cm2_s is not None
            assert not t.converged or t.D_cm2_s > 0
        converged = [t for t in d.transport if t.converged]
        if len(converged) >= 2:  # Ea from MD wherever the estimator accepts two temperatures
            assert d.arrhenius is not None and d.arrhenius.source == "MD"
            assert d.arrhenius.Ea_eV > 0
        else:  # 15-atom cells, 2 ps: the row says why there is no Ea instead of inventing one
            assert d.arrhenius is None and "transport not converged" in d.flags
    print(
        f"\nkilled at {killed_frames} frames; campaign ranked after {time.monotonic() - t0:.0f} s"
    )
