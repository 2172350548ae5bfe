/*
 * test_map.c -- the int64 -> pointer map: put/get/del, growth, and random
 * operations against a plain array, which exercise backward-shift deletion
 * inside long clusters and across the end of the table.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "map.h"
#include "tasklight.h"

/* Distinct non-NULL pointers to store. */
static char vals[4096];

static void *val(int64_t i)
{
    return &vals[(uint64_t)i % sizeof(vals)];
}

static size_t count_slots(const tl__map_t *m)
{
    size_t n = 0;

    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i] != INT64_MIN)
            n++;
    return n;
}

static void test_empty(void **state)
{
    tl__map_t m;

    (void)state;
    tl__map_init(&m);
    assert_null(tl__map_get(&m, 1));
    assert_null(tl__map_del(&m, 1));
    assert_int_equal(m.len, 0);
    tl__map_free(&m);
    tl__map_free(NULL);
}

static void test_put_get_del(void **state)
{
    int64_t keys[] = {0, 1, -1, 42, INT64_MAX, INT64_MIN + 1, 1 << 20};
    size_t n = sizeof(keys) / sizeof(keys[0]);
    tl__map_t m;

    (void)state;
    tl__map_init(&m);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(tl__map_put(&m, keys[i], val(i)), 0);
    assert_int_equal(m.len, n);
    for (size_t i = 0; i < n; i++)
        assert_ptr_equal(tl__map_get(&m, keys[i]), val(i));
    assert_null(tl__map_get(&m, 7));

    /* Replacing keeps the count. */
    assert_int_equal(tl__map_put(&m, 42, val(100)), 0);
    assert_int_equal(m.len, n);
    assert_ptr_equal(tl__map_get(&m, 42), val(100));

    assert_ptr_equal(tl__map_del(&m, 42), val(100));
    assert_null(tl__map_get(&m, 42));
    assert_null(tl__map_del(&m, 42));
    assert_int_equal(m.len, n - 1);
    assert_int_equal(count_slots(&m), n - 1);

    /* The empty marker is not a key. */
    assert_int_equal(tl__map_put(&m, INT64_MIN, val(1)), TL_EINVAL);
    assert_null(tl__map_get(&m, INT64_MIN));
    assert_null(tl__map_del(&m, INT64_MIN));
    tl__map_free(&m);
    assert_int_equal(m.cap, 0);
    assert_null(m.keys);
}

static void test_growth(void **state)
{
    const int64_t n = 100000;
    size_t last_cap = 0;
    tl__map_t m;

    (void)state;
    tl__map_init(&m);
    for (int64_t i = 0; i < n; i++) {
        assert_int_equal(tl__map_put(&m, i * 7919, val(i)), 0);
        /* A power of two, at most 70% full. */
        assert_int_equal(m.cap & (m.cap - 1), 0);
        assert_true(m.len * 10 <= m.cap * 7);
        /* It grew only once the old table was more than half full. */
        if (m.cap != last_cap && last_cap != 0)
            assert_true((m.len - 1) * 2 > last_cap);
        assert_true(m.cap >= last_cap);
        last_cap = m.cap;
    }
    assert_int_equal(m.len, n);
    assert_int_equal(count_slots(&m), n);
    for (int64_t i = 0; i < n; i++)
        assert_ptr_equal(tl__map_get(&m, i * 7919), val(i));
    assert_null(tl__map_get(&m, 1));
    tl__map_free(&m);
}

/* ---- random operations against a reference ---------------------------- */

#define KEYSPACE 3000
#define NOPS 200000

/* Reference key i of the dense space; some are extreme values. */
static int64_t ref_key(size_t i)
{
    if (i == 0)
        return INT64_MAX;
    if (i == 1)
        return INT64_MIN + 1;
    return (int64_t)i - KEYSPACE / 2;
}

static void check_all(const tl__map_t *m, void *const *ref)
{
    size_t n = 0;

    for (size_t i = 0; i < KEYSPACE; i++) {
        assert_ptr_equal(tl__map_get(m, ref_key(i)), ref[i]);
        n += ref[i] != NULL;
    }
    assert_int_equal(m->len, n);
    assert_int_equal(count_slots(m), n);
}

static void random_step(tl__map_t *m, void **ref, size_t live, int put_pct)
{
    size_t i = (size_t)rand() % live;
    int64_t key = ref_key(i);

    if (rand() % 100 < put_pct) {
        void *v = val((int64_t)rand() + 1);
        assert_int_equal(tl__map_put(m, key, v), 0);
        ref[i] = v;
    } else {
        assert_ptr_equal(tl__map_del(m, key), ref[i]);
        ref[i] = NULL;
    }
}

static void test_random_against_reference(void **state)
{
    static void *ref[KEYSPACE];
    tl__map_t m;

    (void)state;
    srand(4242);
    tl__map_init(&m);
    for (int n = 0; n < NOPS; n++) {
        /* A few keys churning in a small table, then the table fills up
         * to a high load with long clusters, churns, and drains. */
        static const int put_pct[] = {50, 90, 50, 10};
        size_t phase = (size_t)n * 4 / NOPS;
        size_t live = phase == 0 ? 2 + (size_t)n % 16 : KEYSPACE;
        random_step(&m, ref, live, put_pct[phase]);
        if (n % 997 == 0)
            check_all(&m, ref);
    }
    check_all(&m, ref);
    for (size_t i = 0; i < KEYSPACE; i++) {
        assert_ptr_equal(tl__map_del(&m, ref_key(i)), ref[i]);
        ref[i] = NULL;
        if (i % 101 == 0)
            check_all(&m, ref);
    }
    assert_int_equal(m.len, 0);
    assert_int_equal(count_slots(&m), 0);
    tl__map_free(&m);
}

/* Deleting from a small, nearly full table: every survivor stays
 * reachable whatever the order of deletions, including clusters that wrap
 * past the last slot. */
static void test_delete_all_orders(void **state)
{
    tl__map_t m;

    (void)state;
    srand(7);
    for (int round = 0; round < 2000; round++) {
        int64_t keys[11];
        tl__map_init(&m);
        for (int i = 0; i < 11; i++) {
            keys[i] = (int64_t)(rand() % 1000) * 1000 + i;
            assert_int_equal(tl__map_put(&m, keys[i], val(keys[i])), 0);
        }
        assert_int_equal(m.cap, 16);
        for (int i = 10; i >= 0; i--) {
            int j = rand() % (i + 1);
            int64_t k = keys[j];
            keys[j] = keys[i];
            assert_ptr_equal(tl__map_del(&m, k), val(k));
            assert_null(tl__map_get(&m, k));
            for (int s = 0; s < i; s++)
                assert_ptr_equal(tl__map_get(&m, keys[s]), val(keys[s]));
        }
        assert_int_equal(m.len, 0);
        tl__map_free(&m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_put_get_del),
        cmocka_unit_test(test_growth),
        cmocka_unit_test(test_random_against_reference),
        cmocka_unit_test(test_delete_all_orders),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
