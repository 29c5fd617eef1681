/* Ethdev setup: find each side's port, one RX and one TX queue, start, link state. */
#ifndef VFW_PORTS_H
#define VFW_PORTS_H

#include "app.h"

/* the DPDK port of each side: by id (--wan-port) or by the PCI address the helper resolved;
 * 0, or -1 after a message naming the side, network and device */
int vfw_ports_find(struct vfw_app *app);
int vfw_port_start(struct vfw_app *app, struct vfw_port *port);
/* 1 when the link is up (no waiting) */
int vfw_port_link_up(const struct vfw_port *port);
void vfw_port_close(struct vfw_port *port);

#endif
