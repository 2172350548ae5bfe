/*
 * sched.c -- groups, their queues and their parallel slots.
 *
 * DESIGN: each group has a heap of its due queued jobs (priority, then
 * FIFO by id) and a count of jobs holding one of its slots. The scheduler
 * runs once per loop turn when something changed (a task queued, a slot
 * freed, a limit raised): it repeatedly takes, among the heads of groups
 * with a free slot, the one with the highest priority (FIFO across groups
 * by id), so the cost of a start is O(groups + log n). A job whose
 * run_after lies ahead (retry backoff) waits on a timer outside the heap.
 * The number of groups is small (they are named by people).
 */
#include "manager.h"
#include "util.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define container_of(p, type, member)                                          \
    ((type *)(void *)((char *)(p)-offsetof(type, member)))

tl__group_t *tl__group_get(tl_manager_t *m, const char *name, bool create)
{
    for (tl__group_t *g = m->groups; g; g = g->next)
        if (strcmp(g->name, name) == 0)
            return g;
    if (!create)
        return NULL;
    tl__group_t *g = calloc(1, sizeof(*g));
    if (!g || !(g->name = strdup(name))) {
        free(g);
        return NULL;
    }
    g->parallel = 1; /* like a spooler: one at a time until told */
    tl__queue_init(&g->queue);
    g->next = m->groups;
    m->groups = g;
    return g;
}

void tl__group_free_all(tl_manager_t *m)
{
    tl__group_t *g = m->groups;
    while (g) {
        tl__group_t *next = g->next;
        tl__queue_free(&g->queue);
        free(g->name);
        free(g);
        g = next;
    }
    m->groups = NULL;
}

static void on_due(evutil_socket_t fd, short what, void *arg)
{
    tl__job_t *j = arg;
    event_free(j->due_ev);
    j->due_ev = NULL;
    if (j->task->state == TL_STATE_QUEUED)
        tl__sched_enqueue(j);
}

static int wait_until_due(tl__job_t *j, int64_t wait_ms)
{
    if (!j->due_ev)
        j->due_ev = evtimer_new(j->m->base, on_due, j);
    if (!j->due_ev)
        return TL_ENOMEM;
    struct timeval tv = {wait_ms / 1000, (wait_ms % 1000) * 1000};
    evtimer_add(j->due_ev, &tv);
    return 0;
}

int tl__sched_enqueue(tl__job_t *j)
{
    tl_manager_t *m = j->m;
    int64_t wait_ms = j->task->run_after - tl__now_ms();
    if (j->task->run_after && wait_ms > 0)
        return wait_until_due(j, wait_ms);
    tl__group_t *g = tl__group_get(m, j->task->group, true);
    if (!g)
        return TL_ENOMEM;
    j->group = g;
    j->qi.priority = j->task->priority;
    j->qi.seq = j->task->id;
    int rc = tl__queue_push(&g->queue, &j->qi);
    if (rc)
        return rc;
    tl__sched_kick(m);
    return 0;
}

void tl__sched_dequeue(tl__job_t *j)
{
    if (j->due_ev) {
        event_free(j->due_ev);
        j->due_ev = NULL;
    }
    if (j->group && j->qi.pos != SIZE_MAX)
        tl__queue_remove(&j->group->queue, &j->qi);
}

void tl__sched_release(tl__job_t *j)
{
    if (!j->holds_slot)
        return;
    j->holds_slot = false;
    j->group->running--;
    tl__sched_kick(j->m);
}

void tl__sched_kick(tl_manager_t *m)
{
    m->sched_pending = !m->closing;
}

static bool has_slot(const tl__group_t *g)
{
    return g->parallel == 0 || g->running < g->parallel;
}

static bool before(const tl__qitem_t *a, const tl__qitem_t *b)
{
    return a->priority != b->priority ? a->priority > b->priority
                                      : a->seq < b->seq;
}

static tl__group_t *next_group(tl_manager_t *m)
{
    tl__group_t *best = NULL;
    for (tl__group_t *g = m->groups; g; g = g->next) {
        tl__qitem_t *head = tl__queue_peek(&g->queue);
        if (!head || !has_slot(g))
            continue;
        if (!best || before(head, tl__queue_peek(&best->queue)))
            best = g;
    }
    return best;
}

void tl__sched_run(tl_manager_t *m)
{
    tl__group_t *g;
    while (!m->closing && !m->draining && (g = next_group(m))) {
        tl__job_t *j = container_of(tl__queue_pop(&g->queue), tl__job_t, qi);
        j->holds_slot = true;
        g->running++;
        tl__job_start(j);
    }
}
