"""vFW time to first packet on real VFs in the QEMU lab guest (emulated igb 82576, TCG).

From the host, `.venv/bin/python -m benchmarks.lab_vfw [--rounds 5]` boots the lab guest
(scripts/lab/run-in-guest), runs itself there with `--guest`, and writes
benchmarks/results/vfw-ttfp.{json,md}. In the guest a client pod (kernel-mode VF, VLAN 100) pings
a server pod (kernel-mode VF, VLAN 200) every 100 ms through where the vFW will be; each round
then times, from the start of the vFW pod's ADD to the first packet the vFW forwards:

  ADD          the shim's ADD of the vFW pod (eth0 + two DPDK-mode VFs: VF config through the
               PF, and the vfio-pci bind when the NAD says `bindVfio`), spawn to exit;
  handover     ADD done -> the vFW process starts (here: writing the pod's annotations file and
               an exec; on a node: the container start, not measured here);
  EAL init     vFW start -> rte_eal_init done (resolving the ports through multus-dp-eal, EAL,
               probing the two VFs with the igb VF PMD), from the vFW's own `timeline`;
  port start   EAL done -> both ports configured and started;
  first packet ports started -> first packet forwarded (igbvf link up, the client's and the
               vFW's ARP, the next ping).

Two variants, interleaved by round: `bindVfio at ADD` (the VFs on igbvf until the ADD binds them)
and `pre-bound by node-prep` (bound to vfio-pci beforehand, as node-prep does for a DPDK pool).
The first round of each variant (cold, just after boot) is reported apart from the medians, and so
is one round before the PMD directory is trimmed (EAL loading all of Debian's ~130 drivers).
TCG emulates every instruction: these are lab figures to compare with each other, not hardware.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import labguest
BIND_AT_ADD, PRE_BOUND = "bindVfio at ADD", "pre-bound by node-prep"
VARIANTS = (BIND_AT_ADD, PRE_BOUND)
PHASES = ("add", "handover", "eal_init", "port_start", "first_packet")
PHASE_NAMES = {"add": "ADD (VF config + vfio bind)", "handover": "handover (ADD done -> vFW exec)",
               "eal_init": "EAL init (ports resolved, VFs probed)", "port_start": "port start",
               "first_packet": "ports started -> first packet forwarded", "total": "total: ADD start -> first packet"}
FIRST_PACKET_TIMEOUT_S = float(os.environ.get("MULTUS_DP_LAB_FIRST_PACKET_TIMEOUT", "120"))
LAN_GW, WAN_GW = "10.100.0.1", "10.200.0.1"
MACS = {"lan": "02:4d:44:50:07:01", "wan": "02:4d:44:50:07:02"}
RULES = "default deny\nallow icmp from any to any\n"


def phases(add_start_ns: int, add_done_ns: int, timeline: dict[str, int]) -> dict[str, float]:
    """Seconds per phase from the ADD's start and end (time.time_ns) and the vFW's own timeline
    (CLOCK_REALTIME ns, the same clock); the PHASES add up to "total". "links_up": when the vFW saw
    both links up, after its ports started (inside "first_packet")."""
    t = timeline
    ns = {"add": add_done_ns - add_start_ns, "handover": t["start"] - add_done_ns,
          "eal_init": t["ealInitDone"] - t["start"], "port_start": t["portsStarted"] - t["ealInitDone"],
          "first_packet": t["firstForwarded"] - t["portsStarted"], "total": t["firstForwarded"] - add_start_ns,
          "links_up": t["linksUp"] - t["portsStarted"]}
    return {k: v / 1e9 for k, v in ns.items()}


class VfwRounds:
    """The lab set up for the rounds: the daemon, the client and server pods, the vFW's VFs."""

    def __init__(self, lab: Any, node: Any, vfs: tuple[str, str], server_ip: str, client: Any, rules: Path) -> None:
        from multus_dp.hardware.vfio import VfioBinder

        self.lab, self.node, self.vfs, self.rules = lab, node, vfs, rules
        self.server_ip, self.client = server_ip, client
        self.binder = VfioBinder()

    def run(self, variant: str, lab_dpdk: Any, work: Path) -> dict[str, float]:
        """One vFW pod from ADD to its first forwarded packet, then DEL; seconds per phase."""
        from tests.lab.support import dpdk
        from tests.lab.support.guest import settle, wait_for
        from tests.lab.support.sriovnode import ip

        node, (lan_vf, wan_vf) = self.node, self.vfs
        pre_bound = variant == PRE_BOUND
        if pre_bound:
            for vf in self.vfs:
                self.binder.bind(vf)
            settle()
        pod = node.pod(f"vfw-{len(node.pods)}")
        suffix = "-pool" if pre_bound else ""
        conf = node.conf([{"name": f"vfw-lan{suffix}", "deviceID": lan_vf, "interface": "lan0"},
                          {"name": f"vfw-wan{suffix}", "deviceID": wan_vf, "interface": "wan0"}])
        lan, wan = f"default/vfw-lan{suffix}", f"default/vfw-wan{suffix}"     # as network-status names them
        ip("-n", self.client.netns_name, "neigh", "flush", "dev", "net1", check=False)
        pinger = subprocess.Popen(["ip", "netns", "exec", self.client.netns_name, "ping", "-n", "-q", "-i", "0.1",
                                   self.server_ip], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        t0 = time.time_ns()
        node.ok("ADD", pod, conf)
        added = time.time_ns()
        annotations = dpdk.write_podinfo(work / "annotations", node.network_status(pod))
        vfw = dpdk.start_vfw(lab_dpdk, netns=pod.netns_name, wan=wan, lan=lan, wan_address=f"{WAN_GW}/24",
                             lan_address=f"{LAN_GW}/24", annotations=annotations, rules=self.rules, work=work)
        try:
            vfw.wait_ready(dpdk.START_TIMEOUT_S)
            wait_for(lambda: vfw.stats(dpdk.START_TIMEOUT_S)["timeline"]["firstForwarded"], FIRST_PACKET_TIMEOUT_S,
                     "the vFW's first forwarded packet", interval_s=0.3)
        finally:
            status = dpdk.stop_vfw(vfw)
            pinger.kill()
            pinger.wait()
        assert status == 0, f"the vFW exited {status}:\n{vfw.stderr[-3000:]}"
        t = dpdk.final_stats(vfw)["timeline"]
        helper = time.perf_counter()
        dpdk.eal_args(annotations, lan, wan)        # the helper alone (the vFW runs it inside EAL init)
        helper_s = time.perf_counter() - helper
        deleted = time.perf_counter()
        node.ok("DEL", pod, conf)
        del_s = time.perf_counter() - deleted
        ip("netns", "delete", pod.netns_name, check=False)
        if pre_bound:
            for vf in self.vfs:
                self.binder.restore(vf, "igbvf", None)
        settle()
        return phases(t0, added, t) | {"del": del_s, "eal_helper": helper_s}


def guest_main(rounds: int, out: Path) -> dict[str, Any]:
    """Runs inside the lab guest (MULTUS_DP_LAB=1)."""
    from benchmarks.stamp import stamp
    from benchmarks.stats import summary
    from tests.lab.support import dpdk
    from tests.lab.support.guest import create_vfs, lab_pf_from_env, reset_nic, wait_for
    from tests.lab.support.sriovnode import SriovLab, SriovNode, ip

    pf = lab_pf_from_env()
    dpdk.reserve_hugepages(dpdk.HUGEPAGES)
    untrimmed = dpdk.DpdkLab(pmd_dir=dpdk.PMD_DIR, drivers=(), hugepages=dpdk.HUGEPAGES, testpmd=None,
                             vfw=dpdk.VFW_BINARY if os.access(dpdk.VFW_BINARY, os.X_OK) else None)
    untrimmed.require_vfw()
    lan_vf, wan_vf, client_vf, server_vf = create_vfs(pf, 4)
    root = Path(tempfile.mkdtemp(prefix="lab-vfw-bench-"))
    lab = SriovLab(root)
    for side, vlan in (("lan", 100), ("wan", 200)):
        common: dict[str, Any] = {"vlan": vlan, "mac": MACS[side], "spoofchk": "off", "trust": "on"}
        lab.add_nad(f"vfw-{side}", bindVfio=True, **common)
        lab.add_nad(f"vfw-{side}-pool", **common)      # a VF node-prep bound to vfio-pci
    lab.add_nad("client-net", vlan=100, subnet="10.100.0.0/24", routes=[{"dst": "0.0.0.0/0", "gw": LAN_GW}])
    lab.add_nad("server-net", vlan=200, subnet="10.200.0.0/24", routes=[{"dst": "0.0.0.0/0", "gw": WAN_GW}])
    lab.start()
    keys = (*PHASES, "total", "del", "eal_helper")
    samples: dict[str, dict[str, list[float]]] = {v: {k: [] for k in keys} for v in VARIANTS}
    singles: dict[str, dict[str, float]] = {}
    try:
        node = SriovNode(lab, root / "node")
        client, server = node.pod("client"), node.pod("server")
        node.ok("ADD", client, node.conf([{"name": "client-net", "deviceID": client_vf}]))
        node.ok("ADD", server, node.conf([{"name": "server-net", "deviceID": server_vf}]))
        for pod in (client, server):
            # resolve the gateway 10x faster than Linux's 1 s default: the figure is the vFW's, not ARP's
            ip("netns", "exec", pod.netns_name, "sysctl", "-qw", "net.ipv4.neigh.net1.retrans_time_ms=100")
            wait_for(lambda: "LOWER_UP" in pod.links()["net1"]["flags"], 60, f"carrier on {pod.name}'s net1")
        rules = root / "vfw.rules"
        rules.write_text(RULES)
        bench = VfwRounds(lab, node, (lan_vf, wan_vf), server.addresses("net1")[0].split("/")[0], client, rules)

        def report(label: str, seconds: dict[str, float]) -> None:
            print(f"{label}: " + " ".join(f"{k} {v * 1000:.0f}" for k, v in seconds.items()) + " ms",
                  file=sys.stderr, flush=True)

        # once with EAL's whole PMD directory (what a DPDK pod does on a stock install), then trimmed
        seconds = bench.run(PRE_BOUND, untrimmed, root / "untrimmed")
        singles[f"{PRE_BOUND}, whole PMD directory"] = {k: round(v * 1000) for k, v in seconds.items()}
        report("whole PMD directory", seconds)
        lab_dpdk = dpdk.prepare(with_testpmd=False)    # only the vFW's drivers, as its image would have
        for n in range(rounds + 1):
            for variant in VARIANTS:
                seconds = bench.run(variant, lab_dpdk, root / f"round-{n}-{variant[:3]}")
                report(f"round {n}/{rounds} {variant}", seconds)
                if n == 0:
                    singles[f"{variant}, first trimmed round"] = {k: round(v * 1000) for k, v in seconds.items()}
                    continue
                for key in keys:
                    samples[variant][key].append(seconds[key])
    finally:
        lab.stop()
        reset_nic(pf)
    doc: dict[str, Any] = {
        "benchmark": "vfw-ttfp", "rounds": rounds, "stamp": stamp("/usr/lib/cni", None),
        "note": "TCG lab figure (QEMU emulates every instruction and the NIC), not a hardware figure",
        "guest": {"accel": os.environ.get("MULTUS_DP_LAB_ACCEL", "tcg"), "nic": "QEMU igb (82576), igbvf, vfio-pci",
                  "dpdk_drivers": list(lab_dpdk.drivers), "hugepages_2m": lab_dpdk.hugepages,
                  "vfw_idle_sleep_us": dpdk.VFW_IDLE_SLEEP_US},
        "phases": {v: {k: summary(s) for k, s in samples[v].items()} for v in VARIANTS},
        "single_rounds_ms": singles,
    }
    out.write_text(json.dumps(doc, indent=1))
    return doc


def render_md(doc: dict[str, Any]) -> str:
    s = doc["stamp"]
    lines = [f"vFW time to first packet, SR-IOV lab (QEMU {doc['guest']['accel'].upper()} guest, "
             f"{doc['guest']['nic']}), {doc['rounds']} rounds per variant (interleaved) after a first one, guest "
             f"kernel {s['machine']['kernel']}, {s['machine']['cores']} vCPU, multus-dp {s['versions']['git']} "
             f"({s['date']})", "",
             "**A TCG lab figure, not a hardware figure**: QEMU emulates every instruction and the NIC; "
             "compare the phases with each other. Medians in ms (p95 in brackets); the phases add up to the total.", "",
             f"| phase | {' | '.join(VARIANTS)} |", "|---|---|---|"]
    for key in (*PHASES, "total"):
        cells = [f"{doc['phases'][v][key]['median']:.0f} ({doc['phases'][v][key]['p95']:.0f})" for v in VARIANTS]
        lines.append(f"| {PHASE_NAMES[key]} | {' | '.join(cells)} |")
    for key, name in (("eal_helper", "(of EAL init: the multus-dp-eal helper alone)"), ("del", "(DEL of the vFW pod)")):
        cells = [f"{doc['phases'][v][key]['median']:.0f}" for v in VARIANTS]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    lines += ["", "Single rounds, ms (not in the medians):", ""]
    lines += [f"- {label}: ADD {c['add']}, EAL init {c['eal_init']}, port start {c['port_start']}, "
              f"first packet {c['first_packet']}, total {c['total']}" for label, c in doc["single_rounds_ms"].items()]
    lines += ["",
              f"DPDK in the guest: PMD directory trimmed to {len(doc['guest']['dpdk_drivers'])} libraries "
              f"(the igb VF PMD, buses, ring mempool: {', '.join(doc['guest']['dpdk_drivers'])}), "
              f"{doc['guest']['hugepages_2m']} x 2 MiB hugepages, vFW `--idle-sleep-us "
              f"{doc['guest']['vfw_idle_sleep_us']}` (one vCPU)."]
    lines += labguest.host_note(doc)
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    return labguest.main(argv, __doc__, "lab_vfw", "vfw-ttfp", guest_main, render_md)


if __name__ == "__main__":
    sys.exit(main())
