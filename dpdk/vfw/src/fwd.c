/* Router mode. Per packet: ARP -> answer/learn; IPv4 for the vFW -> echo reply; IPv4 to the
 * other side -> TTL, rules, TTL-1 + checksum, next hop by ARP, MACs rewritten, out. */
#include <netinet/in.h>
#include <string.h>

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_icmp.h>
#include <rte_ip.h>

#include "fwd.h"
#include "config.h"

static void tx_flush(struct vfw_app *app, struct vfw_port *out)
{
	uint16_t sent;

	if (!out->n_tx)
		return;
	sent = rte_eth_tx_burst(out->id, 0, out->tx, (uint16_t)out->n_tx);
	out->c.tx += sent;
	for (int i = sent; i < out->n_tx; i++) {
		rte_pktmbuf_free(out->tx[i]);
		app->drops.tx_full++;
		out->c.dropped++;
	}
	out->n_tx = 0;
}

static void tx_enqueue(struct vfw_app *app, struct vfw_port *out, struct rte_mbuf *m)
{
	if (out->n_tx == VFW_BURST)
		tx_flush(app, out);
	out->tx[out->n_tx++] = m;
}

static void drop(struct vfw_port *in, struct rte_mbuf *m, uint64_t *reason)
{
	(*reason)++;
	in->c.dropped++;
	rte_pktmbuf_free(m);
}

static uint16_t cksum_of(const void *data, size_t len)
{
	uint16_t sum = rte_raw_cksum(data, len);

	return sum == 0xffff ? sum : (uint16_t)~sum;
}

static void ipv4_fix_cksum(struct rte_ipv4_hdr *ip, unsigned ihl)
{
	ip->hdr_checksum = 0;
	ip->hdr_checksum = cksum_of(ip, ihl);
}

/* ---- neighbours ------------------------------------------------------------------------ */
static struct vfw_neigh *neigh_find(struct vfw_port *port, uint32_t ip, int create)
{
	uint32_t h = (ip * 2654435761u) & (VFW_NEIGH_SLOTS - 1);

	for (uint32_t i = 0; i < VFW_NEIGH_SLOTS; i++) {
		struct vfw_neigh *n = &port->neigh[(h + i) & (VFW_NEIGH_SLOTS - 1)];

		if (n->state == VFW_NEIGH_FREE) {
			if (!create)
				return NULL;
			n->ip = ip;
			n->state = VFW_NEIGH_INCOMPLETE;
			n->requested_tsc = 0;
			return n;
		}
		if (n->ip == ip)
			return n;
	}
	return NULL; /* full */
}

static void send_routed(struct vfw_app *app, struct vfw_port *out, struct rte_mbuf *m,
			const struct rte_ether_addr *next_hop)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

	rte_ether_addr_copy(next_hop, &eth->dst_addr);
	rte_ether_addr_copy(&out->mac, &eth->src_addr);
	tx_enqueue(app, out, m);
	app->forwarded++;
	if (!app->timeline.first_forwarded)
		app->timeline.first_forwarded = vfw_now_ns();
}

static void learn(struct vfw_app *app, struct vfw_port *port, uint32_t ip, const struct rte_ether_addr *mac)
{
	struct vfw_neigh *n = neigh_find(port, ip, 1);
	int kept = 0;

	if (!n)
		return;
	rte_ether_addr_copy(mac, &n->mac);
	n->state = VFW_NEIGH_REACHABLE;
	/* what waited for this next hop goes now, in arrival order */
	for (int i = 0; i < port->n_pending; i++) {
		if (port->pending[i].ip == ip)
			send_routed(app, port, port->pending[i].m, mac);
		else
			port->pending[kept++] = port->pending[i];
	}
	port->n_pending = kept;
}

static void arp_request(struct vfw_app *app, struct vfw_port *port, struct vfw_neigh *n)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(app->pool);
	struct rte_ether_hdr *eth;
	struct rte_arp_hdr *arp;
	const size_t len = RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN; /* padded: some VFs do not pad */

	n->requested_tsc = rte_get_tsc_cycles();
	if (!m)
		return;
	eth = (struct rte_ether_hdr *)rte_pktmbuf_append(m, (uint16_t)len);
	if (!eth) {
		rte_pktmbuf_free(m);
		return;
	}
	memset(eth, 0, len);
	memset(&eth->dst_addr, 0xff, sizeof(eth->dst_addr));
	rte_ether_addr_copy(&port->mac, &eth->src_addr);
	eth->ether_type = rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP);
	arp = (struct rte_arp_hdr *)(eth + 1);
	arp->arp_hardware = rte_cpu_to_be_16(RTE_ARP_HRD_ETHER);
	arp->arp_protocol = rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4);
	arp->arp_hlen = RTE_ETHER_ADDR_LEN;
	arp->arp_plen = 4;
	arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REQUEST);
	rte_ether_addr_copy(&port->mac, &arp->arp_data.arp_sha);
	arp->arp_data.arp_sip = rte_cpu_to_be_32(port->subnet.addr);
	arp->arp_data.arp_tip = rte_cpu_to_be_32(n->ip);
	tx_enqueue(app, port, m);
	port->c.arp_sent++;
}

/* ---- per packet ------------------------------------------------------------------------ */
static void handle_arp(struct vfw_app *app, struct vfw_port *in, struct rte_mbuf *m)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_arp_hdr *arp = (struct rte_arp_hdr *)(eth + 1);
	uint32_t sip, tip;

	in->c.arp++;
	if (m->data_len < sizeof(*eth) + sizeof(*arp) ||
	    arp->arp_hardware != rte_cpu_to_be_16(RTE_ARP_HRD_ETHER) ||
	    arp->arp_protocol != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4) ||
	    arp->arp_hlen != RTE_ETHER_ADDR_LEN || arp->arp_plen != 4) {
		drop(in, m, &app->drops.bad_header);
		return;
	}
	sip = rte_be_to_cpu_32(arp->arp_data.arp_sip);
	tip = rte_be_to_cpu_32(arp->arp_data.arp_tip);
	/* learn a neighbour that talks to us (request or reply), or refresh one we know */
	if (sip && sip != in->subnet.addr && vfw_cidr_contains(&in->subnet, sip) &&
	    (tip == in->subnet.addr || neigh_find(in, sip, 0)))
		learn(app, in, sip, &arp->arp_data.arp_sha);
	if (arp->arp_opcode == rte_cpu_to_be_16(RTE_ARP_OP_REQUEST) && tip == in->subnet.addr) {
		arp->arp_opcode = rte_cpu_to_be_16(RTE_ARP_OP_REPLY);
		rte_ether_addr_copy(&arp->arp_data.arp_sha, &arp->arp_data.arp_tha);
		arp->arp_data.arp_tip = arp->arp_data.arp_sip;
		rte_ether_addr_copy(&in->mac, &arp->arp_data.arp_sha);
		arp->arp_data.arp_sip = rte_cpu_to_be_32(in->subnet.addr);
		rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
		rte_ether_addr_copy(&in->mac, &eth->src_addr);
		tx_enqueue(app, in, m);
		in->c.arp_sent++;
		return;
	}
	rte_pktmbuf_free(m); /* seen, learnt from: not a drop */
}

/* addressed to one of the vFW's own addresses: echo requests are answered, the rest dropped */
static void handle_local(struct vfw_app *app, struct vfw_port *in, struct rte_mbuf *m,
			 struct rte_ipv4_hdr *ip, unsigned ihl, unsigned total)
{
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_icmp_hdr *icmp = (struct rte_icmp_hdr *)((char *)ip + ihl);
	rte_be32_t me = ip->dst_addr;

	if (ip->next_proto_id != IPPROTO_ICMP || total < ihl + sizeof(*icmp) ||
	    !rte_pktmbuf_is_contiguous(m) || m->data_len < sizeof(*eth) + total ||
	    (rte_be_to_cpu_16(ip->fragment_offset) & (RTE_IPV4_HDR_OFFSET_MASK | RTE_IPV4_HDR_MF_FLAG)) ||
	    icmp->icmp_type != RTE_IP_ICMP_ECHO_REQUEST) {
		drop(in, m, &app->drops.local);
		return;
	}
	icmp->icmp_type = RTE_IP_ICMP_ECHO_REPLY;
	icmp->icmp_cksum = 0;
	icmp->icmp_cksum = cksum_of(icmp, total - ihl);
	ip->dst_addr = ip->src_addr;
	ip->src_addr = me;
	ip->time_to_live = 64;
	ipv4_fix_cksum(ip, ihl);
	rte_ether_addr_copy(&eth->src_addr, &eth->dst_addr);
	rte_ether_addr_copy(&in->mac, &eth->src_addr);
	tx_enqueue(app, in, m);
}

static void handle_ipv4(struct vfw_app *app, int in_side, struct rte_mbuf *m)
{
	struct vfw_port *in = &app->port[in_side], *out = NULL;
	struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);
	struct rte_ipv4_hdr *ip = (struct rte_ipv4_hdr *)(eth + 1);
	unsigned ihl, total;
	uint32_t src, dst;
	uint16_t dport = 0;
	int has_port = 0;
	struct vfw_neigh *n;

	if (!rte_is_same_ether_addr(&eth->dst_addr, &in->mac)) {
		drop(in, m, &app->drops.not_for_us);
		return;
	}
	if (m->data_len < sizeof(*eth) + sizeof(*ip)) {
		drop(in, m, &app->drops.bad_header);
		return;
	}
	ihl = (ip->version_ihl & 0x0f) * 4u;
	total = rte_be_to_cpu_16(ip->total_length);
	if ((ip->version_ihl >> 4) != 4 || ihl < sizeof(*ip) || m->data_len < sizeof(*eth) + ihl ||
	    total < ihl || total > m->pkt_len - sizeof(*eth) || rte_raw_cksum(ip, ihl) != 0xffff) {
		drop(in, m, &app->drops.bad_header);
		return;
	}
	src = rte_be_to_cpu_32(ip->src_addr);
	dst = rte_be_to_cpu_32(ip->dst_addr);
	for (int s = 0; s < VFW_NUM_PORTS; s++) {
		if (dst == app->port[s].subnet.addr) {
			handle_local(app, in, m, ip, ihl, total);
			return;
		}
		if (!out && vfw_cidr_contains(&app->port[s].subnet, dst))
			out = &app->port[s];
	}
	/* not to a host: the subnet's network or broadcast address */
	if (!out || (dst & ~out->subnet.mask) == 0 || (dst | out->subnet.mask) == 0xffffffffu) {
		drop(in, m, &app->drops.no_route);
		return;
	}
	if (ip->time_to_live <= 1) {
		drop(in, m, &app->drops.ttl);
		return;
	}
	if ((ip->next_proto_id == IPPROTO_TCP || ip->next_proto_id == IPPROTO_UDP) &&
	    !(rte_be_to_cpu_16(ip->fragment_offset) & RTE_IPV4_HDR_OFFSET_MASK) &&
	    total >= ihl + 4 && m->data_len >= sizeof(*eth) + ihl + 4) {
		dport = rte_be_to_cpu_16(*(const rte_be16_t *)((const char *)ip + ihl + 2));
		has_port = 1;
	}
	if (!vfw_acl_check(&app->acl, ip->next_proto_id, src, dst, has_port, dport, total)) {
		app->denied++;
		in->c.dropped++;
		rte_pktmbuf_free(m);
		return;
	}
	ip->time_to_live--;
	ipv4_fix_cksum(ip, ihl);

	n = neigh_find(out, dst, 1);
	if (n && n->state == VFW_NEIGH_REACHABLE) {
		send_routed(app, out, m, &n->mac);
		return;
	}
	if (!n || out->n_pending == VFW_PENDING_MAX) {
		drop(in, m, &app->drops.no_neighbour);
		return;
	}
	out->pending[out->n_pending++] = (struct vfw_pending){
		.ip = dst, .in_side = (uint8_t)in_side, .m = m, .since_tsc = rte_get_tsc_cycles() };
	if (!n->requested_tsc || rte_get_tsc_cycles() - n->requested_tsc > app->tsc_hz * VFW_ARP_RETRY_MS / 1000)
		arp_request(app, out, n);
}

unsigned vfw_fwd_poll(struct vfw_app *app)
{
	struct rte_mbuf *pkts[VFW_BURST];
	unsigned total = 0;

	for (int s = 0; s < VFW_NUM_PORTS; s++) {
		struct vfw_port *in = &app->port[s];
		uint16_t n = rte_eth_rx_burst(in->id, 0, pkts, VFW_BURST);

		in->c.rx += n;
		total += n;
		for (uint16_t i = 0; i < n; i++) {
			struct rte_mbuf *m = pkts[i];
			struct rte_ether_hdr *eth = rte_pktmbuf_mtod(m, struct rte_ether_hdr *);

			if (m->data_len < sizeof(*eth))
				drop(in, m, &app->drops.bad_header);
			else if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_ARP))
				handle_arp(app, in, m);
			else if (eth->ether_type == rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV4))
				handle_ipv4(app, s, m);
			else
				drop(in, m, &app->drops.not_ipv4);
		}
	}
	for (int s = 0; s < VFW_NUM_PORTS; s++)
		tx_flush(app, &app->port[s]);
	return total;
}

void vfw_fwd_timer(struct vfw_app *app)
{
	uint64_t now = rte_get_tsc_cycles();
	uint64_t hold = app->tsc_hz * VFW_PENDING_HOLD_MS / 1000;
	uint64_t retry = app->tsc_hz * VFW_ARP_RETRY_MS / 1000;

	for (int s = 0; s < VFW_NUM_PORTS; s++) {
		struct vfw_port *port = &app->port[s];
		int kept = 0;

		for (int i = 0; i < port->n_pending; i++) {
			struct vfw_pending *p = &port->pending[i];
			struct vfw_neigh *n = neigh_find(port, p->ip, 0);

			if (now - p->since_tsc > hold) {
				drop(&app->port[p->in_side], p->m, &app->drops.no_neighbour);
				continue;
			}
			if (n && n->state == VFW_NEIGH_INCOMPLETE && now - n->requested_tsc > retry)
				arp_request(app, port, n);
			port->pending[kept++] = *p;
		}
		port->n_pending = kept;
		tx_flush(app, port);
	}
}

void vfw_fwd_release(struct vfw_app *app)
{
	for (int s = 0; s < VFW_NUM_PORTS; s++) {
		struct vfw_port *port = &app->port[s];

		for (int i = 0; i < port->n_pending; i++)
			rte_pktmbuf_free(port->pending[i].m);
		port->n_pending = 0;
		for (int i = 0; i < port->n_tx; i++)
			rte_pktmbuf_free(port->tx[i]);
		port->n_tx = 0;
	}
}
