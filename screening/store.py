"""The results store: a maggma ``Store`` of candidate, system and MLIP-validation documents.

Locations accepted by :meth:`ResultsStore.open`:

* a directory (default ``<campaign_dir>/store``): an embedded, server-free, persistent
  ``MontyStore`` (montydb with its SQLite backend);
* ``mongodb://…`` / ``mongodb+srv://…``: a ``MongoStore`` (database from the URI path,
  collection ``results``);
* a ``.yaml``/``.yml``/``.json`` file: ``{type: monty, path: DIR}`` or ``{type: mongo, uri: …}`` or
  ``{type: mongo, host, port, database, collection, username, password}``.

Documents are upserted by (``key``, ``settings_hash``): the same candidate with the same settings is
one document (re-runs reuse it, see :meth:`ResultsStore.get`); changed settings give a new one.
:class:`ValidationResult` documents (``ilscreen dft validate --store``) are keyed by candidate,
potential spec and model sha256, and :meth:`ResultsStore.ranking` attaches the matching one to each
candidate it returns.

Concurrency: montydb writes a storage config file on every connect and its SQLite backend has no
cross-process upsert guarantee, and 8 processes connecting at once were seen to crash reading a
half-written config. So every connect, write and read of an embedded store takes an ``fcntl.flock``
on ``<dir>/.ilscreen-store.lock`` (exclusive for connect/write, shared for reads). MongoDB servers
need no file lock.

Readers (``query``, ``report``) open with ``create=False``: a location that is not an existing
store is an error naming the nearest store found, never a new empty store. A MongoDB server that
cannot be reached fails within :data:`MONGO_TIMEOUT_MS` as one InputError (no 30 s hang).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Literal, cast

from screening.ab_initio import ValidationResult
from screening.errors import InputError, located
from screening.paths import DEFAULT_STORE
from screening.results import CandidateResult, SystemResult

log = logging.getLogger(__name__)

COLLECTION = "results"
LOCK_NAME = ".ilscreen-store.lock"
#: files that mark a directory as an embedded store (ours, montydb's)
_STORE_MARKERS = (LOCK_NAME, "monty.storage.cfg")
MONGO_TIMEOUT_MS = 2000
_LOCATIONS = "directory of an existing store, mongodb:// URI, or .yaml/.json store config"
Doc = CandidateResult | SystemResult | ValidationResult
Kind = Literal["candidate", "system", "validation"]

#: sort key → (document field, direction); direction 1 ascending, -1 descending
SORTS: dict[str, tuple[str, int]] = {
    "score": ("score", -1),
    "Ea": ("Ea_eV", 1),
    "D": ("D_op_cm2_s", -1),
    "voltage": ("voltage_V", 1),
    "Ef": ("formation_energy_eV_atom", 1),
    "rank": ("rank", 1),
}


def is_store(path: Path) -> bool:
    """True for a directory an embedded store has been written to."""
    return path.is_dir() and any((path / m).is_file() for m in _STORE_MARKERS)


def nearest_store(path: Path) -> Path | None:
    """An existing embedded store near ``path`` (its folder and up to 3 above it, then the cwd)."""
    start = path.resolve().parent
    bases = [start, *list(start.parents)[:3], Path.cwd()]
    for base in bases:
        if not base.is_dir():
            continue
        for cand in (base / DEFAULT_STORE, base / "store", *sorted(base.glob("*/store"))[:50]):
            if is_store(cand) and cand.resolve() != path.resolve():
                return cand
    return None


def _redact(uri: str) -> str:
    """A MongoDB URI without its password, for error messages."""
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", uri)


class ResultsStore:
    """Thin, typed wrapper over a maggma Store; use :meth:`open`."""

    def __init__(self, store: Any, lock_path: Path | None = None) -> None:
        self.store = store
        self.lock_path = lock_path
        with self._lock(exclusive=True):
            self.store.connect()

    # ------------------------------------------------------------------------------ opening
    @classmethod
    def open(cls, location: str | Path | None = None, *, create: bool = True) -> ResultsStore:
        """Open a store from a directory, a MongoDB URI or a config file (see module doc).

        ``None`` means ``./store`` in the current directory. ``create=False`` (readers) refuses a
        directory that is not already a store instead of creating one.
        """
        loc = str(location) if location is not None else "store"
        if loc.startswith(("mongodb://", "mongodb+srv://")):
            from maggma.stores import MongoStore

            return cls._mongo(
                _redact(loc),
                lambda kw: MongoStore.from_uri(
                    loc, collection_name=COLLECTION, key="key", mongoclient_kwargs=kw
                ),
            )
        path = Path(loc).expanduser()
        if path.suffix.lower() in {".yaml", ".yml", ".json"}:
            return cls._from_config(path, create=create)
        return cls._monty(path, create=create)

    @classmethod
    def _mongo(cls, where: str, make: Callable[[dict[str, Any]], Any]) -> ResultsStore:
        """Connect and ping with a short server-selection timeout; failures are one InputError."""
        import pymongo.errors

        timeouts = {
            "serverSelectionTimeoutMS": MONGO_TIMEOUT_MS,
            "connectTimeoutMS": MONGO_TIMEOUT_MS,
        }
        try:
            rs = cls(make(timeouts))
            rs.store._collection.database.client.admin.command("ping")
        except (pymongo.errors.PyMongoError, ValueError, TypeError) as exc:
            why = re.split(r", Timeout:| \(configured timeouts", str(exc) or "?")[0][:200]
            raise InputError(
                f"cannot use this MongoDB store ({type(exc).__name__}: {_redact(why)}); "
                f"the server must answer within {MONGO_TIMEOUT_MS / 1000:g} s",
                file=where,
                field="store",
                allowed=_LOCATIONS,
            ) from None
        return rs

    @classmethod
    def _monty(cls, path: Path, *, create: bool = True) -> ResultsStore:
        from maggma.stores.mongolike import MontyStore

        if path.exists() and not path.is_dir():
            raise InputError(
                "store location is a file but not a .yaml/.json config", file=path,
                field="store", allowed=_LOCATIONS,
            )  # fmt: skip
        if not create and not is_store(path):
            what = "does not exist" if not path.exists() else "is not a results store"
            near = nearest_store(path)
            hint = f"; the nearest store is {near} (use --store {near})" if near else ""
            raise InputError(
                f"store {what}{hint}; `ilscreen screen` writes {DEFAULT_STORE} by default",
                file=path,
                field="store",
                allowed=_LOCATIONS,
            )
        path.mkdir(parents=True, exist_ok=True)
        store = MontyStore(COLLECTION, database_path=str(path), storage="sqlite", key="key")
        return cls(store, lock_path=path / LOCK_NAME)

    @classmethod
    def _from_config(cls, path: Path, *, create: bool = True) -> ResultsStore:
        from screening.safe_yaml import load_yaml, read_text

        if not path.is_file():
            raise InputError("store config file not found", file=path, field="store")
        if path.suffix.lower() == ".json":
            try:
                cfg = json.loads(read_text(path, field="store"))
            except json.JSONDecodeError as exc:
                raise InputError(f"malformed JSON: {exc}", file=path, field="store") from None
        else:
            cfg = load_yaml(path, field="store")
        if not isinstance(cfg, dict):
            raise InputError("store config must be a mapping", file=path)
        kind = str(cfg.get("type", "")).lower()
        coll = cfg.get("collection", COLLECTION)
        if kind == "monty":
            if "path" not in cfg:
                raise InputError("monty store needs 'path'", file=path, field="path")
            p = Path(str(cfg["path"])).expanduser()
            with located(path, "path"):
                return cls._monty(p if p.is_absolute() else path.parent / p, create=create)
        if kind == "mongo":
            if "uri" in cfg:
                from maggma.stores import MongoStore

                return cls._mongo(
                    f"{path} (uri {_redact(str(cfg['uri']))})",
                    lambda kw: MongoStore.from_uri(
                        str(cfg["uri"]),
                        collection_name=coll,
                        database=cfg.get("database"),
                        key="key",
                        mongoclient_kwargs=kw,
                    ),
                )
            from maggma.stores import MongoStore

            if "database" not in cfg:
                raise InputError("mongo store needs 'database' (or 'uri')", file=path,
                                 field="database")  # fmt: skip
            port = cfg.get("port", 27017)
            if not isinstance(port, int) or not 0 < port < 65536:
                raise InputError(
                    f"bad port {port!r}", file=path, field="port", allowed="integer 1-65535"
                )
            return cls._mongo(
                str(path),
                lambda kw: MongoStore(
                    database=cfg["database"],
                    collection_name=coll,
                    host=cfg.get("host", "localhost"),
                    port=port,
                    username=cfg.get("username", ""),
                    password=cfg.get("password", ""),
                    key="key",
                    mongoclient_kwargs=kw,
                ),
            )
        raise InputError(f"unknown store type {kind!r}", file=path, field="type",
                         allowed=["monty", "mongo"])  # fmt: skip

    # ------------------------------------------------------------------------------ locking
    @contextlib.contextmanager
    def _lock(self, exclusive: bool) -> Iterator[None]:
        if self.lock_path is None:
            yield
            return
        with open(self.lock_path, "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the underlying store."""
        with contextlib.suppress(Exception):
            self.store.close()

    def __enter__(self) -> ResultsStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def name(self) -> str:
        """Where the store lives."""
        return str(self.store.name)

    # ------------------------------------------------------------------------------ writing
    @staticmethod
    def _flatten(doc: Doc) -> dict[str, Any]:
        """Document dict plus top-level fields used for keys, filters and sorting."""
        # a candidate's validation is a view attached on read; its own document is the record
        d = doc.model_dump(mode="json", exclude={"validation"})
        d["key"] = doc.key
        d["settings_hash"] = doc.settings_hash
        if isinstance(doc, CandidateResult):
            op = doc.operating_point()
            d["voltage_V"] = doc.thermo.voltage_V
            d["formation_energy_eV_atom"] = doc.thermo.formation_energy_eV_atom
            d["Ea_eV"] = doc.arrhenius.Ea_eV if doc.arrhenius else None
            d["D_op_cm2_s"] = op.D_cm2_s if op else None
        return d

    def put(self, doc: Doc) -> None:
        """Upsert ``doc`` by (key, settings_hash)."""
        self.put_many([doc])

    def put_many(self, docs: list[Doc]) -> None:
        """Upsert several documents under one lock."""
        rows = [self._flatten(d) for d in docs]
        with self._lock(exclusive=True):
            self.store.update(rows, key=["key", "settings_hash"])

    def remove(self, key: str, settings_hash: str | None = None) -> None:
        """Delete a document (all settings variants when ``settings_hash`` is None)."""
        crit: dict[str, Any] = {"key": key}
        if settings_hash is not None:
            crit["settings_hash"] = settings_hash
        with self._lock(exclusive=True):
            self.store.remove_docs(crit)

    # ------------------------------------------------------------------------------ reading
    def _query(self, criteria: dict, sort: dict | None = None) -> list[dict]:
        with self._lock(exclusive=False):
            return list(self.store.query(criteria=criteria, sort=sort))

    @staticmethod
    def _parse(d: dict) -> Doc:
        d = {k: v for k, v in d.items() if k != "_id"}
        if d.get("kind") == "system":
            return SystemResult.model_validate(d)
        if d.get("kind") == "validation":
            return ValidationResult.model_validate(d)
        return CandidateResult.model_validate(d)

    def get(self, key: str, settings_hash: str) -> Doc | None:
        """The document with this key and settings hash, or None (then compute it)."""
        rows = self._query({"key": key, "settings_hash": settings_hash})
        return self._parse(rows[0]) if rows else None

    def all(self, kind: Kind | None = None) -> list[Doc]:
        """Every document (of one kind)."""
        crit = {"kind": kind} if kind else {}
        return [self._parse(d) for d in self._query(crit)]

    def count(self, kind: Kind | None = None) -> int:
        """Number of documents (of one kind)."""
        with self._lock(exclusive=False):
            return int(self.store.count({"kind": kind} if kind else {}))

    def ranking(
        self, system: str | None = None, passing: bool = False, sort: str = "score"
    ) -> list[CandidateResult]:
        """Candidate documents, filtered and sorted; failed ones last, missing values last.

        Each carries its matching MLIP validation (see :meth:`CandidateResult.matching_validation`).
        """
        if sort not in SORTS:
            raise InputError(f"unknown sort key {sort!r}", field="sort", allowed=list(SORTS))
        crit: dict[str, Any] = {"kind": "candidate"}
        if system:
            crit["system"] = system
        if passing:
            crit["passing"] = True
        rows = self._query(crit)
        field, direction = SORTS[sort]

        def sort_key(d: dict) -> tuple:
            v = d.get(field)
            missing = v is None
            val = 0.0 if missing else float(v) * direction
            return (d.get("status") != "ok", missing, val, d.get("candidate_id", ""))

        docs = cast(list[CandidateResult], [self._parse(d) for d in sorted(rows, key=sort_key)])
        validations = cast(list[ValidationResult], self.all(kind="validation"))
        return [
            d.model_copy(update={"validation": d.matching_validation(validations)}) for d in docs
        ]
