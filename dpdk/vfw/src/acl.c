/* Rule file parsing. Every error names FILE:LINE and what is wrong; nothing is guessed
 * (a CIDR with host bits set is refused rather than silently widened). */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acl.h"

#define MAX_TOKENS 12

static int fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));

static int fail(char *err, size_t errlen, const char *path, int line, const char *fmt, ...)
{
	int n = snprintf(err, errlen, "%s:%d: ", path, line);
	va_list ap;

	va_start(ap, fmt);
	if (n > 0 && (size_t)n < errlen)
		vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

static int parse_endpoint(const char *tok, struct vfw_cidr *out, char *why, size_t whylen)
{
	if (strcmp(tok, "any") == 0) {
		memset(out, 0, sizeof(*out));
		return 0;
	}
	if (vfw_parse_cidr(tok, out, 0) != 0) {
		snprintf(why, whylen, "%s is not an address, a CIDR like 10.0.0.0/24, or any", tok);
		return -1;
	}
	if (out->addr & ~out->mask) {
		char net[32];

		vfw_format_ip(out->addr & out->mask, net, sizeof(net));
		snprintf(why, whylen, "%s has host bits set (the network is %s/%u; a single host is /32)",
			 tok, net, out->len);
		return -1;
	}
	return 0;
}

static int parse_port(const char *tok, uint16_t *lo, uint16_t *hi)
{
	char *end;
	unsigned long a, b;

	if (*tok < '0' || *tok > '9')
		return -1;
	errno = 0;
	a = strtoul(tok, &end, 10);
	b = a;
	if (*end == '-') {
		const char *second = end + 1;

		if (*second < '0' || *second > '9')
			return -1;
		b = strtoul(second, &end, 10);
	}
	if (errno || *end || a == 0 || a > 65535 || b > 65535 || b < a)
		return -1;
	*lo = (uint16_t)a;
	*hi = (uint16_t)b;
	return 0;
}

/* one non-blank, non-comment line split into tokens */
static int parse_rule(char **tok, int n, struct vfw_rule *r, char *why, size_t whylen)
{
	int i = 0;

	if (strcmp(tok[0], "allow") == 0)
		r->allow = 1;
	else if (strcmp(tok[0], "deny") == 0)
		r->allow = 0;
	else {
		snprintf(why, whylen, "unknown action %s (expected allow, deny or default)", tok[0]);
		return -1;
	}
	if (n < 6) {
		snprintf(why, whylen, "incomplete rule (expected: %s PROTO from SRC to DST [port N|N-M])", tok[0]);
		return -1;
	}
	i = 1;
	if (strcmp(tok[i], "icmp") == 0) r->proto = IPPROTO_ICMP;
	else if (strcmp(tok[i], "tcp") == 0) r->proto = IPPROTO_TCP;
	else if (strcmp(tok[i], "udp") == 0) r->proto = IPPROTO_UDP;
	else if (strcmp(tok[i], "any") == 0) r->proto = VFW_PROTO_ANY;
	else {
		snprintf(why, whylen, "unknown protocol %s (expected icmp, tcp, udp or any)", tok[i]);
		return -1;
	}
	if (strcmp(tok[2], "from") != 0) {
		snprintf(why, whylen, "expected from after the protocol, got %s", tok[2]);
		return -1;
	}
	if (parse_endpoint(tok[3], &r->src, why, whylen))
		return -1;
	if (strcmp(tok[4], "to") != 0) {
		snprintf(why, whylen, "expected to after the source, got %s", tok[4]);
		return -1;
	}
	if (parse_endpoint(tok[5], &r->dst, why, whylen))
		return -1;
	if (n == 6)
		return 0;
	if (strcmp(tok[6], "port") != 0) {
		snprintf(why, whylen, "unexpected %s after the destination (only port N or port N-M may follow)", tok[6]);
		return -1;
	}
	if (r->proto != IPPROTO_TCP && r->proto != IPPROTO_UDP) {
		snprintf(why, whylen, "port needs tcp or udp, not %s", tok[1]);
		return -1;
	}
	if (n < 8) {
		snprintf(why, whylen, "port needs a value (N or N-M)%s", "");
		return -1;
	}
	if (parse_port(tok[7], &r->port_lo, &r->port_hi)) {
		snprintf(why, whylen, "bad port %s (expected 1-65535, or a range N-M with N <= M)", tok[7]);
		return -1;
	}
	if (n > 8) {
		snprintf(why, whylen, "unexpected %s at the end of the rule", tok[8]);
		return -1;
	}
	r->has_port = 1;
	return 0;
}

int vfw_acl_load(const char *path, struct vfw_acl *acl, char *err, size_t errlen)
{
	FILE *fp = fopen(path, "r");
	char *line = NULL;
	size_t cap = 0;
	ssize_t got;
	int lineno = 0, allocated = 0;

	acl->default_in_file = -1;
	if (!fp) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while ((got = getline(&line, &cap, fp)) >= 0) {
		char *tok[MAX_TOKENS + 1], *save = NULL, *t, why[256];
		int n = 0;
		char *hash = strchr(line, '#');

		lineno++;
		if (hash)
			*hash = '\0';
		for (t = strtok_r(line, " \t\r\n", &save); t && n <= MAX_TOKENS; t = strtok_r(NULL, " \t\r\n", &save))
			tok[n++] = t;
		if (n == 0)
			continue;
		if (n > MAX_TOKENS) {
			fail(err, errlen, path, lineno, "too many words in one rule");
			goto error;
		}
		if (strcmp(tok[0], "default") == 0) {
			if (n != 2 || (strcmp(tok[1], "allow") != 0 && strcmp(tok[1], "deny") != 0)) {
				fail(err, errlen, path, lineno, "expected default allow or default deny");
				goto error;
			}
			if (acl->default_in_file >= 0) {
				fail(err, errlen, path, lineno, "a second default line");
				goto error;
			}
			acl->default_in_file = strcmp(tok[1], "allow") == 0;
			continue;
		}
		if (acl->n_rules == allocated) {
			allocated = allocated ? allocated * 2 : 16;
			acl->rules = realloc(acl->rules, (size_t)allocated * sizeof(*acl->rules));
		}
		struct vfw_rule *r = &acl->rules[acl->n_rules];

		memset(r, 0, sizeof(*r));
		if (parse_rule(tok, n, r, why, sizeof(why))) {
			fail(err, errlen, path, lineno, "%s", why);
			goto error;
		}
		r->line = lineno;
		for (int i = 0; i < n; i++) {
			size_t used = strlen(r->text);
			snprintf(r->text + used, sizeof(r->text) - used, "%s%s", i ? " " : "", tok[i]);
		}
		acl->n_rules++;
	}
	if (ferror(fp)) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto error;
	}
	free(line);
	fclose(fp);
	return 0;
error:
	free(line);
	fclose(fp);
	return -1;
}

void vfw_acl_free(struct vfw_acl *acl)
{
	free(acl->rules);
	acl->rules = NULL;
	acl->n_rules = 0;
}
