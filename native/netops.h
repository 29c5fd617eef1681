/* netops: the C interface of the native netops helper (also fed to cffi's cdef as is:
 * keep it to plain declarations and integer #defines). See netops.c. */
#define NETOPS_MSG_LEN 512
#define NETOPS_MAX_ALTNAMES 64
#define NETOPS_ALTNAME_LEN 128

/* an error: errno + "<op> <device>: <step> in <netns>: <reason>" */
struct netops_err {
    int err;
    char msg[512];
};

/* a netns: fd >= 0, else path, else the calling thread's own netns */
struct netops_ns {
    int fd;
    const char *path;
};

struct netops_link {
    int index;
    char name[16];
    unsigned char mac[32];
    int mac_len;
    unsigned int mtu;
    int up;
    int n_alt;            /* altnames kept below (at most NETOPS_MAX_ALTNAMES) */
    int n_alt_seen;       /* altnames the kernel reported */
    char altnames[64][128];
};

/* what to set on a link after a move (mac_len 0 / mtu 0: leave as is) */
struct netops_link_cfg {
    unsigned char mac[6];
    int mac_len;
    unsigned int mtu;
    int up;
};

struct netops_addr {
    int family;
    unsigned char addr[16];
    int prefixlen;
};

struct netops_route {
    int family;
    unsigned char dst[16];
    int dst_len;
    int has_gw;
    unsigned char gw[16];
};

/* a VF request; spoofchk/trust/link_state < 0 and set_* == 0 mean "leave as is" */
struct netops_vf_cfg {
    unsigned int vf;
    int set_mac;
    unsigned char mac[6];
    int set_vlan;
    unsigned int vlan;
    unsigned int qos;
    unsigned short vlan_proto;
    int spoofchk;
    int trust;
    int link_state;
    int set_rate;
    unsigned int min_tx_rate;
    unsigned int max_tx_rate;
};

/* one VF as the kernel reports it; spoofchk/trust -1 when the driver does not say */
struct netops_vf {
    unsigned int index;
    unsigned char mac[6];
    unsigned int vlan;
    unsigned int qos;
    unsigned short vlan_proto;
    int spoofchk;
    int trust;
    int link_state;
    unsigned int min_tx_rate;
    unsigned int max_tx_rate;
};

int netops_open_socket(const struct netops_ns *netns, struct netops_err *e);
int netops_link_info(const struct netops_ns *netns, const char *ifname, struct netops_link *out,
                     struct netops_err *e);
int netops_move_to(const char *ifname, const struct netops_ns *netns, const struct netops_ns *src,
                   const char *tmp_name, const char *new_name, const struct netops_link_cfg *cfg,
                   struct netops_err *e);
int netops_move_from(const char *ifname, const struct netops_ns *netns, const struct netops_ns *dst,
                     const char *tmp_name, const char *new_name, const struct netops_link_cfg *cfg,
                     struct netops_err *e);
int netops_add_addrs(const struct netops_ns *netns, const char *ifname, const struct netops_addr *addrs,
                     int count, struct netops_err *e);
int netops_add_routes(const struct netops_ns *netns, const char *ifname,
                      const struct netops_route *routes, int count, struct netops_err *e);
int netops_set_vf(const char *pf, const struct netops_vf_cfg *cfg, struct netops_err *e);
int netops_get_vfs(const char *pf, struct netops_vf *out, int max, struct netops_err *e);
int netops_build_set_vf(int ifindex, const struct netops_vf_cfg *cfg, unsigned int seq, unsigned int pid,
                        unsigned char *out, int out_len);
