"""One formatter for pydantic validation errors: every problem with the path of its key."""
from __future__ import annotations

from pydantic import ValidationError


def key_path(loc: tuple[int | str, ...]) -> str:
    """`("delegates", 0, "type")` -> `delegates[0].type`; the document itself is `(root)`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def describe(exc: ValidationError, limit: int = 5, *, quote_keys: bool = False) -> str:
    """`key: problem; key: problem` for the first `limit` problems (and how many more).

    `quote_keys` writes `"key" problem` instead, for documents whose validators phrase their
    problems as the rest of a sentence about the key (`"vlan" must be an integer in 0-4094`).
    """
    errors = exc.errors(include_url=False)
    if quote_keys:
        parts = [f'"{key_path(tuple(e["loc"]))}" {_sentence(_message(e))}' for e in errors[:limit]]
    else:
        parts = [f"{key_path(tuple(e['loc']))}: {_message(e)}" for e in errors[:limit]]
    if len(errors) > limit:
        parts.append(f"and {len(errors) - limit} more")
    return "; ".join(parts)


def _message(error: object) -> str:
    msg = str(error["msg"]) if isinstance(error, dict) else str(error)
    # pydantic prefixes messages of ValueErrors raised in validators; the key already says where
    return msg.removeprefix("Value error, ")


def _sentence(msg: str) -> str:
    # pydantic's own messages start a sentence ("Input should be ..."); after a key they continue one
    return msg[:1].lower() + msg[1:]
