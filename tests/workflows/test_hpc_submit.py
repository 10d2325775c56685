"""HPC submission logic without a cluster: scripts, jobs.json, status and resubmission.

A recording fake stands in for the batch system (the real SLURM path is exercised by
test_slurm_campaign.py); the scripts are rendered by qtoolkit's real SlurmIO, the trajectories are
real ``ilscreen-traj/1`` files and the plan is the real plan of the mini campaign.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from potentials.registry import DEFAULT_SPEC
from screening.errors import InputError
from screening.trajectory import TrajectoryWriter
from workflows import hpc
from workflows.md.maker import trajectory_path
from workflows.screen import build_flow

MINI = Path(__file__).parent / "data" / "mini_campaign.yaml"
SHIPPED = Path(__file__).parents[2] / "potentials" / "models" / "ilscreen-li-alloys.model"
# the shipped model; ILSCREEN_TEST_POTENTIAL lets a developer use another one before it exists
POTENTIAL = os.environ.get("ILSCREEN_TEST_POTENTIAL") or (DEFAULT_SPEC if SHIPPED.is_file() else "")
needs_model = pytest.mark.skipif(not POTENTIAL, reason=f"shipped model {SHIPPED} not built yet")


class FakeQueue:
    """Records submissions; ``live`` maps job id → SLURM state for jobs still in the queue."""

    def __init__(self) -> None:
        self.n = 100
        self.submitted: list[dict] = []
        self.live: dict[str, str] = {}
        self.cancelled: list[str] = []

    def submit(self, script, commands, resources, after):
        self.n += 1
        jid = str(self.n)
        text = hpc.slurm_script(commands, resources, after)
        self.submitted.append({"id": jid, "script": script, "text": text, "after": list(after)})
        self.live[jid] = "PENDING"
        return jid

    def active(self, job_ids):
        return {j: s for j, s in self.live.items() if j in set(job_ids)}

    def cancel(self, job_id):
        self.cancelled.append(job_id)
        self.live.pop(job_id, None)


def finish_md(plan, candidate_id: str, status: str = "completed") -> None:
    """Write a (tiny, real-format) trajectory per temperature with the given final status."""
    for t in plan.campaign.temperatures_for(plan.preset):
        path = trajectory_path(plan.md_dir, candidate_id, t)
        path.parent.mkdir(parents=True, exist_ok=True)
        attrs = {"timestep_fs": 2.0, "stride": 5, "target_temperature_K": t, "status": "running",
                 "thermostat": "langevin", "seed": 0, "potential": plan.potential,
                 "candidate_id": candidate_id}  # fmt: skip
        with TrajectoryWriter(path, np.array([3, 3]), attrs) as w:
            w.append(positions=np.zeros((2, 3)), cell=np.eye(3) * 5, step=0, time_fs=0.0,
                     temperature_K=t, potential_energy_eV=0.0, kinetic_energy_eV=0.0,
                     conserved_eV=0.0)  # fmt: skip
            w.set_attrs(status=status)


def test_parse_time_and_bad_time() -> None:
    assert hpc.parse_time("01:30:00") == 5400
    assert hpc.parse_time("2-00:00:00") == 2 * 86400
    assert hpc.parse_time("90") == 90 * 60  # SLURM: a bare number is minutes
    with pytest.raises(InputError, match="--time"):
        hpc.parse_time("soon")


def test_slurm_script_has_resources_dependency_and_command(tmp_path: Path) -> None:
    res = hpc.Resources(partition="gpu", account="proj42", time="02:00:00", cpus=8, gpus=1,
                        extra=("qos=high",), setup=("module load cuda",))  # fmt: skip
    q = res.qresources(job_name="ilscreen-md-x", log_file=tmp_path / "x-%j.out", final=False)
    text = hpc.slurm_script(hpc._commands(res, "md", "/w/hpc/plan.json", "Li-Sb/Li3Sb/1x1x1"),
                            q, after=["11", "12"])  # fmt: skip
    lines = text.splitlines()
    assert lines[0].startswith("#!")
    for want in ("--partition=gpu", "--account=proj42", "--cpus-per-task=8", "--gres=gpu:1",
                 "--time=0-2:0:0", "--qos=high", "--dependency=afterok:11:12", "--open-mode=append",
                 f"--output={tmp_path}/x-%j.out"):  # fmt: skip
        assert any(ln.startswith("#SBATCH") and want in ln for ln in lines), want
    body = [ln for ln in lines if not ln.startswith("#")]
    assert body.index("module load cuda") < next(i for i, ln in enumerate(body) if "-m" in ln)
    # 2 h wall time: 12 min margin; at its budget the task exits 99 and the job requeues itself
    task = f"{sys.executable} -m workflows.hpc md /w/hpc/plan.json Li-Sb/Li3Sb/1x1x1 --budget 6480"
    assert task in body
    assert 'then scontrol requeue "$SLURM_JOB_ID"' in text and f"-eq {hpc.REQUEUE_EXIT}" in text
    assert hpc.md_budget_s(24 * 3600) == 24 * 3600 - 900 and hpc.md_budget_s(60) == 30
    # the final job has no budget: it is not resumable mid-way and needs no requeue
    final = hpc._commands(res, "final", "/w/hpc/plan.json")
    assert final[-1].endswith("workflows.hpc final /w/hpc/plan.json")


@pytest.fixture
def submitted(tmp_path: Path):
    queue = FakeQueue()
    sub = hpc.submit_campaign(MINI, potential=POTENTIAL, workdir=tmp_path / "w", queue=queue,
                              checkpoint_every_steps=20)  # fmt: skip
    plan = hpc.PlanArgs.from_file(tmp_path / "w" / "hpc" / "plan.json").plan()
    return queue, sub, plan, tmp_path / "w"


@needs_model
def test_submit_fans_out_one_md_job_per_candidate_then_final(submitted) -> None:
    queue, sub, plan, work = submitted
    ids = [c.id for c in plan.md_targets]
    assert list(sub.md_jobs) == ids
    md_ids = [s["id"] for s in queue.submitted[:-1]]
    final = queue.submitted[-1]
    assert all(s["after"] == [] for s in queue.submitted[:-1])
    assert final["after"] == md_ids and sub.final_job == final["id"]
    assert "workflows.hpc final" in final["text"]
    jobs = json.loads((work / "hpc" / "jobs.json").read_text())
    assert {t: v["job_ids"] for t, v in jobs["tasks"].items()} == {
        **{c: [j] for c, j in zip(ids, md_ids, strict=True)},
        "final": [final["id"]],
    }
    # the jobs re-plan the same screen: same settings hash, same MD folder, absolute paths
    args = hpc.PlanArgs.from_file(work / "hpc" / "plan.json")
    assert Path(args.workdir).is_absolute() and args.checkpoint_every_steps == 20
    assert plan.md_dir == work.resolve() / plan.md_dir.relative_to(work.resolve())


@needs_model
def test_md_task_uses_exactly_the_flow_md_settings(submitted) -> None:
    """The final screen reuses the MD only if the HPC task runs what the Flow would run."""
    _, _, plan, _ = submitted
    flow = build_flow(plan, batched=False)
    md_job = next(j for j in flow.jobs if j.name.startswith("nvt md"))
    flow_maker = md_job.function.__self__
    task_maker = hpc.md_maker(plan, checkpoint_every_steps=flow_maker.checkpoint_every_steps,
                              progress=flow_maker.progress)  # fmt: skip
    # (the Flow renames its job "nvt md (N runs)"; the name is a label, not a setting)
    assert dataclasses.replace(task_maker, name=flow_maker.name) == flow_maker
    # same (candidate, T) → same trajectory file as the Flow's MD job
    temps = plan.campaign.temperatures_for(plan.preset)
    assert md_job.function_args[1] == [c.id for c in plan.md_targets for _ in temps]


@needs_model
def test_status_and_resubmit_resume_only_failed_work(submitted, monkeypatch) -> None:
    queue, sub, plan, work = submitted
    a, b = (c.id for c in plan.md_targets)
    ja, jb = sub.md_jobs[a], sub.md_jobs[b]
    queue.live[ja] = "RUNNING"
    rows = {r.task: r for r in hpc.campaign_status(work, queue=queue)}
    assert rows[a].state == "running" and rows[b].state == "queued"
    assert rows["final"].state == "queued"

    # a finished, b killed at the wall time (no end record), final cancelled by the scheduler
    finish_md(plan, a)
    for j in (ja, jb, sub.final_job):
        queue.live.pop(j)
    rows = {r.task: r for r in hpc.campaign_status(work, queue=queue)}
    assert rows[a].state == "done"
    assert rows[b].state == "failed" and "killed" in rows[b].detail
    assert rows["final"].state == "failed"

    again = hpc.resubmit(work, queue=queue)
    assert list(again.md_jobs) == [b]
    assert queue.submitted[-1]["after"] == [again.md_jobs[b]]
    jobs = json.loads((work / "hpc" / "jobs.json").read_text())
    assert jobs["tasks"][b]["job_ids"] == [jb, again.md_jobs[b]]

    # b resubmitted and running, final queued: a second resubmit has nothing to do
    queue.live[again.md_jobs[b]] = "RUNNING"
    assert hpc.resubmit(work, queue=queue).final_job is None
    # an error recorded by the job itself is shown
    monkeypatch.setenv("SLURM_JOB_ID", again.md_jobs[b])
    hpc._record(hpc.HPCCampaign(work.resolve()), b, state="failed", error="RuntimeError: nan")
    queue.live.pop(again.md_jobs[b])
    rows = {r.task: r for r in hpc.campaign_status(work, queue=queue)}
    assert rows[b].state == "failed" and "RuntimeError: nan" in rows[b].detail
    # unstable runs are finished work, not failures to resubmit
    finish_md(plan, b, status="unstable")
    rows = {r.task: r for r in hpc.campaign_status(work, queue=queue)}
    assert rows[b].state == "done" and "unstable" in rows[b].detail


@needs_model
def test_resubmitting_while_jobs_are_queued_is_refused(submitted) -> None:
    queue, _, _, work = submitted
    with pytest.raises(InputError, match="still queued or running"):
        hpc.submit_campaign(MINI, potential=POTENTIAL, workdir=work, queue=queue)


@needs_model
def test_changed_campaign_file_is_refused_by_the_jobs(tmp_path: Path) -> None:
    camp = tmp_path / "c.yaml"
    camp.write_text(MINI.read_text())
    hpc.submit_campaign(camp, potential=POTENTIAL, workdir=tmp_path / "w", queue=FakeQueue())
    camp.write_text(MINI.read_text().replace("[548, 900]", "[600, 900]"))
    with pytest.raises(InputError, match="changed since it was submitted"):
        hpc.PlanArgs.from_file(tmp_path / "w" / "hpc" / "plan.json").plan()


def test_status_without_submission_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="ilscreen submit") as err:
        hpc.campaign_status(tmp_path, queue=FakeQueue())
    assert "jobs.json" in str(err.value)


def test_jobflow_remote_without_project_is_a_clear_error(tmp_path: Path) -> None:
    """Up to the boundary testable here: no project configured → one clear message."""
    pytest.importorskip("jobflow_remote")
    env = {**os.environ, "JFREMOTE_PROJECTS_FOLDER": str(tmp_path / "jf"), "JFREMOTE_PROJECT": ""}
    (tmp_path / "jf").mkdir()
    code = (
        "from workflows.hpc import submit_jobflow_remote\n"
        "from screening.errors import InputError\n"
        "try:\n"
        f"    submit_jobflow_remote({str(MINI)!r})\n"
        "except InputError as e:\n"
        "    print('INPUTERROR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert "INPUTERROR" in out.stdout, out.stderr[-2000:]
    assert "jf project" in out.stdout


def test_budget_alarm_and_sigterm_stop_the_task_and_record_why(tmp_path: Path) -> None:
    """The signal paths a wall-time budget / scancel take through a task (no MD needed)."""
    import signal
    import time

    camp = hpc.HPCCampaign(tmp_path)
    with pytest.raises(hpc.OutOfTime):
        hpc._run_recorded(camp, "a/b", lambda: time.sleep(5), budget_s=1)
    rec = camp.read_state("a/b")
    assert rec["state"] == "requeued" and "budget of 1 s" in rec["error"]

    def wrapping_loader() -> None:  # like a model loader that turns any error into its own
        try:
            time.sleep(5)
        except Exception as exc:
            raise ValueError("could not load model") from exc

    with pytest.raises(hpc.OutOfTime):
        hpc._run_recorded(camp, "a/b", wrapping_loader, budget_s=1)
    assert camp.read_state("a/b")["state"] == "requeued"
    with pytest.raises(hpc.Terminated):
        hpc._run_recorded(camp, "a/b", lambda: (os.kill(os.getpid(), signal.SIGTERM),
                                                time.sleep(5)))  # fmt: skip
    assert camp.read_state("a/b")["state"] == "failed"
    assert "terminated by the scheduler" in camp.read_state("a/b")["error"]
    assert hpc._run_recorded(camp, "a/b", lambda: 42) == 42
    assert camp.read_state("a/b") | {"time": 0} == {"state": "done", "error": None,
                                                    "job_id": None, "time": 0}  # fmt: skip
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or callable(
        signal.getsignal(signal.SIGTERM)
    )


JF_PROJECT = """
name: ilscreen_test
workers:
  local: {{type: local, scheduler_type: shell, work_dir: {work}}}
queue:
  store: {{type: MongoStore, host: localhost, port: 1, database: jf, collection_name: jobs,
          mongoclient_kwargs: {{serverSelectionTimeoutMS: 300}}}}
jobstore:
  docs_store: {{type: MemoryStore}}
  additional_stores: {{data: {{type: MemoryStore}}}}
"""


@needs_model
def test_jobflow_remote_builds_flow_and_stops_at_the_database(tmp_path: Path) -> None:
    """With a configured project the Flow is built and handed to jobflow-remote; without a
    reachable MongoDB (none here) the call ends in one clear message instead of a traceback."""
    pytest.importorskip("jobflow_remote")
    folder = tmp_path / "jf"
    folder.mkdir()
    (folder / "ilscreen_test.yaml").write_text(JF_PROJECT.format(work=tmp_path / "jfw"))
    env = {**os.environ, "JFREMOTE_PROJECTS_FOLDER": str(folder)}
    code = (
        "import logging; logging.basicConfig(level=logging.INFO)\n"
        "from workflows.hpc import submit_jobflow_remote\n"
        "from screening.errors import InputError\n"
        "try:\n"
        f"    submit_jobflow_remote({str(MINI)!r}, potential={POTENTIAL!r}, workdir="
        f"{str(tmp_path / 'w')!r}, project='ilscreen_test', worker='local')\n"
        "except InputError as e:\n"
        "    print('INPUTERROR', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         timeout=300)  # fmt: skip
    assert "INPUTERROR" in out.stdout, out.stderr[-3000:]
    assert "not reachable" in out.stdout and "ilscreen_test" in out.stdout
