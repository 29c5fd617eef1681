/* multus-dp-vfw: startup (rules, ports from device-info, EAL, ethdevs), the poll loop, and a
 * clean stop on SIGINT/SIGTERM with the counters written. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>

#include "acl.h"
#include "app.h"
#include "config.h"
#include "fwd.h"
#include "ports.h"
#include "resolve.h"
#include "stats.h"

#define NB_MBUFS 4095
#define MBUF_CACHE 128
#define HOUSEKEEPING_MS 100

static volatile sig_atomic_t stop_signal;
static volatile sig_atomic_t dump_requested;

static void on_stop(int sig) { stop_signal = sig; }
static void on_dump(int sig) { (void)sig; dump_requested = 1; }

static void install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = on_stop;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sa.sa_handler = on_dump;
	sigaction(SIGUSR1, &sa, NULL);
}

static void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', f);
		if ((unsigned char)*s >= 0x20)
			fputc(*s, f);
	}
	fputc('"', f);
}

/* --print-eal-args: what the vFW would hand to EAL, and which device is which side */
static void print_eal_args(const struct vfw_app *app, char **eal_argv, int eal_argc)
{
	printf("{\"eal\": [");
	for (int i = 1; i < eal_argc; i++) {
		printf("%s", i > 1 ? ", " : "");
		json_string(stdout, eal_argv[i]);
	}
	printf("]");
	for (int s = 0; s < VFW_NUM_PORTS; s++) {
		const struct vfw_port_ref *ref = &app->resolved.side[s];

		printf(", \"%s\": {\"network\": ", vfw_side_names[s]);
		json_string(stdout, ref->network);
		printf(", \"interface\": ");
		json_string(stdout, ref->interface);
		printf(", \"pci\": ");
		json_string(stdout, ref->pci);
		printf(", \"portId\": %d}", ref->helper_port_id);
	}
	printf("}\n");
	fflush(stdout);
}

static int load_rules(struct vfw_app *app, const struct vfw_config *cfg)
{
	char err[512];

	app->acl.default_in_file = -1;
	if (cfg->rules_path && vfw_acl_load(cfg->rules_path, &app->acl, err, sizeof(err)) != 0) {
		fprintf(stderr, "multus-dp-vfw: bad rule file: %s\n", err);
		return VFW_EXIT_USAGE;
	}
	if (cfg->default_action != VFW_DEFAULT_UNSET)
		app->acl.default_allow = cfg->default_action == VFW_ALLOW;
	else if (app->acl.default_in_file >= 0)
		app->acl.default_allow = app->acl.default_in_file;
	else
		app->acl.default_allow = 0;
	return VFW_EXIT_OK;
}

static void announce(const struct vfw_app *app)
{
	for (int s = 0; s < VFW_NUM_PORTS; s++) {
		const struct vfw_port *p = &app->port[s];
		char mac[RTE_ETHER_ADDR_FMT_SIZE], ip[32];

		rte_ether_format_addr(mac, sizeof(mac), &p->mac);
		vfw_format_ip(p->subnet.addr, ip, sizeof(ip));
		fprintf(stderr, "multus-dp-vfw: %s = port %u (%s%s%s), MAC %s, address %s/%u\n", vfw_side_names[s],
			p->id, p->dev_name, p->network ? ", network " : "", p->network ? p->network : "", mac, ip,
			p->subnet.len);
	}
	fprintf(stderr, "multus-dp-vfw: %d rule(s), default %s\n", app->acl.n_rules,
		app->acl.default_allow ? "allow" : "deny");
}

static void housekeeping(struct vfw_app *app)
{
	int all_up = 1;

	for (int s = 0; s < VFW_NUM_PORTS; s++) {
		app->port[s].link_up = vfw_port_link_up(&app->port[s]);
		all_up &= app->port[s].link_up;
	}
	if (all_up && !app->timeline.links_up) {
		app->timeline.links_up = vfw_now_ns();
		fprintf(stderr, "multus-dp-vfw: links up, forwarding\n");
		if (app->cfg->ready_file) {
			char text[128];
			int len = snprintf(text, sizeof(text), "{\"pid\": %d, \"linksUp\": %llu}\n", (int)getpid(),
					   (unsigned long long)app->timeline.links_up);

			vfw_write_file_atomic(app->cfg->ready_file, text, (size_t)len);
		}
	}
	vfw_fwd_timer(app);
}

static void run(struct vfw_app *app)
{
	uint64_t period = app->tsc_hz * HOUSEKEEPING_MS / 1000, next = 0;
	unsigned idle_us = app->cfg->idle_sleep_us;

	while (!stop_signal) {
		unsigned got = vfw_fwd_poll(app);
		uint64_t now = rte_get_tsc_cycles();

		if (now >= next) {
			housekeeping(app);
			next = now + period;
		}
		if (dump_requested) {
			dump_requested = 0;
			vfw_stats_write(app);
		}
		if (!got && idle_us)
			usleep(idle_us);
	}
}

int main(int argc, char **argv)
{
	static struct vfw_app app; /* large (neighbour tables): not on the stack */
	struct vfw_config cfg;
	char **eal_argv;
	int eal_argc = 0, rc, s;

	app.timeline.start = vfw_now_ns();
	install_signals();
	rc = vfw_parse_args(argc, argv, &cfg);
	if (rc)
		return rc == 1 ? VFW_EXIT_OK : rc;
	app.cfg = &cfg;
	if ((rc = load_rules(&app, &cfg)))
		return rc;
	if (!cfg.by_port_id && (rc = vfw_resolve_ports(&cfg, &app.resolved)))
		return rc;

	eal_argv = calloc((size_t)(2 + app.resolved.n_eal_args + cfg.eal_argc), sizeof(char *));
	eal_argv[eal_argc++] = argv[0];
	for (int i = 0; i < app.resolved.n_eal_args; i++)
		eal_argv[eal_argc++] = app.resolved.eal_args[i];
	for (int i = 0; i < cfg.eal_argc; i++)
		eal_argv[eal_argc++] = cfg.eal_argv[i];
	if (cfg.print_eal_args) {
		print_eal_args(&app, eal_argv, eal_argc);
		return VFW_EXIT_OK;
	}

	/* EAL's log on stderr: stdout carries the JSON counters */
	rte_openlog_stream(stderr);
	if (rte_eal_init(eal_argc, eal_argv) < 0) {
		fprintf(stderr, "multus-dp-vfw: EAL initialisation failed: %s; EAL arguments:", rte_strerror(rte_errno));
		for (int i = 1; i < eal_argc; i++)
			fprintf(stderr, " %s", eal_argv[i]);
		fputc('\n', stderr);
		return VFW_EXIT_RUNTIME;
	}
	app.timeline.eal_init_done = vfw_now_ns();
	app.tsc_hz = rte_get_tsc_hz();
	rc = VFW_EXIT_RUNTIME;
	if (vfw_ports_find(&app) != 0)
		goto out_eal;
	app.pool = rte_pktmbuf_pool_create("vfw_mbufs", NB_MBUFS, MBUF_CACHE, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
					   (int)rte_socket_id());
	if (!app.pool) {
		fprintf(stderr, "multus-dp-vfw: cannot create the mbuf pool: %s (EAL memory: -m / hugepages)\n",
			rte_strerror(rte_errno));
		goto out_eal;
	}
	for (s = 0; s < VFW_NUM_PORTS; s++) {
		if (vfw_port_start(&app, &app.port[s]) != 0) {
			while (--s >= 0)
				vfw_port_close(&app.port[s]);
			goto out_eal;
		}
	}
	app.timeline.ports_started = vfw_now_ns();
	announce(&app);

	run(&app);

	fprintf(stderr, "multus-dp-vfw: %s, stopping\n", strsignal(stop_signal));
	vfw_stats_write(&app);
	vfw_fwd_release(&app);
	for (s = 0; s < VFW_NUM_PORTS; s++)
		vfw_port_close(&app.port[s]);
	rc = VFW_EXIT_OK;
out_eal:
	rte_eal_cleanup();
	vfw_acl_free(&app.acl);
	vfw_resolved_free(&app.resolved);
	free(eal_argv);
	return rc;
}
