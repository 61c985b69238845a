"""Load YAML files into pydantic models with errors that name the file, line and field path.

``scenarios/bank.yaml:14: hotlines[2].uri: 'sip:9502@' has no host`` is the shape of
every message: one line, what is wrong, where, and what is allowed.

Every YAML file the product reads (campaigns for ``run``, ``validate`` and ``report --campaign``;
lab hotline files for ``lab`` and ``validate``) comes through ``load_model``, which reads a
deliberately small YAML: no anchors or aliases (a "billion laughs" file expands a few hundred
bytes into gigabytes, and ``&r [*r]`` is a loop), no merge keys, no duplicate keys (YAML keeps
the last one silently, so a second ``account:`` would hide a first one holding a password), at
most ``MAX_DEPTH_LEVELS`` of nesting (PyYAML's composer recurses once per level) and at most
``MAX_FILE_BYTES``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from harness.errors import BadInput

M = TypeVar("M", bound=BaseModel)

MAX_FILE_BYTES = 1024 * 1024  # a campaign of thousands of hotlines is well under this
MAX_DEPTH_LEVELS = 50  # the deepest real file (lab: repeat inside choose inside a step) is about 12
MAX_MESSAGE_CHARS = 600  # one line a person can read; longer echoes are cut
_ECHO_CHARS = 60  # a key or value repeated in a message


class _Refused(Exception):
    """A YAML construct this loader does not accept, at a 1-based line."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line, self.message = line, message


def one_line(text: str, max_chars: int = MAX_MESSAGE_CHARS) -> str:
    """``text`` with newlines and other control characters escaped, cut to about ``max_chars``."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    if len(out) > max_chars:
        out = out[:max_chars] + "..."
    return out


def _echo(value: object) -> str:
    return one_line(str(value), _ECHO_CHARS)


class _Loader(yaml.SafeLoader):
    """SafeLoader that refuses anchors, aliases, merge keys, duplicate keys and deep nesting."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        # Checked on the event stream before composing: the composer recurses once per level
        # and resolves aliases, so a deep or aliased document is refused before either happens.
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
            raise _Refused(event.start_mark.line + 1, "anchors and aliases (&name, *name) are not allowed")
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            if self._depth >= MAX_DEPTH_LEVELS:
                raise _Refused(event.start_mark.line + 1,
                               f"nested more than {MAX_DEPTH_LEVELS} levels deep")
            self._depth += 1
            try:
                return super().compose_node(parent, index)
            finally:
                self._depth -= 1
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                line = key_node.start_mark.line + 1
                if key_node.tag == "tag:yaml.org,2002:merge":
                    raise _Refused(line, "merge keys (<<) are not allowed")
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.get(key)
                except TypeError:
                    raise _Refused(line, "a key must be a plain value, not a list or mapping") from None
                if first is not None:
                    raise _Refused(line, f"duplicate key '{_echo(key)}' (first at line {first}): "
                                         "each key may appear once in a mapping")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def _read_text(path: Path) -> str:
    """The file's text, refusing before reading it whole when it is larger than MAX_FILE_BYTES."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInput(f"{path}: file is {size} bytes, larger than the {MAX_FILE_BYTES} allowed")
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)  # a file that grows (or a device) is cut off here
    except FileNotFoundError as exc:
        raise BadInput(f"{path}: no such file") from exc
    except IsADirectoryError as exc:
        raise BadInput(f"{path}: is a directory, not a file") from exc
    except OSError as exc:
        raise BadInput(f"{path}: cannot read: {one_line(exc.strerror or str(exc))}") from exc
    if len(data) > MAX_FILE_BYTES:
        raise BadInput(f"{path}: file is larger than the {MAX_FILE_BYTES} bytes allowed")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise BadInput(f"{path}:{line}: not UTF-8 text (byte {exc.start})") from exc


def load_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    """Parse ``path`` with the restricted loader: (data, its node tree for line numbers); BadInput otherwise."""
    text = _read_text(path)
    try:
        loader = _Loader(text)  # the reader refuses control characters here, before any parsing
    except yaml.reader.ReaderError as exc:
        line = text[:exc.position].count("\n") + 1
        raise BadInput(f"{path}:{line}: not valid YAML: {one_line(str(exc).splitlines()[0])}") from exc
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except _Refused as exc:
        raise BadInput(f"{path}:{exc.line}: {exc.message}") from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        position = getattr(exc, "position", None)
        where = f":{mark.line + 1}" if mark is not None else \
            f":{text[:position].count(chr(10)) + 1}" if isinstance(position, int) else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise BadInput(f"{path}{where}: not valid YAML: {one_line(problem)}") from exc
    except RecursionError as exc:  # a backstop: the depth cap should stop this first
        raise BadInput(f"{path}: nested too deeply") from exc
    except (ValueError, OverflowError) as exc:  # Python refuses to read an integer of over 4300 digits
        raise BadInput(f"{path}: not valid YAML: a number is too long to read "
                       f"({one_line(str(exc).split(':')[0], 100)})") from exc
    finally:
        loader.dispose()
    return data, node


def _line_index(node: yaml.Node, path: tuple[Any, ...], out: dict[tuple[Any, ...], int]) -> None:
    out[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            k = key.value
            out[path + (k,)] = key.start_mark.line + 1
            _line_index(value, path + (k,), out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _line_index(item, path + (i,), out)


def format_loc(loc: tuple[Any, ...]) -> str:
    """('hotlines', 2, 'uri') -> 'hotlines[2].uri'."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + _echo(part)  # a key may hold a newline or be very long
    return text or "(top level)"


def _best_line(lines: dict[tuple[Any, ...], int], loc: tuple[Any, ...]) -> int | None:
    for n in range(len(loc), -1, -1):
        if loc[:n] in lines:
            return lines[loc[:n]]
    return None


def load_model(path: Path, model: type[M]) -> M:
    """Read ``path`` and validate it as ``model``; raise BadInput with file:line: field: message."""
    data, node = load_yaml(path)
    if not isinstance(data, dict):
        raise BadInput(f"{path}:1: expected a mapping of settings at the top level, got {type(data).__name__}")
    lines: dict[tuple[Any, ...], int] = {}
    if node is not None:
        _line_index(node, (), lines)
    try:
        return model.model_validate(data, context={"file": path})
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        line = _best_line(lines, loc)
        where = f"{path}:{line}" if line else str(path)
        msg = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            allowed = ", ".join(sorted(_fields_at(model, loc[:-1])))
            msg = f"unknown field (allowed: {allowed})" if allowed else "unknown field"
        elif err["type"] == "missing":
            msg = "required field is missing"
        more = f" (and {len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise BadInput(f"{where}: {one_line(f'{format_loc(loc)}: {msg}')}{more}") from exc


def _fields_at(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """Field names of the sub-model found at ``loc`` (best effort, for 'allowed:' hints)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return []
        current = _inner_model(fields[part].annotation)
    fields = getattr(current, "model_fields", None)
    return list(fields) if fields else []


def _inner_model(annotation: Any) -> Any:
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _inner_model(arg)
        if found is not None:
            return found
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None
