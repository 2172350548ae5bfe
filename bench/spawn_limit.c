/*
 * spawn_limit.c -- how many short processes this machine can start and reap
 * per second: posix_spawnp of `true`, N in all, at most K at once.
 * The ceiling for any task runner that starts one process per task.
 *   spawn_limit N K    prints {"count":N,"inflight":K,"seconds":S,"rate":R}
 */
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000;
    int k = argc > 2 ? atoi(argv[2]) : 2;
    char *args[] = {"true", NULL};
    long started = 0, reaped = 0;
    double t0;

    if (n < 1 || k < 1) {
        fputs("usage: spawn_limit N K\n", stderr);
        return 2;
    }
    t0 = now();
    while (reaped < n) {
        int st;
        pid_t pid;
        while (started < n && started - reaped < k) {
            int rc = posix_spawnp(&pid, "true", NULL, NULL, args, environ);
            if (rc) {
                fprintf(stderr, "spawn_limit: posix_spawnp: %s\n",
                        strerror(rc));
                return 1;
            }
            started++;
        }
        pid = waitpid(-1, &st, 0);
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0) {
            perror("spawn_limit: waitpid");
            return 1;
        }
        if (!WIFEXITED(st) || WEXITSTATUS(st)) {
            fputs("spawn_limit: true failed\n", stderr);
            return 1;
        }
        reaped++;
    }
    double secs = now() - t0;
    printf("{\"count\":%ld,\"inflight\":%d,\"seconds\":%.6f,\"rate\":%.2f}\n",
           n, k, secs, n / secs);
    return 0;
}
