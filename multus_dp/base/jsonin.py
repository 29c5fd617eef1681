"""Decoding JSON that comes from outside (stdin, annotations, NADs, files): bounded.

Python's decoder recurses per nesting level: 100k `[` raise RecursionError, which is no
ValueError and would escape every handler. Here it is one ValueError subclass, as is input
that is too large or nested deeper than `max_depth` (deep but parseable input would crash the
next recursive step instead: validation, the journal's encoder).
"""
from __future__ import annotations

import json
from typing import Any

from .defaults import MAX_JSON_BYTES, MAX_JSON_DEPTH


class JSONInputError(ValueError):
    """Not JSON, too large or too deeply nested; the message says which."""


def decode(data: bytes | str, *, max_bytes: int = MAX_JSON_BYTES, max_depth: int = MAX_JSON_DEPTH) -> Any:
    if len(data) > max_bytes:
        raise JSONInputError(f"{len(data)} bytes is more than the {max_bytes} accepted")
    try:
        obj = json.loads(data)
    except RecursionError as exc:
        raise JSONInputError(f"nested deeper than {max_depth} levels") from exc
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise JSONInputError(str(exc)) from exc
    if _deeper_than(obj, max_depth):
        raise JSONInputError(f"nested deeper than {max_depth} levels")
    return obj


def _deeper_than(obj: Any, limit: int) -> bool:
    """Iterative: only containers are visited, scalars cost nothing."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    while stack:
        node, depth = stack.pop()
        if not isinstance(node, (dict, list)):
            continue
        if depth > limit:
            return True
        for child in (node.values() if isinstance(node, dict) else node):
            if isinstance(child, (dict, list)):
                stack.append((child, depth + 1))
    return False
