/*
 * store.h -- the persistence boundary: a small ops table that each backend
 * (store_sqlite.c today, store_pg.c later) fills in.
 *
 * DESIGN: the manager owns every write. It opens a transaction lazily on
 * the first write of a loop turn (begin), makes any number of writes, and
 * commits once at the end of the turn, before answering the requests that
 * caused them: that is "durable before acknowledged" with batched commits.
 * Reads see the open transaction's own writes. Backends keep per-state
 * counts up to date on every write (never a full recount), and list with
 * keyset pagination (id < cursor) so cost follows the page, not history.
 * Ids come from the store and are never reused. Several daemons may share
 * one store (PostgreSQL), so claim_task is conditional: it only moves a task
 * that is still queued.
 *
 * All functions return 0 or a negative tl_err_t; backend errors map to
 * TL_ESTORE, TL_EFULL (disk full) or TL_EBUSY (locked). tl__store_errmsg()
 * says what failed.
 */
#ifndef TL_STORE_H
#define TL_STORE_H

#include "task.h"

#include <stdbool.h>

typedef struct tl__store tl__store_t;

typedef struct tl__store_filter {
    int state; /* tl_state_t or -1 */
    const char *kind;
    const char *group;
    const char *text;
    int limit;      /* already clamped to 1..1000 */
    int64_t cursor; /* 0: newest; else ids < cursor */
} tl__store_filter_t;

typedef int (*tl__store_task_cb)(tl_task_t *t, void *ud); /* takes t */

typedef struct tl__store_ops {
    const char *name;
    int (*open)(const char *path, tl__store_t **out);
    void (*close)(tl__store_t *s);
    const char *(*errmsg)(tl__store_t *s);
    int (*begin)(tl__store_t *s);
    int (*commit)(tl__store_t *s);
    int (*rollback)(tl__store_t *s);
    /* Inserts t and sets t->id (and keeps created_at). */
    int (*insert_task)(tl__store_t *s, tl_task_t *t);
    /* Writes t over the row with t->id, but for what never changes once
     * inserted (its command, key, kind, owner, source and created_at);
     * with !indexed also leaves its state, group and finished_at, which
     * the caller knows to be as stored. was: the state the row holds
     * (the counts move by it), or -1 when the caller does not know it.
     * TL_ENOTFOUND. */
    int (*update_task)(tl__store_t *s, const tl_task_t *t, bool indexed,
                       int was);
    /* TL_ENOTFOUND when the task is not there. */
    int (*delete_task)(tl__store_t *s, int64_t id);
    /* *out gets a new task (tl_task_free()); TL_ENOTFOUND. */
    int (*load_task)(tl__store_t *s, int64_t id, tl_task_t **out);
    /* TL_ENOTFOUND when no task has this key. */
    int (*find_key)(tl__store_t *s, const char *key, tl_task_t **out);
    /* Calls cb for every task in a state that is not final, oldest first.
     * cb owns the task; a non-zero return stops and is returned. */
    int (*load_active)(tl__store_t *s, tl__store_task_cb cb, void *ud);
    /* Tasks matching f, newest first (id descending), at most f->limit, in
     * a malloc'd array of owned tasks; *next_cursor is the id to pass for
     * the next page, or 0 when this page is the last. */
    int (*list_tasks)(tl__store_t *s, const tl__store_filter_t *f,
                      tl_task_t ***out, size_t *n, int64_t *next_cursor);
    /* counts[state] for every state, kept up to date on each write. */
    int (*count_states)(tl__store_t *s, int64_t counts[TL_STATE__COUNT]);
    /* Moves task id from queued to running on node (the daemon claiming
     * it) at started_at;
     * TL_ECONFLICT when it is no longer queued (another daemon took it). */
    int (*claim_task)(tl__store_t *s, int64_t id, const char *node,
                      int64_t started_at);
    /* Only one daemon uses the store (SQLite: the data directory's lock),
     * so what it holds in memory is the truth and a start needs no claim:
     * the update at the end of the turn records it. */
    bool exclusive;
    /* Group parallel limits. */
    int (*set_group)(tl__store_t *s, const char *group, int parallel);
    /* cb(group, parallel, ud) for every stored group limit. */
    int (*load_groups)(tl__store_t *s,
                       void (*cb)(const char *group, int parallel, void *ud),
                       void *ud);
    /* Deletes finished tasks finished before `before` (ms); the ids go to
     * *ids (malloc'd) so their logs can be removed. */
    int (*delete_finished)(tl__store_t *s, int64_t before, int64_t **ids,
                           size_t *n);
    /* Running times in seconds (paused time excluded) of the newest (at
     * most max) completed tasks of this kind, newest first, into out. */
    int (*recent_durations)(tl__store_t *s, const char *kind, size_t max,
                            double *out, size_t *n);
    /* API tokens: names, secrets and roles. put: TL_ECONFLICT for a name
     * in use; delete: TL_ENOTFOUND. Both commit with the turn. */
    int (*load_tokens)(tl__store_t *s,
                       void (*cb)(const char *name, const char *secret,
                                  const char *role, int64_t created, void *ud),
                       void *ud);
    int (*put_token)(tl__store_t *s, const char *name, const char *secret,
                     const char *role, int64_t created);
    int (*delete_token)(tl__store_t *s, const char *name);
} tl__store_ops_t;

struct tl__store {
    const tl__store_ops_t *ops;
};

extern const tl__store_ops_t tl__store_sqlite_ops;

/* The schema version this build writes (store_sqlite.c). */
#define TL__SQLITE_SCHEMA_VERSION 5

#endif
