#!/usr/bin/python3
"""Extract the uncompressed ELF vmlinux from a Debian bzImage (XZ in 6.1, ZSTD in 6.12).

Booting the ELF directly (QEMU `-kernel vmlinux` => PVH entry) skips real-mode setup and the
in-guest decompression, which are the slowest part of a TCG boot.
Usage: extract_vmlinux.py VMLINUZ OUT
"""
from __future__ import annotations

import lzma
import subprocess
import sys
from pathlib import Path

MAGICS = ((b"\xfd7zXZ\x00", "xz"), (b"\x28\xb5\x2f\xfd", "zstd"))


def decompress(blob: bytes, kind: str) -> bytes:
    if kind == "xz":
        try:
            return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(blob)
        except lzma.LZMAError:
            return b""
    # zstd: Python 3.11 has no zstd module; Debian's zstd CLI does it
    return subprocess.run(["zstd", "-dcq"], input=blob, capture_output=True).stdout


def extract(vmlinuz: bytes) -> bytes | None:
    for magic, kind in MAGICS:
        offset = vmlinuz.find(magic)
        while offset >= 0:
            payload = decompress(vmlinuz[offset:], kind)
            if payload[:4] == b"\x7fELF":
                return payload
            offset = vmlinuz.find(magic, offset + 1)
    return None


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    elf = extract(Path(argv[1]).read_bytes())
    if elf is None:
        print(f"extract_vmlinux: no ELF payload found in {argv[1]}", file=sys.stderr)
        return 1
    Path(argv[2]).write_bytes(elf)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
