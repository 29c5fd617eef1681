"""Address formats, one regex or check each, at the strictness each use needs.

- MAC_RE: six hex octets separated by ':', either case. User input (netconf `mac`, node-prep
  `mac`); callers store the address lower-cased, as the kernel reports it.
- PCI_ADDRESS_RE: a PCI address as a user may write it: the domain optional, either case
  ("3b:00.1", "0000:3B:00.1"). canonical_pci_address() turns it into the sysfs form.
- BDF_RE: the canonical form the kernel names PCI devices by in sysfs and udev events:
  a 4-digit domain, lower case ("0000:3b:00.1"). Only names read from the kernel are checked
  against it; user input goes through canonical_pci_address() first.
- DEVICE_ID_RE: a device plugin's device ID: a PCI address in any form, or a device name.
The *_problem() checks say what is wrong with a value (None: nothing), for messages that name
the key and the network in front of it.
"""
from __future__ import annotations

import ipaddress
import re

# matched with fullmatch(): `$` alone would let a trailing newline through
MAC_RE = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
PCI_ADDRESS_RE = re.compile(r"^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-7])$")
BDF_RE = re.compile(r"^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$")
DEVICE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}$")


def is_mac(value: object) -> bool:
    return isinstance(value, str) and MAC_RE.fullmatch(value) is not None


def is_bdf(value: str) -> bool:
    """A kernel PCI device name (canonical form)?"""
    return BDF_RE.fullmatch(value) is not None


def canonical_pci_address(value: str) -> str | None:
    """"3B:00.1" -> "0000:3b:00.1"; None when `value` is no PCI address."""
    m = PCI_ADDRESS_RE.fullmatch(value)
    if m is None:
        return None
    domain, bus, device, function = m.groups()
    return f"{(domain or '0000').lower()}:{bus.lower()}:{device.lower()}.{function}"


def mac_problem(value: object) -> str | None:
    """What is wrong with `value` as an interface's MAC address."""
    if not isinstance(value, str) or not is_mac(value):
        return f"{value!r} is not a MAC address (six hex octets separated by ':')"
    if int(value[:2], 16) & 1:
        return f"{value!r} is a multicast MAC address; an interface needs a unicast one"
    if value.replace(":", "") == "000000000000":
        return f"{value!r} is the all-zero MAC address"
    return None


def device_id_problem(value: object) -> str | None:
    if not isinstance(value, str) or DEVICE_ID_RE.fullmatch(value) is None:
        return f"{value!r} is not a device ID (a PCI address like 0000:af:06.0 or a device name)"
    return None


def cidr_problem(value: object) -> str | None:
    if not isinstance(value, str) or "/" not in value:
        return f"{value!r} is not an IP address with a prefix length (like 10.1.1.5/24)"
    try:
        ipaddress.ip_interface(value)
    except ValueError:
        return f"{value!r} is not a valid IP address with prefix length"
    return None
