/*
 * queue.c -- the queue of tasks waiting to run, as a binary min-heap on
 * (-priority, seq).
 *
 * DESIGN: the heap holds pointers to items the caller owns and never frees
 * them. Every move of an item inside the array writes its new index to
 * it->pos, so remove and update find the item in O(1) and repair the heap
 * in O(log n); an item that is not in the queue has pos == SIZE_MAX.
 * Invariant: items[i]->pos == i for every i < len, and no item sorts before
 * its parent. seq breaks ties, so equal priorities come out FIFO and the
 * order is total (no two items compare equal unless the caller reuses a
 * seq). Single-threaded: the manager thread owns the queue.
 */
#include "queue.h"

#include "tasklight.h"

#include <assert.h>
#include <stdlib.h>

#define QUEUE_MIN_CAP 16

/* Non-zero when a must come out before b. */
static int before(const tl__qitem_t *a, const tl__qitem_t *b)
{
    if (a->priority != b->priority)
        return a->priority > b->priority;
    return a->seq < b->seq;
}

static void place(tl__queue_t *q, size_t i, tl__qitem_t *it)
{
    q->items[i] = it;
    it->pos = i;
}

/* Moves the item at i towards the root while it beats its parent. */
static void sift_up(tl__queue_t *q, size_t i)
{
    tl__qitem_t *it = q->items[i];

    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!before(it, q->items[parent]))
            break;
        place(q, i, q->items[parent]);
        i = parent;
    }
    place(q, i, it);
}

/* Moves the item at i towards the leaves while a child beats it. */
static void sift_down(tl__queue_t *q, size_t i)
{
    tl__qitem_t *it = q->items[i];

    for (;;) {
        size_t child = 2 * i + 1;
        if (child >= q->len)
            break;
        if (child + 1 < q->len && before(q->items[child + 1], q->items[child]))
            child++;
        if (!before(q->items[child], it))
            break;
        place(q, i, q->items[child]);
        i = child;
    }
    place(q, i, it);
}

/* Restores the heap around index i after its item changed or was
 * replaced; only one of the two sifts moves anything. */
static void fix(tl__queue_t *q, size_t i)
{
    if (i > 0 && before(q->items[i], q->items[(i - 1) / 2]))
        sift_up(q, i);
    else
        sift_down(q, i);
}

static int is_queued(const tl__queue_t *q, const tl__qitem_t *it)
{
    return it->pos < q->len && q->items[it->pos] == it;
}

static int grow(tl__queue_t *q)
{
    size_t cap = q->cap ? q->cap : QUEUE_MIN_CAP / 2;
    tl__qitem_t **items;

    if (cap > SIZE_MAX / 2 / sizeof(*items))
        return TL_ENOMEM;
    cap *= 2;
    items = realloc(q->items, cap * sizeof(*items));
    if (!items)
        return TL_ENOMEM;
    q->items = items;
    q->cap = cap;
    return 0;
}

void tl__queue_init(tl__queue_t *q)
{
    q->items = NULL;
    q->len = 0;
    q->cap = 0;
}

void tl__queue_free(tl__queue_t *q)
{
    if (!q)
        return;
    /* The items may already be gone: do not touch them. */
    free(q->items);
    tl__queue_init(q);
}

int tl__queue_push(tl__queue_t *q, tl__qitem_t *it)
{
    int rc = 0;

    assert(!is_queued(q, it));
    if (q->len == q->cap) {
        rc = grow(q);
        if (rc)
            goto out;
    }
    q->items[q->len] = it;
    q->len++;
    sift_up(q, q->len - 1);
out:
    return rc;
}

tl__qitem_t *tl__queue_peek(const tl__queue_t *q)
{
    return q->len ? q->items[0] : NULL;
}

tl__qitem_t *tl__queue_pop(tl__queue_t *q)
{
    tl__qitem_t *top = tl__queue_peek(q);

    if (top)
        tl__queue_remove(q, top);
    return top;
}

void tl__queue_remove(tl__queue_t *q, tl__qitem_t *it)
{
    size_t i = it->pos;

    if (!is_queued(q, it))
        return;
    q->len--;
    if (i < q->len) {
        place(q, i, q->items[q->len]);
        fix(q, i);
    }
    it->pos = SIZE_MAX;
}

void tl__queue_update(tl__queue_t *q, tl__qitem_t *it)
{
    if (is_queued(q, it))
        fix(q, it->pos);
}
