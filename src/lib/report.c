/*
 * report.c -- tracked tasks (work another program does and reports over
 * HTTP) and reports on any running task: progress, counts, message,
 * metadata, result, substeps, log lines, heartbeats.
 *
 * DESIGN: a progress tick is cheap and need not be durable at once (the
 * contract lets ticks be coalesced, latest value wins): it changes the job
 * in memory, is answered at once, is stored by a save a few times a second,
 * and its task.progress event goes out at most every PROGRESS_EVENT_MS per
 * task (the latest value, on a timer). Anything else a report changes
 * (state, result, error, substeps) is a durable change: committed before
 * the answer. Final states always carry the final progress, so nothing a
 * reporter said last is lost. A tracked task's heartbeat is a timer re-armed
 * by every report; when it fires the task fails as lost.
 */
#include "manager.h"
#include "util.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRESS_EVENT_MS 100
#define SAVE_INTERVAL_MS 250
#define MAX_SUBSTEPS 10000

/* ---- ETA ----------------------------------------------------------------- */

void tl__job_observe_progress(tl__job_t *j)
{
    tl_task_t *t = j->task;
    if (isfinite(t->progress) && t->started_at)
        tl__eta_observe(&j->eta, tl__task_elapsed_ms(t, tl__now_ms()) / 1e3,
                        t->progress);
}

json_t *tl__job_json(tl__job_t *j, int64_t now)
{
    tl_task_t *t = j->task;
    json_t *o = tl__task_to_json(t, now);
    if (!o || (t->state != TL_STATE_RUNNING && t->state != TL_STATE_PAUSED))
        return o;
    double eta, total;
    double elapsed = tl__task_elapsed_ms(t, now) / 1e3;
    double prior = tl__history_prior(j->m, t->kind);
    if (tl__eta_estimate(&j->eta, elapsed, prior, &eta, &total) == 0) {
        json_object_set_new(o, "eta_s", json_real(eta));
        json_object_set_new(o, "estimated_total_s", json_real(total));
    } else {
        json_object_set_new(o, "eta_s", json_null());
        json_object_set_new(o, "estimated_total_s", json_null());
    }
    return o;
}

/* ---- coalesced progress ------------------------------------------------ */

static void emit_progress(tl__job_t *j)
{
    j->last_progress_event = tl__mono_ms();
    tl__mgr_emit_task(j->m, "task.progress", j);
}

static void on_progress_due(evutil_socket_t fd, short what, void *arg)
{
    tl__job_t *j = arg;
    if (!tl_state_is_final(j->task->state))
        emit_progress(j);
}

static void schedule_progress_event(tl__job_t *j)
{
    int64_t wait = j->last_progress_event + PROGRESS_EVENT_MS - tl__mono_ms();
    if (wait <= 0) {
        emit_progress(j);
        return;
    }
    if (!j->progress_ev)
        j->progress_ev = evtimer_new(j->m->base, on_progress_due, j);
    if (j->progress_ev && !evtimer_pending(j->progress_ev, NULL)) {
        struct timeval tv = {0, (suseconds_t)wait * 1000};
        evtimer_add(j->progress_ev, &tv);
    }
}

static void on_save(evutil_socket_t fd, short what, void *arg)
{
    tl_manager_t *m = arg;
    if (tl__mgr_begin(m) != 0) {
        struct timeval tv = {1, 0}; /* the store is failing: try later */
        evtimer_add(m->save_ev, &tv);
        return;
    }
    for (size_t i = 0; i < m->unsaved.len; i++) {
        tl__job_t *j = tl__map_get(&m->jobs, m->unsaved.ids[i]);
        if (j && j->progress_unsaved) {
            j->progress_unsaved = false;
            tl__mgr_touch(j);
        }
    }
    m->unsaved.len = 0;
}

void tl__job_progress_changed(tl__job_t *j)
{
    tl_manager_t *m = j->m;
    j->task->updated_at = tl__now_ms();
    schedule_progress_event(j);
    if (j->dirty || j->progress_unsaved)
        return;
    if (tl__idvec_push(&m->unsaved, j->task->id) != 0) {
        tl__mgr_touch(j); /* no room to defer: store it this turn */
        return;
    }
    j->progress_unsaved = true;
    if (!evtimer_pending(m->save_ev, NULL)) {
        struct timeval tv = {0, SAVE_INTERVAL_MS * 1000};
        evtimer_add(m->save_ev, &tv);
    }
}

int tl__report_init(tl_manager_t *m)
{
    m->save_ev = evtimer_new(m->base, on_save, m);
    return m->save_ev ? 0 : TL_ENOMEM;
}

void tl__report_close(tl_manager_t *m)
{
    if (m->save_ev) {
        if (evtimer_pending(m->save_ev, NULL))
            on_save(-1, 0, m); /* the last ticks go with the final commit */
        event_free(m->save_ev);
        m->save_ev = NULL;
    }
    free(m->unsaved.ids);
    m->unsaved = (tl__idvec_t){0};
}

void tl__report_free_job(tl__job_t *j)
{
    if (j->beat_ev)
        event_free(j->beat_ev);
    if (j->progress_ev)
        event_free(j->progress_ev);
    j->beat_ev = j->progress_ev = NULL;
}

/* ---- heartbeats --------------------------------------------------------- */

static void on_lost(evutil_socket_t fd, short what, void *arg)
{
    tl__job_t *j = arg;
    tl_task_t *t = j->task;
    if (t->state != TL_STATE_RUNNING && t->state != TL_STATE_PAUSED)
        return;
    if (tl__mgr_begin(j->m) != 0)
        return;
    tl__str_set(&t->error, "lost: no heartbeat");
    tl__job_set_state(j, TL_STATE_FAILED, NULL);
    tl__job_release_if_done(j);
}

void tl__job_heartbeat(tl__job_t *j)
{
    tl_task_t *t = j->task;
    if (t->source != TL_SOURCE_TRACKED || t->heartbeat_timeout_s <= 0 ||
        tl_state_is_final(t->state))
        return;
    if (!j->beat_ev)
        j->beat_ev = evtimer_new(j->m->base, on_lost, j);
    if (!j->beat_ev)
        return;
    double s = t->heartbeat_timeout_s;
    struct timeval tv = {(time_t)s, (suseconds_t)((s - (time_t)s) * 1e6)};
    evtimer_add(j->beat_ev, &tv);
}

int tl__job_request(tl__job_t *j, const char *what)
{
    tl_task_t *t = j->task;
    if (tl_state_is_final(t->state) || t->state == TL_STATE_QUEUED)
        return TL_ECONFLICT;
    int rc = tl__mgr_begin(j->m);
    if (rc)
        return rc;
    if (strcmp(what, "cancel") == 0) {
        if (t->cancel_requested) { /* asked twice: the reporter is gone */
            tl__str_set(&t->error, "cancelled without the reporter");
            rc = tl__job_set_state(j, TL_STATE_CANCELLED, NULL);
            tl__job_release_if_done(j);
            return rc;
        }
        t->cancel_requested = true;
    } else if (strcmp(what, "pause") == 0) {
        if (t->state != TL_STATE_RUNNING || t->pause_requested)
            return TL_ECONFLICT;
        t->pause_requested = true;
    } else { /* resume */
        if (t->state != TL_STATE_PAUSED && !t->pause_requested)
            return TL_ECONFLICT;
        t->pause_requested = false;
    }
    t->updated_at = tl__now_ms();
    tl__mgr_touch(j);
    tl__mgr_emit_task(j->m, "task.updated", j);
    return 0;
}

/* ---- reports ------------------------------------------------------------ */

static tl__job_t *running_job(tl_manager_t *m, int64_t id, int *rc)
{
    tl__job_t *j = tl__map_get(&m->jobs, id);
    if (j && (j->task->state == TL_STATE_RUNNING ||
              j->task->state == TL_STATE_PAUSED)) {
        *rc = 0;
        return j;
    }
    tl_task_t *t = NULL;
    if (j) {
        *rc = tl__mgr_error(m, TL_ECONFLICT, "task %lld is %s", (long long)id,
                            tl_state_name(j->task->state));
    } else if (m->store->ops->load_task(m->store, id, &t) == 0) {
        *rc = tl__mgr_error(m, TL_ECONFLICT, "task %lld is %s", (long long)id,
                            tl_state_name(t->state));
        tl_task_free(t);
    } else {
        *rc = tl__mgr_error(m, TL_ENOTFOUND, "task %lld does not exist",
                            (long long)id);
    }
    return NULL;
}

static int check_counts(tl_manager_t *m, const tl_task_t *t,
                        const tl__report_t *r)
{
    double cur = r->has_current ? r->current : t->current;
    double tot = r->has_total ? r->total : t->total;
    if (isfinite(cur) && isfinite(tot) && cur > tot)
        return tl__mgr_error(m, TL_EUNPROCESSABLE,
                             "current (%g) is above total (%g)", cur, tot);
    return 0;
}

static int merge_metadata(tl_task_t *t, json_t *patch)
{
    const char *key;
    json_t *v;
    json_object_foreach(patch, key, v)
    {
        int rc = json_is_null(v) ? (json_object_del(t->metadata, key), 0)
                                 : json_object_set(t->metadata, key, v);
        if (rc)
            return TL_ENOMEM;
    }
    return 0;
}

/* The progress ticks: values that may be coalesced. */
static int apply_ticks(tl__job_t *j, const tl__report_t *r, bool *changed)
{
    tl_task_t *t = j->task;
    int rc = 0;
    if (r->has_current)
        t->current = r->current;
    if (r->has_total)
        t->total = r->total;
    if (r->has_progress)
        t->progress = r->progress;
    else if ((r->has_current || r->has_total) && isfinite(t->current) &&
             isfinite(t->total) && t->total > 0)
        t->progress = 100.0 * t->current / t->total;
    if (r->has_unit)
        rc |= tl__str_set(&t->unit, r->unit);
    if (r->has_message)
        rc |= tl__str_set(&t->message, r->message);
    if (r->metadata)
        rc |= merge_metadata(t, r->metadata);
    *changed = r->has_current || r->has_total || r->has_progress ||
               r->has_unit || r->has_message || r->metadata;
    if (r->has_current || r->has_total || r->has_progress)
        tl__job_observe_progress(j);
    return rc ? TL_ENOMEM : 0;
}

static bool reporter_may_set(const tl_task_t *t, int state)
{
    if (t->source == TL_SOURCE_COMMAND) /* its process decides */
        return false;
    return state == TL_STATE_COMPLETED || state == TL_STATE_FAILED ||
           state == TL_STATE_CANCELLED || state == TL_STATE_PAUSED ||
           state == TL_STATE_RUNNING;
}

static int apply_end(tl__job_t *j, const tl__report_t *r)
{
    tl_task_t *t = j->task;
    if (r->result) {
        json_decref(t->result);
        t->result = json_incref(r->result);
    }
    if (r->error && tl__str_set(&t->error, r->error))
        return TL_ENOMEM;
    if (r->state < 0 || (tl_state_t)r->state == t->state)
        return 0;
    if (!reporter_may_set(t, r->state))
        return tl__mgr_error(j->m, TL_ECONFLICT,
                             "task %lld: a %s task's state follows its "
                             "process",
                             (long long)t->id,
                             t->source == TL_SOURCE_COMMAND ? "command"
                                                            : "function");
    if (!tl__state_transition_ok(t->state, r->state))
        return tl__mgr_error(
            j->m, TL_ECONFLICT, "task %lld: cannot go from %s to %s",
            (long long)t->id, tl_state_name(t->state), tl_state_name(r->state));
    /* pause_requested stands while the task is paused: a resume request
     * clears it, and that is what the paused reporter waits to see. */
    if (r->state == TL_STATE_PAUSED) {
        t->paused_at = tl__now_ms();
    } else if (t->state == TL_STATE_PAUSED) {
        t->paused_ms += tl__now_ms() - t->paused_at;
        t->paused_at = 0;
        t->pause_requested = false;
    }
    const char *ev = r->state == TL_STATE_RUNNING ? "task.resumed" : NULL;
    return tl__job_set_state(j, r->state, ev);
}

int tl__mgr_report(tl_manager_t *m, int64_t id, const tl__report_t *r,
                   bool *durable)
{
    int rc;
    tl__job_t *j = running_job(m, id, &rc);
    if (!j)
        return rc;
    if ((rc = check_counts(m, j->task, r)))
        return rc;
    *durable = r->state >= 0 || r->result || r->error;
    if (*durable && (rc = tl__mgr_begin(m)))
        return rc;
    bool ticked;
    if ((rc = apply_ticks(j, r, &ticked)))
        return tl__mgr_error(m, rc, "out of memory");
    if (*durable) {
        j->task->updated_at = tl__now_ms();
        tl__mgr_touch(j);
        if ((rc = apply_end(j, r)))
            return rc;
    } else if (ticked) {
        tl__job_progress_changed(j);
    }
    tl__job_heartbeat(j);
    tl__job_release_if_done(j);
    return 0;
}

/* ---- logs ---------------------------------------------------------------- */

int tl__mgr_append_logs(tl_manager_t *m, int64_t id, char stream,
                        const json_t *lines, size_t *appended)
{
    int rc;
    tl__job_t *j = running_job(m, id, &rc);
    if (!j)
        return rc;
    if (!j->log && (rc = tl__tasklog_open(m->logs_dir, id,
                                          m->opts.log_cap_bytes, &j->log)))
        return tl__mgr_error(m, rc, "cannot open the log of task %lld",
                             (long long)id);
    size_t i;
    json_t *line;
    *appended = 0;
    json_array_foreach(lines, i, line)
    {
        if ((rc = tl__job_log_line(j, stream, json_string_value(line),
                                   json_string_length(line))))
            return tl__mgr_error(m, rc, "cannot write the log of task %lld",
                                 (long long)id);
        (*appended)++;
    }
    tl__job_heartbeat(j);
    return 0;
}

/* ---- substeps ------------------------------------------------------------ */

static json_t *find_substep(json_t *substeps, const char *sid)
{
    size_t i;
    json_t *s;
    json_array_foreach(substeps, i, s)
    {
        const char *id = json_string_value(json_object_get(s, "id"));
        if (id && strcmp(id, sid) == 0)
            return s;
    }
    return NULL;
}

static json_t *now_json(void)
{
    char ts[40];
    tl__fmt_time(tl__now_ms(), ts, sizeof(ts));
    return json_string(ts);
}

bool tl__substep_state_ok(const char *state)
{
    static const char *const ok[] = {"queued", "running", "completed", "failed",
                                     "cancelled"};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        if (strcmp(state, ok[i]) == 0)
            return true;
    return false;
}

static bool substep_final(const char *state)
{
    return strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
           strcmp(state, "cancelled") == 0;
}

/* Applies name, state, progress, error from body (validated by the
 * caller) to substep s, stamping started_at / finished_at. */
static int apply_substep(json_t *s, json_t *body)
{
    static const char *const fields[] = {"name", "state", "progress", "error"};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(body, fields[i]);
        if (v && json_object_set(s, fields[i], v))
            return TL_ENOMEM;
    }
    const char *state = json_string_value(json_object_get(s, "state"));
    bool started = strcmp(state, "queued") != 0;
    if (started && json_is_null(json_object_get(s, "started_at")))
        json_object_set_new(s, "started_at", now_json());
    if (substep_final(state) &&
        json_is_null(json_object_get(s, "finished_at"))) {
        json_object_set_new(s, "finished_at", now_json());
        if (strcmp(state, "completed") == 0)
            json_object_set_new(s, "progress", json_real(100));
    }
    return 0;
}

static void substep_changed(tl__job_t *j)
{
    j->task->updated_at = tl__now_ms();
    tl__mgr_touch(j);
    tl__mgr_emit_task(j->m, "task.substep", j);
    tl__job_heartbeat(j);
}

int tl__mgr_substep_add(tl_manager_t *m, int64_t id, json_t *body, json_t **out)
{
    int rc;
    tl__job_t *j = running_job(m, id, &rc);
    if (!j)
        return rc;
    json_t *steps = j->task->substeps;
    if (json_array_size(steps) >= MAX_SUBSTEPS)
        return tl__mgr_error(m, TL_ELIMIT, "task %lld has %d substeps",
                             (long long)id, MAX_SUBSTEPS);
    const char *sid = json_string_value(json_object_get(body, "id"));
    char made[32];
    if (!sid) {
        snprintf(made, sizeof(made), "%zu", json_array_size(steps) + 1);
        sid = made;
    }
    if (find_substep(steps, sid))
        return tl__mgr_error(m, TL_ECONFLICT, "substep %s exists already", sid);
    if ((rc = tl__mgr_begin(m)))
        return rc;
    json_t *s = json_pack("{s:s, s:s, s:s, s:n, s:n, s:n, s:n}", "id", sid,
                          "name", sid, "state", "running", "progress", "error",
                          "started_at", "finished_at");
    if (!s || apply_substep(s, body) || json_array_append_new(steps, s))
        return tl__mgr_error(m, TL_ENOMEM, "out of memory");
    substep_changed(j);
    *out = json_incref(s);
    return 0;
}

int tl__mgr_substep_update(tl_manager_t *m, int64_t id, const char *sid,
                           json_t *body, json_t **out)
{
    int rc;
    tl__job_t *j = running_job(m, id, &rc);
    if (!j)
        return rc;
    json_t *s = find_substep(j->task->substeps, sid);
    if (!s)
        return tl__mgr_error(m, TL_ENOTFOUND, "task %lld has no substep %.64s",
                             (long long)id, sid);
    if ((rc = tl__mgr_begin(m)))
        return rc;
    if (apply_substep(s, body))
        return tl__mgr_error(m, TL_ENOMEM, "out of memory");
    substep_changed(j);
    *out = json_incref(s);
    return 0;
}
