/*
 * map.h -- an open-addressing hash map from int64 keys to pointers, used
 * for id -> job and pid -> job. Keys must not be INT64_MIN (the empty
 * marker). Deletion uses backward-shift, so there are no tombstones.
 */
#ifndef TL_MAP_H
#define TL_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct tl__map {
    int64_t *keys;
    void **vals;
    size_t cap, len; /* cap is 0 or a power of two */
} tl__map_t;

void tl__map_init(tl__map_t *m);
void tl__map_free(tl__map_t *m);
void *tl__map_get(const tl__map_t *m, int64_t key);
int tl__map_put(tl__map_t *m, int64_t key, void *val); /* TL_ENOMEM */
void *tl__map_del(tl__map_t *m, int64_t key); /* returns the old value */
/* Iteration:
 *   for (size_t i = 0; i < m->cap; i++) if (m->keys[i] != INT64_MIN) */

#endif
