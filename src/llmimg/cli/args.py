"""Command-line flags built from the typed config dataclasses, with each field's comment as its help; and the few
words every command prints the same way."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import re
import types
import typing
from pathlib import Path


def _field_comments(cls: type) -> dict[str, str]:
    """The trailing `# comment` of each `name: type = default` line of a dataclass's source, with the comment-only
    lines right below it that continue it."""
    comments, name = {}, None
    for line in inspect.getsource(cls).splitlines():
        match = re.match(r"\s+(\w+):.*?#\s*(.+)$", line)
        if match:
            name = match.group(1)
            comments[name] = match.group(2).strip()
            continue
        more = re.match(r"\s+#\s*(.+)$", line)
        if more and name is not None:
            comments[name] += " " + more.group(1).strip()
        else:
            name = None
    return comments


def _base_type(annotation) -> type:
    """`int | None` -> int; `str` -> str."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return next(arg for arg in typing.get_args(annotation) if arg is not type(None))
    return annotation


def add_dataclass_arguments(parser: argparse.ArgumentParser, cls: type, skip: tuple[str, ...] = (),
                            defaults: bool = True) -> None:
    """One kebab-case flag per field; booleans as --flag/--no-flag; defaults from the dataclass (with
    `defaults=False`, none: the parsed namespace then holds only the flags given, see `explicit_fields`)."""
    comments = _field_comments(cls)
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        flag = "--" + field.name.replace("_", "-")
        kind = _base_type(hints[field.name])
        help_text = comments.get(field.name, "")
        default = field.default if defaults else argparse.SUPPRESS
        if kind is bool:
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default, help=help_text)
        else:
            stated = "(default:" in help_text  # the comment names the default in words: "(default: MiniLM)"
            parser.add_argument(flag, type=kind, default=default,
                                help=help_text if stated else f"{help_text} (default: %(default)s)")


def dataclass_from_args(cls: type, args: argparse.Namespace, **overrides):
    values = {f.name: getattr(args, f.name) for f in dataclasses.fields(cls) if hasattr(args, f.name)}
    return cls(**{**values, **overrides})


def explicit_fields(cls: type, argv: list[str], skip: tuple[str, ...] = ()) -> dict:
    """The fields of `cls` whose flags appear in the command line `argv` (other words and flags are ignored)."""
    parser = argparse.ArgumentParser(add_help=False)
    add_dataclass_arguments(parser, cls, skip, defaults=False)
    return vars(parser.parse_known_args(argv)[0])


def counted(count: int, noun: str) -> str:
    """`1 image`, `4 images`: a count with its noun in the right number."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def check_out_folder(out: str | Path) -> None:
    """A one-line ValueError when the output folder `out`, or a folder above it, is an existing file."""
    path = Path(out)
    for part in (path, *path.parents):
        if part.exists() and not part.is_dir():
            raise ValueError(f"--out {out}: {part} is a file, not a folder")
