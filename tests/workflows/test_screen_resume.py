"""An interrupted and a concurrent `ilscreen screen`, and same-seed determinism, in subprocesses.

One timeline on a one-system campaign (tests/workflows/data/resume_campaign.yaml: the shipped
model for relaxations and batched MD, float32, two Li3Sb vacancy candidates at two temperatures):

1. an uninterrupted screen in ``ref/`` (the reference ranking);
2. a screen in ``runs/``; while it holds the folder's lock a second screen on ``runs/`` starts and
   must refuse; once its MD has started (after every relaxation) the first is SIGKILLed;
3. the same command again in ``runs/``: it must run no job that finished before the kill, and its
   ranking and trajectories must equal the reference bit for bit.

Every process runs with ``OMP_NUM_THREADS=1``, the documented condition for bitwise-reproducible
CPU runs, and starts in one folder that must hold nothing but the two ``--workdir`` folders at the
end. The MD is far too short for converged diffusion: the numbers are compared between runs only.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from screening.hashing import file_sha256
from screening.results import CandidateResult
from screening.store import ResultsStore
from screening.trajectory import FRAME_DATASETS, read_trajectory
from workflows.resume import job_store
from workflows.screen import JOBSTORE_DIR, LOCK_NAME

CAMPAIGN = Path(__file__).parent / "data" / "resume_campaign.yaml"
#: one thread (bitwise-reproducible CPU kernels); log lines unbuffered and never wrapped
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400", "PYTHONUNBUFFERED": "1"}
STARTED = re.compile(r"Starting job - (.+?) \([0-9a-f-]{36}")
#: the MD runner's progress line below 100 % (logged every 10 % without a terminal)
MD_PROGRESS = re.compile(r"step \d+/\d+ \((?:\d|[1-9]\d)%\)")
#: five CLI processes (~100 s of CPU in all, two at a time); CI runs slow tests too
pytestmark = pytest.mark.slow


class Cli:
    """An ``ilscreen`` subprocess whose combined output is collected line by line."""

    def __init__(self, cwd: Path, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "screening.cli", *args],
            cwd=cwd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)

    def wait(self, timeout: float) -> int:
        """Exit code (negative: killed by that signal)."""
        code = self.proc.wait(timeout)
        self._reader.join(10)
        return code

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def started(self) -> list[str]:
        """Names of the jobs this process started (jobflow's INFO line per job)."""
        return [m.group(1) for m in STARTED.finditer(self.text)]


def screen(cwd: Path, workdir: str) -> Cli:
    return Cli(cwd, "screen", str(CAMPAIGN), "--workdir", workdir)


def wait_for(cond: Callable[[], Any], timeout: float, what: str, every: float = 0.05) -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if got := cond():
            return got
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def stored_jobs(workdir: Path) -> dict[str, tuple[str, str]]:
    """``{uuid: (job name, completed_at)}`` of every job output in the screen's JobStore."""
    with job_store(workdir / JOBSTORE_DIR) as store:
        docs = store.docs_store.query({}, ["uuid", "name", "completed_at"])
        return {d["uuid"]: (d["name"], d["completed_at"]) for d in docs}


def ranking(workdir: Path) -> list[CandidateResult]:
    with ResultsStore.open(workdir / "store", create=False) as st:
        return st.ranking(sort="rank")


@pytest.fixture(scope="module")
def timeline(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("resume")
    root = base / "screens"  # every screen starts here; only its two --workdir folders may appear
    root.mkdir()
    t0 = time.monotonic()
    ref = screen(root, "ref")  # one thread each: the two screens share the CPUs, not the results
    first = screen(root, "runs")
    lock = root / "runs" / LOCK_NAME
    wait_for(lambda: lock.is_file() and lock.read_text().strip() == str(first.proc.pid), 120,
             "the first screen to take the folder's lock")  # fmt: skip
    second = screen(root, "runs")
    second_code = second.wait(120)
    # the MD job starts after every relaxation (the Flow runs them first); kill it at its first
    # progress line (10 % of its steps), not after a fixed delay, which a fast machine outruns
    wait_for(lambda: any(n.startswith("nvt md") for n in first.started()), 300,
             "the first screen's MD to start")  # fmt: skip
    wait_for(lambda: MD_PROGRESS.search(first.text), 300, "the first screen's MD progress")
    assert first.proc.poll() is None, "the first screen finished before it could be killed"
    os.kill(first.proc.pid, signal.SIGKILL)
    assert first.wait(60) == -signal.SIGKILL
    t_kill = time.monotonic() - t0
    at_kill = stored_jobs(root / "runs")

    rerun = screen(root, "runs")
    # a fresh MD of the same candidates with the same seed, in its own folder, meanwhile
    (base / "md-only").mkdir()
    md_only = Cli(base / "md-only", "md", "--all", "--candidates", str(CAMPAIGN),
                  "--out", "md", "--no-progress")  # fmt: skip
    for proc in (rerun, ref, md_only):
        assert proc.wait(600) == 0, proc.text[-3000:]
    print(f"\nkilled after {t_kill:.1f} s, all done after {time.monotonic() - t0:.1f} s")
    return {
        "root": root, "first": first, "second": second, "second_code": second_code,
        "at_kill": at_kill, "rerun": rerun, "after": stored_jobs(root / "runs"),
        "ref_jobs": stored_jobs(root / "ref"), "md_only": base / "md-only",
    }  # fmt: skip


def test_kill_came_after_the_relaxations_and_during_md(timeline) -> None:
    names = [name for name, _ in timeline["at_kill"].values()]
    assert sum(n.startswith("relax ") for n in names) == 4  # Li, Sb, Li3Sb and Sb in bcc Li
    assert not any(n.startswith("nvt md") for n in names)
    assert "rank and store" not in names


def test_rerun_runs_no_job_that_had_finished(timeline) -> None:
    at_kill, after, rerun = timeline["at_kill"], timeline["after"], timeline["rerun"]
    # a job that ran again would have rewritten its document with a new completion time
    assert {u: after[u] for u in at_kill} == at_kill
    finished_names = {name for name, _ in at_kill.values()}
    started = rerun.started()
    assert started and not finished_names & set(started), started
    assert f"resuming: {len(at_kill)} of {len(timeline['ref_jobs'])} jobs finished earlier" in (
        rerun.text
    )
    assert len(after) == len(timeline["ref_jobs"])  # every job of the Flow, each stored once


def test_resumed_ranking_and_trajectories_equal_the_uninterrupted_run(timeline) -> None:
    got, ref = ranking(timeline["root"] / "runs"), ranking(timeline["root"] / "ref")
    assert len(got) == 2
    key = [(d.candidate_id, d.rank, d.status, d.score) for d in ref]
    assert [(d.candidate_id, d.rank, d.status, d.score) for d in got] == key
    for g, r in zip(got, ref, strict=True):
        assert g.thermo == r.thermo and g.dissolution == r.dissolution
        assert g.arrhenius == r.arrhenius
        for tg, tr in zip(g.transport, r.transport, strict=True):
            assert (tg.temperature_K, tg.D_cm2_s) == (tr.temperature_K, tr.D_cm2_s)
            a, b = read_trajectory(tg.trajectory_path), read_trajectory(tr.trajectory_path)
            assert np.array_equal(a.step, b.step) and np.array_equal(a.positions, b.positions)
            assert file_sha256(tg.trajectory_path) == tg.trajectory_sha256  # files consistent


def test_second_screen_on_the_folder_refused_at_once(timeline) -> None:
    second, first = timeline["second"], timeline["first"]
    errors = [ln for ln in second.text.splitlines() if ln.startswith("error: ")]
    assert timeline["second_code"] == 2 and len(errors) == 1, second.text[-2000:]
    assert f"another screen (pid {first.proc.pid}) is running in this folder" in errors[0]
    assert "--workdir" in errors[0] and "Traceback" not in second.text
    assert second.started() == []  # it ran nothing, so it wrote nothing the first one wrote


def test_nothing_lands_outside_the_workdirs(timeline) -> None:
    root = timeline["root"]
    assert sorted(p.name for p in root.iterdir()) == ["ref", "runs"]
    for work in ("ref", "runs"):  # atomate2 writes this file into the job's folder
        strays = [p for p in (root / work).rglob("final_atoms_object.xyz")
                  if (root / work / "jobs") not in p.parents]  # fmt: skip
        assert strays == []


def test_two_fresh_runs_with_the_same_seed_give_identical_trajectories(timeline) -> None:
    """The reference screen and ``ilscreen md`` of the same candidates, each a new process with the
    same seed on one CPU thread, write the same frames bit for bit (README: more threads sum
    float32 terms in a varying order)."""
    ref, md_only = timeline["root"] / "ref", timeline["md_only"]
    assert sorted(p.name for p in md_only.iterdir()) == ["md"]  # nothing outside --out
    docs = ranking(ref)
    paths = [Path(t.trajectory_path) for d in docs for t in d.transport]
    assert len(paths) == 4  # two candidates at two temperatures
    for path in paths:
        a = read_trajectory(path)
        rel = path.relative_to(next(p for p in path.parents if p.parent.name == "md"))
        b = read_trajectory(md_only / "md" / rel)
        assert a.n_frames > 10
        for name in FRAME_DATASETS:
            assert np.array_equal(getattr(a, name), getattr(b, name)), name
