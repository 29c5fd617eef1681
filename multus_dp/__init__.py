"""multus-dp: an SR-IOV/DPDK-aware multi-network CNI meta-plugin."""

__version__ = "0.1.0"
