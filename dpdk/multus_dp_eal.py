#!/usr/bin/env python3
"""multus-dp-eal: the DPDK EAL arguments for this pod's VFs, so a vFW starts on the right
devices without hand-written PCI addresses.

Runs inside the pod. Reads the pod's `k8s.v1.cni.cncf.io/network-status` annotation (the
downward-API annotations file, or the annotation's JSON value) or device-info spec files,
picks every network whose `device-info` is of type "pci" (DPDK-mode VFs), in the order the
pod declared them, and prints `-a <pci>` per network together with the network names.

Standard library only (Python >= 3.8): copy this one file into any image with python3, or
run it from the multus-dp image (`multus-dp-eal`, `python3 -m dpdk.multus_dp_eal`).

DPDK numbers its ports in PCI address order, not in the order of the `-a` arguments, so
the port id of each network is printed too (and exported by `--format env`).

Exit status: 0 printed; 1 no usable network (or not there before --wait ran out);
2 bad input or usage.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterable, List, Optional, Sequence

# This file runs alone inside a pod (standard library only, copied into any image): it keeps its
# own constants, PCI regex and atomic write instead of importing multus_dp.base.
NETWORK_STATUS_ANNOTATION = "k8s.v1.cni.cncf.io/network-status"
DEFAULT_ANNOTATIONS_FILE = "/etc/podinfo/annotations"
DEFAULT_POLL_INTERVAL = 0.5
PCI_RE = re.compile(r"^(?:([0-9a-fA-F]{4,8}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
# our CNIDeviceInfoFile names: <namespace>-<network>-<containerID>_<ifname>
DEVINFO_NAME_RE = re.compile(r"^(?P<network>.+)-(?P<cid>[0-9a-fA-F]{12,})_(?P<ifname>[^_/]+)$")


class EalError(Exception):
    """Input we cannot use; the message says which file or network and why."""

    exit_code = 2


class NotFound(EalError):
    """Nothing (yet) to hand to DPDK."""

    exit_code = 1


@dataclass
class Port:
    network: str             # "ns/name" as in network-status, or the device-info file's label
    interface: str           # the pod interface name the attachment got (net1, outside, ...)
    pci: str                 # canonical BDF: 0000:af:06.0
    pf_pci: Optional[str] = None
    port_id: int = -1        # DPDK's port number: rank of `pci` among all allowed devices


# ---- reading ---------------------------------------------------------------------------------
_SIMPLE_ESCAPES = {"a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11, "\\": 92, '"': 34, "'": 39}


def go_unquote(quoted: str) -> str:
    """Undo Go's `%q` (strconv.Quote), which kubelet uses for downward-API annotation values.
    `\\x` escapes stand for raw bytes, so the string is rebuilt as bytes and decoded once."""
    if len(quoted) < 2 or quoted[0] != '"' or quoted[-1] != '"':
        raise ValueError("not a double-quoted string")
    body = quoted[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out += ch.encode("utf-8", "surrogateescape")
            i += 1
            continue
        if i + 1 >= len(body):
            raise ValueError("dangling backslash")
        esc = body[i + 1]
        if esc in _SIMPLE_ESCAPES:
            out.append(_SIMPLE_ESCAPES[esc])
            i += 2
        elif esc == "x":
            out.append(int(_hex(body, i + 2, 2), 16))
            i += 4
        elif esc in "uU":
            width = 4 if esc == "u" else 8
            out += chr(int(_hex(body, i + 2, width), 16)).encode("utf-8", "surrogatepass")
            i += 2 + width
        elif esc in "01234567":
            digits = body[i + 1:i + 4]
            if len(digits) != 3 or any(d not in "01234567" for d in digits):
                raise ValueError(f"bad octal escape at {i}")
            out.append(int(digits, 8) & 0xFF)
            i += 4
        else:
            raise ValueError(f"unknown escape \\{esc} at {i}")
    return out.decode("utf-8", "replace")


def _hex(text: str, start: int, width: int) -> str:
    digits = text[start:start + width]
    if len(digits) != width or any(c not in "0123456789abcdefABCDEF" for c in digits):
        raise ValueError(f"bad hex escape at {start - 2}")
    return digits


def parse_downward_annotations(text: str, source: str = "annotations file") -> Dict[str, str]:
    """kubelet writes one `key="value"` line per annotation, the value Go-quoted."""
    annotations: Dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise EalError(f"{source} line {number}: expected key=\"value\"")
        try:
            annotations[key] = go_unquote(value)
        except ValueError as exc:
            raise EalError(f"{source} line {number} ({key}): {exc}") from exc
    return annotations


def canonical_pci(value: Any, where: str) -> str:
    match = PCI_RE.match(value) if isinstance(value, str) else None
    if not match:
        raise EalError(f"{where}: {value!r} is not a PCI address like 0000:af:06.0")
    domain, bus, device, function = match.groups()
    return f"{(domain or '0000').lower().zfill(4)}:{bus.lower()}:{device.lower()}.{function}"


def pci_of_device_info(info: Any, where: str) -> Optional[Dict[str, Optional[str]]]:
    """{pci, pf_pci} of a device-info object of type "pci"; None for other types (vhost-user,
    memif: not a VF DPDK probes on the PCI bus)."""
    if not isinstance(info, dict):
        raise EalError(f"{where}: device-info must be an object")
    if info.get("type") != "pci":
        return None
    pci = info.get("pci")
    if not isinstance(pci, dict) or "pci-address" not in pci:
        raise EalError(f"{where}: device-info of type \"pci\" has no pci.pci-address")
    pf = pci.get("pf-pci-address")
    return {"pci": canonical_pci(pci["pci-address"], where),
            "pf_pci": canonical_pci(pf, where + " pf-pci-address") if pf else None}


def ports_from_network_status(status: Any, source: str) -> List[Port]:
    """Every attachment with a pci device-info, in network-status order (= declared order)."""
    if not isinstance(status, list):
        raise EalError(f"{source}: network-status must be a JSON list")
    ports = []
    for index, entry in enumerate(status):
        if not isinstance(entry, dict):
            raise EalError(f"{source}: network-status element {index + 1} is not an object")
        name = entry.get("name", f"#{index + 1}")
        info = entry.get("device-info")
        if info is None:
            continue
        pci = pci_of_device_info(info, f"{source}: network {name}")
        if pci:
            ports.append(Port(network=str(name), interface=str(entry.get("interface", "")), **pci))
    return ports


def network_status_from_annotations(path: str) -> Optional[List[Any]]:
    """The network-status list from a downward-API file; None while it is not there yet."""
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EalError(f"cannot read {path}: {exc.strerror}") from exc
    value = parse_downward_annotations(text, path).get(NETWORK_STATUS_ANNOTATION)
    if value is None:
        return None
    return _load_status_json(value, f"{path}: annotation {NETWORK_STATUS_ANNOTATION}")


def network_status_from_json_file(path: str) -> Optional[List[Any]]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise EalError(f"cannot read {path}: {exc.strerror}") from exc
    return _load_status_json(text, path)


def _load_status_json(text: str, where: str) -> List[Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise EalError(f"{where}: not valid JSON: {exc}") from exc
    if not isinstance(data, list):
        raise EalError(f"{where}: network-status must be a JSON list")
    return data


def device_info_paths(paths: Sequence[str]) -> List[str]:
    """Files as given; a directory contributes its files sorted by name."""
    out: List[str] = []
    for path in paths:
        if os.path.isdir(path):
            out += [os.path.join(path, n) for n in sorted(os.listdir(path))
                    if os.path.isfile(os.path.join(path, n))]
        elif os.path.exists(path):
            out.append(path)
    return out


def ports_from_device_info(paths: Sequence[str]) -> List[Port]:
    ports = []
    for path in device_info_paths(paths):
        try:
            with open(path, encoding="utf-8") as fh:
                info = json.load(fh)
        except ValueError as exc:
            raise EalError(f"{path}: not valid JSON: {exc}") from exc
        except OSError as exc:
            raise EalError(f"cannot read {path}: {exc.strerror}") from exc
        pci = pci_of_device_info(info, path)
        if not pci:
            continue
        base = os.path.basename(path)
        match = DEVINFO_NAME_RE.match(base)
        network, interface = (match.group("network"), match.group("ifname")) if match else (base, "")
        ports.append(Port(network=network, interface=interface, **pci))
    return ports


# ---- choosing and numbering ----------------------------------------------------------------
def select(ports: List[Port], wanted: Sequence[str]) -> List[Port]:
    """All ports in declared order, or the `wanted` networks in the order asked for. A wanted
    entry matches `ns/name`, a bare `name`, or an interface name."""
    if not wanted:
        return list(ports)
    chosen: List[Port] = []
    for want in wanted:
        hits = [p for p in ports if p not in chosen and _matches(p, want)]
        if not hits:
            have = ", ".join(f"{p.network} ({p.interface})" for p in ports) or "none"
            raise NotFound(f"network {want!r} has no DPDK (pci) device in this pod; DPDK networks: {have}")
        chosen.append(hits[0])
    return chosen


def _matches(port: Port, want: str) -> bool:
    return want in (port.network, port.network.rpartition("/")[2], port.interface)


def number_ports(ports: List[Port]) -> List[Port]:
    """DPDK's PCI bus scan keeps devices sorted by address and probes them in that order, so
    port ids follow the address order of the allowed devices, not the `-a` order."""
    order = {pci: rank for rank, pci in enumerate(sorted({p.pci for p in ports}))}
    for port in ports:
        port.port_id = order[port.pci]
    return ports


def check_unique(ports: List[Port]) -> None:
    seen: Dict[str, Port] = {}
    for port in ports:
        if port.pci in seen:
            raise EalError(f"networks {seen[port.pci].network} and {port.network} report the same "
                           f"PCI device {port.pci}")
        seen[port.pci] = port


# ---- output ----------------------------------------------------------------------------------
def eal_args(ports: Iterable[Port], flag: str = "-a") -> List[str]:
    args: List[str] = []
    for port in ports:
        args += [flag, port.pci]
    return args


def env_name(text: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", text.upper())


def render(ports: List[Port], fmt: str, flag: str) -> str:
    args = eal_args(ports, flag)
    if fmt == "json":
        return json.dumps({"eal": args, "ports": [asdict(p) for p in ports]}, indent=2) + "\n"
    if fmt == "env":
        lines = [f"MULTUS_DP_EAL_ARGS='{' '.join(args)}'",
                 f"MULTUS_DP_NETWORKS='{' '.join(p.network for p in ports)}'"]
        for port in ports:
            # keyed by interface name: unique in a pod even when a network is attached twice
            key = env_name(port.interface or port.network)
            lines += [f"MULTUS_DP_PORT_{key}={port.port_id}", f"MULTUS_DP_PCI_{key}={port.pci}"]
        return "\n".join(lines) + "\n"
    return " ".join(args) + "\n"


def table(ports: List[Port]) -> str:
    rows = [("PORT", "NETWORK", "INTERFACE", "PCI", "PF")]
    rows += [(str(p.port_id), p.network, p.interface or "-", p.pci, p.pf_pci or "-") for p in ports]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() + "\n" for r in rows)


def write_atomic(path: str, text: str) -> None:
    # multus_dp.base.fileio.atomic_write's guarantees, written out again: this helper is standalone
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".multus-dp-eal.", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---- the command -----------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="multus-dp-eal",
        description="Print the DPDK EAL arguments (-a <pci> per network, in declared order) for this pod's "
                    "DPDK-mode VFs, read from the network-status annotation or device-info files.")
    source = parser.add_argument_group("where the devices come from (default: --annotations)")
    source.add_argument("--annotations", metavar="FILE",
                        help=f"downward-API annotations file (default {DEFAULT_ANNOTATIONS_FILE})")
    source.add_argument("--network-status", metavar="FILE",
                        help="a file holding the network-status annotation's JSON value")
    source.add_argument("--device-info", metavar="PATH", action="append", default=[],
                        help="device-info spec file, or a directory of them (repeatable)")
    parser.add_argument("--network", action="append", default=[], metavar="NAME",
                        help="only this network (ns/name, name or interface), in the order given (repeatable)")
    parser.add_argument("--count", type=int, default=0, metavar="N",
                        help="expect at least N DPDK networks (default: 1, or every --network)")
    parser.add_argument("--wait", type=float, default=0.0, metavar="SECONDS",
                        help="wait up to this long for the devices to appear (the annotation is published "
                             "after the pod's sandbox is up; kubelet refreshes the file later)")
    parser.add_argument("--poll-interval", type=float, default=DEFAULT_POLL_INTERVAL, metavar="SECONDS")
    parser.add_argument("--format", choices=("args", "json", "env"), default="args",
                        help="args: one line for the EAL command line (default); json; env: shell variables")
    parser.add_argument("--json", dest="format", action="store_const", const="json", help="same as --format json")
    parser.add_argument("--old-dpdk", action="store_true",
                        help="use the allow-list flag of DPDK before 20.11 (-w) instead of -a")
    parser.add_argument("--output", metavar="FILE", help="write there (atomically) instead of stdout")
    parser.add_argument("--quiet", action="store_true", help="no port table on stderr")
    return parser


def load_ports(args: argparse.Namespace) -> List[Port]:
    if args.device_info:
        return ports_from_device_info(args.device_info)
    if args.network_status:
        status = network_status_from_json_file(args.network_status)
        where = args.network_status
    else:
        where = args.annotations or DEFAULT_ANNOTATIONS_FILE
        status = network_status_from_annotations(where)
    if status is None:
        raise NotFound(f"{where}: no {NETWORK_STATUS_ANNOTATION} annotation (yet)")
    return ports_from_network_status(status, where)


def resolve(args: argparse.Namespace, clock: Any = time.monotonic, sleep: Any = time.sleep) -> List[Port]:
    """Read, select and number the ports; with --wait, retry until enough are there."""
    expected = max(args.count, len(args.network), 1)
    deadline = clock() + max(args.wait, 0.0)
    while True:
        try:
            ports = select(load_ports(args), args.network)
            if len(ports) >= expected:
                check_unique(ports)
                return number_ports(ports)
            problem: EalError = NotFound(f"found {len(ports)} DPDK (pci) network(s), expected {expected}")
        except NotFound as exc:
            problem = exc
        if clock() >= deadline:
            if args.wait > 0:
                raise NotFound(f"{problem} (waited {args.wait:g} s)")
            raise problem
        sleep(args.poll_interval)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        ports = resolve(args)
    except EalError as exc:
        print(f"multus-dp-eal: {exc}", file=sys.stderr)
        return exc.exit_code
    text = render(ports, args.format, "-w" if args.old_dpdk else "-a")
    if not args.quiet:
        sys.stderr.write(table(ports))
    if args.output:
        try:
            write_atomic(args.output, text)
        except OSError as exc:
            print(f"multus-dp-eal: cannot write {args.output}: {exc.strerror}", file=sys.stderr)
            return 2
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
