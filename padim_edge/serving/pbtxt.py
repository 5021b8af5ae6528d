"""A small writer of protobuf text format (Triton's config.pbtxt) from nested dicts and lists.

dict -> message, list of dicts -> repeated message, list of scalars -> repeated scalar, `Map` -> a protobuf
map (one `{ key value }` entry per item), `Enum` -> a bare enum name, str -> a quoted, escaped string.
"""

from __future__ import annotations

_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\r": "\\r", "\t": "\\t"}


class Enum(str):
    """An enum value, written without quotes (TYPE_UINT8, KIND_CPU)."""


class Map(dict):
    """A protobuf map field: each item becomes `name { key: "k" value ... }`."""


def to_pbtxt(message: dict) -> str:
    """The text format of `message`, one field per line, two-space indents."""
    return "\n".join(_fields(message, 0)) + "\n"


def _fields(message: dict, depth: int) -> list[str]:
    lines: list[str] = []
    for name, value in message.items():
        lines += _field(name, value, depth)
    return lines


def _field(name: str, value: object, depth: int) -> list[str]:
    pad = "  " * depth
    if isinstance(value, Map):
        lines: list[str] = []
        for key, item in value.items():
            entry = {"key": key, "value": item}
            lines += [f"{pad}{name} {{", *_fields(entry, depth + 1), f"{pad}}}"]
        return lines
    if isinstance(value, dict):
        return [f"{pad}{name} {{", *_fields(value, depth + 1), f"{pad}}}"]
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        lines = [f"{pad}{name} ["]
        for i, item in enumerate(value):
            comma = "," if i < len(value) - 1 else ""
            lines += [f"{pad}  {{", *_fields(item, depth + 2), f"{pad}  }}{comma}"]
        return [*lines, f"{pad}]"]
    if isinstance(value, list):
        items = ", ".join(_scalar(v) for v in value)
        return [f"{pad}{name}: [ {items} ]" if items else f"{pad}{name}: [ ]"]
    return [f"{pad}{name}: {_scalar(value)}"]


def _scalar(value: object) -> str:
    if isinstance(value, Enum):
        return str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_escape(c) for c in value) + '"'
    raise TypeError(f"no protobuf text form for {type(value).__name__}")


def _escape(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    return f"\\{ord(char):03o}" if ord(char) < 32 else char
