/* Ports from device-info through the multus-dp-eal helper (dpdk/multus_dp_eal.py): the helper
 * owns the reading of network-status / device-info; the vFW only runs it and reads its JSON:
 *   {"eal": ["-a", "0000:3b:02.4", ...],
 *    "ports": [{"network": "ns/wan", "interface": "net1", "pci": "0000:3b:02.4", "port_id": 0}, ...]}
 * The JSON reader below is just enough for that document (objects, arrays, strings, numbers,
 * literals), with no dependency beyond libc. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "resolve.h"

#define DEFAULT_HELPER "multus-dp-eal"
#define DEFAULT_ANNOTATIONS "/etc/podinfo/annotations"
#define MAX_HELPER_OUTPUT (1 << 20)

/* ---- a minimal JSON reader ------------------------------------------------------------- */
struct json {
	const char *p, *end;
	const char *err;
};

static void ws(struct json *j)
{
	while (j->p < j->end && (*j->p == ' ' || *j->p == '\n' || *j->p == '\r' || *j->p == '\t'))
		j->p++;
}

static int expect(struct json *j, char c)
{
	ws(j);
	if (j->p >= j->end || *j->p != c) {
		j->err = "unexpected character";
		return -1;
	}
	j->p++;
	return 0;
}

static int peek(struct json *j, char c)
{
	ws(j);
	return j->p < j->end && *j->p == c;
}

static size_t put_utf8(char *buf, unsigned cp)
{
	if (cp < 0x80) { buf[0] = (char)cp; return 1; }
	if (cp < 0x800) { buf[0] = (char)(0xc0 | cp >> 6); buf[1] = (char)(0x80 | (cp & 0x3f)); return 2; }
	buf[0] = (char)(0xe0 | cp >> 12);
	buf[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
	buf[2] = (char)(0x80 | (cp & 0x3f));
	return 3;
}

/* a string into buf (truncated to cap - 1; NULL buf: skipped) */
static int string(struct json *j, char *buf, size_t cap)
{
	size_t n = 0;

	if (expect(j, '"'))
		return -1;
	while (j->p < j->end && *j->p != '"') {
		char tmp[4];
		size_t len = 1;

		tmp[0] = *j->p++;
		if (tmp[0] == '\\') {
			if (j->p >= j->end)
				break;
			char e = *j->p++;
			switch (e) {
			case 'n': tmp[0] = '\n'; break;
			case 't': tmp[0] = '\t'; break;
			case 'r': tmp[0] = '\r'; break;
			case 'b': tmp[0] = '\b'; break;
			case 'f': tmp[0] = '\f'; break;
			case 'u': {
				char hex[5] = { 0 };

				if (j->end - j->p < 4) { j->err = "bad \\u escape"; return -1; }
				memcpy(hex, j->p, 4);
				j->p += 4;
				len = put_utf8(tmp, (unsigned)strtoul(hex, NULL, 16));
				break;
			}
			default: tmp[0] = e; break; /* \" \\ \/ */
			}
		}
		if (buf && n + len < cap) {
			memcpy(buf + n, tmp, len);
			n += len;
		}
	}
	if (j->p >= j->end) {
		j->err = "unterminated string";
		return -1;
	}
	j->p++;
	if (buf && cap)
		buf[n] = '\0';
	return 0;
}

static int number(struct json *j, double *out)
{
	char *end;

	ws(j);
	*out = strtod(j->p, &end);
	if (end == j->p || end > j->end) {
		j->err = "expected a number";
		return -1;
	}
	j->p = end;
	return 0;
}

static int skip_value(struct json *j, int depth)
{
	ws(j);
	if (depth > 32 || j->p >= j->end) {
		j->err = depth > 32 ? "nested too deep" : "unexpected end";
		return -1;
	}
	if (*j->p == '"')
		return string(j, NULL, 0);
	if (*j->p == '{' || *j->p == '[') {
		char close = *j->p == '{' ? '}' : ']';

		j->p++;
		if (peek(j, close)) { j->p++; return 0; }
		do {
			if (close == '}' && (string(j, NULL, 0) || expect(j, ':')))
				return -1;
			if (skip_value(j, depth + 1))
				return -1;
		} while (peek(j, ',') && j->p++);
		return expect(j, close);
	}
	if (*j->p == '-' || (*j->p >= '0' && *j->p <= '9')) {
		double ignored;
		return number(j, &ignored);
	}
	for (const char *lit = "true\0false\0null\0"; *lit; lit += strlen(lit) + 1) {
		size_t len = strlen(lit);
		if ((size_t)(j->end - j->p) >= len && strncmp(j->p, lit, len) == 0) {
			j->p += len;
			return 0;
		}
	}
	j->err = "unexpected value";
	return -1;
}

static int port_object(struct json *j, struct vfw_port_ref *ref)
{
	char key[64];
	double id;

	ref->helper_port_id = -1;
	if (expect(j, '{'))
		return -1;
	if (peek(j, '}')) { j->p++; return 0; }
	do {
		if (string(j, key, sizeof(key)) || expect(j, ':'))
			return -1;
		if (!ref) {
			if (skip_value(j, 1)) return -1;
		} else if (strcmp(key, "network") == 0) {
			if (string(j, ref->network, sizeof(ref->network))) return -1;
		} else if (strcmp(key, "interface") == 0) {
			if (string(j, ref->interface, sizeof(ref->interface))) return -1;
		} else if (strcmp(key, "pci") == 0) {
			if (string(j, ref->pci, sizeof(ref->pci))) return -1;
		} else if (strcmp(key, "port_id") == 0) {
			if (number(j, &id)) return -1;
			ref->helper_port_id = (int)id;
		} else if (skip_value(j, 1)) {
			return -1;
		}
	} while (peek(j, ',') && j->p++);
	return expect(j, '}');
}

static int helper_document(struct json *j, struct vfw_resolved *out, int *n_ports)
{
	char key[64];

	if (expect(j, '{'))
		return -1;
	do {
		if (string(j, key, sizeof(key)) || expect(j, ':'))
			return -1;
		if (strcmp(key, "eal") == 0) {
			if (expect(j, '['))
				return -1;
			if (peek(j, ']')) { j->p++; continue; }
			do {
				char arg[256];

				if (string(j, arg, sizeof(arg)))
					return -1;
				if (out->n_eal_args == VFW_MAX_HELPER_EAL_ARGS) {
					j->err = "too many EAL arguments";
					return -1;
				}
				out->eal_args[out->n_eal_args++] = strdup(arg);
			} while (peek(j, ',') && j->p++);
			if (expect(j, ']'))
				return -1;
		} else if (strcmp(key, "ports") == 0) {
			if (expect(j, '['))
				return -1;
			if (peek(j, ']')) { j->p++; continue; }
			do {
				struct vfw_port_ref *ref = *n_ports < VFW_NUM_PORTS ? &out->side[*n_ports] : NULL;

				if (port_object(j, ref))
					return -1;
				(*n_ports)++;
			} while (peek(j, ',') && j->p++);
			if (expect(j, ']'))
				return -1;
		} else if (skip_value(j, 1)) {
			return -1;
		}
	} while (peek(j, ',') && j->p++);
	return expect(j, '}');
}

/* ---- running the helper ---------------------------------------------------------------- */
static const char *source_text(const struct vfw_config *cfg, char *buf, size_t len)
{
	if (cfg->network_status)
		snprintf(buf, len, "network-status file %s", cfg->network_status);
	else if (cfg->n_device_info)
		snprintf(buf, len, "device-info %s%s", cfg->device_info[0], cfg->n_device_info > 1 ? " ..." : "");
	else
		snprintf(buf, len, "annotations file %s", cfg->annotations ? cfg->annotations : DEFAULT_ANNOTATIONS);
	return buf;
}

/* a source that is not there at all gets a plain message before the helper runs (unless the
 * helper was asked to --wait for it) */
static int check_sources(const struct vfw_config *cfg)
{
	const char *paths[VFW_MAX_DEVICE_INFO + 1];
	const char *what;
	int n = 0;
	struct stat st;

	if (cfg->wait)
		return 0;
	if (cfg->n_device_info) {
		what = "device-info";
		for (int i = 0; i < cfg->n_device_info; i++)
			paths[n++] = cfg->device_info[i];
	} else if (cfg->network_status) {
		what = "network-status file";
		paths[n++] = cfg->network_status;
	} else {
		what = "annotations file";
		paths[n++] = cfg->annotations ? cfg->annotations : DEFAULT_ANNOTATIONS;
	}
	for (int i = 0; i < n; i++) {
		if (stat(paths[i], &st) != 0) {
			fprintf(stderr, "multus-dp-vfw: %s %s: %s (the pod's device-info for --wan %s --lan %s; "
				"mount the annotations with the downward API, or pass --annotations, "
				"--network-status or --device-info)\n", what, paths[i], strerror(errno),
				cfg->side[VFW_WAN].network, cfg->side[VFW_LAN].network);
			return VFW_EXIT_RUNTIME;
		}
	}
	return 0;
}

static int run_helper(const struct vfw_config *cfg, char **output, size_t *out_len, int *status)
{
	const char *argv[16 + 2 * VFW_MAX_DEVICE_INFO];
	int argc = 0, fds[2];
	size_t cap = 4096, len = 0;
	char *buf;
	pid_t pid;

	argv[argc++] = cfg->eal_helper ? cfg->eal_helper : DEFAULT_HELPER;
	argv[argc++] = "--format";
	argv[argc++] = "json";
	argv[argc++] = "--quiet";
	argv[argc++] = "--network";
	argv[argc++] = cfg->side[VFW_WAN].network;
	argv[argc++] = "--network";
	argv[argc++] = cfg->side[VFW_LAN].network;
	if (cfg->annotations) {
		argv[argc++] = "--annotations";
		argv[argc++] = cfg->annotations;
	}
	if (cfg->network_status) {
		argv[argc++] = "--network-status";
		argv[argc++] = cfg->network_status;
	}
	for (int i = 0; i < cfg->n_device_info; i++) {
		argv[argc++] = "--device-info";
		argv[argc++] = cfg->device_info[i];
	}
	if (cfg->wait) {
		argv[argc++] = "--wait";
		argv[argc++] = cfg->wait;
	}
	argv[argc] = NULL;

	if (pipe(fds) != 0) {
		perror("multus-dp-vfw: pipe");
		return -1;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		perror("multus-dp-vfw: fork");
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		close(fds[0]);
		close(fds[1]);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "multus-dp-vfw: cannot run the EAL helper %s: %s (install multus-dp-eal on PATH "
			"or pass --eal-helper PATH)\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	buf = malloc(cap);
	for (;;) {
		ssize_t got;

		if (len + 1 >= cap && cap < MAX_HELPER_OUTPUT)
			buf = realloc(buf, cap *= 2);
		got = read(fds[0], buf + len, cap - len - 1);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		len += (size_t)got;
	}
	buf[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, status, 0) < 0 && errno == EINTR)
		;
	*output = buf;
	*out_len = len;
	return 0;
}

int vfw_resolve_ports(const struct vfw_config *cfg, struct vfw_resolved *out)
{
	char source[512];
	char *text = NULL;
	size_t len;
	int status, rc, n_ports = 0;
	struct json j;

	memset(out, 0, sizeof(*out));
	if ((rc = check_sources(cfg)))
		return rc;
	if (run_helper(cfg, &text, &len, &status))
		return VFW_EXIT_RUNTIME;
	source_text(cfg, source, sizeof(source));
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 127)
			fprintf(stderr, "multus-dp-vfw: no DPDK device for --wan %s --lan %s in the %s "
				"(%s %s: see its message above)\n", cfg->side[VFW_WAN].network,
				cfg->side[VFW_LAN].network, source,
				cfg->eal_helper ? cfg->eal_helper : DEFAULT_HELPER,
				WIFEXITED(status) ? "failed" : "was killed");
		free(text);
		return VFW_EXIT_RUNTIME;
	}
	j.p = text;
	j.end = text + len;
	j.err = NULL;
	if (helper_document(&j, out, &n_ports) || n_ports != VFW_NUM_PORTS) {
		fprintf(stderr, "multus-dp-vfw: cannot read the EAL helper's answer for the %s (%s)\n",
			source, j.err ? j.err : "expected exactly two ports");
		free(text);
		vfw_resolved_free(out);
		return VFW_EXIT_RUNTIME;
	}
	free(text);
	for (int s = 0; s < VFW_NUM_PORTS; s++) {
		if (!out->side[s].pci[0]) {
			fprintf(stderr, "multus-dp-vfw: the EAL helper gave no PCI address for --%s %s\n",
				vfw_side_names[s], cfg->side[s].network);
			vfw_resolved_free(out);
			return VFW_EXIT_RUNTIME;
		}
	}
	return VFW_EXIT_OK;
}

void vfw_resolved_free(struct vfw_resolved *res)
{
	for (int i = 0; i < res->n_eal_args; i++)
		free(res->eal_args[i]);
	res->n_eal_args = 0;
}
