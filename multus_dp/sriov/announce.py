"""Tell the neighbours about a VF's new addresses: arp_notify/ndisc_notify on, then one
gratuitous ARP per IPv4 address and one unsolicited neighbour advertisement per IPv6 one
(as sriov-cni does). Runs in a worker thread that enters the pod's netns and always leaves it.
"""
from __future__ import annotations

import ipaddress
import os
import socket
import struct
import threading

from multus_dp import logs
from multus_dp.netops.netns import SELF_NS_PATH, setns

log = logs.get("sriov.announce")
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
BROADCAST = b"\xff" * 6


def _mac_bytes(mac: str) -> bytes:
    return bytes(int(part, 16) for part in mac.split(":"))


def garp_frame(mac: str, ip: str) -> bytes:
    src = _mac_bytes(mac)
    addr = socket.inet_aton(ip)
    arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, src, addr, b"\x00" * 6, addr)
    return BROADCAST + src + struct.pack("!H", ETH_P_ARP) + arp


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def unsolicited_na_frame(mac: str, ip: str) -> bytes:
    src_mac = _mac_bytes(mac)
    src = ipaddress.IPv6Address(ip).packed
    dst = ipaddress.IPv6Address("ff02::1").packed
    # ICMPv6 NA: type 136, flags Override, target, option 2 (target link-layer address)
    icmp = struct.pack("!BBHI16sBB6s", 136, 0, 0, 0x20000000, src, 2, 1, src_mac)
    pseudo = src + dst + struct.pack("!I3xB", len(icmp), 58)
    icmp = icmp[:2] + struct.pack("!H", _checksum(pseudo + icmp)) + icmp[4:]
    ipv6 = struct.pack("!IHBB16s16s", 6 << 28, len(icmp), 58, 255, src, dst)
    return b"\x33\x33\x00\x00\x00\x01" + src_mac + struct.pack("!H", ETH_P_IPV6) + ipv6 + icmp


def announce(netns: str, ifname: str, mac: str, addresses: list[str]) -> None:
    """Best effort: a failure is logged, never fatal (the addresses are already configured)."""
    errors: list[str] = []

    def work() -> None:
        own = os.open(SELF_NS_PATH, os.O_RDONLY | os.O_CLOEXEC)
        target = os.open(netns, os.O_RDONLY | os.O_CLOEXEC)
        try:
            err = setns(target)
            if err:
                errors.append(f"setns {netns}: {os.strerror(err)}")
                return
            try:
                _announce_here(ifname, mac, addresses, errors)
            finally:
                if setns(own):
                    os.abort()  # a thread stuck in a pod's netns must not live on
        finally:
            os.close(own)
            os.close(target)

    thread = threading.Thread(target=work, name="announce")
    thread.start()
    thread.join()
    if errors:
        log.warning("announcing addresses failed: %s", "; ".join(errors), extra={"ifname": ifname})


def _announce_here(ifname: str, mac: str, addresses: list[str], errors: list[str]) -> None:
    for family, key in (("ipv4", "arp_notify"), ("ipv6", "ndisc_notify")):
        path = f"/proc/sys/net/{family}/conf/{ifname}/{key}"
        try:
            with open(path, "w") as fh:
                fh.write("1")
        except OSError as exc:
            errors.append(f"{path}: {exc.strerror}")
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    except OSError as exc:
        errors.append(f"packet socket: {exc.strerror}")
        return
    with sock:
        try:
            sock.bind((ifname, 0))
            for cidr in addresses:
                ip = ipaddress.ip_interface(cidr).ip
                frame = garp_frame(mac, str(ip)) if ip.version == 4 else unsolicited_na_frame(mac, str(ip))
                sock.send(frame)
        except OSError as exc:
            errors.append(f"send on {ifname}: {exc.strerror}")
