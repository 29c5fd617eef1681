/*
 * The floor driver: runs CNI delegates directly, one after the other, with no meta-plugin.
 * It is the "floor" a meta-plugin's latency is compared with; written in C so that the
 * driver itself adds only one fork+exec (~0.5 ms) and no interpreter start.
 *
 *   floor ADD|DEL PLUGIN IFNAME CONFFILE [PLUGIN IFNAME CONFFILE]...
 *
 * CNI_COMMAND, CNI_CONTAINERID, CNI_NETNS, CNI_PATH and CNI_ARGS come from the environment;
 * CNI_IFNAME is set per delegate, CONFFILE is its stdin. Each delegate's stdout passes
 * through unchanged (the results follow each other). ADD runs in order and stops at the
 * first failure; DEL runs in reverse, carries on past failures. Exit status: 0, or the
 * first failing delegate's status (127 when it could not be started).
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static int run_one(const char *plugin, const char *ifname, const char *conffile) {
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) {
        perror("floor: fork");
        return 127;
    }
    if (pid == 0) {
        int fd = open(conffile, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || dup2(fd, 0) < 0) {
            perror(conffile);
            _exit(127);
        }
        setenv("CNI_IFNAME", ifname, 1);
        execl(plugin, plugin, (char *)NULL);
        perror(plugin);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        ;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int main(int argc, char **argv) {
    if (argc < 2 || (argc - 2) % 3 != 0 || (strcmp(argv[1], "ADD") && strcmp(argv[1], "DEL"))) {
        fprintf(stderr, "usage: floor ADD|DEL PLUGIN IFNAME CONFFILE [PLUGIN IFNAME CONFFILE]...\n");
        return 2;
    }
    int n = (argc - 2) / 3, failed = 0;
    int add = strcmp(argv[1], "ADD") == 0;
    setenv("CNI_COMMAND", argv[1], 1);
    for (int k = 0; k < n; k++) {
        int i = add ? k : n - 1 - k;
        char **d = argv + 2 + 3 * i;
        int rc = run_one(d[0], d[1], d[2]);
        if (rc != 0) {
            fprintf(stderr, "floor: %s %s (%s) exited with %d\n", argv[1], d[0], d[1], rc);
            if (!failed)
                failed = rc;
            if (add)
                break;
        }
    }
    return failed;
}
