/* The ordered rule file: first match wins; counters per rule and for the default action.
 *   default deny|allow
 *   allow|deny icmp|tcp|udp|any from CIDR|any to CIDR|any [port N|N-M]   (port: tcp/udp only) */
#ifndef VFW_ACL_H
#define VFW_ACL_H

#include "vfw.h"

#define VFW_RULE_TEXT 256
#define VFW_PROTO_ANY 0

struct vfw_rule {
	int line;
	char text[VFW_RULE_TEXT];   /* the rule as written, comment and extra blanks removed */
	int allow;
	uint8_t proto;              /* IPPROTO_ICMP/TCP/UDP, or VFW_PROTO_ANY */
	struct vfw_cidr src, dst;   /* len 0 = any */
	int has_port;
	uint16_t port_lo, port_hi;  /* destination port range */
	uint64_t packets, bytes;
};

struct vfw_acl {
	struct vfw_rule *rules;
	int n_rules;
	int default_allow;
	int default_in_file;        /* -1: no `default` line */
	uint64_t default_packets, default_bytes;
};

/* 0, or -1 with "FILE:LINE: what is wrong" in err */
int vfw_acl_load(const char *path, struct vfw_acl *acl, char *err, size_t errlen);
void vfw_acl_free(struct vfw_acl *acl);

/* the verdict for one routed packet (1 allow, 0 deny); counts it on the matching rule.
 * has_port: the packet is TCP/UDP with its destination port readable (not a later fragment). */
static inline int vfw_acl_check(struct vfw_acl *acl, uint8_t proto, uint32_t src, uint32_t dst,
				int has_port, uint16_t dport, uint32_t bytes)
{
	for (int i = 0; i < acl->n_rules; i++) {
		struct vfw_rule *r = &acl->rules[i];

		if (r->proto != VFW_PROTO_ANY && r->proto != proto)
			continue;
		if (!vfw_cidr_contains(&r->src, src) || !vfw_cidr_contains(&r->dst, dst))
			continue;
		if (r->has_port && (!has_port || dport < r->port_lo || dport > r->port_hi))
			continue;
		r->packets++;
		r->bytes += bytes;
		return r->allow;
	}
	acl->default_packets++;
	acl->default_bytes += bytes;
	return acl->default_allow;
}

#endif
