/*
 * multus-dp shim: the executable a container runtime runs as the CNI plugin (installed as
 * `multus-dp` in the CNI bin dir). It forwards the CNI_* environment and the config on stdin
 * to the multus-dp daemon over its unix socket and prints the daemon's reply verbatim.
 *
 * Wire protocol (HTTP/1.1, one request per connection, documented in docs/modes.md):
 *   POST /cni HTTP/1.1            one header per CNI_* variable, e.g. "CNI_COMMAND: ADD";
 *                                 body = stdin exactly as the runtime gave it.
 *   reply: header "CNI-Exit-Code: N", body = exactly what the plugin prints on stdout.
 *
 * Socket: $MULTUS_DP_SOCKET, else the config's top-level "socketPath", else the default.
 * Timeout (seconds): $MULTUS_DP_TIMEOUT, else the config's "daemonTimeout", else the default.
 * Daemon unreachable, too slow or answering garbage -> CNI error code 11 for every command,
 * DEL included: a silent success would leak whatever the pod holds.
 * Trust: the socket file and the process serving it (SO_PEERCRED, checked after connect and
 * before anything is sent) must belong to root, to the shim's own uid, or to
 * $MULTUS_DP_SOCKET_UID (build default DEFAULT_SOCKET_UID, from multus_dp/base/defaults.py).
 * Anything else is an impostor (a local user who bound a socket of their own): code 113.
 *
 * On-demand mode (thin mode, docs/modes.md): when `<dir of this executable>/multus-dp.on-demand`
 * exists (written by `multus-dp install --on-demand`: the daemon's command line, one argument a
 * line), the shim answers VERSION itself, and when no daemon listens on the socket (no socket
 * file, or a stale one: connection refused) it starts one, detached, under `<socket>.lock`
 * (flock: of two shims racing, one starts it and the other waits for it), waits up to
 * $MULTUS_DP_START_TIMEOUT / the config's daemonStartTimeout for it to listen, then forwards
 * the request as usual. Without that file (thick mode, a DaemonSet's daemon) nothing is ever
 * started: an absent daemon is code 11.
 *
 * Plain C and libc; stdout carries only a CNI result or a CNI error.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* The defaults come from multus_dp/base/defaults.py (SOCKET_PATH, SOCKET_UID, DAEMON_TIMEOUT):
   setup.py passes them with -D, so there is no second copy here to drift. */
#if !defined(DEFAULT_SOCKET) || !defined(DEFAULT_SOCKET_UID) || !defined(DEFAULT_TIMEOUT_S) || \
    !defined(DEFAULT_START_TIMEOUT_S) || !defined(SUPPORTED_VERSIONS)
#error "build the shim through setup.py (pip install): it passes -DDEFAULT_SOCKET, -DDEFAULT_SOCKET_UID, -DDEFAULT_TIMEOUT_S, -DDEFAULT_START_TIMEOUT_S, -DSUPPORTED_VERSIONS"
#endif
/* multus_dp/cni/versions.py SUPPORTED_VERSIONS, oldest first (setup.py passes them) */
static const char *const SUPPORTED[] = {SUPPORTED_VERSIONS};
#define N_SUPPORTED (sizeof SUPPORTED / sizeof SUPPORTED[0])
#define ON_DEMAND_SUFFIX ".on-demand"
#define MAX_DAEMON_ARGS 64
#define DEFAULT_CNI_VERSION "1.1.0"
#define MAX_STDIN (16u << 20)
#define MAX_REPLY (64u << 20)

/* 113: multus_dp/cni/errors.py Code.UNTRUSTED_SOCKET */
enum { CODE_INVALID_ENV = 4, CODE_IO = 5, CODE_TRY_AGAIN_LATER = 11, CODE_UNTRUSTED_SOCKET = 113 };

extern char **environ;

struct buf {
    char *data;
    size_t len, cap;
};

static char cni_version[32] = DEFAULT_CNI_VERSION;

/* ---- output --------------------------------------------------------------------------- */

static void json_escaped(FILE *out, const char *s) {
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c == '\n')
            fputs("\\n", out);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
}

/* Prints a CNI error object on stdout and returns the plugin's exit status (1). */
static int cni_error(int code, const char *details, const char *fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fputs("{\"cniVersion\": \"", stdout);
    json_escaped(stdout, cni_version);
    fprintf(stdout, "\", \"code\": %d, \"msg\": \"", code);
    json_escaped(stdout, msg);
    fputs("\"", stdout);
    if (details && *details) {
        fputs(", \"details\": \"", stdout);
        json_escaped(stdout, details);
        fputs("\"", stdout);
    }
    fputs("}\n", stdout);
    fflush(stdout);
    return 1;
}

static const char *const UNREACHABLE_HINT =
    "check that the multus-dp daemon runs on this node (`multus-dp status`, its log), that "
    "MULTUS_DP_SOCKET or the config's socketPath names its socket, and that the runtime calls "
    "this plugin as root; the runtime retries the operation later";

/* ---- buffers -------------------------------------------------------------------------- */

static int buf_reserve(struct buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    b->data = p;
    b->cap = cap;
    return 0;
}

static int buf_append(struct buf *b, const char *s, size_t n) {
    if (buf_reserve(b, n))
        return -1;
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

static int buf_puts(struct buf *b, const char *s) { return buf_append(b, s, strlen(s)); }

static int read_stdin(struct buf *b) {
    char chunk[65536];
    for (;;) {
        ssize_t n = read(STDIN_FILENO, chunk, sizeof chunk);
        if (n == 0)
            break;
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EBADF) /* runtime gave no stdin (VERSION) */
                break;
            return -1;
        }
        if (b->len + (size_t)n > MAX_STDIN || buf_append(b, chunk, (size_t)n))
            return -1;
    }
    return buf_reserve(b, 0);
}

/* ---- a minimal scan of the config's top-level keys ------------------------------------ */

static const char *skip_ws(const char *p, const char *end) {
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static const char *skip_string(const char *p, const char *end) { /* p at opening quote */
    for (p++; p < end; p++) {
        if (*p == '\\')
            p++;
        else if (*p == '"')
            return p + 1;
    }
    return end;
}

static const char *skip_value(const char *p, const char *end) {
    if (p < end && *p == '"')
        return skip_string(p, end);
    if (p < end && (*p == '{' || *p == '[')) {
        int depth = 0;
        while (p < end) {
            if (*p == '"') {
                p = skip_string(p, end);
                continue;
            }
            if (*p == '{' || *p == '[')
                depth++;
            else if (*p == '}' || *p == ']') {
                if (--depth == 0)
                    return p + 1;
            }
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\n' && *p != '\t' && *p != '\r')
        p++;
    return p;
}

/* The start of the value of top-level key `key` in a JSON object, or NULL. */
static const char *top_level_value(const char *json, size_t len, const char *key) {
    const char *p = json, *end = json + len;
    size_t klen = strlen(key);
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return NULL;
    p++;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return NULL;
        const char *kstart = p + 1;
        p = skip_string(p, end);
        int match = (size_t)(p - 1 - kstart) == klen && memcmp(kstart, key, klen) == 0;
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return NULL;
        p = skip_ws(p + 1, end);
        if (match)
            return p;
        p = skip_ws(skip_value(p, end), end);
        if (p >= end || *p != ',')
            return NULL;
        p++;
    }
}

/* Copies a JSON string value (simple escapes only) into out; 0 on success. */
static int string_value(const char *json, size_t len, const char *key, char *out, size_t outlen) {
    const char *p = top_level_value(json, len, key), *end = json + len;
    if (!p || *p != '"')
        return -1;
    size_t n = 0;
    for (p++; p < end && *p != '"'; p++) {
        char c = *p;
        if (c == '\\') {
            if (++p >= end || *p == 'u')
                return -1; /* \u escapes: not worth supporting in a path */
            c = *p == 'n' ? '\n' : *p == 't' ? '\t' : *p;
        }
        if (n + 1 >= outlen)
            return -1;
        out[n++] = c;
    }
    if (p >= end)
        return -1;
    out[n] = '\0';
    return n ? 0 : -1;
}

static int number_value(const char *json, size_t len, const char *key, double *out) {
    const char *p = top_level_value(json, len, key);
    if (!p)
        return -1;
    char *stop;
    double v = strtod(p, &stop);
    if (stop == p || v <= 0)
        return -1;
    *out = v;
    return 0;
}

/* ---- the request ------------------------------------------------------------------------ */

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int valid_header_name(const char *name, size_t n) {
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return 0;
    }
    return n > 0;
}

/* Builds the HTTP request; returns 0, or the name of the variable that cannot be sent. */
static const char *build_request(struct buf *req, const struct buf *body) {
    char length[64];
    buf_puts(req, "POST /cni HTTP/1.1\r\nHost: multus-dp\r\nConnection: close\r\n"
                  "Content-Type: application/json\r\n");
    snprintf(length, sizeof length, "Content-Length: %zu\r\n", body->len);
    buf_puts(req, length);
    for (char **env = environ; *env; env++) {
        const char *var = *env, *eq = strchr(var, '=');
        if (strncmp(var, "CNI_", 4) != 0 || !eq)
            continue;
        if (!valid_header_name(var, (size_t)(eq - var)) || strpbrk(eq + 1, "\r\n"))
            return var;
        buf_append(req, var, (size_t)(eq - var));
        buf_puts(req, ": ");
        buf_puts(req, eq + 1);
        buf_puts(req, "\r\n");
    }
    buf_puts(req, "\r\n");
    if (buf_append(req, body->data ? body->data : "", body->len))
        return "(out of memory)";
    return NULL;
}

static int send_all(int fd, const char *data, size_t len) {
    while (len) {
        ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads until the daemon closes the connection; -1 errno, -2 deadline, -3 too large. */
static int recv_all(int fd, struct buf *reply, double deadline) {
    char chunk[65536];
    for (;;) {
        double left = deadline - now_s();
        if (left <= 0)
            return -2;
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        int ready = poll(&pfd, 1, (int)(left * 1000) + 1);
        if (ready < 0 && errno == EINTR)
            continue;
        if (ready < 0)
            return -1;
        if (ready == 0)
            return -2;
        ssize_t n = recv(fd, chunk, sizeof chunk, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            return 0;
        if (reply->len + (size_t)n > MAX_REPLY || buf_append(reply, chunk, (size_t)n))
            return -3;
    }
}

/* The value of header `name` (case-insensitive) within the header block, or NULL. */
static const char *header_value(const char *headers, const char *name) {
    size_t n = strlen(name);
    for (const char *line = strstr(headers, "\r\n"); line; line = strstr(line, "\r\n")) {
        line += 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            return v;
        }
    }
    return NULL;
}

/* `<this executable><suffix>` (the shim is installed as `<bin-dir>/multus-dp`): the sidecar
   files `multus-dp install` writes beside it. 0 when the path fits. */
static int sidecar_path(const char *suffix, char *out, size_t outlen) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    return (size_t)snprintf(out, outlen, "%s%s", exe, suffix) < outlen ? 0 : -1;
}

/* `<dir of this executable>/multus-dp.socket`, written by `multus-dp install --socket`: the
   socket when neither the env nor the config names one (libcni's VERSION check sends only
   {"cniVersion"}). 0 when found. */
static int socket_file(char *out, size_t outlen) {
    char path[4096 + 16];
    if (sidecar_path(".socket", path, sizeof path))
        return -1;
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    int ok = fgets(out, (int)outlen, f) != NULL;
    fclose(f);
    if (!ok)
        return -1;
    out[strcspn(out, "\r\n")] = '\0';
    return out[0] ? 0 : -1;
}

/* ---- trust ---------------------------------------------------------------------------- */

static const char *const UNTRUSTED_HINT =
    "another local user may have replaced the daemon's socket: check the socket directory's owner and "
    "mode (the daemon refuses world-writable ones) and restart the daemon; set MULTUS_DP_SOCKET_UID if "
    "the daemon deliberately runs as a non-root user";

/* The uid the daemon may run as besides root and ourselves; -1 when unset. 0 or an error message. */
static const char *configured_uid(long *out) {
    const char *env = getenv("MULTUS_DP_SOCKET_UID");
    *out = DEFAULT_SOCKET_UID;
    if (!env || !*env)
        return NULL;
    char *stop;
    errno = 0;
    long v = strtol(env, &stop, 10);
    if (errno || stop == env || *stop || v < 0)
        return "MULTUS_DP_SOCKET_UID is not a uid (a non-negative number)";
    *out = v;
    return NULL;
}

static int trusted_uid(uid_t uid, long configured) {
    return uid == 0 || uid == geteuid() || (long)uid == configured;
}

/* ---- on-demand mode (thin mode): start the daemon when none listens ----------------------- */

struct on_demand {
    char path[4096 + 16];           /* the sidecar file, for messages */
    char text[16384];               /* its content; argv points into it */
    char *argv[MAX_DAEMON_ARGS + 6]; /* + --socket S --idle-timeout T + NULL */
    int argc;
    const char *log_file;           /* the daemon's --log-file, when the file names one */
};

/* Reads `<exe>.on-demand`: 0 absent (thick mode), 1 read, -1 unusable (message in msg). The file
   must belong to root or to us and be writable by nobody else: it names what we run as root. */
static int on_demand_file(struct on_demand *od, char *msg, size_t msglen) {
    if (sidecar_path(ON_DEMAND_SUFFIX, od->path, sizeof od->path))
        return 0;
    int fd = open(od->path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        snprintf(msg, msglen, "cannot read %s: %s", od->path, strerror(errno));
        return -1;
    }
    struct stat st;
    ssize_t n = -1;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
        if ((st.st_uid != 0 && st.st_uid != geteuid()) || (st.st_mode & (S_IWGRP | S_IWOTH))) {
            close(fd);
            snprintf(msg, msglen, "refusing to run the command in %s: it is owned by uid %u with mode %04o "
                     "(it must belong to root and be writable by nobody else)", od->path, (unsigned)st.st_uid,
                     (unsigned)(st.st_mode & 07777));
            return -1;
        }
        n = read(fd, od->text, sizeof od->text - 1);
    }
    close(fd);
    if (n < 0 || (size_t)n >= sizeof od->text - 1) {
        snprintf(msg, msglen, "cannot read %s: %s", od->path, n < 0 ? "not a readable regular file" : "too large");
        return -1;
    }
    od->text[n] = '\0';
    od->argc = 0;
    od->log_file = NULL;
    for (char *line = od->text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        line[strcspn(line, "\r")] = '\0';
        if (!*line || *line == '#')
            continue;
        if (od->argc == MAX_DAEMON_ARGS) {
            snprintf(msg, msglen, "%s has more than %d arguments", od->path, MAX_DAEMON_ARGS);
            return -1;
        }
        if (od->argc > 0 && strcmp(od->argv[od->argc - 1], "--log-file") == 0)
            od->log_file = line;
        od->argv[od->argc++] = line;
    }
    if (od->argc == 0 || od->argv[0][0] != '/') {
        snprintf(msg, msglen, "%s names no daemon command (its first line must be an absolute path)", od->path);
        return -1;
    }
    return 1;
}

/* Our VERSION answer, exactly as multus_dp.cni.versions.version_reply: the asked version when
   we speak it, else the latest. */
static int version_reply(const struct buf *body) {
    char asked[32];
    const char *answer = SUPPORTED[N_SUPPORTED - 1];
    if (string_value(body->data, body->len, "cniVersion", asked, sizeof asked) == 0)
        for (size_t i = 0; i < N_SUPPORTED; i++)
            if (strcmp(asked, SUPPORTED[i]) == 0)
                answer = SUPPORTED[i];
    printf("{\"cniVersion\": \"%s\", \"supportedVersions\": [", answer);
    for (size_t i = 0; i < N_SUPPORTED; i++)
        printf("%s\"%s\"", i ? ", " : "", SUPPORTED[i]);
    puts("]}");
    return fflush(stdout) == 0 ? 0 : 1;
}

/* mkdir -p: missing parents 0755, the socket's own directory 0700 (what the daemon creates;
   it checks the whole chain before it binds). */
static int make_socket_dir(const char *socket_path) {
    char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
    snprintf(dir, sizeof dir, "%s", socket_path);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = '\0';
    for (char *p = dir + 1;; p++) {
        int last = *p == '\0';
        if (*p == '/' || last) {
            char saved = *p;
            *p = '\0';
            if (mkdir(dir, last ? 0700 : 0755) < 0 && errno != EEXIST)
                return -1;
            *p = saved;
        }
        if (last)
            return 0;
    }
}

static void on_alarm(int sig) { (void)sig; /* only interrupts flock() */ }

/* flock(LOCK_EX) on fd, giving up at the deadline: 0, or -1 (errno EINTR: timed out). */
static int lock_until(int fd, double deadline) {
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    if (errno != EWOULDBLOCK)
        return -1;
    double left = deadline - now_s();
    if (left <= 0) {
        errno = EINTR;
        return -1;
    }
    /* sleep in the kernel until the holder (the shim starting the daemon) lets go */
    struct sigaction sa = {.sa_handler = on_alarm}; /* no SA_RESTART: the timer interrupts flock */
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    struct itimerval timer = {.it_value = {.tv_sec = (time_t)left,
                                           .tv_usec = (suseconds_t)((left - (double)(time_t)left) * 1e6) + 1}};
    if (timer.it_value.tv_usec >= 1000000) {   /* the +1 (never a zero timer) may carry */
        timer.it_value.tv_sec += 1;
        timer.it_value.tv_usec -= 1000000;
    }
    if (setitimer(ITIMER_REAL, &timer, NULL) < 0)
        return -1;
    int rc;
    do
        rc = flock(fd, LOCK_EX);
    while (rc < 0 && errno == EINTR && now_s() < deadline);
    int saved = errno;
    struct itimerval off = {0};
    setitimer(ITIMER_REAL, &off, NULL);
    errno = saved;
    return rc;
}

/* In the grandchild: become the detached daemon. Never returns; an exec failure is reported
   through `report` (its errno) before exiting. */
static void exec_daemon(char *const argv[], int report) {
    setsid();                       /* no controlling terminal, no signals of the runtime's group */
    pid_t pid = fork();             /* the second fork: never a session leader, reparented to init */
    if (pid != 0)
        _exit(pid < 0 ? 127 : 0);
    umask(022);
    if (chdir("/") < 0)
        _exit(127);
    report = fcntl(report, F_DUPFD, 3);     /* above stdio, whatever the runtime left open */
    if (report < 0)
        _exit(127);
    int null = open("/dev/null", O_RDWR);
    if (null < 0)
        _exit(127);
    dup2(null, STDIN_FILENO);
    dup2(null, STDOUT_FILENO);      /* the daemon logs to its --log-file (errors too) */
    dup2(null, STDERR_FILENO);
    /* whatever the runtime leaked to us stays out of the daemon; `report` is kept open (as fd 3)
       for the daemon's life on purpose: its EOF tells the waiting shim the daemon died during start */
    if (report != 3) {
        if (dup2(report, 3) < 0)
            _exit(127);
        report = 3;
    }
    if (close_range(4, ~0U, 0) < 0) {       /* kernels before 5.9: one by one */
        long max_fd = sysconf(_SC_OPEN_MAX);
        for (long fd = 4; fd < (max_fd > 0 && max_fd < 65536 ? max_fd : 65536); fd++)
            close((int)fd);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    for (int sig = 1; sig < NSIG; sig++)
        signal(sig, SIG_DFL);
    /* the daemon serves many requests: none of this request's CNI_* variables */
    static char *envp[512];
    int n = 0;
    for (char **env = environ; *env && n < 511; env++)
        if (strncmp(*env, "CNI_", 4) != 0)
            envp[n++] = *env;
    envp[n] = NULL;
    execve(argv[0], argv, envp);
    int err = errno;
    ssize_t ignored = write(report, &err, sizeof err);
    (void)ignored;
    _exit(127);
}

/* Connects to the socket, 0600-style trust aside: fd, or -1 with errno. */
static int dial(const char *socket_path, double timeout) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct timeval tv = {.tv_sec = (time_t)timeout, .tv_usec = (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect() and send() */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, socket_path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}

static int absent(int err) { return err == ENOENT || err == ECONNREFUSED; }

/* No daemon listens: start one unless another shim does (under `<socket>.lock`), wait until it
   listens. The connected fd, or -1 with the reason in msg/details. */
static int start_and_dial(struct on_demand *od, const char *socket_path, double timeout, double start_timeout,
                          const char *idle, char *msg, size_t msglen, const char **details) {
    double deadline = now_s() + start_timeout;
    char lock_path[sizeof(((struct sockaddr_un *)0)->sun_path) + 8];
    snprintf(lock_path, sizeof lock_path, "%s.lock", socket_path);
    *details = "the runtime retries the operation later; the on-demand daemon's log says why it did not start";
    if (make_socket_dir(socket_path) < 0) {
        snprintf(msg, msglen, "cannot create the directory of %s: %s", socket_path, strerror(errno));
        return -1;
    }
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lock < 0) {
        snprintf(msg, msglen, "cannot open the start lock %s: %s", lock_path, strerror(errno));
        return -1;
    }
    if (lock_until(lock, deadline) < 0) {
        int err = errno;
        close(lock);
        snprintf(msg, msglen, "waited %g s for another shim to start the on-demand daemon on %s (%s)", start_timeout,
                 socket_path, err == EINTR ? "start timeout" : strerror(err));
        return -1;
    }
    int fd = dial(socket_path, timeout);    /* the shim that held the lock may have started it */
    if (fd >= 0 || !absent(errno)) {
        int err = errno;
        close(lock);
        if (fd < 0)
            snprintf(msg, msglen, "multus-dp daemon is not reachable at %s: %s", socket_path, strerror(err));
        return fd;
    }
    int argc = od->argc;
    od->argv[argc++] = "--socket";
    od->argv[argc++] = (char *)socket_path;
    if (idle) {
        od->argv[argc++] = "--idle-timeout";
        od->argv[argc++] = (char *)idle;
    }
    od->argv[argc] = NULL;
    int report[2];
    if (pipe2(report, O_CLOEXEC) < 0) {
        close(lock);
        snprintf(msg, msglen, "cannot start the on-demand daemon: pipe: %s", strerror(errno));
        return -1;
    }
    pid_t child = fork();
    if (child == 0) {
        close(report[0]);
        fcntl(report[1], F_SETFD, 0);       /* the daemon keeps it (see exec_daemon) */
        exec_daemon(od->argv, report[1]);
    }
    close(report[1]);
    if (child < 0) {
        close(report[0]);
        close(lock);
        snprintf(msg, msglen, "cannot start the on-demand daemon: fork: %s", strerror(errno));
        return -1;
    }
    waitpid(child, NULL, 0);                /* the first child exits at once */
    const char *why = "start timeout";
    int exec_err = 0;
    for (;;) {
        fd = dial(socket_path, timeout);
        if (fd >= 0 || !absent(errno) || now_s() >= deadline)
            break;
        struct pollfd pfd = {.fd = report[0], .events = POLLIN};
        if (poll(&pfd, 1, 5) > 0) {         /* an exec error, or EOF: the daemon is gone */
            ssize_t n = read(report[0], &exec_err, sizeof exec_err);
            fd = dial(socket_path, timeout);
            if (fd < 0)
                why = n == (ssize_t)sizeof exec_err ? "exec failed" : "it exited during start";
            break;
        }
    }
    int err = errno;
    close(report[0]);
    close(lock);
    if (fd >= 0)
        return fd;
    if (exec_err)
        snprintf(msg, msglen, "cannot start the on-demand daemon %s (from %s): %s", od->argv[0], od->path,
                 strerror(exec_err));
    else if (!absent(err))
        snprintf(msg, msglen, "multus-dp daemon is not reachable at %s: %s", socket_path, strerror(err));
    else
        snprintf(msg, msglen, "the on-demand daemon (%s) did not listen on %s within %g s: %s; its log: %s",
                 od->path, socket_path, start_timeout, why, od->log_file ? od->log_file : "under its --state-dir");
    return -1;
}

int main(void) {
    struct buf body = {0}, req = {0}, reply = {0};
    const char *command = getenv("CNI_COMMAND");
    if (!command || !*command)
        command = "(no CNI_COMMAND)";
    if (read_stdin(&body))
        return cni_error(CODE_IO, NULL, "multus-dp shim: cannot read the network configuration on stdin: %s",
                         errno ? strerror(errno) : "larger than 16 MiB");
    char version[sizeof cni_version];
    if (string_value(body.data, body.len, "cniVersion", version, sizeof version) == 0 &&
        strspn(version, "0123456789.") == strlen(version))
        memcpy(cni_version, version, sizeof version);

    char socket_path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    const char *env_socket = getenv("MULTUS_DP_SOCKET");
    if (env_socket && *env_socket) {
        if (strlen(env_socket) >= sizeof socket_path)
            return cni_error(CODE_INVALID_ENV, NULL, "MULTUS_DP_SOCKET is too long for a unix socket path: %s",
                             env_socket);
        strcpy(socket_path, env_socket);
    } else if (string_value(body.data, body.len, "socketPath", socket_path, sizeof socket_path) != 0 &&
               socket_file(socket_path, sizeof socket_path) != 0) {
        strcpy(socket_path, DEFAULT_SOCKET);
    }
    double timeout = DEFAULT_TIMEOUT_S;
    const char *env_timeout = getenv("MULTUS_DP_TIMEOUT");
    if (env_timeout && *env_timeout) {
        char *stop;
        timeout = strtod(env_timeout, &stop);
        if (stop == env_timeout || *stop || timeout <= 0)
            return cni_error(CODE_INVALID_ENV, NULL, "MULTUS_DP_TIMEOUT=%s is not a positive number of seconds",
                             env_timeout);
    } else {
        number_value(body.data, body.len, "daemonTimeout", &timeout);
    }
    struct on_demand od;
    char od_problem[4600];
    int on_demand = on_demand_file(&od, od_problem, sizeof od_problem);
    if (on_demand < 0)
        return cni_error(CODE_TRY_AGAIN_LATER, "fix or remove the file (`multus-dp install --on-demand` writes it)",
                         "%s: multus-dp shim: %s", command, od_problem);
    if (on_demand && strcmp(command, "VERSION") == 0)
        return version_reply(&body);    /* runtimes ask it to validate configs: no daemon needed */

    const char *bad = build_request(&req, &body);
    if (bad)
        return cni_error(CODE_INVALID_ENV, NULL, "multus-dp shim: cannot forward %.64s: variable names must be "
                         "letters, digits or '_' and values must not contain line breaks", bad);

    long allowed_uid;
    const char *uid_problem = configured_uid(&allowed_uid);
    if (uid_problem)
        return cni_error(CODE_INVALID_ENV, NULL, "%s", uid_problem);
    struct stat st;
    if (lstat(socket_path, &st) == 0 && !trusted_uid(st.st_uid, allowed_uid))
        return cni_error(CODE_UNTRUSTED_SOCKET, UNTRUSTED_HINT, "%s: refusing to talk to %s: the socket is owned by "
                         "uid %u, not root or uid %ld", command, socket_path, (unsigned)st.st_uid, allowed_uid);
    int fd = dial(socket_path, timeout);
    if (fd < 0 && on_demand && absent(errno)) {
        double start_timeout = DEFAULT_START_TIMEOUT_S;
        const char *env_start = getenv("MULTUS_DP_START_TIMEOUT");
        if (env_start && *env_start) {
            char *stop;
            start_timeout = strtod(env_start, &stop);
            if (stop == env_start || *stop || start_timeout <= 0)
                return cni_error(CODE_INVALID_ENV, NULL, "MULTUS_DP_START_TIMEOUT=%s is not a positive number of "
                                 "seconds", env_start);
        } else {
            number_value(body.data, body.len, "daemonStartTimeout", &start_timeout);
        }
        double idle_timeout;
        char idle[32];
        int has_idle = number_value(body.data, body.len, "daemonIdleTimeout", &idle_timeout) == 0;
        if (has_idle)
            snprintf(idle, sizeof idle, "%.17g", idle_timeout);
        char why[8192];
        const char *details;
        fd = start_and_dial(&od, socket_path, timeout, start_timeout, has_idle ? idle : NULL, why, sizeof why,
                            &details);
        if (fd < 0)
            return cni_error(CODE_TRY_AGAIN_LATER, details, "%s: %s", command, why);
        /* what answers now was started a moment ago: the file's owner is checked as above */
        if (lstat(socket_path, &st) == 0 && !trusted_uid(st.st_uid, allowed_uid))
            return cni_error(CODE_UNTRUSTED_SOCKET, UNTRUSTED_HINT, "%s: refusing to talk to %s: the socket is owned "
                             "by uid %u, not root or uid %ld", command, socket_path, (unsigned)st.st_uid, allowed_uid);
    } else if (fd < 0) {
        return cni_error(CODE_TRY_AGAIN_LATER, UNREACHABLE_HINT, "%s: multus-dp daemon is not reachable at %s: %s",
                         command, socket_path, strerror(errno));
    }
    double deadline = now_s() + timeout;    /* for the reply: a daemon's start is not counted */
    /* the file may have been swapped since lstat: what counts is who serves this connection */
    struct ucred peer;
    socklen_t peer_len = sizeof peer;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &peer_len) < 0)
        return cni_error(CODE_UNTRUSTED_SOCKET, UNTRUSTED_HINT, "%s: cannot tell who serves %s: %s", command,
                         socket_path, strerror(errno));
    if (!trusted_uid(peer.uid, allowed_uid))
        return cni_error(CODE_UNTRUSTED_SOCKET, UNTRUSTED_HINT, "%s: refusing to talk to %s: it is served by uid %u "
                         "(pid %d), not root or uid %ld", command, socket_path, (unsigned)peer.uid, (int)peer.pid,
                         allowed_uid);
    if (send_all(fd, req.data, req.len) < 0)
        return cni_error(CODE_TRY_AGAIN_LATER, UNREACHABLE_HINT, "%s: sending the request to the multus-dp daemon "
                         "at %s failed: %s", command, socket_path, strerror(errno));
    shutdown(fd, SHUT_WR);
    int rc = recv_all(fd, &reply, deadline);
    close(fd);
    if (rc == -2)
        return cni_error(CODE_TRY_AGAIN_LATER, "raise MULTUS_DP_TIMEOUT or the config's daemonTimeout if the "
                         "delegates are legitimately slow; the daemon log says what it was doing",
                         "%s: no reply from the multus-dp daemon at %s within %g s", command, socket_path, timeout);
    if (rc < 0)
        return cni_error(CODE_TRY_AGAIN_LATER, UNREACHABLE_HINT, "%s: reading the reply of the multus-dp daemon at "
                         "%s failed: %s", command, socket_path, rc == -3 ? "reply too large" : strerror(errno));

    char *head_end = reply.data ? strstr(reply.data, "\r\n\r\n") : NULL;
    if (!head_end || strncmp(reply.data, "HTTP/1.", 7) != 0)
        return cni_error(CODE_TRY_AGAIN_LATER, UNREACHABLE_HINT, "%s: the multus-dp daemon at %s closed the "
                         "connection without a complete reply (is it shutting down?)", command, socket_path);
    *head_end = '\0';
    const char *body_start = head_end + 4;
    size_t body_len = reply.len - (size_t)(body_start - reply.data);
    const char *exit_header = header_value(reply.data, "CNI-Exit-Code");
    if (!exit_header)
        return cni_error(CODE_TRY_AGAIN_LATER, UNREACHABLE_HINT, "%s: the reply from %s is not a multus-dp daemon "
                         "reply (no CNI-Exit-Code header; status line: %.80s)", command, socket_path, reply.data);
    const char *length_header = header_value(reply.data, "Content-Length");
    if (length_header) {
        size_t declared = (size_t)strtoull(length_header, NULL, 10);
        if (declared > body_len)
            return cni_error(CODE_TRY_AGAIN_LATER, UNREACHABLE_HINT, "%s: the reply of the multus-dp daemon at %s "
                             "was cut short", command, socket_path);
        body_len = declared;
    }
    int exit_code = atoi(exit_header);
    if (exit_code < 0 || exit_code > 255)
        exit_code = 1;
    if (body_len && fwrite(body_start, 1, body_len, stdout) != body_len)
        return 1;
    fflush(stdout);
    return exit_code;
}
