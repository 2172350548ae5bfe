/*
 * cmd_watch.c -- `tl watch`: a full-screen live view of the tasks
 * (ncurses): progress bars, time left, the current substep and the last
 * log line; details of one task with its live log; pause, resume, cancel
 * and a text filter from the keyboard.
 *
 * DESIGN: one thread. The UI loop waits in cli_feeds_poll() on both the
 * event stream (GET /api/events, client.c feeds) and the terminal, so a key is
 * handled at once and an event is drawn at once; nothing polls the daemon.
 * The task list is fetched on start, on a "reset" event and after the
 * stream broke (reconnecting once a second, with the last event's id so a
 * daemon that still holds what was missed replays it instead), as events
 * may have been lost. The details of a task read that task's own stream
 * (/api/tasks/ID/stream?logs=N), which starts with its last log lines, so
 * the log shown has no gap and no repeats. Event callbacks only change the
 * model and set flags; requests (refetch, pause, cancel) are made from the
 * loop, between polls.
 *
 * The terminal is always given back: endwin() on every way out, and
 * SIGINT/SIGTERM/SIGHUP only set a flag that the loop sees within one poll
 * interval (the signal also cuts the poll short).
 */
#include <curses.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "output.h"
#include "taskview.h"
#include "watch_model.h"

static const char usage[] =
    "usage: tl watch [--filter TEXT]\n"
    "\n"
    "A live full-screen view of the tasks, fed by the daemon's events.\n"
    "\n"
    "keys:\n"
    "  up/down, j/k   select a task     enter   its details and live log\n"
    "  p  pause       r  resume         c       cancel (asks y/n)\n"
    "  /  filter      esc  back         q       quit\n"
    "\n"
    "options:\n"
    "  -f, --filter TEXT  start with this filter\n";

#define POLL_MS 250
#define TICK_S 1.0
#define RECONNECT_S 1.0
#define KEEP_FINISHED 200
#define FETCH_RECENT 100
#define FETCH_ACTIVE 1000
#define DETAIL_LOGS 200 /* lines kept for the details */
#define BAR_INNER 10
#define DETAIL_BAR 30
#define FILTER_MAX 128
#define GAP 2

enum { PAIR_RUN = 1, PAIR_PAUSE, PAIR_OK, PAIR_FAIL, PAIR_HEAD, PAIR_DIM };

typedef enum { MODE_LIST, MODE_FILTER, MODE_CONFIRM } watch_mode_t;

typedef struct watch {
    cli_t *cli;
    wmodel_t model;
    cli_feeds_t *feeds;
    cli_feed_t *events;
    double retry_at; /* when the broken stream is opened again */
    int need_refetch;
    int broken; /* the stream broke; cleared once it is up again */
    char last_id[ARGS_SSE_NAME_MAX + 1]; /* of the last event, to resume */
    /* list */
    int64_t selected; /* the selected task's id, 0 when none */
    size_t top;       /* the first row shown */
    char filter[FILTER_MAX];
    char filter_saved[FILTER_MAX];
    watch_mode_t mode;
    char status[256]; /* a message on the status line */
    /* details */
    int64_t detail; /* the task shown, 0 for the list */
    cli_feed_t *detail_feed;
    char *logs[DETAIL_LOGS];
    size_t nlogs, log_start; /* a ring */
    int color;
    double drawn_at;
} watch_t;

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void set_status(watch_t *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void set_status(watch_t *w, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(w->status, sizeof(w->status), fmt, ap);
    va_end(ap);
    w->model.dirty = 1;
}

/* ---- fetching --------------------------------------------------------- */

static int fetch_page(watch_t *w, const char *query)
{
    char *path = cli_xasprintf("/api/tasks?%s", query);
    cli_http_t res;
    double now = mono_s();
    json_t *t;
    size_t i;
    int rc = cli_http(w->cli, "GET", path, NULL, &res);

    free(path);
    if (rc == CLI_OK)
        json_array_foreach(json_object_get(res.json, "tasks"), i, t)
            wm_put(&w->model, t, now);
    else
        set_status(w, "cannot list the tasks: %s", res.errmsg);
    cli_http_free(&res);
    return rc;
}

/* The active tasks, all of them, and the newest others. */
static int refetch(watch_t *w)
{
    static const char *const active[] = {"running", "paused", "queued"};
    char query[64];
    size_t i;
    int rc;

    wm_mark_stale(&w->model);
    snprintf(query, sizeof(query), "limit=%d", FETCH_RECENT);
    rc = fetch_page(w, query);
    for (i = 0; i < 3 && rc == CLI_OK; i++) {
        snprintf(query, sizeof(query), "state=%s&limit=%d", active[i],
                 FETCH_ACTIVE);
        rc = fetch_page(w, query);
    }
    if (rc == CLI_OK)
        wm_sweep(&w->model);
    w->need_refetch = rc != CLI_OK;
    return rc;
}

/* ---- streams ---------------------------------------------------------- */

static int on_event(const args_sse_event_t *ev, void *ud)
{
    watch_t *w = ud;

    if (wm_apply_event(&w->model, ev->event, ev->data, ev->data_len, mono_s()))
        w->need_refetch = 1;
    return 0;
}

static void logs_clear(watch_t *w)
{
    size_t i;

    for (i = 0; i < w->nlogs; i++)
        free(w->logs[(w->log_start + i) % DETAIL_LOGS]);
    w->nlogs = w->log_start = 0;
}

static void logs_push(watch_t *w, const char *text)
{
    size_t at;

    if (w->nlogs == DETAIL_LOGS) {
        free(w->logs[w->log_start]);
        w->log_start = (w->log_start + 1) % DETAIL_LOGS;
        w->nlogs--;
    }
    at = (w->log_start + w->nlogs++) % DETAIL_LOGS;
    w->logs[at] = cli_xstrdup(text);
}

static int on_detail_event(const args_sse_event_t *ev, void *ud)
{
    watch_t *w = ud;
    json_t *d;

    if (strcmp(ev->event, "task.log") != 0) {
        if (strcmp(ev->event, "task.snapshot") == 0)
            wm_apply_event(&w->model, "task.updated", ev->data, ev->data_len,
                           mono_s());
        return 0; /* task events come on the main stream too */
    }
    d = json_loadb(ev->data, ev->data_len, 0, NULL);
    if (cli_json_str(d, "text"))
        logs_push(w, cli_json_str(d, "text"));
    json_decref(d);
    w->model.dirty = 1;
    return 0;
}

/* Opens the event stream, resuming after the last event seen when there
 * was one. The list is fetched again once the stream is up, unless the
 * daemon says (hello, "resumed": true) that it replays what was missed. */
static void open_events(watch_t *w)
{
    char *id, *path;

    if (w->last_id[0]) {
        id = cli_url_escape(w->cli, w->last_id);
        path = cli_xasprintf("/api/events?last_event_id=%s", id);
        free(id);
    } else {
        path = cli_xstrdup("/api/events");
    }
    w->events = cli_feed_open(w->feeds, path, on_event, w);
    w->need_refetch = 1;
    free(path);
}

static void open_detail(watch_t *w, int64_t id)
{
    char *path = cli_xasprintf("/api/tasks/%lld/stream?logs=%d", (long long)id,
                               DETAIL_LOGS);

    logs_clear(w);
    w->detail = id;
    w->detail_feed = cli_feed_open(w->feeds, path, on_detail_event, w);
    free(path);
    w->model.dirty = 1;
}

static void close_detail(watch_t *w)
{
    cli_feed_close(w->feeds, w->detail_feed);
    w->detail_feed = NULL;
    w->detail = 0;
    logs_clear(w);
    w->model.dirty = 1;
}

/* Reopens the event stream a while after it broke. */
static void check_stream(watch_t *w, double now)
{
    const char *msg;
    int rc;

    if (!cli_feed_done(w->events, &rc, &msg)) {
        if (w->broken && cli_feed_started(w->events)) {
            w->broken = 0;
            set_status(w, "reconnected");
        }
        return;
    }
    if (!w->retry_at) {
        w->broken = 1;
        w->retry_at = now + RECONNECT_S;
        set_status(w, "event stream ended: %s; reconnecting",
                   rc ? msg : "closed by the daemon");
        return;
    }
    if (now < w->retry_at)
        return;
    w->retry_at = 0;
    cli_feed_close(w->feeds, w->events);
    open_events(w);
}

/* ---- actions ---------------------------------------------------------- */

/* The tasks shown (filtered), in order; n in *n. malloc'd. */
static wm_task_t **visible(watch_t *w, size_t *n)
{
    wm_task_t **v = cli_xmalloc(sizeof(*v) * (w->model.n + 1));
    size_t i;

    *n = 0;
    for (i = 0; i < w->model.n; i++)
        if (wm_matches(&w->model.tasks[i], w->filter))
            v[(*n)++] = &w->model.tasks[i];
    return v;
}

static int64_t current_id(const watch_t *w)
{
    return w->detail ? w->detail : w->selected;
}

static void act(watch_t *w, const char *action, const char *done)
{
    int64_t id = current_id(w);
    char *path;
    cli_http_t res;
    int rc;

    if (!id) {
        set_status(w, "no task selected");
        return;
    }
    path = cli_xasprintf("/api/tasks/%lld/%s", (long long)id, action);
    rc = cli_http(w->cli, "POST", path, NULL, &res);
    free(path);
    if (rc == CLI_OK) {
        wm_put(&w->model, res.json, mono_s());
        set_status(w, "task %lld %s", (long long)id, done);
    } else {
        set_status(w, "task %lld: %s", (long long)id, res.errmsg);
    }
    cli_http_free(&res);
}

/* Moves the selection by delta rows (clamped). */
static void select_by(watch_t *w, long delta)
{
    size_t n, i, at = 0;
    wm_task_t **v = visible(w, &n);
    long to;

    if (n) {
        for (i = 0; i < n; i++)
            if (v[i]->id == w->selected)
                at = i;
        to = (long)at + delta;
        to = to < 0 ? 0 : to >= (long)n ? (long)n - 1 : to;
        w->selected = v[to]->id;
    }
    free(v);
    w->model.dirty = 1;
}

/* ---- drawing helpers -------------------------------------------------- */

static attr_t state_attr(const watch_t *w, const char *state)
{
    int pair = 0;

    if (strcmp(state, "running") == 0)
        pair = PAIR_RUN;
    else if (strcmp(state, "paused") == 0)
        pair = PAIR_PAUSE;
    else if (strcmp(state, "completed") == 0)
        pair = PAIR_OK;
    else if (strcmp(state, "failed") == 0)
        pair = PAIR_FAIL;
    if (strcmp(state, "queued") == 0 || strcmp(state, "cancelled") == 0)
        return A_DIM;
    return w->color && pair ? COLOR_PAIR(pair) : A_NORMAL;
}

/* Puts text at (y, *x) fitted and padded to width columns; advances *x
 * past the cell and a gap. Never writes past the screen's last column. */
static void cell(int y, int *x, const char *text, size_t width, int right,
                 attr_t attr)
{
    size_t w, pad;
    char *fit;

    if (!width || *x >= COLS)
        return;
    if ((size_t)*x + width > (size_t)COLS)
        width = (size_t)(COLS - *x);
    fit = cli_fit(text ? text : "", width);
    w = args_text_width(fit);
    pad = w < width ? width - w : 0;
    move(y, *x);
    if (right)
        printw("%*s", (int)pad, "");
    attron(attr);
    addstr(fit);
    attroff(attr);
    if (!right)
        printw("%*s", (int)pad, "");
    *x += (int)width + GAP;
    free(fit);
}

/* Elapsed and ETA of t, run on from when the task came. */
static void times(const wm_task_t *t, tv_task_t *v, double now)
{
    double since = now - t->seen_at;

    if (strcmp(v->state, "running") != 0)
        return;
    if (v->elapsed_s >= 0)
        v->elapsed_s += since;
    if (v->eta_s >= 0)
        v->eta_s = v->eta_s > since ? v->eta_s - since : 0;
}

/* ---- the list --------------------------------------------------------- */

enum { C_ID, C_STATE, C_TITLE, C_BAR, C_PCT, C_ELAPSED, C_ETA, C_NOW, NC };

static const char *const heads[NC] = {"ID", "STATE",   "TITLE", "PROGRESS",
                                      "",   "ELAPSED", "ETA",   "NOW"};

static void list_layout(wm_task_t **v, size_t n, args_col_t *c)
{
    size_t i;

    memset(c, 0, sizeof(*c) * NC);
    for (i = 0; i < NC; i++)
        c[i].natural = c[i].min = strlen(heads[i]);
    c[C_ID].natural = c[C_ID].min = 4;
    c[C_STATE].natural = c[C_STATE].min = 11; /* "✓ completed" */
    c[C_TITLE].natural = 40;
    c[C_TITLE].min = 12;
    c[C_BAR].natural = c[C_BAR].min = BAR_INNER + 2;
    c[C_PCT].natural = c[C_PCT].min = 4;
    c[C_ELAPSED].natural = c[C_ELAPSED].min = 7;
    c[C_ETA].natural = c[C_ETA].min = 7;
    c[C_NOW].natural = 200; /* takes what is left */
    c[C_NOW].min = 12;
    c[C_NOW].drop = 1;
    c[C_ETA].drop = 2;
    c[C_BAR].drop = 3;
    c[C_ELAPSED].drop = 4;
    for (i = 0; i < n; i++) {
        size_t idw = (size_t)snprintf(NULL, 0, "%lld", (long long)v[i]->id);
        if (idw > c[C_ID].natural)
            c[C_ID].natural = c[C_ID].min = idw;
    }
    args_fit_columns(c, NC, GAP, (size_t)(COLS > 2 ? COLS - 2 : 1));
}

/* "[Compile] last log line", or the message. */
static char *now_text(const wm_task_t *t, const tv_task_t *v)
{
    const char *what =
        t->last_log && !cli_state_is_final(v->state) ? t->last_log : v->message;

    if (v->step)
        return cli_xasprintf("[%s] %s", v->step, what ? what : "");
    return cli_xstrdup(what ? what : "");
}

static void draw_row(watch_t *w, int y, const wm_task_t *t, const args_col_t *c,
                     double now)
{
    char id[24], st[64], bar[BAR_INNER * 3 + 8] = "", pct[8], el[32], eta[32];
    const char *icon, *sgr;
    attr_t sa, sel = t->id == w->selected ? A_REVERSE : A_NORMAL;
    tv_task_t v;
    char *nowt;
    int x = 1;

    tv_task_read(&v, t->json);
    times(t, &v, now);
    cli_state_style(w->cli, v.state, &icon, &sgr);
    sa = state_attr(w, v.state);
    snprintf(id, sizeof(id), "%lld", (long long)v.id);
    snprintf(st, sizeof(st), "%s %s", icon, v.state);
    if (v.progress >= 0 || tv_is_active(&v))
        args_format_bar(v.progress, BAR_INNER, w->cli->unicode, bar,
                        sizeof(bar));
    tv_percent(&v, pct, sizeof(pct));
    tv_elapsed(&v, el, sizeof(el));
    tv_eta(&v, eta, sizeof(eta));
    nowt = now_text(t, &v);
    if (sel) {
        attron(A_REVERSE);
        mvhline(y, 0, ' ', COLS);
    }
    mvaddstr(y, 0, sel ? ">" : " ");
    cell(y, &x, id, c[C_ID].width, 1, sel);
    cell(y, &x, st, c[C_STATE].width, 0, sa | sel);
    cell(y, &x, v.title, c[C_TITLE].width, 0, sel);
    cell(y, &x, bar, c[C_BAR].width, 0, sa | sel);
    cell(y, &x, pct, c[C_PCT].width, 1, sel);
    cell(y, &x, el, c[C_ELAPSED].width, 1, sel);
    cell(y, &x, eta, c[C_ETA].width, 1, sel);
    cell(y, &x, nowt, c[C_NOW].width, 0,
         (strcmp(v.state, "failed") == 0 ? sa : A_NORMAL) | sel);
    if (sel)
        attroff(A_REVERSE);
    free(nowt);
    tv_task_free(&v);
}

static void draw_header(watch_t *w)
{
    static const char *const order[] = {"running",   "paused", "queued",
                                        "completed", "failed", "cancelled"};
    int counts[6] = {0};
    char line[512];
    size_t i, k, o;
    const char *icon, *sgr, *st;
    int live = w->events && !w->retry_at;

    for (i = 0; i < w->model.n; i++) {
        st = cli_json_str(w->model.tasks[i].json, "state");
        for (k = 0; k < 6; k++)
            if (strcmp(st, order[k]) == 0)
                counts[k]++;
    }
    o = (size_t)snprintf(line, sizeof(line), " tasklight ");
    for (k = 0; k < 6; k++) {
        if (!counts[k])
            continue;
        cli_state_style(w->cli, order[k], &icon, &sgr);
        o += (size_t)snprintf(line + o, sizeof(line) - o, "  %s %d %s", icon,
                              counts[k], order[k]);
    }
    char right[FILTER_MAX + 64];
    size_t rw;

    snprintf(right, sizeof(right), "%s%s%s  %s ",
             w->filter[0] ? "filter: " : "", w->filter, w->filter[0] ? " " : "",
             live ? (w->cli->unicode ? "\xE2\x97\x8F live" : "* live")
                  : "reconnecting");
    rw = args_text_width(right);
    if (rw > (size_t)COLS / 2)
        rw = 0; /* too narrow: the counts matter more */
    attron(w->color ? COLOR_PAIR(PAIR_HEAD) | A_BOLD : A_REVERSE);
    mvhline(0, 0, ' ', COLS);
    cell(0, &(int){0}, line, (size_t)COLS - rw, 0, A_NORMAL);
    if (rw)
        mvaddstr(0, COLS - (int)rw, right);
    attroff(w->color ? COLOR_PAIR(PAIR_HEAD) | A_BOLD : A_REVERSE);
}

static void draw_footer(watch_t *w, const char *keys)
{
    int x = 0;

    if (w->mode == MODE_FILTER) {
        char *t = cli_xasprintf("/%s", w->filter);
        cell(LINES - 1, &x, t, (size_t)COLS, 0, A_BOLD);
        free(t);
        curs_set(1);
        move(LINES - 1, (int)args_text_width(w->filter) + 1 < COLS
                            ? (int)args_text_width(w->filter) + 1
                            : COLS - 1);
        return;
    }
    curs_set(0);
    if (w->status[0]) {
        cell(LINES - 2, &x, w->status, (size_t)COLS, 0,
             w->mode == MODE_CONFIRM ? A_BOLD : A_NORMAL);
        x = 0;
    }
    cell(LINES - 1, &x, keys, (size_t)COLS, 0, A_DIM);
}

static void draw_list(watch_t *w, double now)
{
    args_col_t c[NC];
    size_t n, i, rows, at = 0;
    wm_task_t **v = visible(w, &n);
    int x = 1, found = 0;

    list_layout(v, n, c);
    attron(A_BOLD);
    for (i = 0; i < NC; i++)
        cell(1, &x, i == C_PCT && !c[C_BAR].width ? "DONE" : heads[i],
             c[i].width,
             i == C_ID || i == C_PCT || i == C_ELAPSED || i == C_ETA, A_BOLD);
    attroff(A_BOLD);
    for (i = 0; i < n; i++) {
        if (v[i]->id == w->selected) {
            at = i;
            found = 1;
        }
    }
    if (!found && n) { /* the selected one left (filter, prune) */
        at = 0;
        w->selected = v[0]->id;
    }
    rows = LINES > 4 ? (size_t)(LINES - 4) : 1;
    if (at < w->top)
        w->top = at;
    if (at >= w->top + rows)
        w->top = at - rows + 1;
    if (w->top > n)
        w->top = 0;
    for (i = w->top; i < n && i < w->top + rows; i++)
        draw_row(w, 2 + (int)(i - w->top), v[i], c, now);
    if (!n)
        mvaddstr(3, 2,
                 w->filter[0] ? "no task matches the filter"
                              : "no tasks: add one with tl add -- CMD");
    draw_footer(w, "j/k select  enter details  p pause  r resume  c cancel  "
                   "/ filter  q quit");
    free(v);
}

/* ---- the details ------------------------------------------------------ */

/* "key: value" at row *y, fitted; nothing for NULL. */
static void kv(int *y, const char *key, const char *value, attr_t attr)
{
    char *line;
    int x = 2;

    if (!value || *y >= LINES - 2)
        return;
    line = cli_xasprintf("%-9s %s", key, value);
    cell((*y)++, &x, line, (size_t)(COLS - 2), 0, attr);
    free(line);
}

static void draw_progress(watch_t *w, int *y, const tv_task_t *v)
{
    char bar[DETAIL_BAR * 3 + 8], pct[8], count[96], el[32], eta[32], *line;

    args_format_bar(v->progress, DETAIL_BAR, w->cli->unicode, bar, sizeof(bar));
    tv_percent(v, pct, sizeof(pct));
    tv_count(v, count, sizeof(count));
    tv_elapsed(v, el, sizeof(el));
    tv_eta(v, eta, sizeof(eta));
    line = cli_xasprintf("%s %s  %s%s%s%s", bar, pct, count, *count ? "  " : "",
                         *el ? "elapsed " : "", el);
    kv(y, "progress", line, A_NORMAL);
    free(line);
    if (*eta)
        kv(y, "eta", eta, A_NORMAL);
}

static void draw_substeps(watch_t *w, int *y, const json_t *t, int max)
{
    json_t *steps = json_object_get(t, "substeps"), *s;
    const char *icon, *sgr, *st;
    size_t i, n = json_array_size(steps), from = 0;
    char *line, pct[16];
    double p;
    int x;

    if (!n || *y >= LINES - 3)
        return;
    mvaddstr((*y)++, 2, "substeps:");
    if ((int)n > max)
        from = n - (size_t)max; /* the latest ones */
    for (i = from; i < n && *y < LINES - 3; i++) {
        s = json_array_get(steps, i);
        st = cli_json_str(s, "state") ? cli_json_str(s, "state") : "?";
        cli_state_style(w->cli, st, &icon, &sgr);
        pct[0] = '\0';
        if (cli_json_num(s, "progress", &p) == 0 && strcmp(st, "running") == 0)
            snprintf(pct, sizeof(pct), "  %.0f%%", p);
        line = cli_xasprintf(
            "%s %s%s%s%s", icon,
            cli_json_str(s, "name") ? cli_json_str(s, "name") : "", pct,
            cli_json_str(s, "error") ? ": " : "",
            cli_json_str(s, "error") ? cli_json_str(s, "error") : "");
        x = 4;
        cell((*y)++, &x, line, (size_t)(COLS - 4), 0, state_attr(w, st));
        free(line);
    }
}

static void draw_metadata(int *y, const json_t *t, int max)
{
    json_t *meta = json_object_get(t, "metadata"), *v;
    const char *key;
    char *text, *line;
    int shown = 0, x;

    if (!json_object_size(meta) || *y >= LINES - 3)
        return;
    mvaddstr((*y)++, 2, "metadata:");
    json_object_foreach(meta, key, v)
    {
        if (shown++ >= max || *y >= LINES - 3)
            break;
        text = cli_xcheck(json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
        line = cli_xasprintf("%s: %s", key, text);
        x = 4;
        cell((*y)++, &x, line, (size_t)(COLS - 4), 0, A_NORMAL);
        free(line);
        free(text);
    }
}

static void draw_logs(watch_t *w, int y)
{
    int rows = LINES - 2 - y - 1, i, x;
    size_t n = w->nlogs, from;

    if (rows < 1)
        return;
    attron(A_BOLD);
    mvaddstr(y++, 2, w->detail_feed ? "log (live):" : "log:");
    attroff(A_BOLD);
    from = n > (size_t)rows ? n - (size_t)rows : 0;
    for (i = 0; from + (size_t)i < n; i++) {
        x = 4;
        cell(y + i, &x,
             w->logs[(w->log_start + from + (size_t)i) % DETAIL_LOGS],
             (size_t)(COLS - 4), 0, A_NORMAL);
    }
    if (!n)
        mvaddstr(y, 4, "(no output yet)");
}

static void draw_detail(watch_t *w, double now)
{
    wm_task_t *t = wm_find(&w->model, w->detail);
    const char *icon, *sgr, *err;
    int y = 2, x = 0, room;
    char *head;
    tv_task_t v;

    if (!t) {
        mvaddstr(2, 2, "the task is gone");
        draw_footer(w, "esc back  q quit");
        return;
    }
    tv_task_read(&v, t->json);
    times(t, &v, now);
    cli_state_style(w->cli, v.state, &icon, &sgr);
    head = cli_xasprintf("task %lld  %s %s  %s", (long long)v.id, icon, v.state,
                         v.title);
    cell(1, &x, head, (size_t)COLS, 0, A_BOLD | state_attr(w, v.state));
    free(head);
    draw_progress(w, &y, &v);
    kv(&y, "kind", v.kind, A_NORMAL);
    kv(&y, "group", v.group, A_NORMAL);
    kv(&y, "source", cli_json_str(t->json, "source"), A_NORMAL);
    kv(&y, "message", cli_json_str(t->json, "message"), A_NORMAL);
    err = cli_json_str(t->json, "error");
    kv(&y, "error", err, state_attr(w, "failed"));
    room = (LINES - y) / 4;
    draw_substeps(w, &y, t->json, room > 2 ? room : 2);
    draw_metadata(&y, t->json, room > 2 ? room / 2 : 1);
    draw_logs(w, y);
    draw_footer(w, "esc back  p pause  r resume  c cancel  q back");
    tv_task_free(&v);
}

static void draw(watch_t *w, double now)
{
    erase();
    draw_header(w);
    if (w->detail)
        draw_detail(w, now);
    else
        draw_list(w, now);
    refresh();
    w->model.dirty = 0;
    w->drawn_at = now;
}

/* ---- keys ------------------------------------------------------------- */

static void confirm_cancel(watch_t *w)
{
    wm_task_t *t = wm_find(&w->model, current_id(w));
    tv_task_t v;

    if (!t) {
        set_status(w, "no task selected");
        return;
    }
    tv_task_read(&v, t->json);
    set_status(w, "cancel task %lld \"%s\"? y/n", (long long)v.id, v.title);
    tv_task_free(&v);
    w->mode = MODE_CONFIRM;
}

static void filter_key(watch_t *w, int ch)
{
    size_t n = strlen(w->filter);

    if (ch == 27) { /* esc: as it was */
        memcpy(w->filter, w->filter_saved, sizeof(w->filter));
        w->mode = MODE_LIST;
    } else if (ch == '\n' || ch == '\r' || ch == KEY_ENTER) {
        w->mode = MODE_LIST;
    } else if (ch == KEY_BACKSPACE || ch == 127 || ch == 8) {
        while (n > 0) { /* a whole UTF-8 character */
            unsigned char b = (unsigned char)w->filter[--n];

            w->filter[n] = '\0';
            if ((b & 0xC0) != 0x80)
                break;
        }
    } else if (ch >= 0x20 && ch < 0x100 && ch != 0x7F && n + 1 < FILTER_MAX) {
        w->filter[n] = (char)ch;
        w->filter[n + 1] = '\0';
    }
    w->top = 0;
    w->model.dirty = 1;
}

/* Returns 1 to quit. */
static int list_key(watch_t *w, int ch)
{
    switch (ch) {
    case 'q':
    case 'Q':
        if (!w->detail)
            return 1;
        close_detail(w);
        break;
    case 27:
    case KEY_LEFT:
    case 'h':
    case KEY_BACKSPACE:
        if (w->detail)
            close_detail(w);
        break;
    case KEY_DOWN:
    case 'j':
        select_by(w, 1);
        break;
    case KEY_UP:
    case 'k':
        select_by(w, -1);
        break;
    case KEY_NPAGE:
        select_by(w, LINES > 6 ? LINES - 5 : 1);
        break;
    case KEY_PPAGE:
        select_by(w, LINES > 6 ? -(LINES - 5) : -1);
        break;
    case KEY_HOME:
    case 'g':
        select_by(w, -1000000);
        break;
    case KEY_END:
    case 'G':
        select_by(w, 1000000);
        break;
    case '\n':
    case '\r':
    case KEY_ENTER:
    case KEY_RIGHT:
        if (!w->detail && w->selected)
            open_detail(w, w->selected);
        break;
    case 'p':
        act(w, "pause", "paused");
        break;
    case 'r':
        act(w, "resume", "resumed");
        break;
    case 'c':
        confirm_cancel(w);
        break;
    case '/':
        if (!w->detail) {
            memcpy(w->filter_saved, w->filter, sizeof(w->filter));
            w->mode = MODE_FILTER;
            w->status[0] = '\0';
        }
        break;
    case 12: /* ^L */
        clearok(curscr, TRUE);
        break;
    }
    w->model.dirty = 1;
    return 0;
}

/* Handles one key; returns 1 to quit. */
static int on_key(watch_t *w, int ch)
{
    if (ch == KEY_RESIZE) {
        w->model.dirty = 1;
        return 0;
    }
    if (w->mode == MODE_FILTER) {
        filter_key(w, ch);
        return 0;
    }
    if (w->mode == MODE_CONFIRM) {
        w->mode = MODE_LIST;
        if (ch == 'y' || ch == 'Y')
            act(w, "cancel", "cancelled");
        else
            set_status(w, "not cancelled");
        return 0;
    }
    if (ch != 'p' && ch != 'r' && ch != 'c')
        w->status[0] = '\0';
    return list_key(w, ch);
}

/* ---- the loop --------------------------------------------------------- */

static void start_curses(watch_t *w)
{
    struct sigaction sa;

    initscr();
    cbreak();
    noecho();
    nonl();
    keypad(stdscr, TRUE);
    nodelay(stdscr, TRUE);
    set_escdelay(25);
    curs_set(0);
    if (w->color && has_colors()) {
        start_color();
        use_default_colors();
        init_pair(PAIR_RUN, COLOR_CYAN, -1);
        init_pair(PAIR_PAUSE, COLOR_YELLOW, -1);
        init_pair(PAIR_OK, COLOR_GREEN, -1);
        init_pair(PAIR_FAIL, COLOR_RED, -1);
        init_pair(PAIR_HEAD, COLOR_BLACK, COLOR_CYAN);
        init_pair(PAIR_DIM, COLOR_WHITE, -1);
    } else {
        w->color = 0;
    }
    /* after initscr(), which installs handlers of its own */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
}

static int run(watch_t *w)
{
    double now;
    int ready, ch;

    for (;;) {
        if (stop_signal)
            return 128 + stop_signal;
        now = mono_s();
        /* only once the stream is up, so no event falls in between */
        if (w->need_refetch && cli_feed_started(w->events))
            refetch(w);
        check_stream(w, now);
        if (w->model.dirty || now - w->drawn_at >= TICK_S) {
            wm_sort(&w->model, KEEP_FINISHED);
            draw(w, now);
        }
        if (cli_feeds_poll(w->feeds, STDIN_FILENO, POLL_MS, &ready))
            return cli_error(CLI_FAIL, "cannot read the event stream");
        while ((ch = getch()) != ERR) {
            if (on_key(w, ch))
                return CLI_OK;
        }
    }
}

static void watch_free(watch_t *w)
{
    logs_clear(w);
    cli_feeds_free(w->feeds);
    wm_clear(&w->model);
}

int cmd_watch(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"filter", required_argument, NULL, 'f'},
        CLI_GLOBAL_OPTIONS,
    };
    watch_t w = {.cli = cli};
    int c, rc;

    while ((c = cli_getopt(cli, argc, argv, ":hf:", longopts, usage)) != -1) {
        if (c != 'f')
            return cli->rc;
        snprintf(w.filter, sizeof(w.filter), "%s", optarg);
    }
    if (optind < argc)
        return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))
        return cli_error(CLI_USAGE, "tl watch needs a terminal; try tl ls or "
                                    "tl ls --json");
    w.color = cli_color_on(cli, STDOUT_FILENO);
    /* fail before taking the screen when no daemon answers */
    if ((rc = refetch(&w))) {
        cli_error(rc, "%s", w.status);
        wm_clear(&w.model);
        return rc;
    }
    w.feeds = cli_feeds_new(cli);
    open_events(&w); /* and fetch again once it is up */
    start_curses(&w);
    rc = run(&w);
    endwin();
    watch_free(&w);
    return rc;
}
