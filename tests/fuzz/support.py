"""What every fuzzed input must give, and the generators the targets share.

The property: a reply is a success (exit 0, empty stdout or a JSON object) or a CNI error
object (exit 1, integer `code`, string `msg`) whose code is never 100 — bad input is the
caller's fault, not an internal error — and a failed ADD or any DEL leaves no per-pod file.
"""
from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hypothesis import event
from hypothesis import strategies as st

from multus_dp.chain.entry import Reply

INTERNAL = 100
POD_STATE = ("attachments", "locks", "status")


def check_reply(reply: Reply, what: str) -> dict[str, Any] | None:
    """The reply's JSON (None when empty); fails the example on anything a runtime cannot use."""
    text = reply.stdout.strip()
    event(f"{(what.split() or ['?'])[0]}: exit {reply.exit_code}")   # --hypothesis-show-statistics
    if reply.exit_code == 0:
        if not text:
            return None
        out = json.loads(text)
        assert isinstance(out, dict), f"{what}: success output is not an object: {text[:200]}"
        return out
    assert reply.exit_code == 1, f"{what}: exit {reply.exit_code}"
    err = json.loads(text)
    assert isinstance(err, dict) and isinstance(err.get("code"), int) and isinstance(err.get("msg"), str), \
        f"{what}: not a CNI error object: {text[:300]}"
    assert err["code"] != INTERNAL, f"{what}: bad input answered with code 100: {err['msg']}"
    assert "Traceback" not in text
    return err


def pod_files(state: Path) -> list[str]:
    """Every file a pod can leave under the state dir: journals and their temp files, lock files,
    status files."""
    out = []
    for sub in POD_STATE:
        d = state / sub
        if d.exists():
            out.extend(str(p.relative_to(state)) for p in d.rglob("*") if p.is_file())
    return sorted(out)


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh directory per example (hypothesis runs many examples per test function)."""
    path = Path(tempfile.mkdtemp(prefix="mdp-fuzz-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# ---- generators ------------------------------------------------------------------------------
# text that probes paths, separators, escapes and unicode, next to plain names
NASTY = st.sampled_from(["", ".", "..", "../..", "/", "a/b", "..\\x", "\x00", "\n", ";", "=", ",", "@", "%2e%2e",
                         "é", "\u202e", " ", "A", "-a", "a-", "a" * 64, "a" * 254, "eth0", "net1", "lo",
                         "default", "kube-system", "1.0.0", "0.3.1", "9.9.9", "macvlan", "pa", "pb"])
NAMES = st.one_of(st.sampled_from(["pa", "pb", "net-a", "net-b", "ns1", "default", "x"]), NASTY,
                  st.text(max_size=12))
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**64), max_value=2**64),
                    st.floats(allow_nan=False), NAMES)


def json_values(max_leaves: int = 12) -> st.SearchStrategy[Any]:
    return st.recursive(SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                         st.dictionaries(NAMES, inner, max_size=4)),
                        max_leaves=max_leaves)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# raw bytes a runtime (or an attacker) could put on stdin
RAW_DOCUMENTS = st.one_of(
    st.binary(max_size=64),
    st.integers(min_value=1, max_value=200_000).map(lambda n: b"[" * n),
    st.integers(min_value=1, max_value=300).map(lambda n: ('{"a":' + nested(n) + "}").encode()),
    json_values().map(lambda v: json.dumps(v).encode()),
)


def mutate(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """`base` with some keys replaced by arbitrary values, removed, or added."""
    keys = sorted(base)
    return st.builds(
        lambda replace, drop, extra: {**{k: v for k, v in base.items() if k not in drop}, **replace, **extra},
        st.dictionaries(st.sampled_from(keys), json_values(6), max_size=3),
        st.sets(st.sampled_from(keys), max_size=2),
        st.dictionaries(NAMES, json_values(4), max_size=2),
    )
