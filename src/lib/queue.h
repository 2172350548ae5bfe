/*
 * queue.h -- a binary heap of queued tasks: higher priority first, then
 * lower sequence (FIFO among equal priorities). Push, pop and removal of
 * any element are O(log n). Each element records its own heap position,
 * so a task can be removed or re-prioritised without a search.
 */
#ifndef TL_QUEUE_H
#define TL_QUEUE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tl__qitem {
    int64_t priority;
    int64_t seq;
    size_t pos; /* maintained by the queue; SIZE_MAX when not queued */
} tl__qitem_t;

typedef struct tl__queue {
    tl__qitem_t **items;
    size_t len, cap;
} tl__queue_t;

void tl__queue_init(tl__queue_t *q);
void tl__queue_free(tl__queue_t *q); /* frees the array, not the items */
int tl__queue_push(tl__queue_t *q, tl__qitem_t *it); /* TL_ENOMEM */
tl__qitem_t *tl__queue_peek(const tl__queue_t *q);   /* NULL when empty */
tl__qitem_t *tl__queue_pop(tl__queue_t *q);          /* NULL when empty */
void tl__queue_remove(tl__queue_t *q, tl__qitem_t *it);
/* Call after changing it->priority or it->seq. */
void tl__queue_update(tl__queue_t *q, tl__qitem_t *it);

#endif
