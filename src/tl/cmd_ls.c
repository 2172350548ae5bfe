/*
 * cmd_ls.c -- `tl ls`: a table of tasks that fits the terminal: id, state,
 * title, group, a progress bar with percent, elapsed time, time left and
 * message; or, with --json, the daemon's list.
 *
 * DESIGN: the table is measured before it is printed (args_fit_columns()):
 * every column first gets its widest cell; when the terminal is narrower,
 * the title and message give up columns, and then whole columns go, the
 * least useful first (message, group, time left, the bar, elapsed). So a
 * row is never wider than the terminal and never wraps; cut cells end
 * with "…". ELAPSED and ETA have a fixed width, so the layout does not
 * move as time passes. Every cell that came from the daemon goes through
 * args_fit_text(), which also replaces control characters, so a task
 * title cannot drive the terminal. Colour and icons only on a terminal.
 */
#include <stdio.h>
#include <string.h>

#include <tasklight.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "output.h"
#include "taskview.h"

static const char usage[] =
    "usage: tl ls [-a|--all] [-n|--limit N] [-s|--state S] [-g|--group G]\n"
    "             [--kind K] [-q|--search TEXT] [--json]\n"
    "\n"
    "Lists tasks, newest first, in a table that fits the terminal, and how\n"
    "many there are in each state.\n"
    "\n"
    "options:\n"
    "  -a, --all          every task (the default is the newest 100)\n"
    "  -n, --limit N      at most N tasks (default 100)\n"
    "  -s, --state S      only tasks in state S (queued, running, paused,\n"
    "                     completed, failed, cancelled)\n"
    "  -g, --group G      only tasks of group G\n"
    "      --kind K       only tasks of kind K\n"
    "  -q, --search TEXT  only tasks whose title or command holds TEXT\n"
    "      --json         print {\"tasks\": [...], \"counts\": {...},\n"
    "                     \"next_cursor\": ...} (see tl(1))\n";

enum { OPT_KIND = CLI_OPT_FIRST_LOCAL, OPT_JSON };

#define PAGE_MAX 1000
#define LIMIT_MAX 100000000
#define GROUP_MAX 16
#define BAR_INNER 10
#define TIME_COLS 7 /* "59m 59s", "23h 59m": fixed, so rows do not move */
#define MIN_FLEX 12
#define GAP 2

enum {
    C_ID,
    C_STATE,
    C_TITLE,
    C_GROUP,
    C_BAR,
    C_PCT,
    C_ELAPSED,
    C_ETA,
    C_MSG,
    NCOLS
};

static const char *const heads[NCOLS] = {"ID",      "STATE",    "TITLE",
                                         "GROUP",   "PROGRESS", "",
                                         "ELAPSED", "ETA",      "MESSAGE"};

typedef struct list_opts {
    const char *state, *group, *kind, *search;
    int64_t limit; /* 0: all */
    int json;
} list_opts_t;

/* ---- cells ------------------------------------------------------------ */

typedef struct row {
    tv_task_t v;
    char id[24], state[64], pct[8], elapsed[32], eta[32];
} row_t;

static void fill_row(const cli_t *cli, row_t *r, const json_t *t)
{
    const char *icon, *sgr;

    tv_task_read(&r->v, t);
    snprintf(r->id, sizeof(r->id), "%lld", (long long)r->v.id);
    cli_state_style(cli, r->v.state, &icon, &sgr);
    if (cli->tty)
        snprintf(r->state, sizeof(r->state), "%s %s", icon, r->v.state);
    else
        snprintf(r->state, sizeof(r->state), "%s", r->v.state);
    tv_percent(&r->v, r->pct, sizeof(r->pct));
    if (!r->pct[0] && tv_is_active(&r->v))
        snprintf(r->pct, sizeof(r->pct), "-");
    tv_elapsed(&r->v, r->elapsed, sizeof(r->elapsed));
    tv_eta(&r->v, r->eta, sizeof(r->eta));
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static void measure(const row_t *rows, size_t n, args_col_t *c)
{
    size_t i, w;

    memset(c, 0, sizeof(*c) * NCOLS);
    for (i = 0; i < NCOLS; i++)
        c[i].natural = c[i].min = strlen(heads[i]);
    c[C_BAR].natural = c[C_BAR].min = BAR_INNER + 2;
    c[C_PCT].natural = c[C_PCT].min = 4; /* "100%" */
    c[C_ELAPSED].natural = c[C_ELAPSED].min = TIME_COLS;
    c[C_ETA].natural = c[C_ETA].min = TIME_COLS;
    for (i = 0; i < n; i++) {
        c[C_ID].natural = max_size(c[C_ID].natural, strlen(rows[i].id));
        c[C_STATE].natural =
            max_size(c[C_STATE].natural, args_text_width(rows[i].state));
        c[C_TITLE].natural =
            max_size(c[C_TITLE].natural, args_text_width(rows[i].v.title));
        w = rows[i].v.group ? args_text_width(rows[i].v.group) : 0;
        c[C_GROUP].natural =
            max_size(c[C_GROUP].natural, w > GROUP_MAX ? GROUP_MAX : w);
        w = rows[i].v.message ? args_text_width(rows[i].v.message) : 0;
        c[C_MSG].natural = max_size(c[C_MSG].natural, w);
    }
    c[C_ID].min = c[C_ID].natural;
    c[C_STATE].min = c[C_STATE].natural;
    c[C_GROUP].min = c[C_GROUP].natural;
    c[C_TITLE].min = MIN_FLEX;
    c[C_MSG].min = MIN_FLEX;
    c[C_MSG].drop = 1;
    c[C_GROUP].drop = 2;
    c[C_ETA].drop = 3;
    c[C_BAR].drop = 4;
    c[C_ELAPSED].drop = 5;
}

/* The widths of the columns for this terminal; the last shown one is
 * returned, as it is printed without padding. */
static size_t layout(const row_t *rows, size_t n, args_col_t *c)
{
    size_t term = cli_term_width(), used, last = 0, i;

    measure(rows, n, c);
    used = args_fit_columns(c, NCOLS, GAP, term);
    if (used > term) /* only the unshrinkable left: cut the title more */
        c[C_TITLE].width -= used - term < c[C_TITLE].width - 1
                                ? used - term
                                : c[C_TITLE].width - 1;
    for (i = 0; i < NCOLS; i++)
        if (c[i].width)
            last = i;
    return last;
}

/* ---- printing --------------------------------------------------------- */

static int right_aligned(size_t col)
{
    return col == C_ID || col == C_PCT || col == C_ELAPSED || col == C_ETA;
}

/* One cell: text fitted to the column, coloured with sgr ("" for none),
 * padded unless it is the last. */
static void put(const cli_t *cli, const args_col_t *c, size_t col, size_t last,
                const char *text, const char *sgr, int *first)
{
    char *fit;

    if (!c[col].width)
        return;
    fit = cli_fit(text ? text : "", c[col].width);
    if (!*first)
        printf("%*s", GAP, "");
    *first = 0;
    if (*sgr)
        printf("%s", cli_sgr(cli, sgr));
    if (col == last && !right_aligned(col))
        printf("%s", fit);
    else
        cli_put_cell(fit, c[col].width, right_aligned(col));
    if (*sgr)
        printf("%s", cli_sgr(cli, SGR_RESET));
    free(fit);
}

static void print_head(const cli_t *cli, const args_col_t *c, size_t last)
{
    int first = 1;
    size_t i;

    printf("%s", cli_sgr(cli, SGR_BOLD));
    for (i = 0; i < NCOLS; i++) {
        /* the percent column is headed by the bar's PROGRESS, or alone */
        const char *h = i == C_PCT && !c[C_BAR].width ? "DONE" : heads[i];
        put(cli, c, i, last, h, "", &first);
    }
    printf("%s\n", cli_sgr(cli, SGR_RESET));
}

static void print_row(const cli_t *cli, const row_t *r, const args_col_t *c,
                      size_t last)
{
    char bar[BAR_INNER * 3 + 8] = "";
    const char *text[NCOLS], *sgr[NCOLS] = {0}, *icon, *state_sgr;
    int first = 1;
    size_t i, end = 0;

    cli_state_style(cli, r->v.state, &icon, &state_sgr);
    if (r->v.progress >= 0 || tv_is_active(&r->v))
        args_format_bar(r->v.progress, BAR_INNER, cli->unicode, bar,
                        sizeof(bar));
    text[C_ID] = r->id;
    text[C_STATE] = r->state;
    text[C_TITLE] = r->v.title;
    text[C_GROUP] = r->v.group;
    text[C_BAR] = bar;
    text[C_PCT] = r->pct;
    text[C_ELAPSED] = r->elapsed;
    text[C_ETA] = r->eta;
    text[C_MSG] = r->v.message;
    sgr[C_STATE] = sgr[C_BAR] = state_sgr;
    if (strcmp(r->v.state, "failed") == 0)
        sgr[C_MSG] = SGR_RED;
    /* no trailing blanks: the row ends at its last non-empty cell */
    for (i = 0; i <= last; i++)
        if (c[i].width && text[i] && *text[i])
            end = i;
    for (i = 0; i <= end; i++)
        put(cli, c, i, end, text[i], sgr[i] ? sgr[i] : "", &first);
    printf("\n");
}

/* "2 running, 5 queued, 10 completed, 1 failed", broken between items
 * rather than wrapped by the terminal */
static void print_summary(const json_t *counts)
{
    static const char *const order[] = {"running",   "paused", "queued",
                                        "completed", "failed", "cancelled"};
    size_t i, term = cli_term_width(), col = 0, w;
    char item[64];
    int64_t n;

    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        n = cli_json_int(counts, order[i], 0);
        if (n <= 0)
            continue;
        w = (size_t)snprintf(item, sizeof(item), "%lld %s", (long long)n,
                             order[i]);
        if (col && col + 2 + w + 1 > term) {
            printf(",\n");
            col = 0;
        } else if (col) {
            printf(", ");
            col += 2;
        }
        printf("%s", item);
        col += w;
    }
    if (col)
        printf("\n");
}

static void print_list(const cli_t *cli, const json_t *body)
{
    json_t *tasks = json_object_get(body, "tasks"), *t;
    size_t n = json_array_size(tasks), i, last;
    args_col_t cols[NCOLS];
    row_t *rows;

    if (n == 0) {
        printf("no tasks\n");
    } else {
        rows = cli_xmalloc(sizeof(*rows) * n);
        json_array_foreach(tasks, i, t) fill_row(cli, &rows[i], t);
        last = layout(rows, n, cols);
        print_head(cli, cols, last);
        for (i = 0; i < n; i++) {
            print_row(cli, &rows[i], cols, last);
            tv_task_free(&rows[i].v);
        }
        free(rows);
        if (json_is_integer(json_object_get(body, "next_cursor")))
            printf("(the newest %zu shown; --all for every task)\n", n);
    }
    print_summary(json_object_get(body, "counts"));
}

/* ---- fetching --------------------------------------------------------- */

/* Appends "&name=value" (escaped) to *query. */
static void add_param(cli_t *cli, char **query, const char *name,
                      const char *value)
{
    char *e, *q;

    if (!value)
        return;
    e = cli_url_escape(cli, value);
    q = cli_xasprintf("%s%c%s=%s", *query, **query ? '&' : '?', name, e);
    free(e);
    free(*query);
    *query = q;
}

static char *page_path(cli_t *cli, const list_opts_t *o, int64_t limit,
                       int64_t cursor)
{
    char *query = cli_xstrdup(""), *path, num[24];

    add_param(cli, &query, "state", o->state);
    add_param(cli, &query, "group", o->group);
    add_param(cli, &query, "kind", o->kind);
    add_param(cli, &query, "q", o->search);
    snprintf(num, sizeof(num), "%lld", (long long)limit);
    add_param(cli, &query, "limit", num);
    if (cursor > 0) {
        snprintf(num, sizeof(num), "%lld", (long long)cursor);
        add_param(cli, &query, "cursor", num);
    }
    path = cli_xasprintf("/api/tasks%s", query);
    free(query);
    return path;
}

/* Reads pages until o->limit tasks (0: all) or the end, into one answer
 * shaped like a page: {"tasks", "counts", "next_cursor"}. */
static int fetch(cli_t *cli, const list_opts_t *o, json_t **out)
{
    json_t *all = NULL, *page = NULL, *tasks, *next;
    int64_t cursor = 0, want;
    char *path;
    int rc;

    for (;;) {
        want = o->limit
                   ? o->limit -
                         (int64_t)json_array_size(json_object_get(all, "tasks"))
                   : PAGE_MAX;
        path = page_path(cli, o, want > PAGE_MAX ? PAGE_MAX : want, cursor);
        rc = cli_call(cli, "GET", path, NULL, &page);
        free(path);
        if (rc)
            goto fail;
        if (!json_is_object(page) ||
            !json_is_array(json_object_get(page, "tasks"))) {
            rc = cli_error(CLI_FAIL, "the daemon's answer is not a list");
            goto fail;
        }
        if (!all) {
            all = page;
        } else {
            tasks = json_object_get(all, "tasks");
            json_array_extend(tasks, json_object_get(page, "tasks"));
            json_object_set(all, "next_cursor",
                            json_object_get(page, "next_cursor"));
            json_object_set(all, "counts", json_object_get(page, "counts"));
            json_decref(page);
        }
        page = NULL;
        next = json_object_get(all, "next_cursor");
        if (!json_is_integer(next) ||
            (o->limit && (int64_t)json_array_size(
                             json_object_get(all, "tasks")) >= o->limit))
            break;
        cursor = json_integer_value(next);
    }
    *out = all;
    return CLI_OK;
fail:
    json_decref(all);
    json_decref(page);
    return rc;
}

static int parse_ls_option(cli_t *cli, int c, list_opts_t *o)
{
    tl_state_t st;

    switch (c) {
    case 'a':
        o->limit = 0;
        return 0;
    case 'n':
        return cli_opt_int(usage, "--limit", optarg, 1, LIMIT_MAX, &o->limit);
    case 's':
        if (tl_state_parse(optarg, &st))
            return cli_usage_error(usage, "unknown state '%s'", optarg);
        o->state = optarg;
        return 0;
    case 'g':
        o->group = optarg;
        return 0;
    case OPT_KIND:
        o->kind = optarg;
        return 0;
    case 'q':
        o->search = optarg;
        return 0;
    case OPT_JSON:
        o->json = 1;
        return 0;
    }
    return cli->rc;
}

int cmd_ls(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"all", no_argument, NULL, 'a'},
        {"limit", required_argument, NULL, 'n'},
        {"state", required_argument, NULL, 's'},
        {"group", required_argument, NULL, 'g'},
        {"kind", required_argument, NULL, OPT_KIND},
        {"search", required_argument, NULL, 'q'},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS,
    };
    list_opts_t o = {.limit = 100};
    json_t *list = NULL;
    int c, rc;

    while ((c = cli_getopt(cli, argc, argv, ":has:g:n:q:", longopts, usage)) !=
           -1) {
        if (c == CLI_OPT_EXIT)
            return cli->rc;
        if ((rc = parse_ls_option(cli, c, &o)))
            return rc;
    }
    if (optind < argc)
        return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    rc = fetch(cli, &o, &list);
    if (rc)
        return rc;
    if (o.json)
        cli_print_json(list);
    else
        print_list(cli, list);
    json_decref(list);
    return CLI_OK;
}
