"""What a model family is (:class:`Family`), and what every family uses: the parsed spec, quiet
loading, element symbols and package licences. The families themselves are in
:mod:`potentials.families`.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PotentialSpec:
    """A parsed spec: ``kind`` (the scheme) and canonical ``name``; ``path`` is the model file when
    it is known locally."""

    kind: str
    name: str
    path: Path | None

    @property
    def spec(self) -> str:
        """Canonical spec string (the key used for caching and provenance)."""
        return f"{self.kind}:{self.name}"


class NotOffline(Exception):
    """The weights are neither on disk nor downloadable now; the registry names the alternatives."""


@contextmanager
def quiet() -> Iterator[None]:
    """Route what mace/chgnet ``print`` at import and load time to the log, not stdout.

    ``--format json`` output must be parseable, and library chatter belongs in the log anyway.
    """
    buffer = io.StringIO()
    try:
        with redirect_stdout(buffer):
            yield
    finally:
        text = buffer.getvalue().strip()
        if text:
            logger.debug("%s", text)


def symbols(numbers: Iterable[int]) -> list[str]:
    from ase.data import chemical_symbols

    return [chemical_symbols[int(z)] for z in sorted(set(int(z) for z in numbers))]


def dist_license(dist: str) -> str | None:
    """Licence of an installed distribution, briefly (its "License" field may be the whole text)."""
    from importlib import metadata

    meta = metadata.metadata(dist)
    if meta.get("License-Expression"):
        return meta["License-Expression"]
    for classifier in meta.get_all("Classifier") or []:
        if classifier.startswith("License ::"):
            return classifier.split("::")[-1].strip()
    text = meta.get("License") or ""
    return text if 0 < len(text) <= 80 else None


class Family:
    """One model family. Subclasses set the class attributes and implement the methods."""

    scheme: ClassVar[str]
    help: ClassVar[str]  # the spec forms, for error messages
    pickled: ClassVar[bool] = True  # model files are pickles: trust is decided before loading
    batched_md: ClassVar[bool] = True  # a torch-sim model exists
    default_dtype: ClassVar[str] = "float32"  # native dtype when the file is not at hand
    offline: ClassVar[tuple[str, ...]] = ()  # specs that run without network, for hints
    shown: ClassVar[tuple[str, ...]] = ()  # specs `ilscreen potentials list` shows

    def parse(self, arg: str, spec: str, models_dir: Path) -> PotentialSpec:
        raise NotImplementedError

    def facts(self, path: Path) -> tuple[tuple[str, ...], str]:
        """Elements covered and native dtype, read from the (trusted) model file."""
        raise NotImplementedError

    def license(self, ps: PotentialSpec) -> str | None:
        return None

    def card(self, ps: PotentialSpec) -> dict[str, Any] | None:
        return None

    def note(self, ps: PotentialSpec) -> str | None:
        return None

    def effective_dtype(self, dtype: str) -> str:
        """The dtype the model will actually run in (float32-only families ignore ``dtype``)."""
        return "float32"

    def offline_specs(self, models_dir: Path) -> list[str]:
        return list(self.offline)

    def listed(self, models_dir: Path) -> list[str]:
        return list(self.shown)

    def calculator(self, ps: PotentialSpec, device: str, dtype: str) -> Any:
        raise NotImplementedError

    def torchsim_model(self, ps: PotentialSpec, device: str, dtype: str) -> Any:
        raise NotImplementedError

    def _warn_float32(self, ps: PotentialSpec, dtype: str) -> None:
        if dtype != "float32":
            logger.info("%s runs in float32 only; requested %s is ignored", ps.spec, dtype)
