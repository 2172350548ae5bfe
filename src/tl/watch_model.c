/*
 * watch_model.c -- the task set of `tl watch` (see watch_model.h).
 *
 * DESIGN: tasks are kept in one array, looked up by a linear scan: the
 * watch shows the active tasks and the most recent finished ones (a few
 * hundred at most, pruned by wm_sort()), so a hash buys nothing. The
 * event data of task events is the whole task, so an event replaces the
 * stored task; nothing is merged, and a lost event is repaired by the next
 * one of that task or by a refetch. Times shown run on from seen_at, so a
 * running task's elapsed time moves without any request.
 */
#include "watch_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static void task_free(wm_task_t *t)
{
    json_decref(t->json);
    free(t->last_log);
}

void wm_clear(wmodel_t *m)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        task_free(&m->tasks[i]);
    free(m->tasks);
    memset(m, 0, sizeof(*m));
    m->dirty = 1;
}

wm_task_t *wm_find(wmodel_t *m, int64_t id)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        if (m->tasks[i].id == id)
            return &m->tasks[i];
    return NULL;
}

void wm_put(wmodel_t *m, json_t *task, double now)
{
    int64_t id = cli_json_int(task, "id", 0);
    wm_task_t *t;

    if (id <= 0 || !cli_json_str(task, "state"))
        return;
    t = wm_find(m, id);
    if (!t) {
        if (m->n == m->cap) {
            m->cap = m->cap ? m->cap * 2 : 64;
            m->tasks = cli_xcheck(realloc(m->tasks, sizeof(*t) * m->cap));
        }
        t = &m->tasks[m->n++];
        memset(t, 0, sizeof(*t));
        t->id = id;
    }
    json_incref(task);
    json_decref(t->json);
    t->json = task;
    t->seen_at = now;
    t->stale = 0;
    m->dirty = 1;
}

void wm_remove(wmodel_t *m, int64_t id)
{
    wm_task_t *t = wm_find(m, id);

    if (!t)
        return;
    task_free(t);
    memmove(t, t + 1, sizeof(*t) * (size_t)(m->tasks + m->n - (t + 1)));
    m->n--;
    m->dirty = 1;
}

void wm_log(wmodel_t *m, int64_t id, const char *text)
{
    wm_task_t *t = wm_find(m, id);

    if (!t)
        return;
    free(t->last_log);
    t->last_log = cli_xstrdup(text);
    m->dirty = 1;
}

void wm_mark_stale(wmodel_t *m)
{
    size_t i;

    for (i = 0; i < m->n; i++)
        m->tasks[i].stale = 1;
}

void wm_sweep(wmodel_t *m)
{
    size_t i = 0;

    while (i < m->n) {
        if (m->tasks[i].stale)
            wm_remove(m, m->tasks[i].id);
        else
            i++;
    }
    m->dirty = 1;
}

/* ---- order ------------------------------------------------------------ */

static int rank(const wm_task_t *t)
{
    const char *s = cli_json_str(t->json, "state");

    if (strcmp(s, "running") == 0)
        return 0;
    if (strcmp(s, "paused") == 0)
        return 1;
    if (strcmp(s, "queued") == 0)
        return 2;
    return 3;
}

static int cmp_int(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static int display_order(const void *a, const void *b)
{
    const wm_task_t *x = a, *y = b;
    int rx = rank(x), ry = rank(y), c;
    const char *fx, *fy;

    if (rx != ry)
        return rx - ry;
    if (rx == 2) { /* queued: as the scheduler takes them */
        c = cmp_int(cli_json_int(y->json, "priority", 0),
                    cli_json_int(x->json, "priority", 0));
        return c ? c : cmp_int(x->id, y->id);
    }
    if (rx < 2)
        return cmp_int(x->id, y->id);
    fx = cli_json_str(x->json, "finished_at");
    fy = cli_json_str(y->json, "finished_at");
    c = strcmp(fy ? fy : "", fx ? fx : "");
    return c ? c : cmp_int(y->id, x->id);
}

void wm_sort(wmodel_t *m, size_t keep_finished)
{
    size_t i, finished = 0;

    qsort(m->tasks, m->n, sizeof(*m->tasks), display_order);
    for (i = 0; i < m->n; i++) {
        if (rank(&m->tasks[i]) < 3 || finished++ < keep_finished)
            continue;
        task_free(&m->tasks[i]);
    }
    if (finished > keep_finished)
        m->n -= finished - keep_finished;
}

/* ---- filter ----------------------------------------------------------- */

static int has(const char *s, const char *filter)
{
    return s && strcasestr(s, filter) != NULL;
}

int wm_matches(const wm_task_t *t, const char *filter)
{
    static const char *const keys[] = {"title", "state", "kind", "group",
                                       "message"};
    json_t *argv = json_object_get(json_object_get(t->json, "command"), "argv");
    json_t *a;
    char id[24];
    size_t i;

    if (!filter || !*filter)
        return 1;
    snprintf(id, sizeof(id), "%lld", (long long)t->id);
    if (strcmp(id, filter) == 0)
        return 1;
    for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (has(cli_json_str(t->json, keys[i]), filter))
            return 1;
    json_array_foreach(argv, i,
                       a) if (has(json_string_value(a), filter)) return 1;
    return 0;
}

/* ---- events ----------------------------------------------------------- */

int wm_apply_event(wmodel_t *m, const char *name, const char *data, size_t len,
                   double now)
{
    json_t *d;

    if (strcmp(name, "reset") == 0)
        return 1;
    if (strncmp(name, "task.", 5) != 0)
        return 0;
    d = json_loadb(data, len, 0, NULL);
    if (!json_is_object(d)) {
        json_decref(d);
        return 0;
    }
    if (strcmp(name, "task.log") == 0) {
        if (cli_json_str(d, "text"))
            wm_log(m, cli_json_int(d, "task_id", 0), cli_json_str(d, "text"));
    } else if (strcmp(name, "task.deleted") == 0) {
        wm_remove(m, cli_json_int(d, "id", cli_json_int(d, "task_id", 0)));
    } else {
        wm_put(m, d, now);
    }
    json_decref(d);
    return 0;
}
