"""Show this node's SR-IOV hardware: PFs, VFs, drivers, pools, allocations, IOMMU groups, NUMA nodes."""
from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from multus_dp.cni.errors import CNIError
from multus_dp.hardware import discover, pools, sysfs
from multus_dp.hardware.allocator import DEFAULT_STATE_DIR
from multus_dp.hardware.sysfs import NodeModel

# a later layer's addition to the report (the kubelet device plugin's view): it may add keys to
# the report and returns the text to print after the tables
Extension = Callable[[NodeModel, pools.PoolsConfig, dict[str, Any]], str]


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts instead of tables")
    parser.add_argument("--sysfs-root", default=sysfs.DEFAULT_SYSFS_ROOT,
                        help=f"sysfs root (default {sysfs.DEFAULT_SYSFS_ROOT})")
    parser.add_argument("--pools", default=None,
                        help=f"device-plugin pool config (default {pools.DEFAULT_POOLS_FILE} when it exists)")
    parser.add_argument("--resource-prefix", default=pools.DEFAULT_RESOURCE_PREFIX,
                        help="prefix of pools without resourcePrefix (default intel.com)")
    parser.add_argument("--state-dir", default=DEFAULT_STATE_DIR, help="multus-dp stateDir, for allocations")


def run(args: argparse.Namespace, extend: Extension | None = None) -> int:
    if not os.path.isdir(args.sysfs_root):
        print(f"discover: sysfs root {args.sysfs_root} is not a directory", file=sys.stderr)
        return 2
    try:
        model = sysfs.scan(args.sysfs_root)
        pools_file = args.pools or (pools.DEFAULT_POOLS_FILE if os.path.exists(pools.DEFAULT_POOLS_FILE) else None)
        pool_config = pools.load(pools_file, default_prefix=args.resource_prefix) if pools_file else None
        report = discover.build(model, pool_config, discover.allocations(args.state_dir))
        extra = extend(model, pool_config, report) if extend is not None and pool_config is not None else ""
    except CNIError as exc:
        print(f"discover: {exc.msg}", file=sys.stderr)
        return 1
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not discover.has_sriov(report):
        print(discover.no_sriov_line(report))
    else:
        print(discover.render(report) + extra)
    return 0
