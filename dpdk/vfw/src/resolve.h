/* The vFW's two ports from the pod's device-info: runs the multus-dp-eal helper
 * (`--format json`) and keeps its EAL arguments (-a <pci> ...) and, per side, the network,
 * pod interface, PCI address and the port id the helper expects DPDK to give it. */
#ifndef VFW_RESOLVE_H
#define VFW_RESOLVE_H

#include "config.h"

struct vfw_port_ref {
	char network[256];
	char interface[64];
	char pci[64];
	int helper_port_id;
};

struct vfw_resolved {
	struct vfw_port_ref side[VFW_NUM_PORTS];
	char *eal_args[VFW_MAX_HELPER_EAL_ARGS];
	int n_eal_args;
};

/* VFW_EXIT_OK, or an exit status after an error message naming the file/network */
int vfw_resolve_ports(const struct vfw_config *cfg, struct vfw_resolved *out);
void vfw_resolved_free(struct vfw_resolved *res);

#endif
