/*
 * test_queue.c -- the task queue: priority order, FIFO among equals,
 * removal and re-prioritisation, and random operations against a plain
 * array kept in order.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "queue.h"
#include "tasklight.h"

static tl__qitem_t item(int64_t priority, int64_t seq)
{
    tl__qitem_t it = {priority, seq, SIZE_MAX};
    return it;
}

/* Every position is recorded and no child beats its parent. */
static void check_heap(const tl__queue_t *q)
{
    for (size_t i = 0; i < q->len; i++) {
        const tl__qitem_t *it = q->items[i];
        assert_int_equal(it->pos, i);
        if (i > 0) {
            const tl__qitem_t *p = q->items[(i - 1) / 2];
            assert_true(p->priority > it->priority ||
                        (p->priority == it->priority && p->seq < it->seq));
        }
    }
}

static void test_empty(void **state)
{
    tl__queue_t q;

    (void)state;
    tl__queue_init(&q);
    assert_null(tl__queue_peek(&q));
    assert_null(tl__queue_pop(&q));
    tl__queue_free(&q);
    tl__queue_free(NULL);
}

static void test_priority_order(void **state)
{
    int64_t prios[] = {3, -7, 10, 0, 42, 5, -1, 8};
    int64_t want[] = {42, 10, 8, 5, 3, 0, -1, -7};
    tl__qitem_t items[8];
    tl__queue_t q;

    (void)state;
    tl__queue_init(&q);
    for (int i = 0; i < 8; i++) {
        items[i] = item(prios[i], i);
        assert_int_equal(tl__queue_push(&q, &items[i]), 0);
        check_heap(&q);
    }
    assert_int_equal(q.len, 8);
    assert_int_equal(tl__queue_peek(&q)->priority, 42);
    for (int i = 0; i < 8; i++) {
        tl__qitem_t *it = tl__queue_pop(&q);
        assert_non_null(it);
        assert_int_equal(it->priority, want[i]);
        assert_int_equal(it->pos, SIZE_MAX);
        check_heap(&q);
    }
    assert_null(tl__queue_pop(&q));
    tl__queue_free(&q);
}

static void test_fifo_equal_priority(void **state)
{
    tl__qitem_t items[100];
    tl__queue_t q;

    (void)state;
    tl__queue_init(&q);
    /* Pushed in an order unrelated to seq; ties come out by seq. */
    for (int i = 0; i < 100; i++) {
        items[i] = item(i % 2, (i * 37) % 100);
        assert_int_equal(tl__queue_push(&q, &items[i]), 0);
    }
    for (int64_t prio = 1; prio >= 0; prio--) {
        int64_t last = -1;
        for (int i = 0; i < 50; i++) {
            tl__qitem_t *it = tl__queue_pop(&q);
            assert_int_equal(it->priority, prio);
            assert_true(it->seq > last);
            last = it->seq;
        }
    }
    assert_int_equal(q.len, 0);
    tl__queue_free(&q);
}

static void test_remove_middle(void **state)
{
    tl__qitem_t items[20];
    tl__queue_t q;

    (void)state;
    tl__queue_init(&q);
    for (int i = 0; i < 20; i++) {
        items[i] = item(i, i);
        assert_int_equal(tl__queue_push(&q, &items[i]), 0);
    }
    tl__queue_remove(&q, &items[7]);
    assert_int_equal(items[7].pos, SIZE_MAX);
    tl__queue_remove(&q, &items[7]);  /* not queued: no effect */
    tl__queue_remove(&q, &items[19]); /* the head */
    tl__queue_remove(&q, &items[0]);  /* a leaf */
    check_heap(&q);
    assert_int_equal(q.len, 17);
    for (int64_t want = 18; want >= 1; want--) {
        if (want == 7)
            continue;
        assert_int_equal(tl__queue_pop(&q)->priority, want);
    }
    assert_null(tl__queue_pop(&q));
    tl__queue_free(&q);
}

static void test_update_priority(void **state)
{
    tl__qitem_t items[10];
    tl__queue_t q;

    (void)state;
    tl__queue_init(&q);
    for (int i = 0; i < 10; i++) {
        items[i] = item(i, i);
        assert_int_equal(tl__queue_push(&q, &items[i]), 0);
    }
    items[2].priority = 100; /* up to the head */
    tl__queue_update(&q, &items[2]);
    check_heap(&q);
    assert_ptr_equal(tl__queue_peek(&q), &items[2]);

    items[2].priority = -5; /* down to the tail */
    tl__queue_update(&q, &items[2]);
    items[9].priority = 4; /* ties with items[4], later seq */
    tl__queue_update(&q, &items[9]);
    check_heap(&q);

    int64_t want[] = {8, 7, 6, 5, 4, 9, 3, 1, 0, 2};
    for (int i = 0; i < 10; i++)
        assert_ptr_equal(tl__queue_pop(&q), &items[want[i]]);

    items[3].priority = 1000; /* not queued: no effect, no crash */
    tl__queue_update(&q, &items[3]);
    assert_int_equal(items[3].pos, SIZE_MAX);
    tl__queue_free(&q);
}

/* ---- random operations against a reference ---------------------------- */

#define NITEMS 512
#define NOPS 10000

static int cmp_ref(const void *a, const void *b)
{
    const tl__qitem_t *x = *(tl__qitem_t *const *)a;
    const tl__qitem_t *y = *(tl__qitem_t *const *)b;

    if (x->priority != y->priority)
        return x->priority > y->priority ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The reference: the queued items, kept sorted, best first. */
typedef struct ref {
    tl__qitem_t *items[NITEMS];
    size_t len;
} ref_t;

static void ref_sort(ref_t *r)
{
    qsort(r->items, r->len, sizeof(r->items[0]), cmp_ref);
}

static void ref_drop(ref_t *r, size_t i)
{
    memmove(&r->items[i], &r->items[i + 1],
            (r->len - i - 1) * sizeof(r->items[0]));
    r->len--;
}

/* One random push, pop, remove or update; grow_pct of the steps push. */
static void random_step(tl__queue_t *q, ref_t *r, tl__qitem_t *pool,
                        int64_t *seq, int grow_pct)
{
    int op = rand() % 100 < grow_pct ? 0 : 1 + rand() % 3;

    if (op == 0 || r->len == 0) {
        /* push an idle item */
        tl__qitem_t *it = &pool[rand() % NITEMS];
        if (it->pos != SIZE_MAX)
            return;
        it->priority = rand() % 8;
        it->seq = (*seq)++;
        assert_int_equal(tl__queue_push(q, it), 0);
        r->items[r->len++] = it;
        ref_sort(r);
    } else if (op == 1) {
        tl__qitem_t *it = tl__queue_pop(q);
        assert_ptr_equal(it, r->items[0]);
        ref_drop(r, 0);
    } else if (op == 2) {
        size_t i = (size_t)rand() % r->len;
        tl__queue_remove(q, r->items[i]);
        assert_int_equal(r->items[i]->pos, SIZE_MAX);
        ref_drop(r, i);
    } else {
        tl__qitem_t *it = r->items[(size_t)rand() % r->len];
        it->priority = rand() % 8;
        if (rand() % 2)
            it->seq = (*seq)++;
        tl__queue_update(q, it);
        ref_sort(r);
    }
}

static void test_random_against_reference(void **state)
{
    static tl__qitem_t pool[NITEMS];
    static ref_t r;
    int64_t seq = 0;
    tl__queue_t q;

    (void)state;
    srand(12345);
    for (int i = 0; i < NITEMS; i++)
        pool[i] = item(0, 0);
    r.len = 0;
    tl__queue_init(&q);
    for (int n = 0; n < NOPS; n++) {
        /* Fill up to hundreds of items (deep heaps), then drain. */
        random_step(&q, &r, pool, &seq, n < NOPS / 2 ? 60 : 20);
        assert_int_equal(q.len, r.len);
        assert_ptr_equal(tl__queue_peek(&q), r.len ? r.items[0] : NULL);
        if (n % 64 == 0)
            check_heap(&q);
    }
    /* Draining gives exactly the reference order. */
    for (size_t i = 0; i < r.len; i++)
        assert_ptr_equal(tl__queue_pop(&q), r.items[i]);
    assert_null(tl__queue_pop(&q));
    tl__queue_free(&q);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_priority_order),
        cmocka_unit_test(test_fifo_equal_priority),
        cmocka_unit_test(test_remove_middle),
        cmocka_unit_test(test_update_priority),
        cmocka_unit_test(test_random_against_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
