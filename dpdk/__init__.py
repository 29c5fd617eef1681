"""The workload side of DPDK mode: helpers that run inside a pod (standard library only)."""
