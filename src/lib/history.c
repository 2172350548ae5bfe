/*
 * history.c -- how long tasks of a kind usually take: the median running
 * time of the last HISTORY_MAX completed tasks of each kind, the prior the
 * ETA estimator leans on before a task has shown much progress.
 *
 * DESIGN: kinds are few (people name them), so they sit in a short list.
 * A kind's durations are read from the store the first time they are asked
 * for (one indexed query, newest first), then kept up to date in memory as
 * tasks of that kind complete; the median is recomputed on change only.
 */
#include "manager.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct tl__kind_history {
    char *kind;
    double durations[TL__HISTORY_MAX]; /* a ring, newest at head - 1 */
    size_t len, head;
    double median;
    struct tl__kind_history *next;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void update_median(tl__kind_history_t *h)
{
    double v[TL__HISTORY_MAX];
    memcpy(v, h->durations, h->len * sizeof(double));
    qsort(v, h->len, sizeof(double), cmp_double);
    h->median = h->len == 0  ? NAN
                : h->len % 2 ? v[h->len / 2]
                             : (v[h->len / 2 - 1] + v[h->len / 2]) / 2;
}

static void push(tl__kind_history_t *h, double d)
{
    h->durations[h->head] = d;
    h->head = (h->head + 1) % TL__HISTORY_MAX;
    if (h->len < TL__HISTORY_MAX)
        h->len++;
}

static tl__kind_history_t *load(tl_manager_t *m, const char *kind)
{
    tl__kind_history_t *h = calloc(1, sizeof(*h));
    if (!h || !(h->kind = strdup(kind))) {
        free(h);
        return NULL;
    }
    double newest_first[TL__HISTORY_MAX];
    size_t n = 0;
    m->store->ops->recent_durations(m->store, kind, TL__HISTORY_MAX,
                                    newest_first, &n);
    while (n > 0)
        push(h, newest_first[--n]); /* oldest first into the ring */
    update_median(h);
    h->next = m->history;
    m->history = h;
    return h;
}

static tl__kind_history_t *find(tl_manager_t *m, const char *kind)
{
    for (tl__kind_history_t *h = m->history; h; h = h->next)
        if (strcmp(h->kind, kind) == 0)
            return h;
    return load(m, kind);
}

double tl__history_prior(tl_manager_t *m, const char *kind)
{
    tl__kind_history_t *h = kind ? find(m, kind) : NULL;
    return h ? h->median : NAN;
}

void tl__history_record(tl_manager_t *m, const tl_task_t *t)
{
    if (!t->kind || t->state != TL_STATE_COMPLETED || !t->started_at)
        return;
    tl__kind_history_t *h = find(m, t->kind);
    if (!h)
        return;
    /* Loaded just now, the store may already hold this task's row. */
    push(h, tl__task_elapsed_ms(t, t->finished_at) / 1000.0);
    update_median(h);
}

void tl__history_free(tl_manager_t *m)
{
    tl__kind_history_t *h = m->history;
    while (h) {
        tl__kind_history_t *next = h->next;
        free(h->kind);
        free(h);
        h = next;
    }
    m->history = NULL;
}
