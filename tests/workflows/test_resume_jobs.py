"""workflows.resume on small jobflow Flows: content-pinned uuids, SIGKILL and rerun, blob checks.

The jobs are toy arithmetic on purpose (the mechanism, not the physics): the screen's own kill and
resume test is tests/workflows/test_screen_resume.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from jobflow import Flow, job

from workflows.resume import KEY_FIELD, finished, job_store, pin_uuids, run_resumable


@job
def add(a: float, b: float) -> float:
    """a + b."""
    return a + b


@job(data="trajectory")
def relax_like(x: float) -> dict:
    """An output with a part that jobflow puts in the ``data`` store, as atomate2 relaxations do."""
    return {"energy": -x, "trajectory": [x, x / 2]}


def chain(first: float = 1.0) -> Flow:
    """a → b (needs a) → c (needs b and a, one reference nested in a dict); d is independent."""
    a = add(first, 2)
    b = add(a.output, 10)
    c = add({"x": [b.output]}["x"][0], a.output)
    d = add(5, 5)
    return Flow([a, b, c, d], output=c.output)


@pytest.mark.filterwarnings("ignore:Some jobs are not connected")
def test_pinned_uuids_are_stable_and_follow_content() -> None:
    one, two = chain(), chain()
    keys = pin_uuids(one, {"model": "x"})
    pin_uuids(two, {"model": "x"})
    assert [j.uuid for j in one] == [j.uuid for j in two]  # fresh builds, same ids
    assert [j.metadata[KEY_FIELD] for j in one] == [keys[j.uuid] for j in one]
    # references were rewritten: b reads a, c reads b and a, the Flow's output is c
    a, b, c, _ = one
    assert {r.uuid for r in b.input_references} == {a.uuid}
    assert {r.uuid for r in c.input_references} == {a.uuid, b.uuid}
    assert one.output.uuid == c.uuid

    other_salt = chain()
    pin_uuids(other_salt, {"model": "y"})
    assert not {j.uuid for j in other_salt} & {j.uuid for j in one}
    # a changed input changes its job and everything downstream, nothing else
    changed = chain(first=2.0)
    pin_uuids(changed, {"model": "x"})
    same = [x.uuid == y.uuid for x, y in zip(one, changed, strict=True)]
    assert same == [False, False, False, True]


@pytest.mark.filterwarnings("ignore:Some jobs are not connected")
def test_identical_jobs_get_distinct_stable_ids() -> None:
    def build() -> Flow:
        return Flow([add(1, 1) for _ in range(3)])

    one, two = build(), build()
    pin_uuids(one, {})
    pin_uuids(two, {})
    assert len({j.uuid for j in one}) == 3
    assert [j.uuid for j in one] == [j.uuid for j in two]


SCRIPT = """
import os, signal, sys
from pathlib import Path
import pytest
from jobflow import Flow, job
from workflows.resume import job_store, pin_uuids, run_resumable

LOG = Path(sys.argv[1]) / "starts.log"

@job
def step(name, *inputs):
    with LOG.open("a") as fh:
        fh.write(name + "\\n")
    if name == "c" and os.environ.get("KILL_AT_C"):
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no exception handler runs
    return name + "".join(inputs)

a = step("a"); b = step("b", a.output); c = step("c", b.output); d = step("d", c.output, a.output)
flow = Flow([a, b, c, d], output=d.output)
pin_uuids(flow, {})
with job_store(Path(sys.argv[1]) / "jobstore") as store:
    out = run_resumable(flow, store, root_dir=Path(sys.argv[1]) / "jobs")
print("RESULT", out[d.uuid][1].output)
"""


def test_sigkilled_flow_reruns_only_unfinished_jobs(tmp_path: Path) -> None:
    script = tmp_path / "flow.py"
    script.write_text(textwrap.dedent(SCRIPT))
    root = Path(__file__).parents[2]
    env = {**os.environ, "PYTHONPATH": str(root), "KILL_AT_C": "1"}
    killed = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert killed.returncode == -9, killed.stderr[-2000:]
    with job_store(tmp_path / "jobstore") as store:
        before = {d["uuid"]: d["completed_at"] for d in store.docs_store.query({})}
    assert len(before) == 2  # a and b were stored when they finished

    env.pop("KILL_AT_C")
    again = subprocess.run([sys.executable, str(script), str(tmp_path)], env=env,
                           capture_output=True, text=True, timeout=120, check=True)  # fmt: skip
    assert "RESULT dcbaa" in again.stdout
    # a and b started once (first run), c twice (killed, then finished), d once
    assert (tmp_path / "starts.log").read_text().split() == ["a", "b", "c", "c", "d"]
    with job_store(tmp_path / "jobstore") as store:
        docs = list(store.docs_store.query({}))
    assert len(docs) == 4
    assert {d["uuid"]: d["completed_at"] for d in docs if d["uuid"] in before} == before


def test_an_output_whose_blob_is_missing_is_not_finished(tmp_path: Path) -> None:
    def build() -> Flow:
        r = relax_like(3.0)
        e = add(r.output["energy"], 1.0)
        return Flow([r, e], output=e.output)

    flow = build()
    pin_uuids(flow, {})
    with job_store(tmp_path / "js") as store:
        run_resumable(flow, store, root_dir=tmp_path)
        uuids = [j.uuid for j in flow]
        assert set(finished(store, uuids)) == set(uuids)
        # a kill between jobflow's output write and its blob write leaves exactly this
        store.additional_stores["data"].remove_docs({})
        assert set(finished(store, uuids)) == {uuids[1]}
        rerun = build()
        pin_uuids(rerun, {})
        out = run_resumable(rerun, store, root_dir=tmp_path)
        assert set(out) == {uuids[0]}  # the relaxation runs again, its consumer is reused
        assert store.get_output(uuids[0], load=True)["trajectory"] == [3.0, 1.5]


def test_screen_flow_ids_survive_a_rebuild_and_follow_the_settings(tmp_path: Path) -> None:
    """The real screening Flow: a new plan of the same campaign (new Provenance timestamps) gives
    the same ids; a changed ranking threshold changes the hulls, transport and ranking jobs (their
    settings hash), not the relaxations or the MD."""
    import yaml

    from workflows.screen import plan_screen, resumable_flow

    campaign = Path(__file__).parent / "data" / "resume_campaign.yaml"
    strict = tmp_path / "strict.yaml"
    doc = yaml.safe_load(campaign.read_text())
    doc["ranking"] = {"max_e_above_hull_eV_atom": 0.01}
    strict.write_text(yaml.safe_dump(doc))

    def ids(path: Path) -> dict[str, str]:
        flow = resumable_flow(plan_screen(path, workdir=tmp_path / "runs"))
        return {j.name: j.uuid for j in flow}

    first, again, changed = ids(campaign), ids(campaign), ids(strict)
    assert first == again
    assert first.keys() == changed.keys()
    same = {name for name in first if first[name] == changed[name]}
    assert {n for n in first if n.startswith(("relax ", "nvt md", "energy "))} <= same
    assert {n for n in first if n.startswith(("thermo ", "transport ", "rank "))}.isdisjoint(same)
