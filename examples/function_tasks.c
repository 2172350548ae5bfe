/*
 * function_tasks.c -- C functions as tasks, on libtasklight's worker pool:
 * progress in a tight loop, substeps, a result, a failure, a cancel.
 *
 *   cc function_tasks.c $(pkg-config --cflags --libs tasklight) -o demo
 *   ./demo /tmp/demo-data
 */
#include <tasklight.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static int checksum(tl_ctx_t *ctx, void *arg)
{
    long n = (long)(size_t)arg;
    unsigned long sum = 0;
    tl_ctx_step(ctx, "sum", "Add up the numbers", "running", NAN);
    for (long i = 1; i <= n; i++) {
        sum += (unsigned long)i * 2654435761u;
        tl_ctx_count(ctx, (double)i, (double)n); /* cheap: call it freely */
        if ((i & 0xffff) == 0 && tl_ctx_checkpoint(ctx) != 0)
            return 0; /* cancelled: stop quietly */
    }
    tl_ctx_step(ctx, "sum", NULL, "completed", NAN);
    char result[64];
    snprintf(result, sizeof(result), "{\"sum\": %lu}", sum & 0xffffffffUL);
    tl_ctx_result(ctx, result);
    tl_ctx_log(ctx, "summed %ld numbers", n);
    return 0;
}

static int broken(tl_ctx_t *ctx, void *arg)
{
    (void)arg;
    tl_ctx_fail(ctx, "the input file %s is missing", "data.csv");
    return 1;
}

static void print_event(const tl_event_t *ev, void *ud)
{
    (void)ud;
    if (ev->type[5] != 'p') /* every event but task.progress */
        printf("event %-15s task %lld\n", ev->type, (long long)ev->task_id);
}

int main(int argc, char **argv)
{
    tl_manager_options_t opts = {.data_dir = argc > 1 ? argv[1]
                                                      : "/tmp/tl-example"};
    tl_manager_t *m;
    int rc = tl_manager_open(&opts, &m);
    if (rc) {
        fprintf(stderr, "error: cannot open the manager: %s\n",
                tl_strerror(rc));
        return 1;
    }
    tl_manager_set_workers(m, 2);
    tl_manager_subscribe(m, print_event, NULL, NULL);

    int64_t ok, bad;
    tl_function_t sum = {.fn = checksum,
                         .arg = (void *)(size_t)50000000,
                         .title = "checksum",
                         .kind = "example"};
    tl_function_t fail = {.fn = broken, .title = "broken", .kind = "example"};
    tl_submit_function(m, &sum, &ok);
    tl_submit_function(m, &fail, &bad);
    tl_wait_all(m, 60);

    tl_task_t *t;
    if (tl_task_get(m, ok, &t) == 0) {
        char *json = tl_task_to_json(t);
        printf("%s\n", json);
        tl_free(json);
        tl_task_free(t);
    }
    if (tl_task_get(m, bad, &t) == 0) {
        printf("task %lld: %s: %s\n", (long long)bad,
               tl_state_name(tl_task_state(t)), tl_task_error(t));
        tl_task_free(t);
    }
    tl_manager_close(m);
    return 0;
}
