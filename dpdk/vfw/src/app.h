/* The running vFW's state: both ports with their neighbours and counters, the rules, the
 * timeline. Owned by main.c, read by stats.c, changed by fwd.c (one lcore: no locking). */
#ifndef VFW_APP_H
#define VFW_APP_H

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>

#include "acl.h"
#include "config.h"
#include "resolve.h"

#define VFW_BURST 32
#define VFW_NEIGH_SLOTS 1024     /* per port, open addressing; a power of two */
#define VFW_PENDING_MAX 64       /* packets held per port while their next hop is resolved */
#define VFW_ARP_RETRY_MS 1000    /* resend an unanswered ARP request after this long */
#define VFW_PENDING_HOLD_MS 3000 /* drop a held packet whose next hop did not answer */

enum vfw_neigh_state { VFW_NEIGH_FREE = 0, VFW_NEIGH_INCOMPLETE, VFW_NEIGH_REACHABLE };

struct vfw_neigh {
	uint32_t ip;
	uint8_t state;
	struct rte_ether_addr mac;
	uint64_t requested_tsc;  /* last ARP request sent for it */
};

struct vfw_pending {
	uint32_t ip;             /* next hop */
	uint8_t in_side;         /* the port it came in on (its drop counter) */
	struct rte_mbuf *m;
	uint64_t since_tsc;
};

struct vfw_port_counters {
	uint64_t rx;             /* packets received */
	uint64_t tx;             /* packets sent (forwarded, ARP, echo replies) */
	uint64_t dropped;        /* received here and not forwarded or answered, or refused by TX */
	uint64_t arp;            /* ARP packets received */
	uint64_t arp_sent;       /* ARP requests and replies sent */
};

struct vfw_port {
	uint16_t id;
	char dev_name[64];       /* the ethdev's name: a PCI address, or a vdev name */
	const char *network;     /* --wan/--lan NET resolved (NULL in --wan-port mode) */
	const char *interface;
	struct rte_ether_addr mac;
	struct vfw_cidr subnet;  /* the vFW's own address on this side and its prefix */
	int link_up;
	struct vfw_port_counters c;
	struct vfw_neigh neigh[VFW_NEIGH_SLOTS];
	struct vfw_pending pending[VFW_PENDING_MAX];
	int n_pending;
	struct rte_mbuf *tx[VFW_BURST];
	int n_tx;
};

struct vfw_drops {
	uint64_t ttl;            /* TTL <= 1 */
	uint64_t no_route;       /* destination in neither subnet */
	uint64_t no_neighbour;   /* next hop did not answer ARP (or too many held packets) */
	uint64_t not_ipv4;       /* neither IPv4 nor ARP (IPv6, LLDP, VLAN-tagged ...) */
	uint64_t bad_header;     /* truncated packet, bad IPv4 header or checksum */
	uint64_t not_for_us;     /* IPv4 frame not sent to the port's MAC */
	uint64_t local;          /* addressed to the vFW itself, not an echo request */
	uint64_t tx_full;        /* the TX queue refused it */
};

struct vfw_timeline {       /* CLOCK_REALTIME ns; 0 = not yet */
	uint64_t start, eal_init_done, ports_started, links_up, first_forwarded;
};

struct vfw_app {
	const struct vfw_config *cfg;
	struct vfw_resolved resolved;
	struct vfw_port port[VFW_NUM_PORTS];
	struct vfw_acl acl;
	struct rte_mempool *pool;
	uint64_t forwarded, denied;
	struct vfw_drops drops;
	struct vfw_timeline timeline;
	uint64_t tsc_hz;
};

#endif
