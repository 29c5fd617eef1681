"""Every default path and timeout that more than one place needs, written once.

The C shim reads SOCKET_PATH, DAEMON_TIMEOUT and DAEMON_START_TIMEOUT too: setup.py passes them
to the compiler (-DDEFAULT_SOCKET, -DDEFAULT_TIMEOUT_S, -DDEFAULT_START_TIMEOUT_S), so changing
them here changes the shim at the next install.
"""
from __future__ import annotations

STATE_DIR = "/var/lib/multus-dp"
SOCKET_PATH = "/run/multus-dp/daemon.sock"
NETWORKS_DIR = "/etc/multus-dp/networks.d"
DEVICE_INFO_DIR = "/var/run/k8s.cni.cncf.io/devinfo"
SYSFS_ROOT = "/sys"
DEV_ROOT = "/dev"
SRIOV_POOLS_CONFIG = "/etc/pcidp/config.json"
KUBELET_DEVICE_PLUGINS_DIR = "/var/lib/kubelet/device-plugins"
POD_RESOURCES_SOCKET = "/var/lib/kubelet/pod-resources/kubelet.sock"
KUBELET_CHECKPOINT = "/var/lib/kubelet/device-plugins/kubelet_internal_checkpoint"
UDEV_DIR = "/run/udev"
CNI_BIN_DIR = "/opt/cni/bin"
CNI_CONF_DIR = "/etc/cni/net.d"
MULTUS_CONF_DIR = "/etc/cni/multus/net.d"
MULTUS_CNI_DIR = "/var/lib/cni/multus"
METRICS_ADDRESS = "127.0.0.1:9192"
MULTUS_NAMESPACE = "kube-system"
LOG_LEVEL = "info"
LOG_TO_STDERR = True

DELEGATE_TIMEOUT = 60.0          # seconds one delegate call may take
DAEMON_TIMEOUT = 300.0           # seconds the shim waits for the daemon's reply (C reads it too)
# Thin mode's on-demand daemon (the shim starts it when none listens; docs/modes.md)
DAEMON_START_TIMEOUT = 30.0      # seconds the shim waits for a daemon it started to listen (C reads it too)
DAEMON_IDLE_TIMEOUT = 300.0      # seconds without a request after which an on-demand daemon exits
ON_DEMAND_LOG_NAME = "on-demand-daemon.log"   # the on-demand daemon's log, under its state dir
MAC_READBACK_TRIES = 20
MAC_READBACK_INTERVAL = 0.05     # seconds
UDEV_SETTLE_TIMEOUT = 5.0        # seconds
VF_NETDEV_RETURN_TIMEOUT = 10.0  # seconds
SYSFS_WRITE_DEADLINE = 10.0      # seconds one bind/unbind/driver_override write may take
DEVICE_PLUGIN_RESYNC_INTERVAL = 1.0   # seconds between device-plugin health checks (and kubelet.sock/pools file checks)
POD_RESOURCES_TIMEOUT = 5.0     # seconds one PodResources call may take

# Input bounds: what a caller may send before it is refused with a decode error (code 6).
# Real configs are a few KB and nest < 10 levels; Kubernetes caps all annotations of an
# object at 256 KiB. Deeper input would crash a recursive parser (RecursionError).
MAX_JSON_BYTES = 4 << 20
MAX_JSON_DEPTH = 64

# Per pod: attachments (cluster network included) and secondaries ADDed at once
MAX_ATTACHMENTS = 32
MAX_PARALLEL_DELEGATES = 8

# The shim talks only to a socket served by root, its own uid or this one (the C shim's build
# default; MULTUS_DP_SOCKET_UID overrides it at run time).
SOCKET_UID = 0
