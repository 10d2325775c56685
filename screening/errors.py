"""One exception type for bad user input, so the CLI can print it as a single clear line."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path


class InputError(ValueError):
    """Bad user input: names the file, the field and, where known, the allowed values."""

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        field: str | None = None,
        allowed: Iterable[object] | str | None = None,
    ) -> None:
        self.file = str(file) if file is not None else None
        self.field = field
        if allowed is not None and not isinstance(allowed, str):
            allowed = ", ".join(str(a) for a in allowed)
        self.allowed = allowed
        self.reason = message
        parts = []
        if self.file:
            parts.append(self.file)
        if self.field:
            parts.append(f"field '{self.field}'")
        where = ": ".join(parts)
        text = f"{where}: {message}" if where else message
        if self.allowed:
            text += f" (allowed: {self.allowed})"
        super().__init__(text)


def short_repr(value: object, limit: int = 80) -> str:
    """``repr`` cut to ``limit`` characters: error messages must not embed a huge input."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 5]}...{text[-2:]}"


@contextmanager
def located(file: str | Path, field: str) -> Iterator[None]:
    """Re-raise an InputError about a setting so it names the file and field the setting came from
    (a potential spec read from ``engine.potential`` of a campaign, not typed on the command line).
    """
    try:
        yield
    except InputError as exc:
        reason = f"{exc.file}: {exc.reason}" if exc.file and exc.file != str(file) else exc.reason
        raise InputError(reason, file=file, field=field, allowed=exc.allowed) from None
