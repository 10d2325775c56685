"""Job-by-job resume of a screen: content-addressed job uuids in a persistent jobflow ``JobStore``.

jobflow's ``run_locally`` writes each job's output to its ``JobStore`` as soon as the job returns.
Given an embedded store on disk (:func:`job_store`: montydb/SQLite, one commit per write) a
killed screen keeps every job it finished. A rerun must recognise them, but jobflow gives every
job a random uuid when the Flow is built. :func:`pin_uuids` therefore replaces each uuid by one
derived from the job's content: its function or Maker with all its settings, its inputs (with each
reference to another job replaced by that job's key, so a key covers everything upstream) and a
salt (model sha256s, code version); every reference is rewritten to the new uuids. Rebuilding the
same screen gives the same uuids, and :func:`run_resumable` removes from the Flow each job whose
output (and every blob of it) is stored, then runs the rest with ``allow_external_references``:
their inputs resolve from the stored outputs, as they would have in one uninterrupted run.

A changed setting changes the keys of exactly the jobs it reaches: a new ranking threshold reruns
the ranking, not the relaxations or the MD. Outputs of superseded keys stay in the store (never
read again); ``ilscreen screen --force`` deletes it.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from jobflow import Flow, Job, JobStore, OutputReference, run_locally

from screening.hashing import settings_hash

log = logging.getLogger(__name__)

#: uuid5 namespace of pinned job uuids (any fixed uuid; changing it invalidates every store)
NAMESPACE = uuid.UUID("6f7c2e0a-3d55-4c1e-9a53-1b1f0c8e4a21")
#: metadata field holding a job's content key (also in its stored document)
KEY_FIELD = "ilscreen_key"
#: job-dict fields that say where or how a job is run, not what it computes
_NOT_CONTENT = ("uuid", "name", "hosts", "metadata", "config", "metadata_updates",
                "config_updates", "name_updates")  # fmt: skip
#: Provenance fields that record when and where, not what (a rerun must not change the key)
_VOLATILE_PROVENANCE = ("created_at", "finished_at", "host")


def _jobs(flow: Flow) -> list[Job]:
    """Every job of ``flow`` (nested flows included) in an order that runs parents first."""
    return [job for job, _ in flow.iterflow()]


def _content(node: Any, keys: Mapping[str, str]) -> Any:
    """A sanitised job dict with references replaced by the referenced job's key."""
    if isinstance(node, dict):
        cls = node.get("@class")
        if cls == "OutputReference":
            ref = keys.get(node["uuid"], f"external {node['uuid']}")  # a job outside the Flow
            return {"ref": ref, "attributes": _content(node["attributes"], keys)}
        skip = _VOLATILE_PROVENANCE if cls == "Provenance" else ()
        return {k: _content(v, keys) for k, v in node.items() if k not in skip}
    if isinstance(node, list | tuple):
        return [_content(v, keys) for v in node]
    return node


def _rewrite(node: Any, new: Mapping[str, str]) -> None:
    """Point every reference inside ``node`` (lists, tuples, dicts) at its job's new uuid."""
    if isinstance(node, OutputReference):
        if node.uuid in new:
            node.set_uuid(new[node.uuid])
    elif isinstance(node, dict):
        for v in node.values():
            _rewrite(v, new)
    elif isinstance(node, list | tuple):
        for v in node:
            _rewrite(v, new)


def pin_uuids(flow: Flow, salt: Mapping[str, Any]) -> dict[str, str]:
    """Give every job of ``flow`` a uuid derived from its content key; returns ``{uuid: key}``.

    ``salt`` holds what changes results without appearing in any job's inputs (the sha256 of the
    model files a potential spec names, the code version). Two jobs with identical content (none
    in a screen) get distinct keys by their order. Jobs that replace themselves at run time
    (jobflow ``Response.replace``) are outside what a rerun can recognise; a screen has none.
    """
    jobs = _jobs(flow)
    keys: dict[str, str] = {}
    seen: Counter[str] = Counter()
    for job in jobs:
        try:
            d = job.as_dict()
        except (TypeError, ValueError, AttributeError, RecursionError) as exc:
            # inputs that cannot be serialised have no content key: a random one, so this job
            # and everything downstream of it run again on every rerun
            log.warning("job %s has unserialisable inputs (%s); it is never reused", job.name, exc)
            d = {"random": str(uuid.uuid4())}
        body = _content({k: v for k, v in d.items() if k not in _NOT_CONTENT}, keys)
        key = base = settings_hash({"job": body, "salt": dict(salt)})
        if seen[base]:
            key = settings_hash({"job": base, "repeat": seen[base]})
        seen[base] += 1
        keys[job.uuid] = key
    external = {r.uuid for job in jobs for r in job.input_references} - set(keys)
    new = {old: str(uuid.uuid5(NAMESPACE, key)) for old, key in keys.items()}
    for job in jobs:
        _rewrite(job.function_args, new)
        _rewrite(job.function_kwargs, new)
    _rewrite(flow.output, new)
    for job in jobs:
        key = keys[job.uuid]
        job.set_uuid(new[job.uuid])
        job.metadata[KEY_FIELD] = key
    pinned = {new[old]: key for old, key in keys.items()}
    stray = {r.uuid for job in jobs for r in job.input_references} - set(pinned) - external
    if stray:  # a reference hidden inside an object _rewrite does not walk
        raise RuntimeError(f"pin_uuids left references to unknown jobs: {sorted(stray)}")
    return pinned


@contextlib.contextmanager
def job_store(path: Path) -> Iterator[JobStore]:
    """The persistent ``JobStore`` of a screen: job outputs and their ``data`` blobs on disk.

    atomate2's force-field jobs put relaxation trajectories in the ``data`` additional store.
    """
    from maggma.stores.mongolike import MontyStore

    path.mkdir(parents=True, exist_ok=True)
    kw: dict[str, Any] = {"database_path": str(path), "storage": "sqlite"}
    store = JobStore(
        MontyStore("outputs", key="uuid", **kw),
        additional_stores={"data": MontyStore("data", key="blob_uuid", **kw)},
    )
    store.connect()
    try:
        yield store
    finally:
        with contextlib.suppress(Exception):
            store.close()


def _blobs(node: Any) -> Iterator[tuple[str, str]]:
    """(store name, blob uuid) of every blob a stored output points to."""
    if isinstance(node, dict):
        if "blob_uuid" in node and "store" in node:
            yield node["store"], node["blob_uuid"]
            return
        for v in node.values():
            yield from _blobs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _blobs(v)


def finished(store: JobStore, uuids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{uuid: stored document}`` of the jobs among ``uuids`` whose output is complete.

    jobflow writes the output document before its blobs, so a job killed in between has a document
    whose blobs are missing: it counts as not finished.
    """
    docs = {
        d["uuid"]: d
        for d in store.docs_store.query({"uuid": {"$in": list(uuids)}}, ["uuid", "output",
                                        "completed_at", "name", "metadata"])
    }  # fmt: skip
    wanted: dict[str, set[str]] = {}
    for d in docs.values():
        for name, blob in _blobs(d.get("output")):
            wanted.setdefault(name, set()).add(blob)
    present: set[str] = set()
    for name, blobs in wanted.items():
        sub = store.additional_stores[name]
        present |= {b["blob_uuid"] for b in sub.query({"blob_uuid": {"$in": sorted(blobs)}},
                                                     ["blob_uuid"])}  # fmt: skip
    return {u: d for u, d in docs.items() if all(b in present for _, b in _blobs(d.get("output")))}


def _drop(flow: Flow, done: set[str]) -> None:
    """Remove the jobs in ``done`` from ``flow`` and its sub-flows.

    Flow outputs are cleared first (jobflow refuses to remove a job an output references); a local
    run needs none: the responses and the store hold every output.
    """
    flow.output = None
    for item in flow:
        if isinstance(item, Flow):
            _drop(item, done)
    gone = [i for i, item in enumerate(flow) if isinstance(item, Job) and item.uuid in done]
    if gone:
        flow.remove_jobs(gone)


def run_resumable(
    flow: Flow, store: JobStore, *, root_dir: Path, rerun: Iterable[str] = ()
) -> dict[str, dict[int, Any]]:
    """``run_locally`` of the jobs of a pinned ``flow`` that ``store`` does not hold yet.

    ``rerun``: uuids that run even when stored (a job whose point is a side effect, such as
    writing the results store). Returns jobflow's responses of the jobs that ran; ``flow`` is
    consumed (finished jobs and its output removed).
    """
    jobs = _jobs(flow)
    done = set(finished(store, [j.uuid for j in jobs])) - set(rerun)
    if done:
        log.info("resuming: %d of %d jobs finished earlier, their stored outputs are reused",
                 len(done), len(jobs))  # fmt: skip
    _drop(flow, done)
    if not flow.job_uuids:
        return {}
    return run_locally(
        flow,
        store=store,
        create_folders=False,
        root_dir=root_dir,
        ensure_success=True,
        allow_external_references=True,
        log=False,
    )
