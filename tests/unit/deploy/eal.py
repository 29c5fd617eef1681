"""Helpers for the dpdk/multus_dp_eal.py tests: run it as a pod would (plain python3, isolated,
no site-packages) and write annotations files the way kubelet's downward API does."""
from __future__ import annotations

import subprocess
import unicodedata
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
HELPER = REPO / "dpdk" / "multus_dp_eal.py"
PYTHON = "/usr/bin/python3"
STATUS_KEY = "k8s.v1.cni.cncf.io/network-status"

_GO_SIMPLE = {7: r"\a", 8: r"\b", 12: r"\f", 10: r"\n", 13: r"\r", 9: r"\t", 11: r"\v"}


def go_quote(value: str) -> str:
    """Go's strconv.Quote (what kubelet's fieldpath.FormatMap uses via %q), written from its
    documented rules: printable runes stay, \\ and " are escaped, known control characters get
    their letter escape, other ASCII controls \\xHH, other unprintable runes \\u/\\U."""
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch in ('"', "\\"):
            out.append("\\" + ch)
        elif ch.isprintable() and unicodedata.category(ch) != "Cs":
            out.append(ch)
        elif code in _GO_SIMPLE:
            out.append(_GO_SIMPLE[code])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def downward_file(path: Path, annotations: dict[str, str]) -> Path:
    """kubelet's format: sorted keys, one `key=%q` per line, no trailing newline."""
    path.write_text("\n".join(f"{k}={go_quote(v)}" for k, v in sorted(annotations.items())))
    return path


def run_helper(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    # -I -S: no site-packages, no user env: proves the helper needs nothing but the stdlib
    return subprocess.run([PYTHON, "-I", "-S", str(HELPER), *args], capture_output=True, text=True,
                          timeout=timeout)
