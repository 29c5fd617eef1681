/*
 * The floor for benchmarks/netops_bench.py: the move-and-configure sequence of netops'
 * move_to_netns done as bare syscalls in a loop, nothing else (no Python, no checks,
 * no messages). Same syscalls as native/netops.c: open both netns, a netlink socket in
 * each (setns there and back), look up, move under a temporary name, look up, rename,
 * MAC, MTU, up; and the way back (down, move under a temporary name, rename).
 *
 * usage: move_floor IFNAME NETNS_PATH NEW_NAME MAC MTU
 * then one command per stdin line: "in" or "out"; answers the nanoseconds it took.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

struct req {
    struct nlmsghdr n;
    struct ifinfomsg i;
    char attrs[256];
};

static unsigned seq;

static void die(const char *what, int err)
{
    fprintf(stderr, "move_floor: %s: %s\n", what, strerror(err));
    exit(1);
}

static void add(struct req *r, int type, const void *data, size_t len)
{
    struct rtattr *a = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->n.nlmsg_len));
    a->rta_type = (unsigned short)type;
    a->rta_len = (unsigned short)RTA_LENGTH(len);
    memcpy(RTA_DATA(a), data, len);
    r->n.nlmsg_len = NLMSG_ALIGN(r->n.nlmsg_len) + RTA_ALIGN(a->rta_len);
}

static void init(struct req *r, int type, int flags, int index)
{
    memset(r, 0, sizeof(*r));
    r->n.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifinfomsg));
    r->n.nlmsg_type = (unsigned short)type;
    r->n.nlmsg_flags = (unsigned short)flags;
    r->i.ifi_index = index;
}

/* send, read the answer; returns the ifindex for a GETLINK, 0 for an ack */
static int talk(int fd, struct req *r, const char *what)
{
    char buf[16384];
    struct nlmsghdr *h;
    ssize_t len;
    r->n.nlmsg_seq = ++seq;
    if (send(fd, r, r->n.nlmsg_len, 0) < 0)
        die(what, errno);
    len = recv(fd, buf, sizeof(buf), 0);
    if (len < 0)
        die(what, errno);
    h = (struct nlmsghdr *)buf;
    if (h->nlmsg_type == NLMSG_ERROR) {
        int err = ((struct nlmsgerr *)NLMSG_DATA(h))->error;
        if (err)
            die(what, -err);
        return 0;
    }
    return ((struct ifinfomsg *)NLMSG_DATA(h))->ifi_index;
}

static int sock_in(int nsfd)
{
    int one = 1, self = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC), fd;
    if (self < 0 || setns(nsfd, CLONE_NEWNET))
        die("setns", errno);
    fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        die("socket", errno);
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    if (setns(self, CLONE_NEWNET))
        abort();
    close(self);
    return fd;
}

static int lookup(int fd, const char *name)
{
    struct req r;
    unsigned mask = RTEXT_FILTER_SKIP_STATS;
    init(&r, RTM_GETLINK, NLM_F_REQUEST, 0);
    add(&r, IFLA_IFNAME, name, strlen(name) + 1);
    add(&r, IFLA_EXT_MASK, &mask, sizeof(mask));
    return talk(fd, &r, name);
}

static void set(int fd, int index, int type, const void *data, size_t len, unsigned flags, unsigned change,
                const char *what)
{
    struct req r;
    init(&r, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, index);
    r.i.ifi_flags = flags;
    r.i.ifi_change = change;
    if (data)
        add(&r, type, data, len);
    talk(fd, &r, what);
}

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* home -> away under tmp, renamed `to`; mac/mtu/up when given */
static void move(const char *home_path, const char *away_path, const char *from, const char *tmp, const char *to,
                 const unsigned char *mac, unsigned mtu, int down_first, int up)
{
    int home = open(home_path, O_RDONLY | O_CLOEXEC), away = open(away_path, O_RDONLY | O_CLOEXEC);
    int hs, as, index;
    unsigned nsfd;
    if (home < 0 || away < 0)
        die("open netns", errno);
    hs = sock_in(home);
    as = sock_in(away);
    index = lookup(hs, from);
    if (down_first)
        set(hs, index, 0, NULL, 0, 0, IFF_UP, "down");
    nsfd = (unsigned)away;
    {
        struct req r;
        init(&r, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, index);
        add(&r, IFLA_NET_NS_FD, &nsfd, sizeof(nsfd));
        add(&r, IFLA_IFNAME, tmp, strlen(tmp) + 1);
        talk(hs, &r, "move");
    }
    index = lookup(as, tmp);
    set(as, index, IFLA_IFNAME, to, strlen(to) + 1, 0, 0, "rename");
    if (mac)
        set(as, index, IFLA_ADDRESS, mac, 6, 0, 0, "mac");
    if (mtu)
        set(as, index, IFLA_MTU, &mtu, sizeof(mtu), 0, 0, "mtu");
    if (up)
        set(as, index, 0, NULL, 0, IFF_UP, IFF_UP, "up");
    close(hs);
    close(as);
    close(home);
    close(away);
}

int main(int argc, char **argv)
{
    unsigned char mac[6];
    char line[32];
    unsigned mtu;
    const char *self = "/proc/thread-self/ns/net";
    if (argc != 6 || sscanf(argv[4], "%hhx:%hhx:%hhx:%hhx:%hhx:%hhx", &mac[0], &mac[1], &mac[2], &mac[3],
                            &mac[4], &mac[5]) != 6) {
        fprintf(stderr, "usage: move_floor IFNAME NETNS_PATH NEW_NAME MAC MTU\n");
        return 2;
    }
    mtu = (unsigned)atoi(argv[5]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    while (fgets(line, sizeof(line), stdin)) {
        long long t0 = now_ns();
        if (!strncmp(line, "in", 2))
            move(self, argv[2], argv[1], "mdptfloor0", argv[3], mac, mtu, 0, 1);
        else if (!strncmp(line, "out", 3))
            move(argv[2], self, argv[3], "mdptfloor0", argv[1], NULL, 0, 1, 0);
        else
            break;
        printf("%lld\n", now_ns() - t0);
    }
    return 0;
}
