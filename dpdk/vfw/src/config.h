/* Command line of multus-dp-vfw (the contract in /work/coord/VFW-CONTRACT.md, docs/vfw.md). */
#ifndef VFW_CONFIG_H
#define VFW_CONFIG_H

#include <stdio.h>

#include "vfw.h"

struct vfw_side_config {
	const char *network;    /* --wan/--lan NET: network name or pod interface name */
	int port_id;            /* --wan-port/--lan-port N; -1 when not given */
	struct vfw_cidr address; /* --wan-address/--lan-address: own address and subnet */
	int address_set;
};

enum vfw_default_action { VFW_DEFAULT_UNSET = -1, VFW_DENY = 0, VFW_ALLOW = 1 };

struct vfw_config {
	struct vfw_side_config side[VFW_NUM_PORTS];
	const char *rules_path;
	enum vfw_default_action default_action; /* from --default-action; the rule file's otherwise */
	/* where multus-dp-eal reads the devices; none given = its default annotations file */
	const char *annotations;
	const char *network_status;
	const char *device_info[VFW_MAX_DEVICE_INFO];
	int n_device_info;
	const char *eal_helper;
	const char *wait;       /* passed to the helper's --wait as given */
	const char *stats_file;
	const char *ready_file;
	unsigned idle_sleep_us;
	int print_eal_args;
	int by_port_id;         /* --wan-port/--lan-port mode: no helper */
	int eal_argc;           /* arguments after `--` */
	char **eal_argv;
};

/* 0: run; 1: --help printed (exit 0); VFW_EXIT_USAGE: error printed */
int vfw_parse_args(int argc, char **argv, struct vfw_config *cfg);
void vfw_usage(FILE *stream);

#endif
