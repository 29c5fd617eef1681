/* multus-dp-vfw: shared types. One file per concern:
 *   config.c  command line            resolve.c  ports from multus-dp-eal (device-info)
 *   acl.c     ordered rule file       ports.c    EAL ethdev setup, links
 *   fwd.c     routing, ARP, TTL       stats.c    counters as JSON
 *   main.c    startup, signals, poll loop
 * Single lcore: the main lcore polls both ports; no locks anywhere. */
#ifndef VFW_H
#define VFW_H

#include <stdint.h>
#include <stddef.h>

#define VFW_NUM_PORTS 2
enum vfw_side { VFW_WAN = 0, VFW_LAN = 1 };

#define VFW_EXIT_OK 0
#define VFW_EXIT_RUNTIME 1
#define VFW_EXIT_USAGE 2

#define VFW_MAX_DEVICE_INFO 16
#define VFW_MAX_HELPER_EAL_ARGS 16

extern const char *const vfw_side_names[VFW_NUM_PORTS]; /* "wan", "lan" */

/* an IPv4 prefix, host byte order */
struct vfw_cidr {
	uint32_t addr;
	uint32_t mask;
	uint8_t len;
};

static inline int vfw_cidr_contains(const struct vfw_cidr *c, uint32_t ip)
{
	return (ip & c->mask) == (c->addr & c->mask);
}

static inline uint32_t vfw_mask_of(unsigned len)
{
	return len == 0 ? 0 : 0xffffffffu << (32 - len);
}

/* "a.b.c.d" or "a.b.c.d/len" (bare address = /32); 0 on success */
int vfw_parse_cidr(const char *text, struct vfw_cidr *out, int require_len);
void vfw_format_ip(uint32_t ip, char *buf, size_t len);

/* the clock every timeline value uses: CLOCK_REALTIME in nanoseconds */
uint64_t vfw_now_ns(void);

#endif
