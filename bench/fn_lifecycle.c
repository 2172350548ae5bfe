/*
 * fn_lifecycle.c -- function tasks in-process: what a C program that embeds
 * libtasklight pays per task, with the store's durability (SQLite WAL).
 *
 *   fn_lifecycle lifecycle [--count N] [--workers W] [--updates U]
 *       N function tasks submitted at once (one loop turn commits them),
 *       each calling tl_ctx_progress() U times and returning 0; rate =
 *       N / (first submit to tl_wait_all() returning, every task
 *       completed and its final state committed)
 *   fn_lifecycle latency [--count N] [--pause-ms MS] [--dump FILE]
 *       one task at a time on an idle manager: time from just before
 *       tl_submit_function() to the function's first instruction on its
 *       worker thread (CLOCK_MONOTONIC), MS pause between tasks
 *
 * The data directory is a fresh temp dir (or --data-dir), removed at the
 * end. The result is one JSON line on stdout. Bounded by --timeout.
 */
#include <tasklight.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static long count = 10000;
static int workers = 4, updates = 10;
static double pause_ms = 5, timeout_s = 300;
static const char *dump_path, *data_dir;
static atomic_long ran;
static _Atomic double entered_at;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int noop(tl_ctx_t *ctx, void *arg)
{
    (void)arg;
    for (int i = 1; i <= updates; i++)
        tl_ctx_progress(ctx, 100.0 * i / updates);
    atomic_fetch_add(&ran, 1);
    return 0;
}

static int stamp(tl_ctx_t *ctx, void *arg)
{
    (void)ctx;
    (void)arg;
    atomic_store(&entered_at, now_s());
    return 0;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void fail(tl_manager_t *m, const char *what, int rc)
{
    fprintf(stderr, "fn_lifecycle: %s: %s (%s)\n", what, tl_strerror(rc),
            m ? tl_manager_errmsg(m) : "");
    exit(1);
}

/* The "completed" count of the store, from the listing's counts. */
static long completed(tl_manager_t *m)
{
    tl_filter_t f = {.state = -1, .limit = 1};
    char *json = NULL;
    int rc = tl_task_list_json(m, &f, &json);
    if (rc)
        fail(m, "list", rc);
    const char *p = strstr(json, "\"completed\":");
    long n = p ? atol(p + 12) : -1;
    tl_free(json);
    return n;
}

int main(int argc, char **argv)
{
    if (argc < 2 || (strcmp(argv[1], "lifecycle") && strcmp(argv[1], "latency")))
        goto usage;
    int lat_mode = !strcmp(argv[1], "latency");
    for (int i = 2; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            goto usage;
        if (!strcmp(a, "--count"))
            count = atol(v);
        else if (!strcmp(a, "--workers"))
            workers = atoi(v);
        else if (!strcmp(a, "--updates"))
            updates = atoi(v);
        else if (!strcmp(a, "--pause-ms"))
            pause_ms = atof(v);
        else if (!strcmp(a, "--timeout"))
            timeout_s = atof(v);
        else if (!strcmp(a, "--dump"))
            dump_path = v;
        else if (!strcmp(a, "--data-dir"))
            data_dir = v;
        else
            goto usage;
    }
    if (count < 1 || workers < 1 || updates < 1 || timeout_s <= 0)
        goto usage;

    char tmp[] = "/tmp/tl-bench-fn-XXXXXX";
    if (!data_dir && !(data_dir = mkdtemp(tmp))) {
        perror("mkdtemp");
        return 1;
    }
    tl_manager_options_t o = {.data_dir = data_dir};
    tl_manager_t *m;
    int rc = tl_manager_open(&o, &m);
    if (rc)
        fail(NULL, "open", rc);
    if ((rc = tl_manager_set_workers(m, workers)))
        fail(m, "set_workers", rc);

    if (!lat_mode) {
        tl_function_t f = {.fn = noop, .title = "noop", .kind = "bench"};
        double t0 = now_s();
        for (long i = 0; i < count; i++) {
            int64_t id;
            if ((rc = tl_submit_function(m, &f, &id)))
                fail(m, "submit", rc);
        }
        if ((rc = tl_wait_all(m, timeout_s)))
            fail(m, "wait_all", rc);
        double secs = now_s() - t0;
        long done = completed(m);
        if (done != count || atomic_load(&ran) != count) {
            fprintf(stderr, "fn_lifecycle: %ld of %ld completed\n", done, count);
            return 1;
        }
        printf("{\"mode\":\"lifecycle\",\"count\":%ld,\"workers\":%d,"
               "\"updates\":%d,\"seconds\":%.6f,\"rate\":%.2f,\"errors\":0}\n",
               count, workers, updates, secs, count / secs);
    } else {
        double *lat = calloc((size_t)count, sizeof(*lat));
        tl_function_t f = {.fn = stamp, .title = "stamp", .kind = "bench"};
        double deadline = now_s() + timeout_s;
        if (!lat)
            return 1;
        for (long i = 0; i < count; i++) {
            int64_t id;
            tl_task_t *t = NULL;
            atomic_store(&entered_at, 0.0);
            double t0 = now_s();
            if ((rc = tl_submit_function(m, &f, &id)))
                fail(m, "submit", rc);
            if ((rc = tl_task_wait(m, id, 10, &t)))
                fail(m, "wait", rc);
            if (tl_task_state(t) != TL_STATE_COMPLETED) {
                fprintf(stderr, "fn_lifecycle: task %lld %s\n", (long long)id,
                        tl_state_name(tl_task_state(t)));
                return 1;
            }
            tl_task_free(t);
            lat[i] = atomic_load(&entered_at) - t0;
            if (now_s() > deadline) {
                fprintf(stderr, "fn_lifecycle: timed out\n");
                return 1;
            }
            struct timespec ts = {0, (long)(pause_ms * 1e6)};
            nanosleep(&ts, NULL);
        }
        qsort(lat, (size_t)count, sizeof(*lat), cmp_double);
        if (dump_path) {
            FILE *df = fopen(dump_path, "w");
            for (long i = 0; df && i < count; i++)
                fprintf(df, "%.4f\n", lat[i] * 1000);
            if (df)
                fclose(df);
        }
        printf("{\"mode\":\"latency\",\"count\":%ld,\"p50_ms\":%.4f,"
               "\"p99_ms\":%.4f,\"max_ms\":%.4f,\"errors\":0}\n",
               count, lat[count / 2] * 1000, lat[(long)(count * 0.99)] * 1000,
               lat[count - 1] * 1000);
        free(lat);
    }
    tl_manager_close(m);
    if (data_dir == tmp) {
        char cmd[64];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", tmp);
        if (system(cmd) != 0)
            return 1;
    }
    return 0;
usage:
    fputs("usage: fn_lifecycle lifecycle|latency [--count N] [--workers W]\n"
          "       [--updates U] [--pause-ms MS] [--timeout S] [--dump FILE]\n"
          "       [--data-dir D]\n",
          stderr);
    return 2;
}
