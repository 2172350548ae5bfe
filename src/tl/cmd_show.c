/*
 * cmd_show.c -- `tl show ID`: one task as "key: value" lines (progress
 * bar, times, substeps, metadata, result), or as JSON.
 *
 * DESIGN: values that came from the daemon go through cli_put_field() /
 * cli_fit(), which replace control characters; JSON values (metadata,
 * result) are shown compact, also sanitised. Fields that are null are left
 * out, so the output holds what is known.
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "output.h"
#include "taskview.h"

static const char usage[] = "usage: tl show [--json] ID\n"
                            "\n"
                            "Shows everything about task ID.\n"
                            "\n"
                            "options:\n"
                            "  --json  print the task as JSON\n";

enum { OPT_JSON = CLI_OPT_FIRST_LOCAL };

#define KEY_WIDTH 11
#define BAR_INNER 20

static void field_num(const char *key, const json_t *t, const char *name)
{
    char buf[32];
    double d;

    if (cli_json_num(t, name, &d))
        return;
    snprintf(buf, sizeof(buf), "%.15g", d);
    cli_put_field(key, KEY_WIDTH, buf);
}

/* A JSON value, compact, as a field; nothing for null or {}. */
static void field_json(const char *key, const json_t *v)
{
    char *text;

    if (!v || json_is_null(v) || (json_is_object(v) && !json_object_size(v)))
        return;
    text = cli_xcheck(json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
    cli_put_field(key, KEY_WIDTH, text);
    free(text);
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
    cli_state_style(cli, state, &icon, &sgr);
    printf("state:%*s %s%s%s%s%s", KEY_WIDTH - 5, "",
           *sgr ? cli_sgr(cli, sgr) : "", cli->tty ? icon : "",
           cli->tty ? " " : "", state, *sgr ? cli_sgr(cli, SGR_RESET) : "");
    if (json_is_true(json_object_get(t, "cancel_requested")))
        printf(" (cancel requested)");
    else if (json_is_true(json_object_get(t, "pause_requested")))
        printf(" (pause requested)");
    printf("\n");
}

/* "▕█████     ▏ 45%  11/24 layers" */
static void show_progress(const cli_t *cli, const tv_task_t *v)
{
    char bar[BAR_INNER * 3 + 8], pct[8], count[96], *line;

    if (v->progress < 0 && v->current < 0)
        return;
    args_format_bar(v->progress, BAR_INNER, cli->unicode, bar, sizeof(bar));
    tv_percent(v, pct, sizeof(pct));
    tv_count(v, count, sizeof(count));
    line = cli_xasprintf("%s %s%s%s", bar, pct, *count ? "  " : "", count);
    cli_put_field("progress", KEY_WIDTH, line);
    free(line);
}

static void show_times(const tv_task_t *v, const json_t *t)
{
    char buf[64];

    cli_put_field("created", KEY_WIDTH, cli_json_str(t, "created_at"));
    cli_put_field("started", KEY_WIDTH, cli_json_str(t, "started_at"));
    cli_put_field("finished", KEY_WIDTH, cli_json_str(t, "finished_at"));
    tv_elapsed(v, buf, sizeof(buf));
    if (*buf)
        cli_put_field("elapsed", KEY_WIDTH, buf);
    tv_eta(v, buf, sizeof(buf));
    if (*buf)
        cli_put_field("eta", KEY_WIDTH, buf);
}

/* "  ✓ Download layer 1" per substep, with progress and error. */
static void show_substeps(const cli_t *cli, const json_t *t)
{
    json_t *steps = json_object_get(t, "substeps"), *s;
    const char *icon, *sgr, *state, *err;
    char *name, extra[64];
    double p;
    size_t i;

    if (!json_array_size(steps))
        return;
    printf("substeps:\n");
    json_array_foreach(steps, i, s)
    {
        state = cli_json_str(s, "state");
        cli_state_style(cli, state, &icon, &sgr);
        name = cli_fit(cli_json_str(s, "name") ? cli_json_str(s, "name") : "",
                       cli_term_width() > 30 ? cli_term_width() - 20 : 10);
        extra[0] = '\0';
        if (cli_json_num(s, "progress", &p) == 0 && state &&
            strcmp(state, "completed") != 0)
            snprintf(extra, sizeof(extra), " %.0f%%", p);
        printf("  %s%s%s %s%s", *sgr ? cli_sgr(cli, sgr) : "",
               cli->tty ? icon
               : state  ? state
                        : "?",
               *sgr ? cli_sgr(cli, SGR_RESET) : "", name, extra);
        err = cli_json_str(s, "error");
        free(name);
        if (err && *err) {
            name = cli_fit(err, 60);
            printf(": %s", name);
            free(name);
        }
        printf("\n");
    }
}

static void show_task(const cli_t *cli, const json_t *t)
{
    char buf[64];
    tv_task_t v;

    tv_task_read(&v, t);
    field_num("id", t, "id");
    cli_put_field("title", KEY_WIDTH, cli_json_str(t, "title"));
    show_state(cli, t);
    cli_put_field("kind", KEY_WIDTH, cli_json_str(t, "kind"));
    cli_put_field("source", KEY_WIDTH, cli_json_str(t, "source"));
    cli_put_field("key", KEY_WIDTH, cli_json_str(t, "key"));
    cli_put_field("description", KEY_WIDTH, cli_json_str(t, "description"));
    show_command(t);
    cli_put_field("owner", KEY_WIDTH, cli_json_str(t, "owner"));
    cli_put_field("group", KEY_WIDTH, cli_json_str(t, "group"));
    field_num("priority", t, "priority");
    snprintf(buf, sizeof(buf), "%lld (max retries %lld)",
             (long long)cli_json_int(t, "attempt", 0),
             (long long)cli_json_int(t, "max_retries", 0));
    cli_put_field("attempt", KEY_WIDTH, buf);
    show_progress(cli, &v);
    cli_put_field("message", KEY_WIDTH, cli_json_str(t, "message"));
    field_num("exit code", t, "exit_code");
    cli_put_field("error", KEY_WIDTH, cli_json_str(t, "error"));
    show_times(&v, t);
    field_json("metadata", json_object_get(t, "metadata"));
    field_json("result", json_object_get(t, "result"));
    show_substeps(cli, t);
    tv_task_free(&v);
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

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, usage)) != -1) {
        if (c != OPT_JSON)
            return cli->rc;
        json = 1;
    }
    if (argc - optind != 1)
        return cli_usage_error(usage, "%s",
                               argc == optind ? "no task id given"
                                              : "one task id at a time");
    if (args_parse_id(argv[optind], &id))
        return cli_usage_error(usage, "invalid task id '%s'", argv[optind]);
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
