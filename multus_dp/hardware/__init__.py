"""The hardware module: SR-IOV NICs, their VFs, pools, allocation and vfio-pci binding.

- `sysfs`      read-only model of PCI network devices from a sysfs root (`scan`)
- `writer`     the one seam for sysfs writes, each with a deadline (`SysfsWriter`)
- `inventory`  the live model, refreshed incrementally; `udev` feeds it events
- `pools`      sriov-network-device-plugin pool configs and selectors (`assign`)
- `checkpoint` kubelet device-plugin checkpoint (`device_ids`)
- `allocator`  per-VF flock + allocation records under `<stateDir>/vf/` (`VfAllocator`)
- `vfio`       bind a VF to vfio-pci and back (`VfioBinder`)
- `vfconfig`   VF defaults through the PF (trust, spoofchk, MAC): `VfConfigurator`
- `nodeprep`   `multus-dp node-prep`; `discover` builds `multus-dp discover`'s report
"""
