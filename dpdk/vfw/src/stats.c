/* JSON counters. Written by the main lcore between poll rounds (SIGUSR1 only raises a flag),
 * so the numbers are consistent with each other. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "stats.h"

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s && *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void json_ns(FILE *f, const char *key, uint64_t ns, int last)
{
	fprintf(f, "\"%s\": ", key);
	if (ns)
		fprintf(f, "%llu", (unsigned long long)ns);
	else
		fputs("null", f);
	fputs(last ? "" : ", ", f);
}

static void port_json(FILE *f, const struct vfw_port *p)
{
	char mac[RTE_ETHER_ADDR_FMT_SIZE], ip[32];
	int first = 1;

	rte_ether_format_addr(mac, sizeof(mac), &p->mac);
	vfw_format_ip(p->subnet.addr, ip, sizeof(ip));
	fprintf(f, "{\"rx\": %llu, \"tx\": %llu, \"dropped\": %llu, \"arp\": %llu, \"arpSent\": %llu, ",
		(unsigned long long)p->c.rx, (unsigned long long)p->c.tx, (unsigned long long)p->c.dropped,
		(unsigned long long)p->c.arp, (unsigned long long)p->c.arp_sent);
	fputs("\"pci\": ", f);
	json_str(f, p->dev_name);
	fprintf(f, ", \"portId\": %u, \"network\": ", p->id);
	if (p->network) json_str(f, p->network); else fputs("null", f);
	fputs(", \"interface\": ", f);
	if (p->interface && *p->interface) json_str(f, p->interface); else fputs("null", f);
	fprintf(f, ", \"mac\": \"%s\", \"address\": \"%s/%u\", \"linkUp\": %s, \"neighbours\": [",
		mac, ip, p->subnet.len, p->link_up ? "true" : "false");
	for (int i = 0; i < VFW_NEIGH_SLOTS; i++) {
		const struct vfw_neigh *n = &p->neigh[i];

		if (n->state != VFW_NEIGH_REACHABLE)
			continue;
		rte_ether_format_addr(mac, sizeof(mac), &n->mac);
		vfw_format_ip(n->ip, ip, sizeof(ip));
		fprintf(f, "%s{\"ip\": \"%s\", \"mac\": \"%s\"}", first ? "" : ", ", ip, mac);
		first = 0;
	}
	fputs("]}", f);
}

static char *render(const struct vfw_app *app, size_t *len)
{
	char *buf = NULL;
	FILE *f = open_memstream(&buf, len);
	const struct vfw_drops *d = &app->drops;
	const struct vfw_timeline *t = &app->timeline;

	if (!f)
		return NULL;
	fputs("{\"ports\": {", f);
	for (int s = 0; s < VFW_NUM_PORTS; s++) {
		fprintf(f, "%s\"%s\": ", s ? ", " : "", vfw_side_names[s]);
		port_json(f, &app->port[s]);
	}
	fputs("}, \"rules\": [", f);
	for (int i = 0; i < app->acl.n_rules; i++) {
		const struct vfw_rule *r = &app->acl.rules[i];

		fprintf(f, "%s{\"line\": %d, \"rule\": ", i ? ", " : "", r->line);
		json_str(f, r->text);
		fprintf(f, ", \"action\": \"%s\", \"packets\": %llu, \"bytes\": %llu}", r->allow ? "allow" : "deny",
			(unsigned long long)r->packets, (unsigned long long)r->bytes);
	}
	fprintf(f, "], \"default\": {\"action\": \"%s\", \"packets\": %llu, \"bytes\": %llu}, ",
		app->acl.default_allow ? "allow" : "deny", (unsigned long long)app->acl.default_packets,
		(unsigned long long)app->acl.default_bytes);
	fprintf(f, "\"forwarded\": %llu, \"denied\": %llu, ", (unsigned long long)app->forwarded,
		(unsigned long long)app->denied);
	fprintf(f, "\"drops\": {\"ttl\": %llu, \"noRoute\": %llu, \"noNeighbour\": %llu, \"notIpv4\": %llu, "
		"\"badHeader\": %llu, \"notForUs\": %llu, \"local\": %llu, \"txFull\": %llu}, ",
		(unsigned long long)d->ttl, (unsigned long long)d->no_route, (unsigned long long)d->no_neighbour,
		(unsigned long long)d->not_ipv4, (unsigned long long)d->bad_header,
		(unsigned long long)d->not_for_us, (unsigned long long)d->local, (unsigned long long)d->tx_full);
	fputs("\"timeline\": {", f);
	json_ns(f, "start", t->start, 0);
	json_ns(f, "ealInitDone", t->eal_init_done, 0);
	json_ns(f, "portsStarted", t->ports_started, 0);
	json_ns(f, "linksUp", t->links_up, 0);
	json_ns(f, "firstForwarded", t->first_forwarded, 1);
	fputs("}}\n", f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

int vfw_write_file_atomic(const char *path, const char *text, size_t len)
{
	char tmp[4096];
	int fd;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp))
		return -1;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		goto fail;
	for (size_t done = 0; done < len;) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			close(fd);
			unlink(tmp);
			goto fail;
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		goto fail;
	}
	return 0;
fail:
	fprintf(stderr, "multus-dp-vfw: cannot write %s: %s\n", path, strerror(errno));
	return -1;
}

int vfw_stats_write(const struct vfw_app *app)
{
	size_t len = 0;
	char *text = render(app, &len);
	int rc = 0;

	if (!text) {
		fprintf(stderr, "multus-dp-vfw: out of memory rendering the stats\n");
		return -1;
	}
	if (app->cfg->stats_file) {
		rc = vfw_write_file_atomic(app->cfg->stats_file, text, len);
	} else {
		fwrite(text, 1, len, stdout);
		fflush(stdout);
	}
	free(text);
	return rc;
}
