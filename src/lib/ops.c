/*
 * ops.c -- what can be done to tasks: create, read, list, change state,
 * edit, remove, wait; groups; cleaning; logs. Both the public C API and
 * the HTTP layer come through here, so a rule (409 on an illegal change,
 * 404 on an unknown id) is enforced once.
 *
 * DESIGN: active tasks are answered from memory (jobs), finished ones from
 * the store. Before a read that goes to the store, the turn's pending
 * writes are flushed into the open transaction, so a read never misses a
 * change the same turn made.
 */
#include "manager.h"
#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int flush(tl_manager_t *m)
{
    return m->in_txn ? tl__mgr_flush(m) : 0;
}

static tl__job_t *job_of(tl_manager_t *m, int64_t id)
{
    tl__job_t *j = tl__map_get(&m->jobs, id);
    return j && !j->deleted ? j : NULL;
}

static int not_found(tl_manager_t *m, int64_t id)
{
    return tl__mgr_error(m, TL_ENOTFOUND, "task %lld does not exist",
                         (long long)id);
}

/* A copy of the stored task; TL_ENOTFOUND with a message. */
static int load(tl_manager_t *m, int64_t id, tl_task_t **out)
{
    int rc = flush(m);
    rc = rc ? rc : m->store->ops->load_task(m->store, id, out);
    if (rc == TL_ENOTFOUND)
        return not_found(m, id);
    if (rc)
        return tl__mgr_error(m, rc, "store: %s",
                             m->store->ops->errmsg(m->store));
    return 0;
}

/* ---- create ------------------------------------------------------------- */

static int existing_key(tl_manager_t *m, const char *key, int64_t *id)
{
    tl_task_t *old = NULL;
    int rc = flush(m);
    rc = rc ? rc : m->store->ops->find_key(m->store, key, &old);
    if (rc)
        return rc;
    *id = old->id;
    tl_task_free(old);
    return 0;
}

int tl__mgr_create(tl_manager_t *m, tl_task_t *t, int64_t *id, bool *existed)
{
    *existed = false;
    if (m->closing) {
        tl_task_free(t);
        return tl__mgr_error(m, TL_ECLOSED, "the daemon is shutting down");
    }
    if (t->key && existing_key(m, t->key, id) == 0) {
        *existed = true;
        tl_task_free(t);
        return 0;
    }
    int64_t counts[TL_STATE__COUNT] = {0};
    if (t->source == TL_SOURCE_COMMAND && flush(m) == 0 &&
        m->store->ops->count_states(m->store, counts) == 0 &&
        counts[TL_STATE_QUEUED] >= m->opts.max_queued) {
        tl_task_free(t);
        return tl__mgr_error(m, TL_ELIMIT,
                             "the queue is full (%lld tasks queued)",
                             (long long)counts[TL_STATE_QUEUED]);
    }
    int64_t now = tl__now_ms();
    bool tracked = t->source == TL_SOURCE_TRACKED;
    if (!t->owner && tl__str_set(&t->owner, "local")) {
        tl_task_free(t);
        return TL_ENOMEM;
    }
    t->state = tracked ? TL_STATE_RUNNING : TL_STATE_QUEUED;
    t->created_at = t->updated_at = now;
    if (tracked) { /* the reporter is already at work */
        t->started_at = now;
        t->attempt = 1;
    }
    int rc = tl__mgr_begin(m);
    rc = rc ? rc : m->store->ops->insert_task(m->store, t);
    if (rc) {
        tl_task_free(t);
        return tl__mgr_error(m, rc, "store: %s",
                             m->store->ops->errmsg(m->store));
    }
    tl__job_t *j = tl__job_new(m, t);
    if (!j || tl__map_put(&m->jobs, t->id, j)) {
        tl__job_free(j);
        return tl__mgr_error(m, TL_ENOMEM, "out of memory");
    }
    tl__job_stored(j);
    *id = t->id;
    tl__idvec_push(&m->created, t->id);
    tl__mgr_emit_task(m, "task.created", j);
    if (tracked) {
        tl__job_heartbeat(j);
        return 0;
    }
    rc = tl__sched_enqueue(j);
    return rc ? tl__mgr_error(m, rc, "out of memory") : 0;
}

static int fill_submit(tl_task_t *t, const tl_submit_t *s)
{
    int rc = 0;
    if (!(t->argv = tl__strv_dup(s->argv)))
        return TL_ENOMEM;
    if (s->env && !(t->env = tl__strv_dup(s->env)))
        return TL_ENOMEM;
    rc |= tl__str_set(&t->title, s->title ? s->title : s->argv[0]);
    rc |= tl__str_set(&t->kind, s->kind ? s->kind : "command");
    rc |= tl__str_set(&t->description, s->description);
    rc |= tl__str_set(&t->group, s->group ? s->group : "default");
    rc |= tl__str_set(&t->key, s->key);
    rc |= tl__str_set(&t->cwd, s->cwd);
    t->priority = s->priority;
    t->max_retries = s->max_retries;
    t->timeout_s = s->timeout_s;
    t->source = TL_SOURCE_COMMAND;
    return rc ? TL_ENOMEM : 0;
}

int tl_submit_command(tl_manager_t *m, const tl_submit_t *s, int64_t *id)
{
    if (!s || !s->argv || !s->argv[0] || s->max_retries < 0 ||
        !(s->timeout_s >= 0))
        return tl__mgr_error(m, TL_EINVAL, "invalid submission");
    tl_task_t *t = tl__task_new();
    if (!t)
        return TL_ENOMEM;
    int rc = fill_submit(t, s);
    if (rc) {
        tl_task_free(t);
        return rc;
    }
    bool existed;
    int64_t got = 0;
    rc = tl__mgr_create(m, t, &got, &existed);
    if (!rc && id)
        *id = got;
    return rc;
}

/* ---- read --------------------------------------------------------------- */

static json_t *brief_json(const tl_task_t *t)
{
    return json_pack("{s:I, s:s, s:b, s:b}", "id", (json_int_t)t->id, "state",
                     tl_state_name(t->state), "cancel_requested",
                     t->cancel_requested, "pause_requested",
                     t->pause_requested);
}

int tl__mgr_task_json(tl_manager_t *m, int64_t id, bool brief, json_t **out)
{
    tl__job_t *j = job_of(m, id);
    tl_task_t *stored = NULL;
    if (!j) {
        int rc = load(m, id, &stored);
        if (rc)
            return rc;
    }
    int64_t now = tl__now_ms();
    if (brief)
        *out = brief_json(j ? j->task : stored);
    else
        *out = j ? tl__job_json(j, now) : tl__task_to_json(stored, now);
    tl_task_free(stored);
    return *out ? 0 : TL_ENOMEM;
}

int tl_task_get(tl_manager_t *m, int64_t id, tl_task_t **out)
{
    tl__job_t *j = job_of(m, id);
    if (j) {
        *out = tl__task_dup(j->task);
        return *out ? 0 : TL_ENOMEM;
    }
    return load(m, id, out);
}

static json_t *counts_json(const int64_t counts[TL_STATE__COUNT])
{
    json_t *c = json_object();
    for (int s = 0; c && s < TL_STATE__COUNT; s++)
        json_object_set_new(c, tl_state_name((tl_state_t)s),
                            json_integer(counts[s]));
    return c;
}

static json_t *page_json(tl_manager_t *m, tl_task_t **ts, size_t n)
{
    json_t *a = json_array();
    int64_t now = tl__now_ms();
    for (size_t i = 0; a && i < n; i++) {
        tl__job_t *j = job_of(m, ts[i]->id);
        json_array_append_new(a, j ? tl__job_json(j, now)
                                   : tl__task_to_json(ts[i], now));
    }
    return a;
}

int tl__mgr_list_json(tl_manager_t *m, const tl_filter_t *f, json_t **out)
{
    tl__store_filter_t sf = {f->state, f->kind,  f->group,
                             f->text,  f->limit, f->cursor};
    if (sf.limit <= 0)
        sf.limit = 100;
    if (sf.limit > 1000)
        sf.limit = 1000;
    tl_task_t **ts = NULL;
    size_t n = 0;
    int64_t next = 0, counts[TL_STATE__COUNT] = {0};
    int rc = flush(m);
    rc = rc ? rc : m->store->ops->list_tasks(m->store, &sf, &ts, &n, &next);
    rc = rc ? rc : m->store->ops->count_states(m->store, counts);
    if (!rc) {
        *out = json_pack("{s:o, s:o, s:o}", "tasks", page_json(m, ts, n),
                         "counts", counts_json(counts), "next_cursor",
                         next ? json_integer(next) : json_null());
        rc = *out ? 0 : TL_ENOMEM;
    }
    for (size_t i = 0; i < n; i++)
        tl_task_free(ts[i]);
    free(ts);
    if (rc)
        return tl__mgr_error(m, rc, "store: %s",
                             m->store->ops->errmsg(m->store));
    return 0;
}

int tl_task_list_json(tl_manager_t *m, const tl_filter_t *f, char **json_out)
{
    json_t *o;
    int rc = tl__mgr_list_json(m, f, &o);
    if (rc)
        return rc;
    *json_out = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(o);
    return *json_out ? 0 : TL_ENOMEM;
}

/* ---- state changes ------------------------------------------------------ */

static int conflict(tl_manager_t *m, int64_t id, const char *action,
                    tl_state_t s)
{
    return tl__mgr_error(m, TL_ECONFLICT, "task %lld: cannot %s a %s task",
                         (long long)id, action, tl_state_name(s));
}

/* The job of an active task, or the error for a finished or unknown one. */
static int active_job(tl_manager_t *m, int64_t id, const char *action,
                      tl__job_t **out)
{
    *out = job_of(m, id);
    if (*out)
        return 0;
    tl_task_t *t;
    int rc = load(m, id, &t);
    if (rc)
        return rc;
    rc = conflict(m, id, action, t->state);
    tl_task_free(t);
    return rc;
}

typedef int (*job_action_fn)(tl__job_t *j);

static int act(tl_manager_t *m, int64_t id, const char *name, job_action_fn fn)
{
    tl__job_t *j;
    int rc = active_job(m, id, name, &j);
    if (rc)
        return rc;
    tl_state_t was = j->task->state;
    rc = fn(j);
    if (rc == TL_ECONFLICT)
        return conflict(m, id, name, was);
    if (rc)
        return tl__mgr_error(m, rc, "task %lld: %s failed: %s", (long long)id,
                             name, tl_strerror(rc));
    return 0;
}

int tl_task_cancel(tl_manager_t *m, int64_t id)
{
    return act(m, id, "cancel", tl__job_cancel);
}

int tl_task_pause(tl_manager_t *m, int64_t id)
{
    return act(m, id, "pause", tl__job_pause);
}

int tl_task_resume(tl_manager_t *m, int64_t id)
{
    return act(m, id, "resume", tl__job_resume);
}

int tl_task_retry(tl_manager_t *m, int64_t id)
{
    tl__job_t *j = job_of(m, id);
    if (j)
        return j->proc
                   ? tl__mgr_error(m, TL_ECONFLICT,
                                   "task %lld is still stopping", (long long)id)
                   : conflict(m, id, "retry", j->task->state);
    tl_task_t *t;
    int rc = load(m, id, &t);
    if (rc)
        return rc;
    if (!tl__state_transition_ok(t->state, TL_STATE_QUEUED)) {
        rc = conflict(m, id, "retry", t->state);
        tl_task_free(t);
        return rc;
    }
    if ((rc = tl__mgr_begin(m))) {
        tl_task_free(t);
        return rc;
    }
    t->state = TL_STATE_QUEUED;
    t->finished_at = t->run_after = 0;
    t->updated_at = tl__now_ms();
    j = tl__job_new(m, t);
    if (!j || tl__map_put(&m->jobs, id, j)) {
        tl__job_free(j);
        return tl__mgr_error(m, TL_ENOMEM, "out of memory");
    }
    tl__mgr_touch(j);
    tl__mgr_emit_task(m, "task.retrying", j);
    return tl__sched_enqueue(j);
}

int tl_task_remove(tl_manager_t *m, int64_t id)
{
    tl__job_t *j = job_of(m, id);
    tl_state_t st = j ? j->task->state : TL_STATE_COMPLETED;
    if (st == TL_STATE_RUNNING || st == TL_STATE_PAUSED)
        return tl__mgr_error(m, TL_ECONFLICT,
                             "task %lld is %s: cancel it first", (long long)id,
                             tl_state_name(st));
    int rc = tl__mgr_begin(m);
    rc = rc ? rc : flush(m);
    rc = rc ? rc : m->store->ops->delete_task(m->store, id);
    if (rc == TL_ENOTFOUND)
        return not_found(m, id);
    if (rc)
        return tl__mgr_error(m, rc, "store: %s",
                             m->store->ops->errmsg(m->store));
    if (j) {
        /* Its process may still be dying, or a write of it may wait for
         * the commit (it is on a list): it goes once that is over. */
        if (st == TL_STATE_QUEUED) {
            tl__sched_dequeue(j);
            j->task->state = TL_STATE_CANCELLED; /* memory only */
        }
        j->deleted = true;
        tl__job_release_if_done(j);
    }
    tl__tasklog_remove(m->logs_dir, id);
    tl__mgr_emit(m, "task.deleted", id, json_pack("{s:I}", "id", id));
    return 0;
}

/* ---- edits -------------------------------------------------------------- */

static int requeue_job(tl__job_t *j, const int64_t *priority, const char *group)
{
    tl_task_t *t = j->task;
    if (t->state != TL_STATE_QUEUED)
        return conflict(j->m, t->id, "re-prioritise", t->state);
    tl__sched_dequeue(j);
    if (priority)
        t->priority = *priority;
    if (group && tl__str_set(&t->group, group))
        return TL_ENOMEM;
    if (group)
        j->stored_state = -1; /* the next write moves the group */
    return tl__sched_enqueue(j);
}

int tl__mgr_patch(tl_manager_t *m, int64_t id, const char *title,
                  const char *description, const int64_t *priority,
                  const char *group)
{
    tl__job_t *j = job_of(m, id);
    if ((priority || group) && !j)
        return active_job(m, id, "re-prioritise", &j);
    int rc = tl__mgr_begin(m);
    if (rc)
        return rc;
    if (!j) { /* only title and description of a finished task */
        tl_task_t *t;
        if ((rc = load(m, id, &t)))
            return rc;
        rc = tl__str_set(&t->title, title ? title : t->title);
        rc |= tl__str_set(&t->description,
                          description ? description : t->description);
        t->updated_at = tl__now_ms();
        rc = rc ? rc : m->store->ops->update_task(m->store, t, true, t->state);
        tl_task_free(t);
        return rc;
    }
    if ((priority || group) && (rc = requeue_job(j, priority, group)))
        return rc;
    if (title)
        tl__str_set(&j->task->title, title);
    if (description)
        tl__str_set(&j->task->description, description);
    j->task->updated_at = tl__now_ms();
    tl__mgr_touch(j);
    tl__mgr_emit_task(m, "task.updated", j);
    return 0;
}

int tl_task_requeue(tl_manager_t *m, int64_t id, const int64_t *priority,
                    const char *group)
{
    return tl__mgr_patch(m, id, NULL, NULL, priority, group);
}

/* Runs loop turns (each at most 50 ms, so a deadline is noticed) until
 * done(m, arg) or timeout_s passes (<= 0: never): then TL_ETIMEDOUT. */
typedef bool (*until_fn)(tl_manager_t *m, void *arg);

static int run_until(tl_manager_t *m, double timeout_s, until_fn done,
                     void *arg)
{
    int64_t deadline =
        timeout_s > 0 ? tl__mono_ms() + (int64_t)(timeout_s * 1000) : 0;
    while (!done(m, arg)) {
        if (deadline && tl__mono_ms() >= deadline)
            return tl__mgr_error(m, TL_ETIMEDOUT, "timed out");
        struct timeval tv = {0, 50000};
        event_base_loopexit(m->base, &tv);
        tl__mgr_turn(m, 0);
    }
    return 0;
}

typedef struct wait_for {
    int64_t id;
    tl_task_t *task; /* the final task */
    int rc;
} wait_for_t;

static bool task_ended(tl_manager_t *m, void *arg)
{
    wait_for_t *w = arg;
    tl__job_t *j = job_of(m, w->id);
    if (j && (!tl_state_is_final(j->task->state) || j->proc))
        return false;
    w->rc = tl_task_get(m, w->id, &w->task);
    if (w->rc)
        return true;
    if (tl_state_is_final(w->task->state))
        return true;
    tl_task_free(w->task);
    w->task = NULL;
    return false;
}

int tl_task_wait(tl_manager_t *m, int64_t id, double timeout_s, tl_task_t **out)
{
    wait_for_t w = {.id = id};
    int rc = run_until(m, timeout_s, task_ended, &w);
    rc = rc ? rc : w.rc;
    if (!rc && out)
        *out = w.task;
    else
        tl_task_free(w.task);
    return rc;
}

/* ---- groups, cleaning, logs ---------------------------------------------- */

int tl_group_set_parallel(tl_manager_t *m, const char *group, int parallel)
{
    if (!group || !*group || parallel < 0)
        return tl__mgr_error(m, TL_EINVAL, "invalid group or limit");
    tl__group_t *g = tl__group_get(m, group, true);
    if (!g)
        return TL_ENOMEM;
    int rc = tl__mgr_begin(m);
    rc = rc ? rc : m->store->ops->set_group(m->store, group, parallel);
    if (rc)
        return tl__mgr_error(m, rc, "store: %s",
                             m->store->ops->errmsg(m->store));
    g->parallel = parallel;
    g->configured = true;
    tl__sched_kick(m);
    return 0;
}

int tl__mgr_groups_json(tl_manager_t *m, json_t **out)
{
    json_t *a = json_array();
    for (tl__group_t *g = m->groups; a && g; g = g->next)
        json_array_append_new(a, json_pack("{s:s, s:i, s:i, s:I}", "name",
                                           g->name, "parallel", g->parallel,
                                           "running", g->running, "queued",
                                           (json_int_t)g->queue.len));
    *out = a ? json_pack("{s:o}", "groups", a) : NULL;
    return *out ? 0 : TL_ENOMEM;
}

int tl__mgr_clean(tl_manager_t *m, int64_t older_than_ms, int64_t *removed)
{
    int64_t *ids = NULL;
    size_t n = 0;
    int rc = tl__mgr_begin(m);
    rc = rc ? rc : flush(m);
    rc = rc ? rc
            : m->store->ops->delete_finished(
                  m->store, tl__now_ms() - older_than_ms + 1, &ids, &n);
    if (rc)
        return tl__mgr_error(m, rc, "store: %s",
                             m->store->ops->errmsg(m->store));
    for (size_t i = 0; i < n; i++)
        tl__tasklog_remove(m->logs_dir, ids[i]);
    free(ids);
    *removed = (int64_t)n;
    return 0;
}

static const char *stream_name(char c)
{
    return c == 'o' ? "stdout" : c == 'e' ? "stderr" : "info";
}

/* "2026-11-21T23:59:01.123Z o text" */
static json_t *log_line_json(const char *line, size_t len)
{
    const char *sp = memchr(line, ' ', len);
    if (!sp || (size_t)(sp - line) + 2 > len)
        return json_pack("{s:n, s:s, s:s%}", "ts", "stream", "info", "text",
                         line, len);
    size_t ts_len = (size_t)(sp - line);
    const char *text = sp + 2 < line + len ? sp + 3 : line + len;
    size_t text_len = (size_t)(line + len - text);
    return json_pack("{s:s%, s:s, s:s%}", "ts", line, ts_len, "stream",
                     stream_name(sp[1]), "text", text, text_len);
}

/* The log as JSON lines: the last `tail` lines, or, when from >= 0, up to
 * `limit` lines from line `from` of what the log still holds. */
int tl__mgr_logs_json(tl_manager_t *m, int64_t id, long tail, long from,
                      long limit, json_t **out)
{
    tl__job_t *j = job_of(m, id);
    if (!j) {
        tl_task_t *t;
        int rc = load(m, id, &t);
        if (rc)
            return rc;
        tl_task_free(t);
    }
    char *buf = NULL;
    size_t len = 0;
    int rc = tl__tasklog_read_tail(m->logs_dir, id, from >= 0 ? 0 : tail, &buf,
                                   &len);
    if (rc)
        return tl__mgr_error(m, rc, "cannot read the log of task %lld",
                             (long long)id);
    json_t *lines = json_array();
    long n = 0;
    for (size_t i = 0; lines && i < len; n++) {
        const char *nl = memchr(buf + i, '\n', len - i);
        size_t l = nl ? (size_t)(nl - (buf + i)) : len - i;
        if (from < 0 || (n >= from && (limit <= 0 || n < from + limit)))
            json_array_append_new(lines, log_line_json(buf + i, l));
        i += l + 1;
    }
    free(buf);
    *out = json_pack("{s:o, s:b, s:I}", "lines", lines, "truncated",
                     tl__tasklog_truncated(m->logs_dir, id), "total_lines",
                     (json_int_t)n);
    return *out ? 0 : TL_ENOMEM;
}

/* ---- function tasks ------------------------------------------------------ */

#define DEFAULT_WORKERS 4
#define MAX_WORKERS 256

static int ensure_pool(tl_manager_t *m)
{
    if (m->pool)
        return 0;
    if (!m->workers)
        m->workers = DEFAULT_WORKERS;
    int rc = tl__pool_new(m, m->workers, &m->pool);
    if (rc)
        return tl__mgr_error(m, rc, "cannot start worker threads");
    tl__group_t *g = tl__group_get(m, "functions", true);
    if (g && g->parallel == 1 && !g->configured)
        g->parallel = m->workers;
    return 0;
}

int tl_manager_set_workers(tl_manager_t *m, int workers)
{
    if (workers < 1 || workers > MAX_WORKERS)
        return tl__mgr_error(m, TL_EINVAL, "workers must be 1 to %d",
                             MAX_WORKERS);
    m->workers = workers;
    tl__group_t *g = tl__group_get(m, "functions", true);
    if (!g)
        return TL_ENOMEM;
    if (!g->configured)
        g->parallel = workers;
    tl__sched_kick(m);
    return m->pool ? tl__pool_resize(m->pool, workers) : 0;
}

int tl_submit_function(tl_manager_t *m, const tl_function_t *f, int64_t *id)
{
    if (!f || !f->fn || !(f->timeout_s >= 0))
        return tl__mgr_error(m, TL_EINVAL, "invalid function task");
    int rc = ensure_pool(m);
    tl__func_spec_t *spec = rc ? NULL : malloc(sizeof(*spec));
    tl_task_t *t = spec ? tl__task_new() : NULL;
    if (!t) {
        free(spec);
        return rc ? rc : TL_ENOMEM;
    }
    *spec = (tl__func_spec_t){f->fn, f->arg, f->free_arg};
    t->source = TL_SOURCE_FUNCTION;
    t->priority = f->priority;
    t->timeout_s = f->timeout_s;
    rc = tl__str_set(&t->title, f->title ? f->title : "function") |
         tl__str_set(&t->kind, f->kind ? f->kind : "function") |
         tl__str_set(&t->description, f->description) |
         tl__str_set(&t->group, f->group ? f->group : "functions") |
         tl__str_set(&t->key, f->key);
    if (rc) {
        tl_task_free(t);
        free(spec);
        return TL_ENOMEM;
    }
    bool existed;
    int64_t got = 0;
    rc = tl__mgr_create(m, t, &got, &existed);
    tl__job_t *j = rc || existed ? NULL : job_of(m, got);
    if (j)
        j->fspec = spec;
    else
        tl__func_spec_free(spec); /* not to run: an old key, or an error */
    if (!rc && id)
        *id = got;
    return rc;
}

static bool all_idle(tl_manager_t *m, void *arg)
{
    for (size_t i = 0; i < m->jobs.cap; i++) {
        if (m->jobs.keys[i] == INT64_MIN)
            continue;
        tl__job_t *j = m->jobs.vals[i];
        if (!tl_state_is_final(j->task->state) || j->proc || j->fctx)
            return false;
    }
    return true;
}

int tl_wait_all(tl_manager_t *m, double timeout_s)
{
    return run_until(m, timeout_s, all_idle, NULL);
}

static void cancel_everything(tl_manager_t *m)
{
    for (size_t i = 0; i < m->jobs.cap; i++) {
        if (m->jobs.keys[i] == INT64_MIN)
            continue;
        tl__job_t *j = m->jobs.vals[i];
        tl_state_t s = j->task->state;
        if (s == TL_STATE_RUNNING || s == TL_STATE_PAUSED)
            tl__job_cancel(j);
    }
}

static bool nothing_runs(tl_manager_t *m, void *arg)
{
    for (size_t i = 0; i < m->jobs.cap; i++) {
        tl__job_t *j = m->jobs.keys[i] == INT64_MIN ? NULL : m->jobs.vals[i];
        if (j && (j->proc || j->fctx))
            return false;
    }
    return true;
}

void tl_manager_shutdown(tl_manager_t *m, int cancel_running, double timeout_s)
{
    if (!m)
        return;
    m->draining = true; /* queued tasks stay queued */
    if (cancel_running)
        cancel_everything(m);
    run_until(m, timeout_s, nothing_runs, NULL); /* then close anyway */
    tl_manager_close(m);
}
