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
 * Plain C and libc; stdout carries only a CNI result or a CNI error.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* The defaults come from multus_dp/base/defaults.py (SOCKET_PATH, SOCKET_UID, DAEMON_TIMEOUT):
   setup.py passes them with -D, so there is no second copy here to drift. */
#if !defined(DEFAULT_SOCKET) || !defined(DEFAULT_SOCKET_UID) || !defined(DEFAULT_TIMEOUT_S)
#error "build the shim through setup.py (pip install): it passes -DDEFAULT_SOCKET, -DDEFAULT_SOCKET_UID, -DDEFAULT_TIMEOUT_S"
#endif
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

/* `<dir of this executable>/multus-dp.socket`, written by `multus-dp install --socket`: the
   socket when neither the env nor the config names one (libcni's VERSION check sends only
   {"cniVersion"}). 0 when found. */
static int socket_file(char *out, size_t outlen) {
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return -1;
    exe[n] = '\0';
    char path[4096 + 16];
    snprintf(path, sizeof path, "%s.socket", exe);
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
    double deadline = now_s() + timeout;

    const char *bad = build_request(&req, &body);
    if (bad)
        return cni_error(CODE_INVALID_ENV, NULL, "multus-dp shim: cannot forward %.64s: variable names must be "
                         "letters, digits or '_' and values must not contain line breaks", bad);

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return cni_error(CODE_TRY_AGAIN_LATER, UNREACHABLE_HINT, "%s: multus-dp shim cannot create a socket: %s",
                         command, strerror(errno));
    struct timeval tv = {.tv_sec = (time_t)timeout, .tv_usec = (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv); /* bounds connect() and send() */
    long allowed_uid;
    const char *uid_problem = configured_uid(&allowed_uid);
    if (uid_problem)
        return cni_error(CODE_INVALID_ENV, NULL, "%s", uid_problem);
    struct stat st;
    if (lstat(socket_path, &st) == 0 && !trusted_uid(st.st_uid, allowed_uid))
        return cni_error(CODE_UNTRUSTED_SOCKET, UNTRUSTED_HINT, "%s: refusing to talk to %s: the socket is owned by "
                         "uid %u, not root or uid %ld", command, socket_path, (unsigned)st.st_uid, allowed_uid);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    strcpy(addr.sun_path, socket_path);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0)
        return cni_error(CODE_TRY_AGAIN_LATER, UNREACHABLE_HINT, "%s: multus-dp daemon is not reachable at %s: %s",
                         command, socket_path, strerror(errno));
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
