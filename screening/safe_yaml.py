"""One YAML reader for every user file (campaign, phase library, store config).

``yaml.safe_load`` builds no objects but still accepts inputs that are mistakes or attacks: the
later of two duplicate keys silently wins, a ~1 KB alias bomb ("billion laughs") expands to 10^9
nodes that validation and error messages then walk, and any byte string is decoded somehow. Here a
file must be UTF-8, at most :data:`MAX_BYTES`, with no duplicate keys (both line numbers named) and
at most :data:`MAX_ALIASES` aliases expanding to at most :data:`MAX_NODES` nodes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from screening.errors import InputError

MAX_BYTES = 1_000_000
MAX_ALIASES = 100
MAX_NODES = 100_000


class _DuplicateKey(Exception):
    def __init__(self, key: str, line: int, first_line: int) -> None:
        super().__init__(f"duplicate key {key!r} at line {line} (first at line {first_line})")


class _TooManyAliases(Exception):
    pass


class _Loader(yaml.SafeLoader):
    """SafeLoader that counts aliases and refuses duplicate mapping keys."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.n_aliases = 0

    def compose_node(self, parent: Node | None, index: object) -> Node | None:  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            self.n_aliases += 1
            if self.n_aliases > MAX_ALIASES:
                raise _TooManyAliases
        return super().compose_node(parent, index)  # type: ignore[arg-type]

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # '<<' merges are deliberate overrides
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.get(key)
            except TypeError:  # unhashable key: the base constructor reports it
                continue
            if first is not None:
                raise _DuplicateKey(str(key)[:60], line, first)
            seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _expanded_size(node: Node, memo: dict[int, int]) -> int:
    """Nodes the document has once every alias is expanded (linear time: shared nodes memoised)."""
    if id(node) in memo:
        return memo[id(node)]
    memo[id(node)] = 1  # a recursive alias counts once instead of looping
    size = 1
    if isinstance(node, SequenceNode):
        size += sum(_expanded_size(n, memo) for n in node.value)
    elif isinstance(node, MappingNode):
        size += sum(_expanded_size(k, memo) + _expanded_size(v, memo) for k, v in node.value)
    memo[id(node)] = size
    return size


def read_text(path: str | Path, *, field: str | None = None) -> str:
    """A small UTF-8 text file, or one InputError saying which of those it is not."""
    file = Path(path)
    if not file.is_file():
        raise InputError("file not found", file=file, field=field)
    size = file.stat().st_size
    if size > MAX_BYTES:
        raise InputError(
            f"file is {size} bytes, larger than the {MAX_BYTES}-byte limit", file=file, field=field
        )
    raw = file.read_bytes()
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8",
            file=file,
            field=field,
        ) from None


def load_yaml(path: str | Path, *, field: str | None = None) -> Any:
    """Parse a user YAML file under the limits in the module doc; problems become InputError."""
    file = Path(path)
    text = read_text(file, field=field)
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        n = _expanded_size(node, {})
        if n > MAX_NODES:
            raise InputError(
                f"YAML expands to {n} nodes through aliases, more than the {MAX_NODES} allowed",
                file=file,
                field=field,
            )
        return loader.construct_document(node)
    except _TooManyAliases:
        raise InputError(
            f"more than {MAX_ALIASES} YAML aliases (*name); write the values out",
            file=file,
            field=field,
        ) from None
    except _DuplicateKey as exc:
        raise InputError(f"malformed YAML: {exc}", file=file, field=field) from None
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise InputError(f"malformed YAML{where}: {problem}", file=file, field=field) from None
    finally:
        loader.dispose()
