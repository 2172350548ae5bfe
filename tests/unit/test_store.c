/*
 * test_store.c -- the SQLite store: every field round trips, ids are never
 * reused, keys are unique, lists filter and page, counts follow every
 * write, claims conflict, transactions roll back, a reopened store keeps
 * everything, a version 1 database migrates, a newer one is refused, and
 * listing running tasks finds them among 200k finished ones.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <unistd.h>

#include "store.h"
#include "tasklight.h"

extern int tl__store_sqlite_migrate_to(sqlite3 *db, int version);

static const tl__store_ops_t *ops = &tl__store_sqlite_ops;

struct fx {
    char dir[64];
    char path[128];
    tl__store_t *s;
};

static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "/tmp/tl-store-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/tasklight.db", f->dir);
    if (ops->open(f->path, &f->s) != 0)
        return -1;
    *state = f;
    return 0;
}

static void remove_db(const char *path)
{
    char p[256];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

static int teardown(void **state)
{
    struct fx *f = *state;
    ops->close(f->s);
    remove_db(f->path);
    rmdir(f->dir);
    free(f);
    return 0;
}

static void reopen(struct fx *f)
{
    ops->close(f->s);
    f->s = NULL;
    assert_int_equal(ops->open(f->path, &f->s), 0);
}

static tl_task_t *mk(tl_state_t st, const char *kind, const char *group,
                     const char *title)
{
    tl_task_t *t = tl__task_new();
    assert_non_null(t);
    t->state = st;
    assert_int_equal(tl__str_set(&t->kind, kind), 0);
    assert_int_equal(tl__str_set(&t->group, group), 0);
    assert_int_equal(tl__str_set(&t->title, title), 0);
    t->created_at = 1000;
    if (tl_state_is_final(st))
        t->finished_at = 2000;
    return t;
}

static int64_t add(tl__store_t *s, tl_state_t st, const char *kind,
                   const char *group, const char *title)
{
    tl_task_t *t = mk(st, kind, group, title);
    assert_int_equal(ops->insert_task(s, t), 0);
    int64_t id = t->id;
    assert_true(id > 0);
    tl_task_free(t);
    return id;
}

static void assert_str_eq_or_null(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void assert_num_eq(double a, double b)
{
    if (isnan(a) || isnan(b)) {
        assert_true(isnan(a));
        assert_true(isnan(b));
    } else {
        assert_true(a == b);
    }
}

static void assert_strv_eq(char **a, char **b)
{
    if (!a || !b) {
        assert_ptr_equal(a, b);
        return;
    }
    size_t n = tl__strv_len((const char *const *)a);
    assert_int_equal(n, tl__strv_len((const char *const *)b));
    for (size_t i = 0; i < n; i++)
        assert_string_equal(a[i], b[i]);
}

static void assert_json_eq(json_t *a, json_t *b)
{
    if (!a || !b) {
        assert_ptr_equal(a, b);
        return;
    }
    if (!json_equal(a, b)) {
        char *x = json_dumps(a, JSON_ENCODE_ANY);
        char *y = json_dumps(b, JSON_ENCODE_ANY);
        fail_msg("json differs: %s vs %s", x, y);
    }
}

static void assert_task_eq(const tl_task_t *a, const tl_task_t *b)
{
    assert_int_equal(a->id, b->id);
    assert_str_eq_or_null(a->key, b->key);
    assert_str_eq_or_null(a->kind, b->kind);
    assert_str_eq_or_null(a->title, b->title);
    assert_str_eq_or_null(a->description, b->description);
    assert_str_eq_or_null(a->group, b->group);
    assert_str_eq_or_null(a->owner, b->owner);
    assert_int_equal(a->state, b->state);
    assert_int_equal(a->source, b->source);
    assert_int_equal(a->priority, b->priority);
    assert_num_eq(a->progress, b->progress);
    assert_num_eq(a->current, b->current);
    assert_num_eq(a->total, b->total);
    assert_str_eq_or_null(a->unit, b->unit);
    assert_str_eq_or_null(a->message, b->message);
    assert_str_eq_or_null(a->error, b->error);
    assert_json_eq(a->metadata, b->metadata);
    assert_json_eq(a->substeps, b->substeps);
    assert_json_eq(a->result, b->result);
    assert_int_equal(a->exit_code, b->exit_code);
    assert_int_equal(a->attempt, b->attempt);
    assert_int_equal(a->max_retries, b->max_retries);
    assert_num_eq(a->timeout_s, b->timeout_s);
    assert_strv_eq(a->argv, b->argv);
    assert_str_eq_or_null(a->cwd, b->cwd);
    assert_strv_eq(a->env, b->env);
    assert_int_equal(a->cancel_requested, b->cancel_requested);
    assert_int_equal(a->created_at, b->created_at);
    assert_int_equal(a->started_at, b->started_at);
    assert_int_equal(a->finished_at, b->finished_at);
    assert_int_equal(a->updated_at, b->updated_at);
    assert_int_equal(a->run_after, b->run_after);
    assert_int_equal(a->paused_ms, b->paused_ms);
    assert_int_equal(a->paused_at, b->paused_at);
}

/* A task with every field set to something other than its default. */
static tl_task_t *full_task(void)
{
    const char *argv[] = {"sh", "-c", "echo \"hi\" \\ there", NULL};
    const char *env[] = {"A=1", "PATH=/bin:/usr/bin", "EMPTY=", NULL};
    tl_task_t *t = mk(TL_STATE_RUNNING, "docker_pull", "net", "pull é ✓");

    assert_int_equal(tl__str_set(&t->key, "client-key-1"), 0);
    assert_int_equal(tl__str_set(&t->description, "a long\nstory"), 0);
    assert_int_equal(tl__str_set(&t->owner, "host:123"), 0);
    assert_int_equal(tl__str_set(&t->unit, "bytes"), 0);
    assert_int_equal(tl__str_set(&t->message, "layer 3/7"), 0);
    assert_int_equal(tl__str_set(&t->error, "boom"), 0);
    assert_int_equal(tl__str_set(&t->cwd, "/srv/x"), 0);
    t->source = TL_SOURCE_TRACKED;
    t->priority = -10;
    t->progress = 42.5;
    t->current = 1234567.0;
    t->total = NAN;
    json_decref(t->metadata);
    t->metadata = json_pack("{s:s, s:{s:[i, f, n, b]}}", "image", "alpine",
                            "nested", "list", 1, 2.5, 1);
    json_array_append_new(t->substeps,
                          json_pack("{s:i, s:s, s:s}", "id", 1, "name",
                                    "download", "state", "running"));
    t->result = json_pack("[s, i]", "ok", 7);
    t->exit_code = 3;
    t->attempt = 2;
    t->max_retries = 5;
    t->timeout_s = 12.75;
    t->argv = tl__strv_dup(argv);
    t->env = tl__strv_dup(env);
    t->cancel_requested = true;
    t->created_at = 1700000000123;
    t->started_at = 1700000001000;
    t->finished_at = 0;
    t->updated_at = 1700000002000;
    t->run_after = 1700000003000;
    t->paused_ms = 450;
    t->paused_at = 1700000004000;
    assert_non_null(t->metadata);
    assert_non_null(t->result);
    return t;
}

static void test_round_trip_every_field(void **state)
{
    struct fx *f = *state;
    tl_task_t *t = full_task();
    tl_task_t *got = NULL;

    assert_int_equal(ops->insert_task(f->s, t), 0);
    assert_true(t->id > 0);
    assert_int_equal(ops->load_task(f->s, t->id, &got), 0);
    assert_task_eq(got, t);
    tl_task_free(got);

    /* The defaults: NAN numbers, NULL strings, no argv/env/result. */
    tl_task_t *d = tl__task_new();
    assert_non_null(d);
    d->state = TL_STATE_QUEUED;
    assert_int_equal(ops->insert_task(f->s, d), 0);
    assert_int_equal(d->id, t->id + 1);
    assert_int_equal(ops->load_task(f->s, d->id, &got), 0);
    assert_task_eq(got, d);
    assert_true(isnan(got->progress));
    assert_null(got->argv);
    assert_null(got->env);
    assert_null(got->result);
    assert_null(got->key);
    assert_int_equal(got->exit_code, TL__NO_EXIT_CODE);
    tl_task_free(got);

    /* An empty argv is not the same as no argv. */
    tl_task_t *e = tl__task_new();
    assert_non_null(e);
    e->argv = calloc(1, sizeof(char *));
    e->result = json_null();
    assert_int_equal(ops->insert_task(f->s, e), 0);
    assert_int_equal(ops->load_task(f->s, e->id, &got), 0);
    assert_task_eq(got, e);
    assert_non_null(got->argv);
    assert_null(got->argv[0]);
    tl_task_free(got);
    tl_task_free(e);

    reopen(f);
    assert_int_equal(ops->load_task(f->s, t->id, &got), 0);
    assert_task_eq(got, t);
    tl_task_free(got);
    tl_task_free(t);
    tl_task_free(d);
}

static void test_update_and_delete(void **state)
{
    struct fx *f = *state;
    tl_task_t *t = full_task();
    tl_task_t *got = NULL;

    assert_int_equal(ops->insert_task(f->s, t), 0);
    t->state = TL_STATE_COMPLETED;
    t->progress = NAN;
    t->exit_code = TL__NO_EXIT_CODE;
    json_decref(t->result);
    t->result = json_string("done");
    json_object_set_new(t->metadata, "extra", json_true());
    t->finished_at = 1700000009000;
    assert_int_equal(ops->update_task(f->s, t, true, -1), 0);
    assert_int_equal(ops->load_task(f->s, t->id, &got), 0);
    assert_task_eq(got, t);
    tl_task_free(got);

    /* The command is the one inserted: an update does not write it. */
    char **argv = t->argv, **env = t->env;
    char *cwd = t->cwd;
    t->argv = t->env = NULL;
    t->cwd = NULL;
    assert_int_equal(ops->update_task(f->s, t, true, -1), 0);
    t->argv = argv;
    t->env = env;
    t->cwd = cwd;
    assert_int_equal(ops->load_task(f->s, t->id, &got), 0);
    assert_task_eq(got, t);
    tl_task_free(got);

    assert_int_equal(ops->delete_task(f->s, t->id), 0);
    assert_int_equal(ops->load_task(f->s, t->id, &got), TL_ENOTFOUND);
    assert_int_equal(ops->delete_task(f->s, t->id), TL_ENOTFOUND);
    assert_int_equal(ops->update_task(f->s, t, true, -1), TL_ENOTFOUND);
    assert_non_null(strstr(ops->errmsg(f->s), "does not exist"));
    tl_task_free(t);
}

/* What a task was created as stays as inserted; a write that is not
 * `indexed` also leaves state, group and finished_at, and writes the rest. */
static void test_update_narrow(void **state)
{
    struct fx *f = *state;
    tl_task_t *t = full_task();
    tl_task_t *got = NULL;
    int64_t counts[TL_STATE__COUNT];

    assert_int_equal(ops->insert_task(f->s, t), 0);
    tl_task_t *orig = tl__task_dup(t);
    assert_non_null(orig);
    tl__str_set(&t->key, "another-key");
    tl__str_set(&t->kind, "another-kind");
    tl__str_set(&t->owner, "someone-else");
    t->created_at += 5;
    tl__str_set(&t->group, "moved");
    t->state = TL_STATE_FAILED;
    t->finished_at = 1700000009000;
    tl__str_set(&t->message, "live write");
    t->progress = 42;
    assert_int_equal(ops->update_task(f->s, t, false, -1), 0);
    assert_int_equal(ops->load_task(f->s, t->id, &got), 0);
    assert_string_equal(got->message, "live write");
    assert_true(got->progress == 42);
    assert_string_equal(got->key, orig->key);
    assert_string_equal(got->kind, orig->kind);
    assert_string_equal(got->owner, orig->owner);
    assert_true(got->created_at == orig->created_at);
    assert_string_equal(got->group, orig->group);
    assert_int_equal(got->state, orig->state);
    assert_true(got->finished_at == orig->finished_at);
    tl_task_free(got);
    assert_int_equal(ops->count_states(f->s, counts), 0);
    assert_true(counts[orig->state] == 1 && counts[TL_STATE_FAILED] == 0);

    assert_int_equal(ops->update_task(f->s, t, true, -1), 0);
    assert_int_equal(ops->load_task(f->s, t->id, &got), 0);
    assert_string_equal(got->group, "moved");
    assert_int_equal(got->state, TL_STATE_FAILED);
    assert_true(got->finished_at == 1700000009000);
    assert_string_equal(got->key, orig->key);
    assert_string_equal(got->kind, orig->kind);
    tl_task_free(got);
    assert_int_equal(ops->count_states(f->s, counts), 0);
    assert_true(counts[orig->state] == 0 && counts[TL_STATE_FAILED] == 1);
    tl_task_free(orig);
    tl_task_free(t);
}

static void test_find_key_and_uniqueness(void **state)
{
    struct fx *f = *state;
    tl_task_t *t = mk(TL_STATE_QUEUED, "k", "default", "first");
    tl_task_t *dup = mk(TL_STATE_QUEUED, "k", "default", "second");
    tl_task_t *got = NULL;

    assert_int_equal(ops->find_key(f->s, "abc", &got), TL_ENOTFOUND);
    assert_int_equal(ops->find_key(f->s, NULL, &got), TL_ENOTFOUND);
    assert_int_equal(tl__str_set(&t->key, "abc"), 0);
    assert_int_equal(ops->insert_task(f->s, t), 0);
    assert_int_equal(ops->find_key(f->s, "abc", &got), 0);
    assert_int_equal(got->id, t->id);
    assert_string_equal(got->title, "first");
    tl_task_free(got);

    assert_int_equal(tl__str_set(&dup->key, "abc"), 0);
    assert_int_equal(ops->insert_task(f->s, dup), TL_ESTORE);
    assert_non_null(strstr(ops->errmsg(f->s), "UNIQUE"));

    /* Tasks without a key do not collide. */
    add(f->s, TL_STATE_QUEUED, "k", "default", "nokey1");
    add(f->s, TL_STATE_QUEUED, "k", "default", "nokey2");
    tl_task_free(t);
    tl_task_free(dup);
}

static void test_ids_never_reused(void **state)
{
    struct fx *f = *state;
    int64_t a = add(f->s, TL_STATE_QUEUED, "k", "g", "a");
    int64_t b = add(f->s, TL_STATE_QUEUED, "k", "g", "b");

    assert_int_equal(b, a + 1);
    assert_int_equal(ops->delete_task(f->s, b), 0);
    int64_t c = add(f->s, TL_STATE_QUEUED, "k", "g", "c");
    assert_int_equal(c, b + 1);
    assert_int_equal(ops->delete_task(f->s, c), 0);
    reopen(f);
    int64_t d = add(f->s, TL_STATE_QUEUED, "k", "g", "d");
    assert_int_equal(d, c + 1);
}

static void free_list(tl_task_t **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        tl_task_free(v[i]);
    free(v);
}

/* Lists with filter f and checks the ids, newest first. */
static void check_list(tl__store_t *s, tl__store_filter_t flt,
                       const int64_t *want, size_t nwant, int64_t want_next)
{
    tl_task_t **v = NULL;
    size_t n = 0;
    int64_t next = -1;

    assert_int_equal(ops->list_tasks(s, &flt, &v, &n, &next), 0);
    assert_non_null(v);
    assert_int_equal(n, nwant);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(v[i]->id, want[i]);
    assert_int_equal(next, want_next);
    free_list(v, n);
}

static tl__store_filter_t filter(int limit)
{
    tl__store_filter_t flt = {.state = -1, .limit = limit};
    return flt;
}

static void test_list_filters(void **state)
{
    struct fx *f = *state;
    int64_t id[8];
    tl__store_filter_t flt;

    id[0] = add(f->s, TL_STATE_QUEUED, "build", "ci", "compile lib");
    id[1] = add(f->s, TL_STATE_RUNNING, "build", "ci", "compile tool");
    id[2] = add(f->s, TL_STATE_COMPLETED, "pull", "net", "pull alpine");
    id[3] = add(f->s, TL_STATE_RUNNING, "pull", "net", "pull debian");
    id[4] = add(f->s, TL_STATE_FAILED, "build", "default", "docs");
    /* Text also matches argv and message. */
    tl_task_t *t = mk(TL_STATE_RUNNING, "exec", "default", "plain");
    const char *argv[] = {"rsync", "--needle-arg", NULL};
    t->argv = tl__strv_dup(argv);
    assert_int_equal(ops->insert_task(f->s, t), 0);
    id[5] = t->id;
    tl_task_free(t);
    t = mk(TL_STATE_PAUSED, "exec", "default", "other");
    assert_int_equal(tl__str_set(&t->message, "waiting for needle"), 0);
    assert_int_equal(ops->insert_task(f->s, t), 0);
    id[6] = t->id;
    tl_task_free(t);

    flt = filter(100);
    int64_t all[] = {id[6], id[5], id[4], id[3], id[2], id[1], id[0]};
    check_list(f->s, flt, all, 7, 0);

    flt.state = TL_STATE_RUNNING;
    int64_t running[] = {id[5], id[3], id[1]};
    check_list(f->s, flt, running, 3, 0);

    flt = filter(100);
    flt.kind = "build";
    int64_t build[] = {id[4], id[1], id[0]};
    check_list(f->s, flt, build, 3, 0);

    flt = filter(100);
    flt.group = "net";
    int64_t net[] = {id[3], id[2]};
    check_list(f->s, flt, net, 2, 0);

    flt = filter(100);
    flt.text = "compile";
    int64_t compile[] = {id[1], id[0]};
    check_list(f->s, flt, compile, 2, 0);

    flt.text = "needle";
    int64_t needle[] = {id[6], id[5]};
    check_list(f->s, flt, needle, 2, 0);

    flt = filter(100);
    flt.state = TL_STATE_RUNNING;
    flt.kind = "pull";
    flt.group = "net";
    flt.text = "debian";
    int64_t combo[] = {id[3]};
    check_list(f->s, flt, combo, 1, 0);

    flt.text = "alpine";
    check_list(f->s, flt, NULL, 0, 0);

    flt = filter(100);
    flt.state = TL_STATE_CANCELLED;
    check_list(f->s, flt, NULL, 0, 0);

    flt = filter(100);
    flt.state = TL_STATE__COUNT;
    tl_task_t **v = NULL;
    size_t n = 0;
    int64_t next = 0;
    assert_int_equal(ops->list_tasks(f->s, &flt, &v, &n, &next), TL_EINVAL);

    /* A cursor alone, and with a filter. */
    flt = filter(100);
    flt.cursor = id[3];
    int64_t older[] = {id[2], id[1], id[0]};
    check_list(f->s, flt, older, 3, 0);
    flt.state = TL_STATE_RUNNING;
    int64_t older_running[] = {id[1]};
    check_list(f->s, flt, older_running, 1, 0);
}

static void test_list_pages(void **state)
{
    struct fx *f = *state;
    int64_t ids[25];
    tl__store_filter_t flt = filter(10);

    assert_int_equal(ops->begin(f->s), 0);
    for (int i = 0; i < 25; i++) {
        ids[i] = add(f->s, TL_STATE_COMPLETED, "k", "g", "t");
        add(f->s, TL_STATE_QUEUED, "k", "g", "noise");
    }
    assert_int_equal(ops->commit(f->s), 0);

    /* Walk the completed ones newest first, 10 a page. */
    flt.state = TL_STATE_COMPLETED;
    int64_t want[25];
    for (int i = 0; i < 25; i++)
        want[i] = ids[24 - i];
    check_list(f->s, flt, want, 10, want[9]);
    flt.cursor = want[9];
    check_list(f->s, flt, want + 10, 10, want[19]);
    flt.cursor = want[19];
    check_list(f->s, flt, want + 20, 5, 0);

    /* An exact last page says there is no next one. */
    flt = filter(5);
    flt.state = TL_STATE_COMPLETED;
    flt.cursor = want[19];
    check_list(f->s, flt, want + 20, 5, 0);

    /* Unfiltered pages see both states. */
    flt = filter(1);
    check_list(f->s, flt, (int64_t[]){ids[24] + 1}, 1, ids[24] + 1);
}

static void check_counts(tl__store_t *s, int64_t q, int64_t r, int64_t p,
                         int64_t c, int64_t fl, int64_t x)
{
    int64_t got[TL_STATE__COUNT];
    int64_t want[TL_STATE__COUNT] = {q, r, p, c, fl, x};

    assert_int_equal(ops->count_states(s, got), 0);
    for (int i = 0; i < TL_STATE__COUNT; i++)
        assert_int_equal(got[i], want[i]);
}

static void test_counts(void **state)
{
    struct fx *f = *state;
    tl_task_t *got = NULL;

    check_counts(f->s, 0, 0, 0, 0, 0, 0);
    int64_t a = add(f->s, TL_STATE_QUEUED, "k", "g", "a");
    int64_t b = add(f->s, TL_STATE_QUEUED, "k", "g", "b");
    add(f->s, TL_STATE_RUNNING, "k", "g", "c");
    add(f->s, TL_STATE_FAILED, "k", "g", "d");
    check_counts(f->s, 2, 1, 0, 0, 1, 0);

    assert_int_equal(ops->load_task(f->s, a, &got), 0);
    got->state = TL_STATE_CANCELLED;
    assert_int_equal(ops->update_task(f->s, got, true, -1), 0);
    check_counts(f->s, 1, 1, 0, 0, 1, 1);
    /* An update that keeps the state keeps the counts. */
    got->progress = 50;
    assert_int_equal(ops->update_task(f->s, got, true, -1), 0);
    check_counts(f->s, 1, 1, 0, 0, 1, 1);
    tl_task_free(got);

    assert_int_equal(ops->claim_task(f->s, b, "me", 5000), 0);
    check_counts(f->s, 0, 2, 0, 0, 1, 1);
    assert_int_equal(ops->delete_task(f->s, a), 0);
    check_counts(f->s, 0, 2, 0, 0, 1, 0);

    reopen(f);
    check_counts(f->s, 0, 2, 0, 0, 1, 0);
}

/* Inside a transaction the counts move with its writes (a known prior
 * state, one read from the row, none for a write that leaves the state),
 * go back with a rollback and are kept by a commit. */
static void test_counts_in_transactions(void **state)
{
    struct fx *f = *state;
    tl_task_t *a = mk(TL_STATE_QUEUED, "k", "g", "a");
    tl_task_t *b = mk(TL_STATE_QUEUED, "k", "g", "b");
    int64_t counts[TL_STATE__COUNT];

    add(f->s, TL_STATE_COMPLETED, "k", "g", "before");
    for (int round = 0; round < 2; round++) {
        assert_int_equal(ops->begin(f->s), 0);
        assert_int_equal(ops->insert_task(f->s, a), 0);
        assert_int_equal(ops->insert_task(f->s, b), 0);
        check_counts(f->s, 2, 0, 0, 1, 0, 0);
        a->state = TL_STATE_RUNNING;
        assert_int_equal(ops->update_task(f->s, a, true, TL_STATE_QUEUED), 0);
        b->state = TL_STATE_FAILED;
        assert_int_equal(ops->update_task(f->s, b, true, -1), 0);
        check_counts(f->s, 0, 1, 0, 1, 1, 0);
        a->progress = 10; /* a write that leaves the state */
        assert_int_equal(ops->update_task(f->s, a, false, TL_STATE_RUNNING), 0);
        assert_int_equal(ops->update_task(f->s, a, true, TL_STATE_RUNNING), 0);
        check_counts(f->s, 0, 1, 0, 1, 1, 0);
        if (round == 0) {
            assert_int_equal(ops->rollback(f->s), 0);
            check_counts(f->s, 0, 0, 0, 1, 0, 0);
            a->state = b->state = TL_STATE_QUEUED;
        } else {
            assert_int_equal(ops->commit(f->s), 0);
        }
    }
    reopen(f);
    check_counts(f->s, 0, 1, 0, 1, 1, 0);
    /* The table agrees with the rows, counted by another connection. */
    assert_int_equal(ops->count_states(f->s, counts), 0);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "SELECT state, count(*) FROM tasks"
                                        " GROUP BY state",
                                        -1, &st, NULL),
                     SQLITE_OK);
    int states = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        tl_state_t k;
        assert_int_equal(
            tl_state_parse((const char *)sqlite3_column_text(st, 0), &k), 0);
        assert_true(counts[k] == sqlite3_column_int64(st, 1));
        states++;
    }
    assert_int_equal(states, 3);
    sqlite3_finalize(st);
    sqlite3_close(db);
    tl_task_free(a);
    tl_task_free(b);
}

static void test_claim(void **state)
{
    struct fx *f = *state;
    tl_task_t *got = NULL;
    int64_t id = add(f->s, TL_STATE_QUEUED, "k", "g", "a");

    assert_int_equal(ops->claim_task(f->s, id, "daemon-1", 7777), 0);
    assert_int_equal(ops->load_task(f->s, id, &got), 0);
    assert_int_equal(got->state, TL_STATE_RUNNING);
    assert_string_equal(got->node, "daemon-1");
    assert_int_equal(got->started_at, 7777);
    tl_task_free(got);

    assert_int_equal(ops->claim_task(f->s, id, "daemon-2", 8888), TL_ECONFLICT);
    assert_non_null(strstr(ops->errmsg(f->s), "no longer queued"));
    assert_int_equal(ops->claim_task(f->s, id + 100, "daemon-2", 8888),
                     TL_ECONFLICT);
    assert_int_equal(ops->load_task(f->s, id, &got), 0);
    assert_string_equal(got->node, "daemon-1");
    tl_task_free(got);
}

struct groups_seen {
    int n;
    char names[8][16];
    int parallel[8];
};

static void group_cb(const char *group, int parallel, void *ud)
{
    struct groups_seen *g = ud;
    if (g->n < 8) {
        snprintf(g->names[g->n], sizeof(g->names[0]), "%s", group);
        g->parallel[g->n++] = parallel;
    }
}

static void token_cb(const char *name, const char *secret, const char *role,
                     int64_t created, void *ud)
{
    int *n = ud;
    assert_string_equal(name, "ci");
    assert_string_equal(secret, "s3cr3t-0123456789abcdef");
    assert_string_equal(role, "read-only");
    assert_int_equal(created, 42);
    (*n)++;
}

static void test_tokens(void **state)
{
    struct fx *f = *state;
    int n = 0;
    assert_int_equal(
        ops->put_token(f->s, "ci", "s3cr3t-0123456789abcdef", "read-only", 42),
        0);
    assert_int_equal(ops->put_token(f->s, "ci", "other", "admin", 43),
                     TL_ECONFLICT);
    assert_int_equal(ops->load_tokens(f->s, token_cb, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ops->delete_token(f->s, "ci"), 0);
    assert_int_equal(ops->delete_token(f->s, "ci"), TL_ENOTFOUND);
    n = 0;
    assert_int_equal(ops->load_tokens(f->s, token_cb, &n), 0);
    assert_int_equal(n, 0);
}

static void test_groups(void **state)
{
    struct fx *f = *state;
    struct groups_seen g = {0};

    assert_int_equal(ops->load_groups(f->s, group_cb, &g), 0);
    assert_int_equal(g.n, 0);
    assert_int_equal(ops->set_group(f->s, "net", 2), 0);
    assert_int_equal(ops->set_group(f->s, "cpu", 4), 0);
    assert_int_equal(ops->set_group(f->s, "net", 3), 0);
    reopen(f);
    assert_int_equal(ops->load_groups(f->s, group_cb, &g), 0);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.names[0], "cpu");
    assert_int_equal(g.parallel[0], 4);
    assert_string_equal(g.names[1], "net");
    assert_int_equal(g.parallel[1], 3);
}

struct active_seen {
    int n;
    int64_t ids[8];
    int stop_after;
};

static int active_cb(tl_task_t *t, void *ud)
{
    struct active_seen *a = ud;
    a->ids[a->n++] = t->id;
    tl_task_free(t);
    return a->n == a->stop_after ? 42 : 0;
}

static void test_load_active(void **state)
{
    struct fx *f = *state;
    struct active_seen a = {0};

    int64_t q = add(f->s, TL_STATE_QUEUED, "k", "g", "a");
    add(f->s, TL_STATE_COMPLETED, "k", "g", "b");
    int64_t r = add(f->s, TL_STATE_RUNNING, "k", "g", "c");
    add(f->s, TL_STATE_CANCELLED, "k", "g", "d");
    int64_t p = add(f->s, TL_STATE_PAUSED, "k", "g", "e");
    add(f->s, TL_STATE_FAILED, "k", "g", "f");

    assert_int_equal(ops->load_active(f->s, active_cb, &a), 0);
    assert_int_equal(a.n, 3);
    assert_int_equal(a.ids[0], q);
    assert_int_equal(a.ids[1], r);
    assert_int_equal(a.ids[2], p);

    /* A non-zero return stops and is returned; the rest are freed. */
    memset(&a, 0, sizeof(a));
    a.stop_after = 1;
    assert_int_equal(ops->load_active(f->s, active_cb, &a), 42);
    assert_int_equal(a.n, 1);
}

static int cmp_id(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_delete_finished(void **state)
{
    struct fx *f = *state;
    tl_task_t *t;
    int64_t *ids = NULL;
    size_t n = 99;
    int64_t old_ids[3];
    int i = 0;

    tl_state_t finals[] = {TL_STATE_COMPLETED, TL_STATE_FAILED,
                           TL_STATE_CANCELLED};
    for (int k = 0; k < 3; k++) {
        t = mk(finals[k], "k", "g", "old");
        t->finished_at = 1000 + k;
        assert_int_equal(ops->insert_task(f->s, t), 0);
        old_ids[i++] = t->id;
        tl_task_free(t);
    }
    t = mk(TL_STATE_COMPLETED, "k", "g", "new");
    t->finished_at = 5000;
    assert_int_equal(ops->insert_task(f->s, t), 0);
    int64_t keep = t->id;
    tl_task_free(t);
    /* Active tasks stay whatever their times say. */
    t = mk(TL_STATE_QUEUED, "k", "g", "queued");
    t->finished_at = 10;
    assert_int_equal(ops->insert_task(f->s, t), 0);
    int64_t queued = t->id;
    tl_task_free(t);

    assert_int_equal(ops->delete_finished(f->s, 5000, &ids, &n), 0);
    assert_int_equal(n, 3);
    qsort(ids, n, sizeof(*ids), cmp_id);
    for (int k = 0; k < 3; k++)
        assert_int_equal(ids[k], old_ids[k]);
    free(ids);
    check_counts(f->s, 1, 0, 0, 1, 0, 0);

    assert_int_equal(ops->load_task(f->s, keep, &t), 0);
    tl_task_free(t);
    assert_int_equal(ops->load_task(f->s, queued, &t), 0);
    tl_task_free(t);

    /* Nothing left to delete; inside a transaction too. */
    assert_int_equal(ops->begin(f->s), 0);
    assert_int_equal(ops->delete_finished(f->s, 5000, &ids, &n), 0);
    assert_int_equal(n, 0);
    free(ids);
    assert_int_equal(ops->delete_finished(f->s, 5001, &ids, &n), 0);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], keep);
    free(ids);
    assert_int_equal(ops->rollback(f->s), 0);
    assert_int_equal(ops->load_task(f->s, keep, &t), 0);
    tl_task_free(t);
}

static void test_transactions(void **state)
{
    struct fx *f = *state;
    tl_task_t *t = NULL;

    int64_t a = add(f->s, TL_STATE_QUEUED, "k", "g", "a");
    assert_int_equal(ops->begin(f->s), 0);
    /* Reads see the open transaction's writes. */
    int64_t b = add(f->s, TL_STATE_QUEUED, "k", "g", "b");
    assert_int_equal(ops->load_task(f->s, b, &t), 0);
    tl_task_free(t);
    assert_int_equal(ops->delete_task(f->s, a), 0);
    assert_int_equal(ops->set_group(f->s, "x", 1), 0);
    check_counts(f->s, 1, 0, 0, 0, 0, 0);
    assert_int_equal(ops->rollback(f->s), 0);

    assert_int_equal(ops->load_task(f->s, b, &t), TL_ENOTFOUND);
    assert_int_equal(ops->load_task(f->s, a, &t), 0);
    tl_task_free(t);
    check_counts(f->s, 1, 0, 0, 0, 0, 0);
    struct groups_seen g = {0};
    assert_int_equal(ops->load_groups(f->s, group_cb, &g), 0);
    assert_int_equal(g.n, 0);

    /* Rollback without a transaction is harmless; a failed commit and a
     * nested begin leave the store usable. */
    assert_int_equal(ops->rollback(f->s), 0);
    assert_int_equal(ops->commit(f->s), TL_ESTORE);
    assert_int_equal(ops->begin(f->s), 0);
    assert_int_equal(ops->begin(f->s), TL_ESTORE);
    int64_t c = add(f->s, TL_STATE_QUEUED, "k", "g", "c");
    assert_int_equal(ops->commit(f->s), 0);
    reopen(f);
    assert_int_equal(ops->load_task(f->s, c, &t), 0);
    tl_task_free(t);
}

static void test_bad_json_in_db(void **state)
{
    struct fx *f = *state;
    tl_task_t *t = NULL;
    sqlite3 *db = NULL;
    int64_t id = add(f->s, TL_STATE_QUEUED, "k", "g", "a");

    assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    assert_int_equal(sqlite3_exec(db,
                                  "UPDATE tasks SET metadata = '{bad',"
                                  " substeps = '{}', result = 'nope',"
                                  " argv = '[1, 2]', env = 'x'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(ops->load_task(f->s, id, &t), 0);
    assert_true(json_is_object(t->metadata));
    assert_int_equal(json_object_size(t->metadata), 0);
    assert_true(json_is_array(t->substeps));
    assert_int_equal(json_array_size(t->substeps), 0);
    assert_null(t->result);
    assert_non_null(t->argv);
    assert_null(t->argv[0]);
    assert_non_null(t->env);
    assert_null(t->env[0]);
    tl_task_free(t);
}

static int user_version(const char *path)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int v = -1;

    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL),
        SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

/* sqlite3_exec callback: keeps the first column of the first row. */
static int first_text(void *ud, int n, char **vals, char **names)
{
    (void)names;
    char **out = ud;
    if (!*out && n > 0 && vals[0])
        *out = strdup(vals[0]);
    return 0;
}

static void test_migrate_from_v1(void **state)
{
    struct fx *f = *state;
    char path[160];
    sqlite3 *db = NULL;
    tl__store_t *s = NULL;
    tl_task_t *t = NULL;

    snprintf(path, sizeof(path), "%s/v1.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(tl__store_sqlite_migrate_to(db, 1), 0);
    assert_int_equal(
        sqlite3_exec(db,
                     "INSERT INTO tasks (kind, title, grp, state, source,"
                     " metadata, substeps, created_at) VALUES"
                     " ('k', 'one', 'g', 'queued', 'command', '{}', '[]', 1),"
                     " ('k', 'two', 'g', 'running', 'command', '{}', '[]', 2),"
                     " ('k', 'three', 'g', 'completed', 'tracked', '{\"a\":1}',"
                     "  '[]', 3),"
                     " ('k', 'four', 'g', 'completed', 'command', '{}', '[]',"
                     "  4);"
                     "INSERT INTO groups VALUES ('g', 2);",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(user_version(path), 1);

    assert_int_equal(ops->open(path, &s), 0);
    check_counts(s, 1, 1, 0, 2, 0, 0);
    assert_int_equal(ops->load_task(s, 3, &t), 0);
    assert_string_equal(t->title, "three");
    assert_int_equal(t->source, TL_SOURCE_TRACKED);
    assert_int_equal(json_integer_value(json_object_get(t->metadata, "a")), 1);
    t->state = TL_STATE_FAILED;
    assert_int_equal(ops->update_task(s, t, true, -1), 0);
    tl_task_free(t);
    /* The counts keep up on the migrated file. */
    check_counts(s, 1, 1, 0, 1, 1, 0);
    assert_int_equal(add(s, TL_STATE_QUEUED, "k", "g", "five"), 5);
    check_counts(s, 2, 1, 0, 1, 1, 0);
    ops->close(s);
    assert_int_equal(user_version(path), TL__SQLITE_SCHEMA_VERSION);

    /* Opening again does not migrate twice. */
    assert_int_equal(ops->open(path, &s), 0);
    check_counts(s, 2, 1, 0, 1, 1, 0);
    ops->close(s);

    /* The state check was rewritten in place (no IN list, which costs a
     * temporary b-tree per write), still refuses a bad state, and the
     * file is sound. */
    char *sql = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "SELECT sql FROM sqlite_master WHERE name = 'tasks'",
                     first_text, &sql, NULL),
        SQLITE_OK);
    assert_non_null(sql);
    assert_null(strstr(sql, "state IN"));
    assert_non_null(strstr(sql, "state = 'cancelled'"));
    free(sql);
    sql = NULL;
    assert_int_not_equal(
        sqlite3_exec(db, "INSERT INTO tasks (state) VALUES ('bogus')", NULL,
                     NULL, NULL),
        SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "PRAGMA integrity_check", first_text, &sql, NULL),
        SQLITE_OK);
    assert_string_equal(sql, "ok");
    free(sql);
    sqlite3_close(db);
    remove_db(path);
}

/* A tasks table whose state check this build does not know (edited by
 * hand) still opens and migrates; its definition is left alone. */
static void test_migrate_unknown_check(void **state)
{
    struct fx *f = *state;
    char path[160], *sql = NULL;
    sqlite3 *db = NULL;
    tl__store_t *s = NULL;

    snprintf(path, sizeof(path), "%s/v4.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(tl__store_sqlite_migrate_to(db, 4), 0);
    assert_int_equal(
        sqlite3_exec(db,
                     "PRAGMA writable_schema = ON;"
                     "UPDATE sqlite_master SET sql = replace(sql, 'state IN',"
                     " 'state NOT NULL AND state IN') WHERE name = 'tasks';"
                     "PRAGMA writable_schema = OFF;",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(ops->open(path, &s), 0);
    assert_int_equal(add(s, TL_STATE_QUEUED, "k", "g", "one"), 1);
    ops->close(s);
    assert_int_equal(user_version(path), TL__SQLITE_SCHEMA_VERSION);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "SELECT sql FROM sqlite_master WHERE name = 'tasks'",
                     first_text, &sql, NULL),
        SQLITE_OK);
    assert_non_null(strstr(sql, "state NOT NULL AND state IN"));
    free(sql);
    sqlite3_close(db);
    remove_db(path);
}

static void test_newer_version_refused(void **state)
{
    struct fx *f = *state;
    char path[160];
    sqlite3 *db = NULL;
    tl__store_t *s = NULL;

    snprintf(path, sizeof(path), "%s/new.db", f->dir);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);

    assert_int_equal(ops->open(path, &s), TL_ESTORE);
    assert_null(s);
    assert_non_null(strstr(ops->errmsg(NULL), "newer than this build"));
    assert_int_equal(user_version(path), 99);
    ops->close(NULL);
    remove_db(path);

    /* Not a database at all. */
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("this is not a database, not even close to one. ", fp);
    for (int i = 0; i < 200; i++)
        fputs("garbage garbage garbage ", fp);
    fclose(fp);
    assert_int_equal(ops->open(path, &s), TL_ESTORE);
    assert_null(s);
    remove_db(path);
}

static void test_many_finished(void **state)
{
    struct fx *f = *state;
    tl_task_t *t = mk(TL_STATE_COMPLETED, "bulk", "default", "finished");
    int64_t running[3];
    int r = 0;

    const char *argv[] = {"true", NULL};
    t->argv = tl__strv_dup(argv);
    assert_int_equal(ops->begin(f->s), 0);
    for (int i = 0; i < 200000; i++) {
        t->state = TL_STATE_COMPLETED;
        if (i == 10 || i == 100000 || i == 199990)
            t->state = TL_STATE_RUNNING;
        assert_int_equal(ops->insert_task(f->s, t), 0);
        if (t->state == TL_STATE_RUNNING)
            running[r++] = t->id;
    }
    assert_int_equal(ops->commit(f->s), 0);
    tl_task_free(t);

    tl__store_filter_t flt = filter(100);
    flt.state = TL_STATE_RUNNING;
    int64_t want[] = {running[2], running[1], running[0]};
    check_list(f->s, flt, want, 3, 0);
    flt.kind = "bulk";
    check_list(f->s, flt, want, 3, 0);
    check_counts(f->s, 0, 3, 0, 199997, 0, 0);

    flt = filter(100);
    flt.state = TL_STATE_COMPLETED;
    tl_task_t **v = NULL;
    size_t n = 0;
    int64_t next = 0;
    assert_int_equal(ops->list_tasks(f->s, &flt, &v, &n, &next), 0);
    assert_int_equal(n, 100);
    assert_int_equal(next, v[99]->id);
    free_list(v, n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_every_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_update_and_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_update_narrow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_find_key_and_uniqueness, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ids_never_reused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_pages, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counts_in_transactions, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
        cmocka_unit_test_setup_teardown(test_groups, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_active, setup, teardown),
        cmocka_unit_test_setup_teardown(test_delete_finished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transactions, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_json_in_db, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_v1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_unknown_check, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_newer_version_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_many_finished, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
