/*
 * wait.c -- `tl wait`, and waiting for one task (also for `tl add --wait`)
 * by following its event stream.
 *
 * DESIGN: GET /api/tasks/ID/stream sends the task as task.snapshot first,
 * then its events, and closes after the final one (at once when the task
 * is final already). The first final task seen on the stream decides (we
 * stop reading there); no polling.
 * A stream that closes on a task that is not final (a daemon stopping) is
 * checked once with GET /api/tasks/ID before giving up.
 */
#include "wait.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "args.h"
#include "client.h"
#include "output.h"

static const char usage[] =
    "usage: tl wait [--timeout DUR] ID...\n"
    "\n"
    "Waits until the tasks finish. Exits 0 when all completed, 1 when any\n"
    "failed or was cancelled (saying why on stderr), or on the timeout.\n"
    "\n"
    "options:\n"
    "  --timeout DUR  give up after DUR in all (30s, 5m, ...; 0: never)\n";

enum { OPT_TIMEOUT = CLI_OPT_FIRST_LOCAL };

typedef struct waiter {
    int64_t id;
    json_t *task; /* the last task seen */
    int deleted;
} waiter_t;

static int on_event(const args_sse_event_t *ev, void *ud)
{
    waiter_t *w = ud;
    json_t *t;

    if (strcmp(ev->event, "task.log") == 0)
        return 0;
    if (strcmp(ev->event, "task.deleted") == 0) {
        w->deleted = 1;
        return 1; /* stop */
    }
    t = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (!json_is_object(t) || cli_json_int(t, "id", 0) != w->id ||
        !cli_json_str(t, "state")) {
        json_decref(t);
        return 0;
    }
    json_decref(w->task);
    w->task = t;
    /* the daemon closes the stream after a final event; do not depend
     * on it */
    return cli_state_is_final(cli_json_str(t, "state"));
}

/* The stream ended on a task that is not final: ask once more. */
static int refetch(cli_t *cli, waiter_t *w)
{
    char *path = cli_xasprintf("/api/tasks/%lld", (long long)w->id);
    json_t *t = NULL;
    int rc = cli_call(cli, "GET", path, NULL, &t);

    free(path);
    if (rc)
        return rc;
    if (!cli_state_is_final(cli_json_str(t, "state"))) {
        json_decref(t);
        return cli_error(CLI_UNREACHABLE,
                         "the daemon closed the stream before task %lld "
                         "finished",
                         (long long)w->id);
    }
    json_decref(w->task);
    w->task = t;
    return CLI_OK;
}

int cli_wait_task(cli_t *cli, int64_t id, double timeout_s, json_t **task)
{
    char *path = cli_xasprintf("/api/tasks/%lld/stream", (long long)id);
    waiter_t w = {.id = id};
    cli_http_t res;
    int rc;

    rc = cli_stream(cli, path, timeout_s, on_event, &w, &res);
    free(path);
    if (rc == CLI_OK && w.deleted)
        rc = cli_error(CLI_FAIL, "task %lld was deleted", (long long)id);
    else if (rc == CLI_OK && !cli_state_is_final(cli_json_str(w.task, "state")))
        rc = refetch(cli, &w);
    else if (rc != CLI_OK)
        cli_error(res.timed_out ? CLI_FAIL : rc, "%s", res.errmsg);
    if (res.timed_out)
        rc = CLI_FAIL;
    cli_http_free(&res);
    if (rc == CLI_OK)
        *task = w.task;
    else
        json_decref(w.task);
    return rc;
}

int cli_task_outcome(const json_t *task, int use_exit_code)
{
    const char *state = cli_json_str(task, "state");
    const char *error = cli_json_str(task, "error");
    long long id = (long long)cli_json_int(task, "id", 0);
    int64_t code = cli_json_int(task, "exit_code", -1);

    if (state && strcmp(state, "completed") == 0)
        return CLI_OK;
    if (state && strcmp(state, "cancelled") == 0) {
        cli_error(CLI_FAIL, "task %lld was cancelled", id);
        return use_exit_code ? 130 : CLI_FAIL;
    }
    if (error && *error)
        cli_error(CLI_FAIL, "task %lld failed: %s", id, error);
    else if (code >= 0)
        cli_error(CLI_FAIL, "task %lld failed: exit code %lld", id,
                  (long long)code);
    else
        cli_error(CLI_FAIL, "task %lld %s", id, state ? state : "failed");
    if (use_exit_code && code > 0 && code < 256)
        return (int)code;
    return CLI_FAIL;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cmd_wait(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        CLI_GLOBAL_OPTIONS,
    };
    double timeout = 0, deadline = 0, left = 0;
    int64_t *ids = NULL;
    json_t *task;
    int c, i, r, rc = CLI_OK;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, usage)) != -1) {
        if (c != OPT_TIMEOUT)
            return cli->rc;
        if (cli_opt_duration(usage, "--timeout", optarg, &timeout))
            return CLI_USAGE;
    }
    if (cli_parse_ids(usage, argc - optind, argv + optind, &ids))
        return CLI_USAGE;
    if (timeout > 0)
        deadline = mono_s() + timeout;
    for (i = 0; i < argc - optind; i++) {
        if (deadline) {
            left = deadline - mono_s();
            if (left <= 0) {
                rc = cli_error(CLI_FAIL, "timed out");
                break;
            }
        }
        task = NULL;
        r = cli_wait_task(cli, ids[i], left, &task);
        if (r == CLI_OK)
            r = cli_task_outcome(task, 0);
        json_decref(task);
        if (r > rc)
            rc = r;
        /* a failure past the deadline is the timeout, said already */
        if (r == CLI_UNREACHABLE || (r && deadline && mono_s() >= deadline))
            break;
    }
    free(ids);
    return rc;
}
