/*
 * ctx_progress.c -- what a progress report costs a function task:
 * nanoseconds per tl_ctx_progress() call in a tight loop, on the worker
 * thread, while the manager's loop picks the values up.
 *
 *   make bench-ctx    (or: build/bench/ctx_progress [CALLS])
 *   valgrind --tool=callgrind build/bench/ctx_progress 1000000
 */
#include <tasklight.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static long calls = 50000000;
static double ns_per_call;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int hammer(tl_ctx_t *ctx, void *arg)
{
    (void)arg;
    double t0 = now_s();
    for (long i = 0; i < calls; i++)
        tl_ctx_progress(ctx, (double)i * 100.0 / (double)calls);
    ns_per_call = (now_s() - t0) * 1e9 / (double)calls;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        calls = atol(argv[1]);
    char dir[] = "/tmp/tl-bench-ctx-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    tl_manager_options_t o = {.data_dir = dir};
    tl_manager_t *m;
    if (tl_manager_open(&o, &m) != 0)
        return 1;
    tl_function_t f = {.fn = hammer, .title = "progress hammer"};
    int64_t id;
    tl_submit_function(m, &f, &id);
    tl_wait_all(m, 0);
    tl_task_t *t;
    tl_task_get(m, id, &t);
    printf("tl_ctx_progress: %ld calls, %.1f ns per call, task %s\n", calls,
           ns_per_call, t ? tl_state_name(tl_task_state(t)) : "missing");
    tl_task_free(t);
    tl_manager_close(m);
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : 1;
}
