/*
 * netops: the kernel operations multus-dp needs on the ADD/DEL path, each one call.
 *
 * Plain C over rtnetlink (libc + the kernel's uapi headers only). A netns is entered
 * only to open a netlink socket there (setns in the calling thread and straight back),
 * so nothing forks and the thread is never left in another netns: if returning fails
 * the process aborts, because a thread silently living in a pod's netns would
 * misroute every later operation.
 *
 * Every failure fills struct netops_err with an errno and a message
 * "<op> <device>: <step> in <netns>: <reason>"; the Python pyroute2 backend builds
 * the very same messages, and the parity tests compare them.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "netops.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <linux/if_ether.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef NETLINK_CAP_ACK
#define NETLINK_CAP_ACK 10
#endif

#define REQ_BUF 16384 /* room for NETOPS_MAX_ALTNAMES altnames */
#define SELF_NS_PATH "/proc/thread-self/ns/net"

/* ------------------------------------------------------------------ errors */

static void set_err(struct netops_err *e, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(struct netops_err *e, int err, const char *fmt, ...)
{
    va_list ap;
    if (!e)
        return;
    e->err = err;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
}

/* "No such device" or "Invalid argument - <kernel extack>" */
static void reason(char *out, size_t len, int err, const char *extack)
{
    if (extack && extack[0])
        snprintf(out, len, "%s - %s", strerror(err), extack);
    else
        snprintf(out, len, "%s", strerror(err));
}

/* a step of an operation failed: "<op> <dev>: <step> in <ns>: <reason>" */
static void step_err(struct netops_err *e, int err, const char *extack, const char *op,
                     const char *dev, const char *step, const char *nsdesc)
{
    char why[NETOPS_MSG_LEN];
    reason(why, sizeof(why), err, extack);
    set_err(e, err, "%s %s: %s in %s: %s", op, dev, step, nsdesc, why);
}

/* ------------------------------------------------------------------ netns */

struct ns {
    int fd;          /* -1: the calling thread's own netns */
    int owned;       /* fd opened here from a path */
    char desc[300];  /* "netns /run/netns/x", "netns fd 7", "own netns" */
};

static int ns_open(struct ns *n, const struct netops_ns *ref, const char *op, const char *dev,
                   struct netops_err *e)
{
    n->fd = -1;
    n->owned = 0;
    if (ref && ref->fd >= 0) {
        n->fd = ref->fd;
        snprintf(n->desc, sizeof(n->desc), "netns fd %d", ref->fd);
        return 0;
    }
    if (ref && ref->path && ref->path[0]) {
        snprintf(n->desc, sizeof(n->desc), "netns %s", ref->path);
        n->fd = open(ref->path, O_RDONLY | O_CLOEXEC);
        if (n->fd < 0) {
            set_err(e, errno, "%s %s: open %s: %s", op, dev, n->desc, strerror(errno));
            return -1;
        }
        n->owned = 1;
        return 0;
    }
    snprintf(n->desc, sizeof(n->desc), "own netns");
    return 0;
}

static void ns_close(struct ns *n)
{
    if (n->owned && n->fd >= 0)
        close(n->fd);
    n->fd = -1;
    n->owned = 0;
}

static int nl_plain_socket(void)
{
    int one = 1;
    /* DGRAM (same as RAW for netlink) so asyncio, hence pyroute2, accepts the fd */
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (fd < 0)
        return -1;
    /* kernel error strings (extack) make messages useful; capped acks keep them short */
    setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, &one, sizeof(one));
    setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, &one, sizeof(one));
    return fd;
}

/* A netlink socket living in netns `n`, opened by this thread without forking. */
static int nl_socket_in(const struct ns *n, const char *op, const char *dev, struct netops_err *e)
{
    int self, fd, saved;
    if (n->fd < 0) {
        fd = nl_plain_socket();
        if (fd < 0)
            set_err(e, errno, "%s %s: open netlink socket in %s: %s", op, dev, n->desc, strerror(errno));
        return fd;
    }
    self = open(SELF_NS_PATH, O_RDONLY | O_CLOEXEC);
    if (self < 0) {
        set_err(e, errno, "%s %s: open %s: %s", op, dev, SELF_NS_PATH, strerror(errno));
        return -1;
    }
    if (setns(n->fd, CLONE_NEWNET) != 0) {
        saved = errno;
        close(self);
        set_err(e, saved, "%s %s: enter %s: %s", op, dev, n->desc, strerror(saved));
        return -1;
    }
    fd = nl_plain_socket();
    saved = errno;
    if (setns(self, CLONE_NEWNET) != 0) {
        fprintf(stderr, "netops: cannot return to own netns after entering %s: %s\n", n->desc,
                strerror(errno));
        abort();
    }
    close(self);
    if (fd < 0)
        set_err(e, saved, "%s %s: open netlink socket in %s: %s", op, dev, n->desc, strerror(saved));
    return fd;
}

/* ------------------------------------------------------------------ messages */

struct req {
    struct nlmsghdr *n;
    size_t cap;
    unsigned char buf[REQ_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
};

static void *req_init(struct req *r, int type, int flags, size_t hdr_len)
{
    memset(r->buf, 0, NLMSG_SPACE(hdr_len));
    r->n = (struct nlmsghdr *)r->buf;
    r->cap = sizeof(r->buf);
    r->n->nlmsg_len = NLMSG_LENGTH(hdr_len);
    r->n->nlmsg_type = (unsigned short)type;
    r->n->nlmsg_flags = (unsigned short)flags;
    return NLMSG_DATA(r->n);
}

static struct nlattr *put(struct req *r, int type, const void *data, size_t len)
{
    size_t off = NLMSG_ALIGN(r->n->nlmsg_len);
    struct nlattr *a = (struct nlattr *)(r->buf + off);
    if (off + NLA_ALIGN(NLA_HDRLEN + len) > r->cap)
        return NULL;
    a->nla_type = (unsigned short)type;
    a->nla_len = (unsigned short)(NLA_HDRLEN + len);
    if (len)
        memcpy((unsigned char *)a + NLA_HDRLEN, data, len);
    memset((unsigned char *)a + NLA_HDRLEN + len, 0, NLA_ALIGN(a->nla_len) - a->nla_len);
    r->n->nlmsg_len = (unsigned)(off + NLA_ALIGN(a->nla_len));
    return a;
}

static void put_u32(struct req *r, int type, unsigned v) { put(r, type, &v, sizeof(v)); }
static void put_str(struct req *r, int type, const char *s) { put(r, type, s, strlen(s) + 1); }

static struct nlattr *nest_start(struct req *r, int type) { return put(r, type, NULL, 0); }

static void nest_end(struct req *r, struct nlattr *a)
{
    a->nla_len = (unsigned short)((r->buf + r->n->nlmsg_len) - (unsigned char *)a);
}

/* One request, its ack or its single reply. Returns 0 or -errno; extack gets the kernel's
 * message on error; *reply (malloc'd, caller frees) gets a non-error answer if asked. */
static int talk(int fd, struct req *r, unsigned *seq, char *extack, size_t extack_len,
                struct nlmsghdr **reply)
{
    struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
    unsigned char *buf = NULL;
    int ret = -EPROTO;

    if (extack_len)
        extack[0] = '\0';
    r->n->nlmsg_seq = ++*seq;
    if (sendto(fd, r->buf, r->n->nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
        return -errno;
    for (;;) {
        ssize_t len = recv(fd, NULL, 0, MSG_PEEK | MSG_TRUNC);
        struct nlmsghdr *h;
        if (len < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (len < 8192)
            len = 8192; /* never a zero-sized read */
        free(buf);
        buf = malloc((size_t)len);
        if (!buf)
            return -ENOMEM;
        len = recv(fd, buf, (size_t)len, 0);
        if (len < 0) {
            ret = -errno;
            break;
        }
        for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)len); h = NLMSG_NEXT(h, len)) {
            if (h->nlmsg_seq != *seq)
                continue; /* a late answer to an earlier request */
            if (h->nlmsg_type == NLMSG_ERROR) {
                struct nlmsgerr *err = NLMSG_DATA(h);
                ret = err->error;
                if (ret && extack_len && (h->nlmsg_flags & NLM_F_ACK_TLVS)) {
                    size_t off = sizeof(*err);
                    if (!(h->nlmsg_flags & NLM_F_CAPPED))
                        off += err->msg.nlmsg_len - sizeof(struct nlmsghdr);
                    struct nlattr *a = (struct nlattr *)((unsigned char *)err + NLMSG_ALIGN(off));
                    int rem = (int)h->nlmsg_len - (int)NLMSG_LENGTH(NLMSG_ALIGN(off));
                    while (rem >= NLA_HDRLEN && a->nla_len >= NLA_HDRLEN && a->nla_len <= rem) {
                        if ((a->nla_type & NLA_TYPE_MASK) == NLMSGERR_ATTR_MSG) {
                            snprintf(extack, extack_len, "%.*s", (int)(a->nla_len - NLA_HDRLEN),
                                     (char *)a + NLA_HDRLEN);
                            break;
                        }
                        rem -= NLA_ALIGN(a->nla_len);
                        a = (struct nlattr *)((unsigned char *)a + NLA_ALIGN(a->nla_len));
                    }
                }
                goto done;
            }
            if (reply) {
                *reply = malloc(h->nlmsg_len);
                if (!*reply) {
                    ret = -ENOMEM;
                    goto done;
                }
                memcpy(*reply, h, h->nlmsg_len);
                ret = 0;
                goto done;
            }
        }
    }
done:
    free(buf);
    return ret;
}

/* ------------------------------------------------------------------ links */

struct nlsock {
    int fd;
    unsigned seq;
    const struct ns *ns;
};

static void parse_link(struct nlmsghdr *h, struct netops_link *out)
{
    struct ifinfomsg *ifi = NLMSG_DATA(h);
    struct rtattr *a = IFLA_RTA(ifi);
    int len = (int)IFLA_PAYLOAD(h);
    memset(out, 0, sizeof(*out));
    out->index = ifi->ifi_index;
    out->up = (ifi->ifi_flags & IFF_UP) ? 1 : 0;
    for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        switch (a->rta_type & NLA_TYPE_MASK) {
        case IFLA_IFNAME:
            snprintf(out->name, sizeof(out->name), "%s", (char *)RTA_DATA(a));
            break;
        case IFLA_ADDRESS:
            out->mac_len = (int)RTA_PAYLOAD(a) > (int)sizeof(out->mac) ? (int)sizeof(out->mac)
                                                                        : (int)RTA_PAYLOAD(a);
            memcpy(out->mac, RTA_DATA(a), (size_t)out->mac_len);
            break;
        case IFLA_MTU:
            out->mtu = *(unsigned *)RTA_DATA(a);
            break;
        case IFLA_PROP_LIST: {
            struct rtattr *p = RTA_DATA(a);
            int plen = (int)RTA_PAYLOAD(a);
            for (; RTA_OK(p, plen); p = RTA_NEXT(p, plen)) {
                if ((p->rta_type & NLA_TYPE_MASK) != IFLA_ALT_IFNAME)
                    continue;
                if (out->n_alt < NETOPS_MAX_ALTNAMES) {
                    snprintf(out->altnames[out->n_alt], sizeof(out->altnames[0]), "%s",
                             (char *)RTA_DATA(p));
                    out->n_alt++;
                }
                out->n_alt_seen++;
            }
            break;
        }
        default:
            break;
        }
    }
}

/* RTM_GETLINK by name; -errno on failure */
static int get_link(struct nlsock *s, const char *name, struct netops_link *out, char *extack, size_t xl)
{
    struct req r;
    struct ifinfomsg *ifi = req_init(&r, RTM_GETLINK, NLM_F_REQUEST, sizeof(*ifi));
    struct nlmsghdr *reply = NULL;
    int ret;
    ifi->ifi_family = AF_UNSPEC;
    put_str(&r, IFLA_IFNAME, name);
    put_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
    ret = talk(s->fd, &r, &s->seq, extack, xl, &reply);
    if (ret)
        return ret;
    if (reply->nlmsg_type != RTM_NEWLINK) {
        free(reply);
        return -EPROTO;
    }
    parse_link(reply, out);
    free(reply);
    if (out->n_alt_seen > out->n_alt) {
        snprintf(extack, xl, "more than %d altnames", NETOPS_MAX_ALTNAMES);
        return -E2BIG;
    }
    return 0;
}

/* RTM_NEWLINK on an index with optional name / mac / mtu / flags / target netns */
struct setlink {
    const char *name;
    const unsigned char *mac;
    int mac_len;
    unsigned mtu;
    int flags_mask; /* IFF_UP to change the admin state */
    int flags;
    int netns_fd;   /* -1: stay */
};

static int set_link(struct nlsock *s, int index, const struct setlink *c, char *extack, size_t xl)
{
    struct req r;
    struct ifinfomsg *ifi = req_init(&r, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    ifi->ifi_flags = (unsigned)c->flags;
    ifi->ifi_change = (unsigned)c->flags_mask;
    if (c->netns_fd >= 0)
        put_u32(&r, IFLA_NET_NS_FD, (unsigned)c->netns_fd);
    if (c->name)
        put_str(&r, IFLA_IFNAME, c->name);
    if (c->mac)
        put(&r, IFLA_ADDRESS, c->mac, (size_t)c->mac_len);
    if (c->mtu)
        put_u32(&r, IFLA_MTU, c->mtu);
    return talk(s->fd, &r, &s->seq, extack, xl, NULL);
}

static const struct setlink SETLINK_NONE = {NULL, NULL, 0, 0, 0, 0, -1};

static int alt_names(struct nlsock *s, int index, const struct netops_link *l, int add, char *extack,
                     size_t xl)
{
    struct req r;
    struct ifinfomsg *ifi;
    struct nlattr *nest;
    int i;
    if (!l->n_alt)
        return 0;
    ifi = req_init(&r, add ? RTM_NEWLINKPROP : RTM_DELLINKPROP,
                   add ? (NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND)
                       : (NLM_F_REQUEST | NLM_F_ACK),
                   sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = index;
    nest = nest_start(&r, IFLA_PROP_LIST | NLA_F_NESTED);
    for (i = 0; i < l->n_alt; i++)
        put_str(&r, IFLA_ALT_IFNAME, l->altnames[i]);
    nest_end(&r, nest);
    return talk(s->fd, &r, &s->seq, extack, xl, NULL);
}

/* A link that is being moved: everything needed to put it back as it was. */
struct moving {
    const char *op;
    const char *dev;        /* the name the caller gave: used in every message */
    struct netops_link orig;
    struct nlsock *home;    /* where it came from */
    struct nlsock *away;    /* where it went */
    int home_fd;            /* fd of the home netns, for the move back */
    int moved;              /* it is in `away` now, with index `index` */
    int index;
    int changed_mac;
    int changed_mtu;
    int dropped_alt;
    int downed;             /* set down by us (a move downs it too) */
};

/* Put a half-done move back: down, old MAC/MTU, back home under the old name, old
 * altnames and admin state. Best effort; failures are appended to the error message. */
static void roll_back(struct moving *m, struct netops_err *e)
{
    char xa[NETOPS_MSG_LEN], why[NETOPS_MSG_LEN];
    struct nlsock *here = m->moved ? m->away : m->home;
    struct setlink c = SETLINK_NONE;
    struct netops_link now;
    int ret, index = m->index;
    const char *step = "";

    if (m->moved) {
        c.flags_mask = IFF_UP;
        if ((ret = set_link(here, index, &c, xa, sizeof(xa)))) {
            step = "set down";
            goto fail;
        }
    }
    c = SETLINK_NONE;
    if (m->changed_mac) {
        c.mac = m->orig.mac;
        c.mac_len = m->orig.mac_len;
    }
    if (m->changed_mtu)
        c.mtu = m->orig.mtu;
    if ((c.mac || c.mtu) && (ret = set_link(here, index, &c, xa, sizeof(xa)))) {
        step = "restore MAC/MTU";
        goto fail;
    }
    if (m->moved) {
        c = SETLINK_NONE;
        c.netns_fd = m->home_fd;
        c.name = m->orig.name;
        if ((ret = set_link(here, index, &c, xa, sizeof(xa)))) {
            step = "move back";
            goto fail;
        }
        if ((ret = get_link(m->home, m->orig.name, &now, xa, sizeof(xa)))) {
            step = "look up after moving back";
            goto fail;
        }
        index = now.index;
    }
    if (m->dropped_alt && (ret = alt_names(m->home, index, &m->orig, 1, xa, sizeof(xa)))) {
        step = "restore altnames";
        goto fail;
    }
    if (m->orig.up && (m->moved || m->downed)) {
        c = SETLINK_NONE;
        c.flags_mask = IFF_UP;
        c.flags = IFF_UP;
        if ((ret = set_link(m->home, index, &c, xa, sizeof(xa)))) {
            step = "set up";
            goto fail;
        }
    }
    return;
fail:
    reason(why, sizeof(why), -ret, xa);
    {
        size_t used = strlen(e->msg);
        snprintf(e->msg + used, sizeof(e->msg) - used, "; rollback failed: %s: %s", step, why);
    }
}

/* The body shared by both directions, after the link has been looked up at home:
 * the home-side preparation, the move under a temporary name, the rename and the
 * away-side configuration. Returns the new ifindex or -1. */
static int move_link(struct moving *m, int away_fd, const char *tmp_name, const char *new_name,
                     int down_first, const struct netops_link_cfg *home_cfg,
                     const struct netops_link_cfg *away_cfg, struct netops_err *e)
{
    char xa[NETOPS_MSG_LEN], step[320];
    struct setlink c;
    struct netops_link now;
    int ret;
    const char *nsdesc = m->home->ns->desc;

    m->index = m->orig.index;
    if (down_first && m->orig.up) {
        c = SETLINK_NONE;
        c.flags_mask = IFF_UP;
        if ((ret = set_link(m->home, m->index, &c, xa, sizeof(xa)))) {
            snprintf(step, sizeof(step), "set down");
            goto fail;
        }
        m->downed = 1;
    }
    /* altnames are host (or pod) names: stale on the other side and a clash risk there */
    if (m->orig.n_alt) {
        if ((ret = alt_names(m->home, m->index, &m->orig, 0, xa, sizeof(xa)))) {
            snprintf(step, sizeof(step), "drop altnames");
            goto fail;
        }
        m->dropped_alt = 1;
    }
    if (home_cfg) {
        c = SETLINK_NONE;
        if (home_cfg->mac_len) {
            c.mac = home_cfg->mac;
            c.mac_len = home_cfg->mac_len;
            if ((ret = set_link(m->home, m->index, &c, xa, sizeof(xa)))) {
                snprintf(step, sizeof(step), "set MAC");
                goto fail;
            }
            m->changed_mac = 1;
        }
        c = SETLINK_NONE;
        if (home_cfg->mtu) {
            c.mtu = home_cfg->mtu;
            if ((ret = set_link(m->home, m->index, &c, xa, sizeof(xa)))) {
                snprintf(step, sizeof(step), "set MTU %u", home_cfg->mtu);
                goto fail;
            }
            m->changed_mtu = 1;
        }
    }
    c = SETLINK_NONE;
    c.netns_fd = away_fd;
    c.name = tmp_name;
    if ((ret = set_link(m->home, m->index, &c, xa, sizeof(xa)))) {
        snprintf(step, sizeof(step), "move to %s", m->away->ns->desc);
        goto fail;
    }
    m->moved = 1;
    nsdesc = m->away->ns->desc;
    if ((ret = get_link(m->away, tmp_name, &now, xa, sizeof(xa)))) {
        /* it moved but cannot be found: nothing to address a rollback to */
        step_err(e, -ret, xa, m->op, m->dev, "look up after the move", nsdesc);
        return -1;
    }
    m->index = now.index;
    c = SETLINK_NONE;
    c.name = new_name;
    if ((ret = set_link(m->away, m->index, &c, xa, sizeof(xa)))) {
        snprintf(step, sizeof(step), "rename to %s", new_name);
        goto fail;
    }
    if (away_cfg) {
        c = SETLINK_NONE;
        if (away_cfg->mac_len) {
            c.mac = away_cfg->mac;
            c.mac_len = away_cfg->mac_len;
            if ((ret = set_link(m->away, m->index, &c, xa, sizeof(xa)))) {
                snprintf(step, sizeof(step), "set MAC");
                goto fail;
            }
            m->changed_mac = 1;
        }
        c = SETLINK_NONE;
        if (away_cfg->mtu) {
            c.mtu = away_cfg->mtu;
            if ((ret = set_link(m->away, m->index, &c, xa, sizeof(xa)))) {
                snprintf(step, sizeof(step), "set MTU %u", away_cfg->mtu);
                goto fail;
            }
            m->changed_mtu = 1;
        }
        if (away_cfg->up) {
            c = SETLINK_NONE;
            c.flags_mask = IFF_UP;
            c.flags = IFF_UP;
            if ((ret = set_link(m->away, m->index, &c, xa, sizeof(xa)))) {
                snprintf(step, sizeof(step), "set up");
                goto fail;
            }
        }
    }
    return m->index;
fail:
    step_err(e, -ret, xa, m->op, m->dev, step, nsdesc);
    roll_back(m, e);
    return -1;
}

static int open_self(struct ns *n, const char *op, const char *dev, struct netops_err *e)
{
    n->owned = 1;
    snprintf(n->desc, sizeof(n->desc), "own netns");
    n->fd = open(SELF_NS_PATH, O_RDONLY | O_CLOEXEC);
    if (n->fd < 0) {
        set_err(e, errno, "%s %s: open %s: %s", op, dev, SELF_NS_PATH, strerror(errno));
        return -1;
    }
    return 0;
}

/* Common frame of both moves: open both netns and sockets, look the link up at home. */
static int move_frame(const char *op, const char *ifname, const struct netops_ns *home_ref,
                      const struct netops_ns *away_ref, const char *tmp_name, const char *new_name,
                      int down_first, const struct netops_link_cfg *home_cfg,
                      const struct netops_link_cfg *away_cfg, struct netops_err *e)
{
    struct ns home = {-1, 0, ""}, away = {-1, 0, ""};
    struct nlsock hs = {-1, 0, &home}, as = {-1, 0, &away};
    struct moving m;
    char xa[NETOPS_MSG_LEN];
    int ret = -1, r;

    memset(&m, 0, sizeof(m));
    m.op = op;
    m.dev = ifname;
    m.home = &hs;
    m.away = &as;
    /* "own netns" must still be a real fd on both sides: the move targets it, the
     * rollback moves back into it */
    if (home_ref && (home_ref->fd >= 0 || (home_ref->path && home_ref->path[0])))
        r = ns_open(&home, home_ref, op, ifname, e);
    else
        r = open_self(&home, op, ifname, e);
    if (r)
        goto out;
    if (away_ref && (away_ref->fd >= 0 || (away_ref->path && away_ref->path[0])))
        r = ns_open(&away, away_ref, op, ifname, e);
    else
        r = open_self(&away, op, ifname, e);
    if (r)
        goto out;
    hs.fd = nl_socket_in(&home, op, ifname, e);
    if (hs.fd < 0)
        goto out;
    as.fd = nl_socket_in(&away, op, ifname, e);
    if (as.fd < 0)
        goto out;
    if ((r = get_link(&hs, ifname, &m.orig, xa, sizeof(xa)))) {
        step_err(e, -r, xa, op, ifname, "look up", home.desc);
        goto out;
    }
    m.home_fd = home.fd;
    ret = move_link(&m, away.fd, tmp_name, new_name, down_first, home_cfg, away_cfg, e);
out:
    if (hs.fd >= 0)
        close(hs.fd);
    if (as.fd >= 0)
        close(as.fd);
    ns_close(&home);
    ns_close(&away);
    return ret;
}

int netops_move_to(const char *ifname, const struct netops_ns *netns, const struct netops_ns *src,
                   const char *tmp_name, const char *new_name, const struct netops_link_cfg *cfg,
                   struct netops_err *e)
{
    return move_frame("move_to_netns", ifname, src, netns, tmp_name, new_name, 0, NULL, cfg, e);
}

int netops_move_from(const char *ifname, const struct netops_ns *netns, const struct netops_ns *dst,
                     const char *tmp_name, const char *new_name, const struct netops_link_cfg *cfg,
                     struct netops_err *e)
{
    return move_frame("move_from_netns", ifname, netns, dst, tmp_name, new_name, 1, cfg, NULL, e);
}

/* Open netns + socket + look up a link: the frame of the in-netns operations. */
static int in_ns(const struct netops_ns *ref, struct ns *n, struct nlsock *s, const char *op,
                 const char *dev, const char *ifname, struct netops_link *l, struct netops_err *e)
{
    char xa[NETOPS_MSG_LEN];
    int r;
    s->fd = -1;
    s->seq = 0;
    s->ns = n;
    if (ns_open(n, ref, op, dev, e))
        return -1;
    s->fd = nl_socket_in(n, op, dev, e);
    if (s->fd < 0)
        return -1;
    if (ifname && (r = get_link(s, ifname, l, xa, sizeof(xa)))) {
        step_err(e, -r, xa, op, dev, "look up", n->desc);
        return -1;
    }
    return 0;
}

static void in_ns_done(struct ns *n, struct nlsock *s)
{
    if (s->fd >= 0)
        close(s->fd);
    ns_close(n);
}

int netops_open_socket(const struct netops_ns *netns, struct netops_err *e)
{
    struct ns n;
    int fd;
    char subject[300];
    if (netns && netns->fd >= 0)
        snprintf(subject, sizeof(subject), "fd %d", netns->fd);
    else
        snprintf(subject, sizeof(subject), "%s", netns && netns->path ? netns->path : "own");
    if (ns_open(&n, netns, "open_netns_socket", subject, e))
        return -1;
    fd = nl_socket_in(&n, "open_netns_socket", subject, e);
    ns_close(&n);
    return fd;
}

int netops_link_info(const struct netops_ns *netns, const char *ifname, struct netops_link *out,
                     struct netops_err *e)
{
    struct ns n = {-1, 0, ""};
    struct nlsock s;
    int ret = in_ns(netns, &n, &s, "link_info", ifname, ifname, out, e);
    in_ns_done(&n, &s);
    return ret;
}

static void addr_text(char *out, size_t len, int family, const unsigned char *a, int plen)
{
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(family, a, buf, sizeof(buf));
    if (plen >= 0)
        snprintf(out, len, "%s/%d", buf, plen);
    else
        snprintf(out, len, "%s", buf);
}

int netops_add_addrs(const struct netops_ns *netns, const char *ifname, const struct netops_addr *addrs,
                     int count, struct netops_err *e)
{
    struct ns n = {-1, 0, ""};
    struct nlsock s;
    struct netops_link l;
    char xa[NETOPS_MSG_LEN], text[80], step[100];
    int i, r, ret = -1;

    if (in_ns(netns, &n, &s, "add_addresses", ifname, ifname, &l, e))
        goto out;
    for (i = 0; i < count; i++) {
        const struct netops_addr *a = &addrs[i];
        size_t alen = a->family == AF_INET ? 4 : 16;
        struct req rq;
        struct ifaddrmsg *ifa = req_init(&rq, RTM_NEWADDR,
                                         NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                                         sizeof(*ifa));
        ifa->ifa_family = (unsigned char)a->family;
        ifa->ifa_prefixlen = (unsigned char)a->prefixlen;
        ifa->ifa_index = (unsigned)l.index;
        put(&rq, IFA_ADDRESS, a->addr, alen);
        if (a->family == AF_INET)
            put(&rq, IFA_LOCAL, a->addr, alen);
        if ((r = talk(s.fd, &rq, &s.seq, xa, sizeof(xa), NULL))) {
            addr_text(text, sizeof(text), a->family, a->addr, a->prefixlen);
            snprintf(step, sizeof(step), "add %s", text);
            step_err(e, -r, xa, "add_addresses", ifname, step, n.desc);
            goto out;
        }
    }
    ret = 0;
out:
    in_ns_done(&n, &s);
    return ret;
}

int netops_add_routes(const struct netops_ns *netns, const char *ifname, const struct netops_route *routes,
                      int count, struct netops_err *e)
{
    struct ns n = {-1, 0, ""};
    struct nlsock s;
    struct netops_link l;
    char xa[NETOPS_MSG_LEN], dst[80], gw[64], step[180];
    int i, r, ret = -1;

    if (in_ns(netns, &n, &s, "add_routes", ifname, ifname, &l, e))
        goto out;
    for (i = 0; i < count; i++) {
        const struct netops_route *rt = &routes[i];
        size_t alen = rt->family == AF_INET ? 4 : 16;
        struct req rq;
        struct rtmsg *rtm = req_init(&rq, RTM_NEWROUTE,
                                     NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL,
                                     sizeof(*rtm));
        rtm->rtm_family = (unsigned char)rt->family;
        rtm->rtm_dst_len = (unsigned char)rt->dst_len;
        rtm->rtm_table = RT_TABLE_MAIN;
        rtm->rtm_protocol = RTPROT_BOOT;
        rtm->rtm_scope = rt->has_gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
        rtm->rtm_type = RTN_UNICAST;
        if (rt->dst_len)
            put(&rq, RTA_DST, rt->dst, alen);
        if (rt->has_gw)
            put(&rq, RTA_GATEWAY, rt->gw, alen);
        put_u32(&rq, RTA_OIF, (unsigned)l.index);
        if ((r = talk(s.fd, &rq, &s.seq, xa, sizeof(xa), NULL))) {
            addr_text(dst, sizeof(dst), rt->family, rt->dst, rt->dst_len);
            if (rt->has_gw) {
                addr_text(gw, sizeof(gw), rt->family, rt->gw, -1);
                snprintf(step, sizeof(step), "add route %s via %s", dst, gw);
            } else {
                snprintf(step, sizeof(step), "add route %s", dst);
            }
            step_err(e, -r, xa, "add_routes", ifname, step, n.desc);
            goto out;
        }
    }
    ret = 0;
out:
    in_ns_done(&n, &s);
    return ret;
}

/* ------------------------------------------------------------------ VFs */

/* The VF request, attribute order as pyroute2 emits it (the golden-bytes tests compare). */
static int build_set_vf(struct req *r, int ifindex, const struct netops_vf_cfg *c)
{
    struct ifinfomsg *ifi = req_init(r, RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK, sizeof(*ifi));
    struct nlattr *list, *info;
    ifi->ifi_family = AF_UNSPEC;
    ifi->ifi_index = ifindex;
    list = nest_start(r, IFLA_VFINFO_LIST);
    info = nest_start(r, IFLA_VF_INFO);
    if (c->set_vlan) {
        struct nlattr *vl = nest_start(r, IFLA_VF_VLAN_LIST);
        struct ifla_vf_vlan_info v;
        memset(&v, 0, sizeof(v));
        v.vf = c->vf;
        v.vlan = c->vlan;
        v.qos = c->qos;
        v.vlan_proto = htons(c->vlan_proto);
        put(r, IFLA_VF_VLAN_INFO, &v, sizeof(v));
        nest_end(r, vl);
    }
    if (c->set_rate) {
        struct ifla_vf_rate v = {c->vf, c->min_tx_rate, c->max_tx_rate};
        put(r, IFLA_VF_RATE, &v, sizeof(v));
    }
    if (c->set_mac) {
        struct ifla_vf_mac v;
        memset(&v, 0, sizeof(v));
        v.vf = c->vf;
        memcpy(v.mac, c->mac, 6);
        put(r, IFLA_VF_MAC, &v, sizeof(v));
    }
    if (c->spoofchk >= 0) {
        struct ifla_vf_spoofchk v = {c->vf, (unsigned)c->spoofchk};
        put(r, IFLA_VF_SPOOFCHK, &v, sizeof(v));
    }
    if (c->trust >= 0) {
        struct ifla_vf_trust v = {c->vf, (unsigned)c->trust};
        put(r, IFLA_VF_TRUST, &v, sizeof(v));
    }
    if (c->link_state >= 0) {
        struct ifla_vf_link_state v = {c->vf, (unsigned)c->link_state};
        put(r, IFLA_VF_LINK_STATE, &v, sizeof(v));
    }
    nest_end(r, info);
    nest_end(r, list);
    return (int)r->n->nlmsg_len;
}

int netops_build_set_vf(int ifindex, const struct netops_vf_cfg *cfg, unsigned seq, unsigned pid,
                        unsigned char *out, int out_len)
{
    struct req r;
    int len = build_set_vf(&r, ifindex, cfg);
    r.n->nlmsg_seq = seq;
    r.n->nlmsg_pid = pid;
    if (len > out_len)
        return -ENOSPC;
    memcpy(out, r.buf, (size_t)len);
    return len;
}

int netops_set_vf(const char *pf, const struct netops_vf_cfg *cfg, struct netops_err *e)
{
    struct ns n = {-1, 0, ""};
    struct nlsock s;
    struct netops_link l;
    struct req r;
    char xa[NETOPS_MSG_LEN], dev[64], step[32];
    int ret = -1, rc;

    snprintf(dev, sizeof(dev), "%s vf %u", pf, cfg->vf);
    if (in_ns(NULL, &n, &s, "set_vf", dev, pf, &l, e))
        goto out;
    build_set_vf(&r, l.index, cfg);
    if ((rc = talk(s.fd, &r, &s.seq, xa, sizeof(xa), NULL))) {
        snprintf(step, sizeof(step), "configure");
        step_err(e, -rc, xa, "set_vf", dev, step, n.desc);
        goto out;
    }
    ret = 0;
out:
    in_ns_done(&n, &s);
    return ret;
}

static void parse_vf(struct rtattr *info, struct netops_vf *v)
{
    struct rtattr *a = RTA_DATA(info);
    int len = (int)RTA_PAYLOAD(info);
    int have_list = 0;
    memset(v, 0, sizeof(*v));
    v->spoofchk = -1;
    v->trust = -1;
    v->vlan_proto = ETH_P_8021Q;
    for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
        switch (a->rta_type & NLA_TYPE_MASK) {
        case IFLA_VF_MAC: {
            struct ifla_vf_mac *m = RTA_DATA(a);
            v->index = m->vf;
            memcpy(v->mac, m->mac, 6);
            break;
        }
        case IFLA_VF_VLAN: {
            struct ifla_vf_vlan *m = RTA_DATA(a);
            if (!have_list) {
                v->vlan = m->vlan;
                v->qos = m->qos;
            }
            break;
        }
        case IFLA_VF_VLAN_LIST: {
            struct rtattr *i = RTA_DATA(a);
            int il = (int)RTA_PAYLOAD(a);
            for (; RTA_OK(i, il); i = RTA_NEXT(i, il)) {
                if ((i->rta_type & NLA_TYPE_MASK) == IFLA_VF_VLAN_INFO && RTA_PAYLOAD(i) >= 14) {
                    struct ifla_vf_vlan_info *m = RTA_DATA(i);
                    v->vlan = m->vlan;
                    v->qos = m->qos;
                    v->vlan_proto = ntohs(m->vlan_proto);
                    have_list = 1;
                    break;
                }
            }
            break;
        }
        case IFLA_VF_SPOOFCHK:
            v->spoofchk = (int)((struct ifla_vf_spoofchk *)RTA_DATA(a))->setting;
            break;
        case IFLA_VF_TRUST:
            v->trust = (int)((struct ifla_vf_trust *)RTA_DATA(a))->setting;
            break;
        case IFLA_VF_LINK_STATE:
            v->link_state = (int)((struct ifla_vf_link_state *)RTA_DATA(a))->link_state;
            break;
        case IFLA_VF_RATE: {
            struct ifla_vf_rate *m = RTA_DATA(a);
            v->min_tx_rate = m->min_tx_rate;
            v->max_tx_rate = m->max_tx_rate;
            break;
        }
        default:
            break;
        }
    }
}

int netops_get_vfs(const char *pf, struct netops_vf *out, int max, struct netops_err *e)
{
    struct ns n = {-1, 0, ""};
    struct nlsock s;
    struct req r;
    struct ifinfomsg *ifi;
    struct nlmsghdr *reply = NULL;
    char xa[NETOPS_MSG_LEN];
    int ret = -1, rc, count = 0, have_num = 0;

    if (in_ns(NULL, &n, &s, "get_vfs", pf, NULL, NULL, e))
        goto out;
    ifi = req_init(&r, RTM_GETLINK, NLM_F_REQUEST, sizeof(*ifi));
    ifi->ifi_family = AF_UNSPEC;
    put_str(&r, IFLA_IFNAME, pf);
    put_u32(&r, IFLA_EXT_MASK, RTEXT_FILTER_VF | RTEXT_FILTER_SKIP_STATS);
    if ((rc = talk(s.fd, &r, &s.seq, xa, sizeof(xa), &reply))) {
        step_err(e, -rc, xa, "get_vfs", pf, "look up", n.desc);
        goto out;
    }
    {
        struct ifinfomsg *got = NLMSG_DATA(reply);
        struct rtattr *a = IFLA_RTA(got);
        int len = (int)IFLA_PAYLOAD(reply);
        for (; RTA_OK(a, len); a = RTA_NEXT(a, len)) {
            if ((a->rta_type & NLA_TYPE_MASK) == IFLA_NUM_VF)
                have_num = 1;
            if ((a->rta_type & NLA_TYPE_MASK) == IFLA_VFINFO_LIST) {
                struct rtattr *i = RTA_DATA(a);
                int il = (int)RTA_PAYLOAD(a);
                for (; RTA_OK(i, il); i = RTA_NEXT(i, il)) {
                    if ((i->rta_type & NLA_TYPE_MASK) != IFLA_VF_INFO)
                        continue;
                    if (count < max)
                        parse_vf(i, &out[count]);
                    count++;
                }
            }
        }
    }
    if (!have_num) {
        /* veth, bridges...: the kernel reports a VF count only for devices with a parent bus */
        set_err(e, EOPNOTSUPP, "get_vfs %s: read VFs in %s: %s - not an SR-IOV PF (no VF count)", pf,
                n.desc, strerror(EOPNOTSUPP));
        goto out;
    }
    ret = count;
out:
    free(reply);
    in_ns_done(&n, &s);
    return ret;
}
