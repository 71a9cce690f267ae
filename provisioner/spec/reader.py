"""Reading spec files safely: size, encoding, tabs, YAML syntax, duplicate keys, aliases.

PyYAML's constructors would silently keep the last of two duplicate keys, expand alias bombs and
accept any key type, so documents are built here from the composed node tree instead. Aliases are
rejected outright (a spec never needs them, and not expanding them bounds the work to the size of
the file). Every node's position is kept so later checks can point at ``file:line:column``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from provisioner.model import SourceLocation
from provisioner.spec.problems import ProblemSink, json_path

MAX_FILE_BYTES = 1024 * 1024
#: Deeper nesting than any spec needs; the composer recurses, so this also bounds the stack.
MAX_DEPTH = 50
SPEC_SUFFIXES = (".yaml", ".yml")

_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"
_NULL_TAG = "tag:yaml.org,2002:null"
_ALIAS_TAG = "!provisioner/rejected-alias"


class RejectedAlias:
    """Stands where an alias was written, so later checks can skip it instead of misreporting."""

    def __repr__(self) -> str:
        return "<rejected alias>"


REJECTED_ALIAS = RejectedAlias()

Report = Callable[[yaml.Mark, str, str], None]


@dataclass(frozen=True)
class Document:
    """One YAML document of a spec file, as plain data plus the position of every JSON path."""

    file: Path
    index: int
    data: Any
    marks: dict[str, SourceLocation]

    @property
    def start(self) -> SourceLocation:
        """Where the document begins."""
        return self.marks.get("", SourceLocation(self.file))

    def location(self, path: str) -> SourceLocation:
        """Where ``path`` or its nearest written ancestor is."""
        probe = path
        while probe:
            if probe in self.marks:
                return self.marks[probe]
            cut = max(probe.rfind("."), probe.rfind("["))
            probe = probe[:cut] if cut > 0 else ""
        return self.start


def expand_paths(paths: list[Path], sink: ProblemSink) -> list[Path]:
    """Files named directly plus ``*.yaml``/``*.yml`` found recursively in directories, sorted."""
    out: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p for p in path.rglob("*") if p.suffix.lower() in SPEC_SUFFIXES and p.is_file()
            )
            if not found:
                sink.error(
                    SourceLocation(path),
                    f"no *.yaml or *.yml files in directory {path}",
                    hint="pass spec files, or a directory that contains them",
                )
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            sink.error(
                SourceLocation(path),
                f"{path} does not exist",
                hint="check the path; directories are searched recursively",
            )
    seen: set[Path] = set()
    unique: list[Path] = []
    for p in out:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            unique.append(p)
    return unique


def read_text(path: Path, sink: ProblemSink) -> str | None:
    """The file as text, or None after reporting why it cannot be a spec."""
    here = SourceLocation(path)
    from provisioner.fsutil import FileTooLarge, NotARegularFile, read_regular_file

    try:
        raw = read_regular_file(path, MAX_FILE_BYTES)
    except NotARegularFile as exc:
        sink.error(here, str(exc), hint="pass spec files (or folders holding them)")
        return None
    except FileTooLarge:
        raw = b"x" * (MAX_FILE_BYTES + 1)  # reported below, like any file over the cap
    except OSError as exc:
        sink.error(
            here,
            f"cannot read {path}: {exc.strerror or type(exc).__name__}",
            hint="check that the file exists and is readable",
        )
        return None
    if len(raw) > MAX_FILE_BYTES:
        sink.error(
            here,
            f"file is larger than {MAX_FILE_BYTES // 1024} KiB",
            hint="a spec is a small text file; split it or check that this is the right file",
        )
        return None
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        sink.error(here, "file is UTF-16 encoded", hint="save the spec as UTF-8")
        return None
    if b"\x00" in raw:
        sink.error(
            here, "file is binary (contains NUL bytes), not YAML", hint="pass only YAML spec files"
        )
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = raw[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        sink.error(
            SourceLocation(path, line, column),
            f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            hint="save the spec as UTF-8",
        )
        return None
    text = text.removeprefix("\ufeff")
    if not text.strip():
        sink.error(
            here,
            "file is empty",
            hint="write at least one document with apiVersion, kind, metadata and spec",
        )
        return None
    return text


def _tab_problems(path: Path, text: str, sink: ProblemSink) -> bool:
    found = False
    for number, line in enumerate(text.splitlines(), start=1):
        indent = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indent:
            sink.error(
                SourceLocation(path, number, indent.index("\t") + 1),
                "tab character in indentation",
                hint="YAML indents with spaces only; replace the tab with spaces",
            )
            found = True
    return found


class NestingTooDeep(yaml.MarkedYAMLError):
    """The document nests collections deeper than :data:`MAX_DEPTH`."""


# libyaml's parser (C) when PyYAML was built with it: the same events, five to ten times faster
# than the pure-Python reader, scanner and parser. Composing stays in Python (below), so aliases,
# nesting depth and positions are checked the same way with either parser.
def _event_source() -> Any:
    """The parser class: libyaml's when PyYAML has it, else the pure-Python one."""
    c_parser = getattr(getattr(yaml, "cyaml", None), "CParser", None)
    if c_parser is not None:
        return c_parser  # its __init__ takes the stream, as PyEvents' does

    class PyEvents(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):
        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)

    return PyEvents  # pragma: no cover - a PyYAML built without libyaml


_Events: Any = _event_source()


class _NoAliasLoader(yaml.composer.Composer, yaml.constructor.SafeConstructor,
                     yaml.resolver.Resolver, _Events):  # type: ignore[misc]
    """A composer that reports aliases instead of sharing (and later expanding) nodes."""

    def __init__(self, stream: str, report: Report) -> None:
        _Events.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self._report = report
        self._depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self._depth >= MAX_DEPTH:
            mark = self.peek_event().start_mark
            raise NestingTooDeep(
                problem=f"collections nested more than {MAX_DEPTH} levels deep", problem_mark=mark
            )
        self._depth += 1
        try:
            return self._compose(parent, index)
        finally:
            self._depth -= 1

    def _compose(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.get_event()
            self._report(
                event.start_mark,
                "YAML aliases (*name) are not supported",
                "write the value out in full; aliases and merge keys are rejected so "
                "that no spec can expand into a huge document",
            )
            return yaml.ScalarNode(_ALIAS_TAG, "", event.start_mark, event.end_mark)
        return super().compose_node(parent, index)


def _loc(path: Path, mark: yaml.Mark) -> SourceLocation:
    return SourceLocation(path, mark.line + 1, mark.column + 1)


class _Builder:
    """Turns a composed node tree into plain data, reporting key problems and recording marks."""

    def __init__(self, path: Path, loader: _NoAliasLoader, sink: ProblemSink) -> None:
        self.path = path
        self.loader = loader
        self.sink = sink
        self.marks: dict[str, SourceLocation] = {}

    def build(self, node: yaml.Node, here: str) -> Any:
        self.marks.setdefault(here, _loc(self.path, node.start_mark))
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, here)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, json_path(here, i)) for i, item in enumerate(node.value)]
        if node.tag == _ALIAS_TAG:
            return REJECTED_ALIAS
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            self.sink.error(
                _loc(self.path, node.start_mark), f"invalid value: {_problem_text(exc)}", here
            )
            return None

    def _mapping(self, node: yaml.MappingNode, here: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        first_seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            where = _loc(self.path, key_node.start_mark)
            if key_node.tag == _MERGE_TAG:
                self.sink.error(
                    where,
                    "YAML merge keys (<<) are not supported",
                    here,
                    "write the keys out in full",
                )
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != _STR_TAG:
                shown = key_node.value if isinstance(key_node, yaml.ScalarNode) else "a collection"
                self.sink.error(
                    where,
                    f"mapping key {shown!r} is not a string",
                    here,
                    "keys are field names; quote the key if it is meant literally",
                )
                continue
            key = str(key_node.value)
            child = json_path(here, key)
            if key in first_seen:
                self.sink.error(
                    where,
                    f"duplicate key {key!r} (first written on line {first_seen[key]})",
                    child,
                    "remove one of them; YAML keeps only one value per key",
                )
                continue
            first_seen[key] = where.line
            self.marks[child] = where
            value = self.build(value_node, child)
            # The key's position is where a reader looks for the field; keep it over the value's.
            self.marks[child] = where
            out[key] = value
        return out


def _problem_text(exc: yaml.YAMLError) -> str:
    if isinstance(exc, yaml.MarkedYAMLError):
        parts = [p for p in (exc.context, exc.problem) if p]
        return "; ".join(parts) or "YAML error"
    return str(exc).splitlines()[0] if str(exc) else "YAML error"


def _documents(path: Path, text: str, sink: ProblemSink) -> Iterator[Document]:
    def report(mark: yaml.Mark, message: str, hint: str) -> None:
        sink.error(_loc(path, mark), message, hint=hint)

    loader = _NoAliasLoader(text, report)
    try:
        index = 0
        while loader.check_node():
            node = loader.get_node()
            if node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL_TAG):
                continue  # an empty document (e.g. a trailing ---) carries nothing
            builder = _Builder(path, loader, sink)
            data = builder.build(node, "")
            yield Document(path, index, data, builder.marks)
            index += 1
    finally:
        loader.dispose()


def read_documents(path: Path, sink: ProblemSink) -> list[Document]:
    """Every document of one spec file; problems (with positions) go to ``sink``."""
    text = read_text(path, sink)
    if text is None or _tab_problems(path, text, sink):
        return []
    docs: list[Document] = []
    try:
        docs.extend(_documents(path, text, sink))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = _loc(path, mark) if mark is not None else SourceLocation(path)
        # libyaml stops flow collections at its own depth (1,000), before the composer's check.
        if isinstance(exc, NestingTooDeep) or "maximum nesting depth" in str(exc.problem):
            sink.error(
                where,
                f"YAML nesting too deep: collections nested more than {MAX_DEPTH} levels deep",
                hint="a spec needs only a few levels of nesting; check the brackets",
            )
            return []
        text = f"YAML syntax error: {_problem_text(exc)}"
        if exc.context_mark is not None and mark is not exc.context_mark:
            start = exc.context_mark
            text += f" (the construct starts at line {start.line + 1}, column {start.column + 1})"
        sink.error(
            where,
            text,
            hint="fix the YAML at this position (indentation, a missing ':' or an unclosed quote)",
        )
        return []
    except yaml.YAMLError as exc:  # ReaderError: control characters, no mark
        position = getattr(exc, "position", None)
        line, column = 1, 1
        if isinstance(position, int):
            line = text.count("\n", 0, position) + 1
            column = position - (text.rfind("\n", 0, position) + 1) + 1
        sink.error(
            SourceLocation(path, line, column),
            f"YAML error: {_problem_text(exc)}",
            hint="remove control characters; a spec is plain text",
        )
        return []
    if not docs:
        sink.error(
            SourceLocation(path),
            "file contains no YAML documents",
            hint="write at least one document with apiVersion, kind, metadata and spec",
        )
    return docs
