/*
 * cmd_ls.c -- `tl ls` (a table of tasks fitted to the terminal) and
 * `tl show` (one task as "key: value" lines); both take --json.
 *
 * DESIGN: the table is measured before it is printed: the fixed columns
 * take what their widest cell needs and the title gets the rest of the
 * terminal (at least MIN_TITLE columns). Every cell that came from the
 * daemon is passed through args_fit_text(), which also replaces control
 * characters, so a task title cannot drive the terminal.
 */
#include <stdio.h>
#include <string.h>

#include <tasklight.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "output.h"

static const char ls_usage[] =
    "usage: tl ls [--state S] [--group G] [--kind K] [--limit N] [--json]\n"
    "\n"
    "Lists tasks, newest first, and how many there are in each state.\n"
    "\n"
    "options:\n"
    "  -s, --state S  only tasks in state S (queued, running, paused,\n"
    "                 completed, failed, cancelled)\n"
    "  -g, --group G  only tasks of group G\n"
    "      --kind K   only tasks of kind K\n"
    "  -n, --limit N  at most N tasks (1..1000, default 100)\n"
    "      --json     print the daemon's answer as JSON\n";

static const char show_usage[] = "usage: tl show [--json] ID\n"
                                 "\n"
                                 "Shows everything about task ID.\n"
                                 "\n"
                                 "options:\n"
                                 "  --json  print the task as JSON\n";

enum { OPT_KIND = CLI_OPT_FIRST_LOCAL, OPT_JSON };

#define MIN_TITLE 10
#define GROUP_MAX 16
#define GAP 2
#define NCOLS 7

/* ---- the table -------------------------------------------------------- */

typedef struct row {
    char id[24], pri[24], elapsed[32], progress[16];
    char group[GROUP_MAX * 4 + 8];
    const char *state, *title;
} row_t;

static void fill_row(row_t *r, const json_t *t)
{
    double d;

    snprintf(r->id, sizeof(r->id), "%lld", (long long)cli_json_int(t, "id", 0));
    snprintf(r->pri, sizeof(r->pri), "%lld",
             (long long)cli_json_int(t, "priority", 0));
    if (cli_json_num(t, "elapsed_s", &d) == 0)
        args_format_elapsed(d, r->elapsed, sizeof(r->elapsed));
    else
        snprintf(r->elapsed, sizeof(r->elapsed), "-");
    if (cli_json_num(t, "progress", &d) == 0 && d >= 0 && d <= 100)
        snprintf(r->progress, sizeof(r->progress), "%.0f%%", d);
    else
        snprintf(r->progress, sizeof(r->progress), "-");
    args_fit_text(cli_json_str(t, "group") ? cli_json_str(t, "group") : "-",
                  GROUP_MAX, r->group, sizeof(r->group));
    r->state = cli_json_str(t, "state");
    if (!r->state)
        r->state = "?";
    r->title = cli_json_str(t, "title");
    if (!r->title)
        r->title = "";
}

/* The STATE cell: "▶ running" on a terminal, "running" elsewhere. */
static void state_cell(const cli_t *cli, const char *state, char *buf,
                       size_t size)
{
    const char *icon, *sgr;

    cli_state_style(state, &icon, &sgr);
    if (cli->tty)
        snprintf(buf, size, "%s %s", icon, state);
    else
        snprintf(buf, size, "%s", state);
}

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

static void print_row(const cli_t *cli, const row_t *r, const size_t *w)
{
    char state[64], *title = cli_xmalloc(w[6] * 4 + 8);
    const char *icon, *sgr;

    state_cell(cli, r->state, state, sizeof(state));
    cli_state_style(r->state, &icon, &sgr);
    args_fit_text(r->title, w[6], title, w[6] * 4 + 8);
    cli_put_cell(r->id, w[0], 1);
    printf("%*s%s", GAP, "", *sgr ? cli_sgr(cli, sgr) : "");
    cli_put_cell(state, w[1], 0);
    printf("%s%*s", *sgr ? cli_sgr(cli, SGR_RESET) : "", GAP, "");
    cli_put_cell(r->pri, w[2], 1);
    printf("%*s", GAP, "");
    cli_put_cell(r->group, w[3], 0);
    printf("%*s", GAP, "");
    cli_put_cell(r->elapsed, w[4], 1);
    printf("%*s", GAP, "");
    cli_put_cell(r->progress, w[5], 1);
    printf("%*s%s\n", GAP, "", title);
    free(title);
}

static void print_table(const cli_t *cli, const row_t *rows, size_t n)
{
    static const char *const head[NCOLS] = {
        "ID", "STATE", "PRI", "GROUP", "ELAPSED", "PROGRESS", "TITLE"};
    size_t w[NCOLS], fixed = 0, term = cli_term_width(), i;
    char state[64];

    for (i = 0; i < NCOLS; i++)
        w[i] = strlen(head[i]);
    for (i = 0; i < n; i++) {
        state_cell(cli, rows[i].state, state, sizeof(state));
        w[0] = max_size(w[0], strlen(rows[i].id));
        w[1] = max_size(w[1], args_text_width(state));
        w[2] = max_size(w[2], strlen(rows[i].pri));
        w[3] = max_size(w[3], args_text_width(rows[i].group));
        w[4] = max_size(w[4], strlen(rows[i].elapsed));
        w[5] = max_size(w[5], strlen(rows[i].progress));
        w[6] = max_size(w[6], args_text_width(rows[i].title));
    }
    for (i = 0; i < NCOLS - 1; i++)
        fixed += w[i] + GAP;
    w[6] = term > fixed + MIN_TITLE ? term - fixed : MIN_TITLE;

    printf("%s", cli_sgr(cli, SGR_BOLD));
    cli_put_cell(head[0], w[0], 1);
    for (i = 1; i < NCOLS - 1; i++) {
        printf("%*s", GAP, "");
        cli_put_cell(head[i], w[i], i == 2 || i >= 4);
    }
    printf("%*s%s%s\n", GAP, "", head[6], cli_sgr(cli, SGR_RESET));
    for (i = 0; i < n; i++)
        print_row(cli, &rows[i], w);
}

/* "2 running, 5 queued, 10 completed, 1 failed" */
static void print_summary(const json_t *counts)
{
    static const char *const order[] = {"running",   "paused", "queued",
                                        "completed", "failed", "cancelled"};
    size_t i;
    int64_t n;
    int any = 0;

    for (i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        n = cli_json_int(counts, order[i], 0);
        if (n <= 0)
            continue;
        printf("%s%lld %s", any ? ", " : "", (long long)n, order[i]);
        any = 1;
    }
    if (any)
        printf("\n");
}

static void print_list(const cli_t *cli, const json_t *body)
{
    json_t *tasks = json_object_get(body, "tasks"), *t;
    size_t n = json_array_size(tasks), i;
    row_t *rows;

    if (n == 0) {
        printf("no tasks\n");
    } else {
        rows = cli_xmalloc(sizeof(*rows) * n);
        json_array_foreach(tasks, i, t) fill_row(&rows[i], t);
        print_table(cli, rows, n);
        free(rows);
        if (!json_is_null(json_object_get(body, "next_cursor")) &&
            json_object_get(body, "next_cursor"))
            printf("(the newest %zu shown; --limit for more)\n", n);
    }
    print_summary(json_object_get(body, "counts"));
}

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

int cmd_ls(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"state", required_argument, NULL, 's'},
        {"group", required_argument, NULL, 'g'},
        {"kind", required_argument, NULL, OPT_KIND},
        {"limit", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS,
    };
    const char *state = NULL, *group = NULL, *kind = NULL, *limit = NULL;
    char *query, *path;
    int64_t n;
    int c, json = 0, rc;
    cli_http_t res;
    tl_state_t st;

    while ((c = cli_getopt(cli, argc, argv, ":hs:g:n:", longopts, ls_usage)) !=
           -1) {
        switch (c) {
        case 's':
            if (tl_state_parse(optarg, &st))
                return cli_usage_error(ls_usage, "unknown state '%s'", optarg);
            state = optarg;
            break;
        case 'g':
            group = optarg;
            break;
        case OPT_KIND:
            kind = optarg;
            break;
        case 'n':
            if (cli_opt_int(ls_usage, "--limit", optarg, 1, 1000, &n))
                return CLI_USAGE;
            limit = optarg;
            break;
        case OPT_JSON:
            json = 1;
            break;
        default:
            return cli->rc;
        }
    }
    if (optind < argc)
        return cli_usage_error(ls_usage, "unexpected argument '%s'",
                               argv[optind]);
    query = cli_xstrdup("");
    add_param(cli, &query, "state", state);
    add_param(cli, &query, "group", group);
    add_param(cli, &query, "kind", kind);
    add_param(cli, &query, "limit", limit);
    path = cli_xasprintf("/api/tasks%s", query);
    free(query);
    rc = cli_http(cli, "GET", path, NULL, &res);
    free(path);
    if (rc == CLI_OK && !json_is_object(res.json)) {
        rc = CLI_FAIL;
        snprintf(res.errmsg, sizeof(res.errmsg),
                 "the daemon's answer is not JSON");
    }
    if (rc)
        cli_error(rc, "%s", res.errmsg);
    else if (json)
        printf("%s%s", res.body,
               res.len && res.body[res.len - 1] == '\n' ? "" : "\n");
    else
        print_list(cli, res.json);
    cli_http_free(&res);
    return rc;
}

/* ---- show ------------------------------------------------------------- */

#define KEY_WIDTH 11

static void field_num(const char *key, const json_t *t, const char *name)
{
    char buf[32];
    double d;

    if (cli_json_num(t, name, &d))
        return;
    snprintf(buf, sizeof(buf), "%.15g", d);
    cli_put_field(key, KEY_WIDTH, buf);
}

static void show_command(const json_t *t)
{
    json_t *cmd = json_object_get(t, "command");
    json_t *argv = json_object_get(cmd, "argv"), *a;
    size_t n = json_array_size(argv), i;
    const char **av;
    char *line;

    if (!json_is_object(cmd))
        return;
    av = cli_xmalloc(sizeof(*av) * (n + 1));
    json_array_foreach(argv, i, a) av[i] =
        json_is_string(a) ? json_string_value(a) : "?";
    line = cli_xcheck(args_shell_join(av, n));
    cli_put_field("command", KEY_WIDTH, line);
    cli_put_field("cwd", KEY_WIDTH, cli_json_str(cmd, "cwd"));
    free(line);
    free(av);
}

static void show_state(const cli_t *cli, const json_t *t)
{
    const char *state = cli_json_str(t, "state"), *icon, *sgr;

    if (!state)
        return;
    cli_state_style(state, &icon, &sgr);
    printf("state:%*s %s%s%s%s%s\n", KEY_WIDTH - 5, "",
           *sgr ? cli_sgr(cli, sgr) : "", cli->tty ? icon : "",
           cli->tty ? " " : "", state, *sgr ? cli_sgr(cli, SGR_RESET) : "");
}

static void show_task(const cli_t *cli, const json_t *t)
{
    char buf[64];
    double d;

    field_num("id", t, "id");
    cli_put_field("title", KEY_WIDTH, cli_json_str(t, "title"));
    show_state(cli, t);
    cli_put_field("kind", KEY_WIDTH, cli_json_str(t, "kind"));
    cli_put_field("key", KEY_WIDTH, cli_json_str(t, "key"));
    cli_put_field("description", KEY_WIDTH, cli_json_str(t, "description"));
    show_command(t);
    cli_put_field("group", KEY_WIDTH, cli_json_str(t, "group"));
    field_num("priority", t, "priority");
    snprintf(buf, sizeof(buf), "%lld (max retries %lld)",
             (long long)cli_json_int(t, "attempt", 0),
             (long long)cli_json_int(t, "max_retries", 0));
    cli_put_field("attempt", KEY_WIDTH, buf);
    if (cli_json_num(t, "progress", &d) == 0) {
        snprintf(buf, sizeof(buf), "%.0f%%", d);
        cli_put_field("progress", KEY_WIDTH, buf);
    }
    cli_put_field("message", KEY_WIDTH, cli_json_str(t, "message"));
    field_num("exit code", t, "exit_code");
    cli_put_field("error", KEY_WIDTH, cli_json_str(t, "error"));
    cli_put_field("created", KEY_WIDTH, cli_json_str(t, "created_at"));
    cli_put_field("started", KEY_WIDTH, cli_json_str(t, "started_at"));
    cli_put_field("finished", KEY_WIDTH, cli_json_str(t, "finished_at"));
    if (cli_json_num(t, "elapsed_s", &d) == 0) {
        args_format_elapsed(d, buf, sizeof(buf));
        cli_put_field("elapsed", KEY_WIDTH, buf);
    }
}

int cmd_show(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS,
    };
    int64_t id;
    int c, json = 0, rc;
    char *path;
    json_t *t = NULL;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, show_usage)) !=
           -1) {
        if (c != OPT_JSON)
            return cli->rc;
        json = 1;
    }
    if (argc - optind != 1)
        return cli_usage_error(show_usage, "%s",
                               argc == optind ? "no task id given"
                                              : "one task id at a time");
    if (args_parse_id(argv[optind], &id))
        return cli_usage_error(show_usage, "invalid task id '%s'",
                               argv[optind]);
    path = cli_xasprintf("/api/tasks/%lld", (long long)id);
    rc = cli_call(cli, "GET", path, NULL, &t);
    free(path);
    if (rc)
        return rc;
    if (json)
        cli_print_json(t);
    else
        show_task(cli, t);
    json_decref(t);
    return CLI_OK;
}
