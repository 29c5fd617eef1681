"""The `multus-dp` command.

Each subcommand lives in the layer it belongs to and exposes `configure(parser)` and
`run(args) -> int`; this file only lists them. `multus-dp cni` takes a fast path that
builds no parser: it is what a runtime execs in thin mode.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# (name, module, one-sentence help for the command list) — add a line to add a subcommand;
# `multus-dp COMMAND --help` describes it with its module docstring's first paragraph
SUBCOMMANDS: list[tuple[str, str, str]] = [
    ("cni", "multus_dp.chain.cli_cni", "Run as the CNI plugin (thin mode): CNI_* env and config on stdin."),
    ("demo", "multus_dp.demo", "Run the embedded demo on this machine and clean up."),
    ("status", "multus_dp.daemon.cli_status", "Show the daemon's state, a pod's network-status or the node's attachments."),
    ("daemon", "multus_dp.daemon.cli_daemon", "Run the node daemon (thick mode): serves the shim on a unix socket."),
    ("install", "multus_dp.daemon.cli_install", "Install the shim into the CNI bin dir and generate 00-multus-dp.conflist."),
    ("discover", "multus_dp.kubelet.cli_discover",
     "Show SR-IOV PFs, VFs, drivers, pools, allocations, IOMMU groups, NUMA, device plugin health."),
    ("node-prep", "multus_dp.hardware.cli_nodeprep", "Create VFs, set VF defaults, bind DPDK VFs to vfio-pci (idempotent)."),
    ("k8s-check", "multus_dp.k8s.cli_check", "Check Kubernetes API access from this node: credentials, caches, every RBAC rule."),
    ("bench", "benchmarks.cli", "Benchmark attach/detach latency against the direct-delegate floor and a reference."),
]


def summary(doc: str | None) -> str:
    """A docstring's first paragraph as one line: the whole sentence, not its first physical line."""
    paragraph = (doc or "").strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split())


def build_parser() -> argparse.ArgumentParser:
    from multus_dp import __version__

    parser = argparse.ArgumentParser(
        prog="multus-dp",
        description="SR-IOV/DPDK-aware multi-network CNI meta-plugin: a cluster eth0 plus any number "
                    "of extra networks, VFs in kernel or DPDK mode.")
    parser.add_argument("--version", action="version", version=f"multus-dp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name, help_text in SUBCOMMANDS:
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=summary(module.__doc__) or help_text)
        module.configure(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["cni"] and len(argv) == 1:
        from multus_dp.chain import cli_cni
        return cli_cni.run(None)
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        code = int(args._run(args) or 0)
        sys.stdout.flush()
        return code
    except BrokenPipeError:
        return _reader_went_away()


def _reader_went_away() -> int:
    """Output piped into `head` (or any reader that stops early): end quietly like any Unix
    tool killed by SIGPIPE (status 141), without a traceback, and without a second
    BrokenPipeError when the interpreter flushes stdout at exit."""
    import os

    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + 13
