/*
 * wait.c -- `tl wait`, and following one task to its end (also for
 * `tl add --wait/--follow` and `tl log -f`) on its event stream.
 *
 * DESIGN: GET /api/tasks/ID/stream sends the task as task.snapshot first
 * (with ?logs=N, then its last N log lines), then its events, and closes
 * after the final one (at once when the task is final already). The first
 * final task seen on the stream decides; no polling. A stream that closes
 * on a task that is not final (a daemon stopping) is checked once with
 * GET /api/tasks/ID before giving up.
 *
 * The live line is drawn on stderr only when it is a terminal: redrawn in
 * place with "\r" and erase-line on each event, taken away before a log
 * line is printed and at the end, so neither a pipe nor the scrollback
 * keeps anything of it.
 */
#include "wait.h"

#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "client.h"
#include "output.h"
#include "taskview.h"

static const char usage[] =
    "usage: tl wait [--timeout DUR] [-q|--quiet] [--json] ID...\n"
    "\n"
    "Waits until the tasks finish, showing a live progress line on a\n"
    "terminal. Exits 0 when all completed, 1 when any failed or was\n"
    "cancelled (saying why on stderr), or on the timeout.\n"
    "\n"
    "options:\n"
    "      --timeout DUR  give up after DUR in all (30s, 5m, ...; 0: never)\n"
    "  -q, --quiet        no live progress line\n"
    "      --json         print {\"tasks\": [...]}, the final tasks\n";

enum { OPT_TIMEOUT = CLI_OPT_FIRST_LOCAL, OPT_JSON };

#define LIVE_BAR 12

typedef struct waiter {
    cli_t *cli;
    const follow_opts_t *o;
    int64_t id;
    json_t *task; /* the last task seen */
    int deleted;
    int drawn; /* the live line is on the screen */
} waiter_t;

int cli_live_ok(void)
{
    const char *term = getenv("TERM");

    return isatty(STDERR_FILENO) && !(term && strcmp(term, "dumb") == 0);
}

static size_t stderr_width(void)
{
    struct winsize ws;

    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    return 80;
}

/* ---- the live line ---------------------------------------------------- */

static void live_clear(waiter_t *w)
{
    if (!w->drawn)
        return;
    fputs("\r\033[K", stderr);
    fflush(stderr);
    w->drawn = 0;
}

/* "▶ 12 build  ▕████▌     ▏ 45%  1m 3s  eta 20s  message" */
static char *live_text(const waiter_t *w, const tv_task_t *v)
{
    char bar[LIVE_BAR * 3 + 8] = "", pct[8], el[32], eta[32], *s;
    const char *icon, *sgr;

    cli_state_style(w->cli, v->state, &icon, &sgr);
    if (v->progress >= 0 || tv_is_active(v))
        args_format_bar(v->progress, LIVE_BAR, w->cli->unicode, bar,
                        sizeof(bar));
    tv_percent(v, pct, sizeof(pct));
    tv_elapsed(v, el, sizeof(el));
    tv_eta(v, eta, sizeof(eta));
    s = cli_xasprintf("%s%s%s %lld %s  %s %s  %s%s%s%s%s",
                      w->o->label ? w->o->label : "", w->o->label ? " " : "",
                      icon, (long long)v->id, v->title, bar, pct, el,
                      *eta ? "  eta " : "", eta, v->message ? "  " : "",
                      v->message ? v->message : "");
    return s;
}

static void live_draw(waiter_t *w)
{
    tv_task_t v;
    char *text, *fit;

    if (!w->o->live || !w->task)
        return;
    tv_task_read(&v, w->task);
    text = live_text(w, &v);
    fit = cli_fit(text, stderr_width() - 1); /* the last column may wrap */
    fprintf(stderr, "\r%s\033[K", fit);
    fflush(stderr);
    w->drawn = 1;
    free(fit);
    free(text);
    tv_task_free(&v);
}

/* ---- events ----------------------------------------------------------- */

static void print_log(waiter_t *w, const args_sse_event_t *ev)
{
    json_t *line = json_loadb(ev->data, ev->data_len, 0, NULL);
    json_t *text = json_object_get(line, "text");
    const char *stream = cli_json_str(line, "stream");
    FILE *out = stdout;

    if (cli_json_int(line, "task_id", w->id) == w->id && json_is_string(text)) {
        if (w->o->split_streams && stream && strcmp(stream, "stdout") != 0)
            out = stderr;
        live_clear(w);
        fwrite(json_string_value(text), 1, json_string_length(text), out);
        fputc('\n', out);
        fflush(out);
    }
    json_decref(line);
}

static int on_event(const args_sse_event_t *ev, void *ud)
{
    waiter_t *w = ud;
    json_t *t;

    if (strcmp(ev->event, "task.log") == 0) {
        if (w->o->logs)
            print_log(w, ev);
        live_draw(w);
        return 0;
    }
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
    live_draw(w);
    /* the daemon closes the stream after a final event; do not depend
     * on it. But a final snapshot is followed by the log tail, which
     * must be read to the end. */
    return cli_state_is_final(cli_json_str(t, "state")) &&
           !(w->o->logs && strcmp(ev->event, "task.snapshot") == 0);
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

int cli_follow_task(cli_t *cli, int64_t id, const follow_opts_t *o,
                    json_t **task)
{
    waiter_t w = {.cli = cli, .o = o, .id = id};
    cli_http_t res;
    char *path;
    int rc;

    if (o->logs && o->log_tail > 0)
        path = cli_xasprintf("/api/tasks/%lld/stream?logs=%ld", (long long)id,
                             o->log_tail);
    else
        path = cli_xasprintf("/api/tasks/%lld/stream", (long long)id);
    rc = cli_stream(cli, path, o->timeout_s, on_event, &w, &res);
    free(path);
    live_clear(&w);
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

int cli_wait_task(cli_t *cli, int64_t id, double timeout_s, json_t **task)
{
    follow_opts_t o = {.timeout_s = timeout_s};

    return cli_follow_task(cli, id, &o, task);
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

/* ---- tl wait ---------------------------------------------------------- */

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef struct wait_run {
    cli_t *cli;
    int64_t *ids;
    int n, quiet, json;
    double deadline;
    json_t *finals; /* with --json */
} wait_run_t;

/* Waits for the i-th task; returns its exit code. */
static int wait_one(wait_run_t *r, int i)
{
    follow_opts_t o = {.live = !r->quiet && cli_live_ok()};
    char label[48];
    json_t *task = NULL;
    int rc;

    if (r->deadline) {
        o.timeout_s = r->deadline - mono_s();
        if (o.timeout_s <= 0)
            return cli_error(CLI_FAIL, "timed out");
    }
    if (r->n > 1) {
        snprintf(label, sizeof(label), "[%d/%d]", i + 1, r->n);
        o.label = label;
    }
    rc = cli_follow_task(r->cli, r->ids[i], &o, &task);
    if (rc == CLI_OK)
        rc = cli_task_outcome(task, 0);
    if (task && r->finals)
        json_array_append(r->finals, task);
    json_decref(task);
    return rc;
}

int cmd_wait(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"timeout", required_argument, NULL, OPT_TIMEOUT},
        {"quiet", no_argument, NULL, 'q'},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS,
    };
    wait_run_t r = {.cli = cli};
    double timeout = 0;
    int c, i, one, rc = CLI_OK;

    while ((c = cli_getopt(cli, argc, argv, ":hq", longopts, usage)) != -1) {
        if (c == 'q') {
            r.quiet = 1;
        } else if (c == OPT_JSON) {
            r.json = 1;
        } else if (c == OPT_TIMEOUT) {
            if (cli_opt_duration(usage, "--timeout", optarg, &timeout))
                return CLI_USAGE;
        } else {
            return cli->rc;
        }
    }
    if (cli_parse_ids(usage, argc - optind, argv + optind, &r.ids))
        return CLI_USAGE;
    r.n = argc - optind;
    if (timeout > 0)
        r.deadline = mono_s() + timeout;
    if (r.json)
        r.finals = cli_xcheck(json_array());
    for (i = 0; i < r.n; i++) {
        one = wait_one(&r, i);
        if (one > rc)
            rc = one;
        /* a failure past the deadline is the timeout, said already */
        if (one == CLI_UNREACHABLE ||
            (one && r.deadline && mono_s() >= r.deadline))
            break;
    }
    if (r.json) {
        json_t *out = cli_xcheck(json_pack("{so}", "tasks", r.finals));

        cli_print_json(out);
        json_decref(out);
    }
    free(r.ids);
    return rc;
}
