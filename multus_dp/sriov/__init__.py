"""The built-in SR-IOV delegate: kernel and DPDK modes, sriov-cni-compatible config,
full VF state snapshot and exact restore."""
