/*
 * map.c -- an open-addressing hash map from int64 keys to pointers
 * (task id -> job, pid -> job).
 *
 * DESIGN: two parallel arrays, keys and vals, of a power-of-two capacity,
 * with linear probing from hash(key) & (cap - 1). An empty slot holds
 * INT64_MIN. Invariant: every key sits at or after its home slot with no
 * empty slot between the two (cyclically), which is what lets a lookup stop
 * at the first empty slot. Deletion keeps that invariant without tombstones
 * by shifting later members of the cluster back into the hole (Knuth's
 * Algorithm R), so lookups never slow down after many deletions. The table
 * doubles before its load would pass 11/16 and starts at 16 slots; it never
 * shrinks. The hash is the splitmix64 finaliser, so sequential ids and
 * pids spread over the table. Single-threaded: the manager thread owns it.
 */
#include "map.h"

#include "tasklight.h"

#include <stdlib.h>

#define EMPTY INT64_MIN
#define MAP_MIN_CAP 16

static uint64_t hash(int64_t key)
{
    uint64_t z = (uint64_t)key;

    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

/* The slot holding key, or SIZE_MAX when it is absent. */
static size_t find(const tl__map_t *m, int64_t key)
{
    size_t mask, i;

    if (m->cap == 0 || key == EMPTY)
        return SIZE_MAX;
    mask = m->cap - 1;
    for (i = hash(key) & mask; m->keys[i] != EMPTY; i = (i + 1) & mask) {
        if (m->keys[i] == key)
            return i;
    }
    return SIZE_MAX;
}

/* Stores a key known to be absent; the table has a free slot. */
static void insert_new(tl__map_t *m, int64_t key, void *val)
{
    size_t mask = m->cap - 1;
    size_t i = hash(key) & mask;

    while (m->keys[i] != EMPTY)
        i = (i + 1) & mask;
    m->keys[i] = key;
    m->vals[i] = val;
    m->len++;
}

/* Moves every entry into new arrays of cap slots. On failure the map is
 * unchanged. */
static int resize(tl__map_t *m, size_t cap)
{
    tl__map_t n = {NULL, NULL, cap, 0};
    size_t i;

    if (cap > SIZE_MAX / sizeof(*n.vals))
        return TL_ENOMEM;
    n.keys = malloc(cap * sizeof(*n.keys));
    n.vals = malloc(cap * sizeof(*n.vals));
    if (!n.keys || !n.vals) {
        free(n.keys);
        free(n.vals);
        return TL_ENOMEM;
    }
    for (i = 0; i < cap; i++)
        n.keys[i] = EMPTY;
    for (i = 0; i < m->cap; i++) {
        if (m->keys[i] != EMPTY)
            insert_new(&n, m->keys[i], m->vals[i]);
    }
    free(m->keys);
    free(m->vals);
    *m = n;
    return 0;
}

/* The most entries a table of cap slots holds: 11/16 (68.75%). */
static size_t max_load(size_t cap)
{
    return cap - cap / 4 - cap / 16;
}

/* Grows the table if one more entry would take it past its maximum load. */
static int reserve_one(tl__map_t *m)
{
    size_t cap = m->cap ? m->cap : MAP_MIN_CAP;

    while (m->len + 1 > max_load(cap)) {
        if (cap > SIZE_MAX / 2)
            return TL_ENOMEM;
        cap *= 2;
    }
    if (cap == m->cap)
        return 0;
    return resize(m, cap);
}

void tl__map_init(tl__map_t *m)
{
    m->keys = NULL;
    m->vals = NULL;
    m->cap = 0;
    m->len = 0;
}

void tl__map_free(tl__map_t *m)
{
    if (!m)
        return;
    free(m->keys);
    free(m->vals);
    tl__map_init(m);
}

void *tl__map_get(const tl__map_t *m, int64_t key)
{
    size_t i = find(m, key);

    return i == SIZE_MAX ? NULL : m->vals[i];
}

int tl__map_put(tl__map_t *m, int64_t key, void *val)
{
    size_t i;
    int rc = 0;

    if (key == EMPTY)
        return TL_EINVAL;
    i = find(m, key);
    if (i != SIZE_MAX) {
        m->vals[i] = val;
        goto out;
    }
    rc = reserve_one(m);
    if (rc)
        goto out;
    insert_new(m, key, val);
out:
    return rc;
}

void *tl__map_del(tl__map_t *m, int64_t key)
{
    size_t hole = find(m, key);
    size_t mask, j;
    void *old;

    if (hole == SIZE_MAX)
        return NULL;
    old = m->vals[hole];
    mask = m->cap - 1;
    /* Walk the rest of the cluster; an entry whose probe path covers the
     * hole moves into it, and its old slot becomes the new hole. */
    for (j = (hole + 1) & mask; m->keys[j] != EMPTY; j = (j + 1) & mask) {
        size_t home = hash(m->keys[j]) & mask;
        if (((j - home) & mask) >= ((j - hole) & mask)) {
            m->keys[hole] = m->keys[j];
            m->vals[hole] = m->vals[j];
            hole = j;
        }
    }
    m->keys[hole] = EMPTY;
    m->vals[hole] = NULL;
    m->len--;
    return old;
}
