/* Command line parsing and the small address helpers every other file uses. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"

const char *const vfw_side_names[VFW_NUM_PORTS] = { "wan", "lan" };

uint64_t vfw_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void vfw_format_ip(uint32_t ip, char *buf, size_t len)
{
	snprintf(buf, len, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

int vfw_parse_cidr(const char *text, struct vfw_cidr *out, int require_len)
{
	char addr[INET_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text);
	unsigned long len = 32;
	struct in_addr in;

	if (alen == 0 || alen >= sizeof(addr))
		return -1;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, &in) != 1)
		return -1;
	if (slash) {
		char *end;

		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || *end || len > 32)
			return -1;
	} else if (require_len) {
		return -1;
	}
	out->addr = ntohl(in.s_addr);
	out->len = (uint8_t)len;
	out->mask = vfw_mask_of((unsigned)len);
	return 0;
}

void vfw_usage(FILE *stream)
{
	fprintf(stream,
"Usage: multus-dp-vfw --wan NET --lan NET --wan-address A.B.C.D/LEN --lan-address A.B.C.D/LEN\n"
"                     [options] [-- EXTRA EAL ARGS]\n"
"       multus-dp-vfw --wan-port N --lan-port N --wan-address ... --lan-address ... -- EAL ARGS\n"
"\n"
"A DPDK virtual firewall: routes IPv4 between its wan and lan ports as the gateway of each side\n"
"(answers ARP for its addresses, learns neighbours by ARP, decrements TTL) and applies an ordered\n"
"rule file. Counters as JSON on SIGUSR1 and at exit; SIGINT/SIGTERM stop it cleanly.\n"
"\n"
"Ports (from the pod's device-info, through multus-dp-eal; no PCI address typed by hand):\n"
"  --wan NET, --lan NET        network name as in network-status (ns/name or name) or the pod\n"
"                              interface name (net1, outside, ...)\n"
"  --annotations FILE          downward-API annotations file (helper default: /etc/podinfo/annotations)\n"
"  --network-status FILE       a file holding the network-status annotation's JSON value\n"
"  --device-info PATH          device-info spec file or directory (repeatable)\n"
"  --eal-helper PATH           the multus-dp-eal command (default: multus-dp-eal on PATH)\n"
"  --wait SECONDS              let the helper wait this long for the devices to appear\n"
"  --print-eal-args            resolve the ports, print the EAL arguments and ports as JSON, exit\n"
"Ports without multus-dp:\n"
"  --wan-port N, --lan-port N  DPDK port ids (devices from the EAL arguments after --)\n"
"\n"
"Routing and rules:\n"
"  --wan-address A.B.C.D/LEN   the vFW's address (the gateway) and subnet on the wan side\n"
"  --lan-address A.B.C.D/LEN   the same on the lan side\n"
"  --rules FILE                ordered rules, first match wins, e.g.\n"
"                                default deny\n"
"                                allow icmp from 10.100.0.0/24 to 10.200.0.0/24\n"
"                                allow tcp from any to 10.200.0.10/32 port 8000-8100\n"
"  --default-action allow|deny action when no rule matches (overrides the file's; default deny)\n"
"\n"
"Running:\n"
"  --stats-file PATH           write the JSON counters there (atomically) instead of stdout\n"
"  --ready-file PATH           written once both ports are started and their links are up\n"
"  --idle-sleep-us N           sleep N us after a poll round without packets (default 0: busy poll)\n"
"  -h, --help                  this text\n"
"  -- ARGS                     appended to the EAL arguments (e.g. --no-huge -m 256 --file-prefix vfw)\n"
"\n"
"Exit status: 0 stopped by a signal (or --help, --print-eal-args); 1 runtime error (device-info,\n"
"EAL, ports); 2 usage or rule file error.\n");
}

enum {
	OPT_WAN = 256, OPT_LAN, OPT_WAN_ADDRESS, OPT_LAN_ADDRESS, OPT_RULES, OPT_DEFAULT_ACTION,
	OPT_ANNOTATIONS, OPT_NETWORK_STATUS, OPT_DEVICE_INFO, OPT_EAL_HELPER, OPT_WAIT,
	OPT_STATS_FILE, OPT_READY_FILE, OPT_IDLE_SLEEP_US, OPT_WAN_PORT, OPT_LAN_PORT,
	OPT_PRINT_EAL_ARGS,
};

static const struct option long_options[] = {
	{ "wan", required_argument, NULL, OPT_WAN },
	{ "lan", required_argument, NULL, OPT_LAN },
	{ "wan-address", required_argument, NULL, OPT_WAN_ADDRESS },
	{ "lan-address", required_argument, NULL, OPT_LAN_ADDRESS },
	{ "rules", required_argument, NULL, OPT_RULES },
	{ "default-action", required_argument, NULL, OPT_DEFAULT_ACTION },
	{ "annotations", required_argument, NULL, OPT_ANNOTATIONS },
	{ "network-status", required_argument, NULL, OPT_NETWORK_STATUS },
	{ "device-info", required_argument, NULL, OPT_DEVICE_INFO },
	{ "eal-helper", required_argument, NULL, OPT_EAL_HELPER },
	{ "wait", required_argument, NULL, OPT_WAIT },
	{ "stats-file", required_argument, NULL, OPT_STATS_FILE },
	{ "ready-file", required_argument, NULL, OPT_READY_FILE },
	{ "idle-sleep-us", required_argument, NULL, OPT_IDLE_SLEEP_US },
	{ "wan-port", required_argument, NULL, OPT_WAN_PORT },
	{ "lan-port", required_argument, NULL, OPT_LAN_PORT },
	{ "print-eal-args", no_argument, NULL, OPT_PRINT_EAL_ARGS },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "multus-dp-vfw: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(multus-dp-vfw --help for the usage)\n");
	return VFW_EXIT_USAGE;
}

static int parse_uint(const char *text, unsigned long max, unsigned long *out)
{
	char *end;

	if (text[0] == '-' || text[0] == '\0')
		return -1;
	errno = 0;
	*out = strtoul(text, &end, 10);
	return (errno || *end || *out > max) ? -1 : 0;
}

static int parse_address(const char *opt, const char *text, struct vfw_side_config *side)
{
	if (vfw_parse_cidr(text, &side->address, 1) != 0 || side->address.len == 0 || side->address.len > 30)
		return usage_error("%s %s: expected the vFW's address and prefix length, like 10.100.0.1/24", opt, text);
	if ((side->address.addr & ~side->address.mask) == 0 ||
	    (side->address.addr | side->address.mask) == 0xffffffffu)
		return usage_error("%s %s: that is the subnet's network or broadcast address, not a host address", opt, text);
	side->address_set = 1;
	return 0;
}

static int parse_wait(const char *text)
{
	char *end;
	double value;

	errno = 0;
	value = strtod(text, &end);
	return (errno || end == text || *end || value < 0) ? -1 : 0;
}

static int check_combination(struct vfw_config *cfg)
{
	int w = VFW_WAN, l = VFW_LAN;
	int by_net = cfg->side[w].network || cfg->side[l].network;
	int by_id = cfg->side[w].port_id >= 0 || cfg->side[l].port_id >= 0;

	if (by_net && by_id)
		return usage_error("give the ports either by network (--wan/--lan) or by DPDK port id (--wan-port/--lan-port)");
	if (!by_net && !by_id)
		return usage_error("which ports? --wan NET --lan NET (or --wan-port N --lan-port N)");
	if (by_net && (!cfg->side[w].network || !cfg->side[l].network))
		return usage_error("--wan and --lan go together (missing %s)", cfg->side[w].network ? "--lan" : "--wan");
	if (by_id && (cfg->side[w].port_id < 0 || cfg->side[l].port_id < 0))
		return usage_error("--wan-port and --lan-port go together (missing %s)", cfg->side[w].port_id < 0 ? "--wan-port" : "--lan-port");
	if (by_net && strcmp(cfg->side[w].network, cfg->side[l].network) == 0)
		return usage_error("--wan and --lan name the same network %s", cfg->side[w].network);
	if (by_id && cfg->side[w].port_id == cfg->side[l].port_id)
		return usage_error("--wan-port and --lan-port are the same port");
	if (by_id && (cfg->annotations || cfg->network_status || cfg->n_device_info || cfg->eal_helper || cfg->wait))
		return usage_error("--annotations, --network-status, --device-info, --eal-helper and --wait go with --wan/--lan, not with port ids");
	if ((cfg->annotations != NULL) + (cfg->network_status != NULL) + (cfg->n_device_info > 0) > 1)
		return usage_error("give one device source: --annotations, --network-status or --device-info");
	if (by_id && cfg->print_eal_args)
		return usage_error("--print-eal-args shows what --wan/--lan resolve to; with port ids the EAL arguments are yours");
	if (!cfg->side[w].address_set || !cfg->side[l].address_set)
		return usage_error("router mode needs %s (the vFW's gateway address on that side)",
				   !cfg->side[w].address_set ? "--wan-address" : "--lan-address");
	if (vfw_cidr_contains(&cfg->side[w].address, cfg->side[l].address.addr & cfg->side[l].address.mask) ||
	    vfw_cidr_contains(&cfg->side[l].address, cfg->side[w].address.addr & cfg->side[w].address.mask))
		return usage_error("--wan-address and --lan-address subnets overlap: the vFW routes between two distinct subnets");
	cfg->by_port_id = by_id;
	return 0;
}

int vfw_parse_args(int argc, char **argv, struct vfw_config *cfg)
{
	int opt, rc;
	unsigned long value;

	memset(cfg, 0, sizeof(*cfg));
	cfg->side[VFW_WAN].port_id = cfg->side[VFW_LAN].port_id = -1;
	cfg->default_action = VFW_DEFAULT_UNSET;
	opterr = 0;
	/* "+": stop at the first non-option, so nothing is permuted past `--` */
	while ((opt = getopt_long(argc, argv, "+:h", long_options, NULL)) != -1) {
		switch (opt) {
		case OPT_WAN: cfg->side[VFW_WAN].network = optarg; break;
		case OPT_LAN: cfg->side[VFW_LAN].network = optarg; break;
		case OPT_WAN_ADDRESS:
			if ((rc = parse_address("--wan-address", optarg, &cfg->side[VFW_WAN])))
				return rc;
			break;
		case OPT_LAN_ADDRESS:
			if ((rc = parse_address("--lan-address", optarg, &cfg->side[VFW_LAN])))
				return rc;
			break;
		case OPT_RULES: cfg->rules_path = optarg; break;
		case OPT_DEFAULT_ACTION:
			if (strcmp(optarg, "allow") == 0)
				cfg->default_action = VFW_ALLOW;
			else if (strcmp(optarg, "deny") == 0)
				cfg->default_action = VFW_DENY;
			else
				return usage_error("--default-action %s: expected allow or deny", optarg);
			break;
		case OPT_ANNOTATIONS: cfg->annotations = optarg; break;
		case OPT_NETWORK_STATUS: cfg->network_status = optarg; break;
		case OPT_DEVICE_INFO:
			if (cfg->n_device_info == VFW_MAX_DEVICE_INFO)
				return usage_error("too many --device-info (at most 16; a directory counts once)");
			cfg->device_info[cfg->n_device_info++] = optarg;
			break;
		case OPT_EAL_HELPER: cfg->eal_helper = optarg; break;
		case OPT_WAIT:
			if (parse_wait(optarg))
				return usage_error("--wait %s: expected seconds (a number >= 0)", optarg);
			cfg->wait = optarg;
			break;
		case OPT_STATS_FILE: cfg->stats_file = optarg; break;
		case OPT_READY_FILE: cfg->ready_file = optarg; break;
		case OPT_IDLE_SLEEP_US:
			if (parse_uint(optarg, 1000000, &value))
				return usage_error("--idle-sleep-us %s: expected microseconds, 0 to 1000000", optarg);
			cfg->idle_sleep_us = (unsigned)value;
			break;
		case OPT_WAN_PORT:
		case OPT_LAN_PORT:
			if (parse_uint(optarg, 65535, &value))
				return usage_error("%s %s: expected a DPDK port id (0, 1, ...)",
						   opt == OPT_WAN_PORT ? "--wan-port" : "--lan-port", optarg);
			cfg->side[opt == OPT_WAN_PORT ? VFW_WAN : VFW_LAN].port_id = (int)value;
			break;
		case OPT_PRINT_EAL_ARGS: cfg->print_eal_args = 1; break;
		case 'h':
			vfw_usage(stdout);
			return 1;
		case ':':
			return usage_error("%s needs a value", argv[optind - 1]);
		default:
			if (optopt && optopt < 256)
				return usage_error("unknown option -%c", optopt);
			return usage_error("unknown option %s", argv[optind - 1]);
		}
	}
	if (optind < argc && strcmp(argv[optind - 1], "--") != 0)
		return usage_error("unexpected argument %s (EAL arguments go after --)", argv[optind]);
	cfg->eal_argc = argc - optind;
	cfg->eal_argv = argv + optind;
	return check_combination(cfg);
}
