/*
 * taskview.c -- the cells of a task as the listings show them.
 *
 * DESIGN: every listing reads a task's JSON through tv_task_read(), so
 * tl ls, tl watch and tl wait agree on what "the title", "the message" and
 * "the time left" of a task are: the title falls back to the command line,
 * a failed task shows its error where others show their message, and the
 * time left is only shown while a task runs. Strings are not copied: they
 * stay valid while the task's JSON does.
 */
#include "taskview.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "client.h"

static double num_or(const json_t *t, const char *key, double dflt)
{
    double d;

    if (cli_json_num(t, key, &d) || !isfinite(d))
        return dflt;
    return d;
}

/* The command line of t, or "" when it has none; malloc'd. */
static char *command_line(const json_t *t)
{
    json_t *argv = json_object_get(json_object_get(t, "command"), "argv"), *a;
    size_t n = json_array_size(argv), i;
    const char **av = cli_xmalloc(sizeof(*av) * (n + 1));
    char *line;

    json_array_foreach(argv, i, a) av[i] =
        json_is_string(a) ? json_string_value(a) : "?";
    line = cli_xcheck(args_shell_join(av, n));
    free(av);
    return line;
}

/* The running substep's name (the last one running), or NULL. */
static const char *running_step(const json_t *t)
{
    json_t *steps = json_object_get(t, "substeps"), *s;
    const char *found = NULL, *st;
    size_t i;

    json_array_foreach(steps, i, s)
    {
        st = cli_json_str(s, "state");
        if (st && strcmp(st, "running") == 0)
            found = cli_json_str(s, "name");
    }
    return found;
}

void tv_task_read(tv_task_t *v, const json_t *t)
{
    const char *title = cli_json_str(t, "title"), *err;

    memset(v, 0, sizeof(*v));
    v->id = cli_json_int(t, "id", 0);
    v->state = cli_json_str(t, "state");
    if (!v->state)
        v->state = "?";
    v->title = title && *title ? cli_xstrdup(title) : command_line(t);
    v->group = cli_json_str(t, "group");
    v->kind = cli_json_str(t, "kind");
    v->message = cli_json_str(t, "message");
    err = cli_json_str(t, "error");
    if (strcmp(v->state, "failed") == 0 && err && *err)
        v->message = err;
    v->step = running_step(t);
    v->progress = num_or(t, "progress", -1);
    if (v->progress > 100)
        v->progress = 100;
    v->current = num_or(t, "current", -1);
    v->total = num_or(t, "total", -1);
    v->unit = cli_json_str(t, "unit");
    v->elapsed_s = num_or(t, "elapsed_s", -1);
    v->eta_s = num_or(t, "eta_s", -1);
}

void tv_task_free(tv_task_t *v)
{
    free(v->title);
    v->title = NULL;
}

int tv_is_active(const tv_task_t *v)
{
    return strcmp(v->state, "running") == 0 || strcmp(v->state, "paused") == 0;
}

void tv_percent(const tv_task_t *v, char *buf, size_t size)
{
    if (v->progress < 0)
        snprintf(buf, size, "%s", "");
    else
        snprintf(buf, size, "%.0f%%", floor(v->progress));
}

void tv_elapsed(const tv_task_t *v, char *buf, size_t size)
{
    if (v->elapsed_s < 0 || strcmp(v->state, "queued") == 0)
        snprintf(buf, size, "%s", "");
    else
        args_format_elapsed(v->elapsed_s, buf, size);
}

void tv_eta(const tv_task_t *v, char *buf, size_t size)
{
    if (v->eta_s < 0 || strcmp(v->state, "running") != 0)
        snprintf(buf, size, "%s", "");
    else
        args_format_elapsed(v->eta_s, buf, size);
}

/* A count as short as it goes: "11", "2.5". */
static void count_text(double d, char *buf, size_t size)
{
    if (d == floor(d) && fabs(d) < 1e15)
        snprintf(buf, size, "%.0f", d);
    else
        snprintf(buf, size, "%.4g", d);
}

void tv_count(const tv_task_t *v, char *buf, size_t size)
{
    char c[32], t[32];

    if (v->current < 0 || v->total <= 0) {
        snprintf(buf, size, "%s", "");
        return;
    }
    count_text(v->current, c, sizeof(c));
    count_text(v->total, t, sizeof(t));
    snprintf(buf, size, "%s/%s%s%s", c, t, v->unit ? " " : "",
             v->unit ? v->unit : "");
}
