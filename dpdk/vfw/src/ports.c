/* Ethdev setup. No offloads are asked for (checksums are fixed in software), so any PMD works:
 * VF PMDs (iavf, igbvf, mlx5), af_packet, tap. */
#include <stdio.h>
#include <string.h>

#include <rte_ethdev.h>

#include "ports.h"

#define RX_DESC 256
#define TX_DESC 256

int vfw_ports_find(struct vfw_app *app)
{
	const struct vfw_config *cfg = app->cfg;
	uint16_t available = rte_eth_dev_count_avail();

	for (int s = 0; s < VFW_NUM_PORTS; s++) {
		struct vfw_port *port = &app->port[s];
		uint16_t id;

		if (cfg->by_port_id) {
			id = (uint16_t)cfg->side[s].port_id;
			if (!rte_eth_dev_is_valid_port(id)) {
				fprintf(stderr, "multus-dp-vfw: --%s-port %u: DPDK has no such port (%u port(s) probed "
					"from the EAL arguments)\n", vfw_side_names[s], id, available);
				return -1;
			}
		} else {
			const struct vfw_port_ref *ref = &app->resolved.side[s];

			/* by name, not by the helper's port id: robust to other devices EAL probed */
			if (rte_eth_dev_get_port_by_name(ref->pci, &id) != 0) {
				fprintf(stderr, "multus-dp-vfw: --%s %s: DPDK did not probe its device %s (network %s, "
					"interface %s; is the VF bound to vfio-pci, or is its PMD missing? see the EAL "
					"messages above)\n", vfw_side_names[s], cfg->side[s].network, ref->pci,
					ref->network, ref->interface[0] ? ref->interface : "-");
				return -1;
			}
			port->network = ref->network;
			port->interface = ref->interface;
		}
		port->id = id;
		rte_eth_dev_get_name_by_port(id, port->dev_name);
		port->subnet = cfg->side[s].address;
	}
	return 0;
}

int vfw_port_start(struct vfw_app *app, struct vfw_port *port)
{
	struct rte_eth_conf conf;
	struct rte_eth_dev_info info;
	uint16_t nrx = RX_DESC, ntx = TX_DESC;
	int socket = rte_eth_dev_socket_id(port->id), rc;

	memset(&conf, 0, sizeof(conf));
	memset(&info, 0, sizeof(info));
	if (socket < 0)
		socket = (int)rte_socket_id();
	if ((rc = rte_eth_dev_info_get(port->id, &info)) != 0)
		goto fail;
	if ((rc = rte_eth_dev_configure(port->id, 1, 1, &conf)) != 0)
		goto fail;
	if ((rc = rte_eth_dev_adjust_nb_rx_tx_desc(port->id, &nrx, &ntx)) != 0)
		goto fail;
	if ((rc = rte_eth_rx_queue_setup(port->id, 0, nrx, (unsigned)socket, NULL, app->pool)) != 0)
		goto fail;
	if ((rc = rte_eth_tx_queue_setup(port->id, 0, ntx, (unsigned)socket, NULL)) != 0)
		goto fail;
	if ((rc = rte_eth_dev_start(port->id)) != 0)
		goto fail;
	if ((rc = rte_eth_macaddr_get(port->id, &port->mac)) != 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "multus-dp-vfw: cannot start port %u (%s, driver %s): %s\n", port->id, port->dev_name,
		info.driver_name ? info.driver_name : "?", rte_strerror(-rc));
	return -1;
}

int vfw_port_link_up(const struct vfw_port *port)
{
	struct rte_eth_link link;

	memset(&link, 0, sizeof(link));
	if (rte_eth_link_get_nowait(port->id, &link) != 0)
		return 0;
	return link.link_status == RTE_ETH_LINK_UP;
}

void vfw_port_close(struct vfw_port *port)
{
	rte_eth_dev_stop(port->id);
	rte_eth_dev_close(port->id);
}
