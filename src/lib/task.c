/*
 * task.c -- the task record: creation, copies, the state machine and the
 * JSON form of DESIGN section 3.
 *
 * DESIGN: the state machine is one table (allowed[from][to]); every state
 * change in the library asks it first, so an illegal transition is refused
 * (409) in one place rather than guarded at each call site. JSON is built
 * here and only here, so the field names of the contract live in one file.
 */
#include "task.h"

#include "util.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const state_names[TL_STATE__COUNT] = {
    "queued", "running", "paused", "completed", "failed", "cancelled",
};

static const char *const source_names[] = {"command", "tracked", "function"};

/* allowed[from][to] */
static const bool allowed[TL_STATE__COUNT][TL_STATE__COUNT] = {
    [TL_STATE_QUEUED] =
        {[TL_STATE_RUNNING] = true, [TL_STATE_CANCELLED] = true},
    [TL_STATE_RUNNING] = {[TL_STATE_PAUSED] = true,
                          [TL_STATE_COMPLETED] = true,
                          [TL_STATE_FAILED] = true,
                          [TL_STATE_CANCELLED] = true},
    [TL_STATE_PAUSED] = {[TL_STATE_RUNNING] = true,
                         [TL_STATE_FAILED] = true,
                         [TL_STATE_CANCELLED] = true},
    [TL_STATE_FAILED] = {[TL_STATE_QUEUED] = true},
    [TL_STATE_CANCELLED] = {[TL_STATE_QUEUED] = true},
};

const char *tl_state_name(tl_state_t s)
{
    if ((int)s < 0 || s >= TL_STATE__COUNT)
        return NULL;
    return state_names[s];
}

int tl_state_parse(const char *name, tl_state_t *out)
{
    for (int i = 0; name && i < TL_STATE__COUNT; i++) {
        if (strcmp(name, state_names[i]) == 0) {
            *out = (tl_state_t)i;
            return 0;
        }
    }
    return TL_EINVAL;
}

int tl_state_is_final(tl_state_t s)
{
    return s == TL_STATE_COMPLETED || s == TL_STATE_FAILED ||
           s == TL_STATE_CANCELLED;
}

bool tl__state_transition_ok(tl_state_t from, tl_state_t to)
{
    if ((int)from < 0 || from >= TL_STATE__COUNT || (int)to < 0 ||
        to >= TL_STATE__COUNT)
        return false;
    return allowed[from][to];
}

tl_task_t *tl__task_new(void)
{
    tl_task_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->group = strdup("default");
    t->metadata = json_object();
    t->substeps = json_array();
    if (!t->group || !t->metadata || !t->substeps) {
        tl_task_free(t);
        return NULL;
    }
    t->progress = NAN;
    t->current = NAN;
    t->total = NAN;
    t->exit_code = TL__NO_EXIT_CODE;
    t->progress_parse = true;
    return t;
}

void tl_task_free(tl_task_t *t)
{
    if (!t)
        return;
    free(t->key);
    free(t->kind);
    free(t->title);
    free(t->description);
    free(t->group);
    free(t->owner);
    free(t->node);
    free(t->unit);
    free(t->message);
    free(t->error);
    json_decref(t->metadata);
    json_decref(t->substeps);
    json_decref(t->result);
    tl__strv_free(t->argv);
    free(t->cwd);
    free(t->progress_regex);
    tl__strv_free(t->env);
    free(t);
}

static int dup_str(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 0;
    *dst = strdup(src);
    return *dst ? 0 : TL_ENOMEM;
}

tl_task_t *tl__task_dup(const tl_task_t *t)
{
    tl_task_t *c = malloc(sizeof(*c));
    if (!c)
        return NULL;
    *c = *t;
    c->key = c->kind = c->title = c->description = c->group = c->owner =
        c->node = NULL;
    c->unit = c->message = c->error = c->cwd = c->progress_regex = NULL;
    c->argv = c->env = NULL;
    c->metadata = json_deep_copy(t->metadata);
    c->substeps = json_deep_copy(t->substeps);
    c->result = t->result ? json_deep_copy(t->result) : NULL;
    int rc = 0;
    rc |= dup_str(&c->key, t->key);
    rc |= dup_str(&c->kind, t->kind);
    rc |= dup_str(&c->title, t->title);
    rc |= dup_str(&c->description, t->description);
    rc |= dup_str(&c->group, t->group);
    rc |= dup_str(&c->owner, t->owner);
    rc |= dup_str(&c->node, t->node);
    rc |= dup_str(&c->unit, t->unit);
    rc |= dup_str(&c->message, t->message);
    rc |= dup_str(&c->error, t->error);
    rc |= dup_str(&c->cwd, t->cwd);
    rc |= dup_str(&c->progress_regex, t->progress_regex);
    if (t->argv && !(c->argv = tl__strv_dup((const char *const *)t->argv)))
        rc = TL_ENOMEM;
    if (t->env && !(c->env = tl__strv_dup((const char *const *)t->env)))
        rc = TL_ENOMEM;
    if (rc || !c->metadata || !c->substeps || (t->result && !c->result)) {
        tl_task_free(c);
        return NULL;
    }
    return c;
}

int64_t tl__task_elapsed_ms(const tl_task_t *t, int64_t now)
{
    if (!t->started_at)
        return 0;
    int64_t end = t->finished_at ? t->finished_at : now;
    int64_t paused = t->paused_ms;
    if (t->paused_at && !t->finished_at)
        paused += now - t->paused_at;
    int64_t e = end - t->started_at - paused;
    return e > 0 ? e : 0;
}

/* ---- JSON ------------------------------------------------------------- */

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *num_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *time_or_null(int64_t ms)
{
    if (!ms)
        return json_null();
    char buf[40];
    tl__fmt_time(ms, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *command_json(const tl_task_t *t)
{
    if (!t->argv)
        return json_null();
    return json_pack("{s:o, s:o, s:b, s:o}", "argv",
                     tl__strv_to_json((const char *const *)t->argv), "cwd",
                     str_or_null(t->cwd), "progress_parse", t->progress_parse,
                     "progress_regex", str_or_null(t->progress_regex));
}

/* A finished task's ETA is known; a running one's comes from its job's
 * estimator (tl__job_json), which this record does not hold. */
static void eta_json(const tl_task_t *t, double elapsed_s, json_t **eta,
                     json_t **total)
{
    if (tl_state_is_final(t->state) && t->started_at) {
        *eta = json_real(0);
        *total = json_real(elapsed_s);
        return;
    }
    *eta = json_null();
    *total = json_null();
}

json_t *tl__task_to_json(const tl_task_t *t, int64_t now)
{
    double elapsed_s = tl__task_elapsed_ms(t, now) / 1000.0;
    json_t *eta, *est_total;
    eta_json(t, elapsed_s, &eta, &est_total);
    json_t *o = json_object();
    if (!o)
        return NULL;
    int rc = 0;
    rc |= json_object_set_new(o, "id", json_integer(t->id));
    rc |= json_object_set_new(o, "key", str_or_null(t->key));
    rc |= json_object_set_new(o, "kind", str_or_null(t->kind));
    rc |= json_object_set_new(o, "title", str_or_null(t->title));
    rc |= json_object_set_new(o, "description", str_or_null(t->description));
    rc |= json_object_set_new(o, "state", json_string(state_names[t->state]));
    rc |= json_object_set_new(o, "priority", json_integer(t->priority));
    rc |= json_object_set_new(o, "group", str_or_null(t->group));
    rc |=
        json_object_set_new(o, "source", json_string(source_names[t->source]));
    rc |= json_object_set_new(o, "progress", num_or_null(t->progress));
    rc |= json_object_set_new(o, "current", num_or_null(t->current));
    rc |= json_object_set_new(o, "total", num_or_null(t->total));
    rc |= json_object_set_new(o, "unit", str_or_null(t->unit));
    rc |= json_object_set_new(o, "message", str_or_null(t->message));
    rc |= json_object_set(o, "metadata", t->metadata);
    rc |= json_object_set(o, "substeps", t->substeps);
    rc |= json_object_set_new(o, "error", str_or_null(t->error));
    rc |= json_object_set(o, "result", t->result ? t->result : json_null());
    rc |= json_object_set_new(o, "exit_code",
                              t->exit_code == TL__NO_EXIT_CODE
                                  ? json_null()
                                  : json_integer(t->exit_code));
    rc |= json_object_set_new(o, "attempt", json_integer(t->attempt));
    rc |= json_object_set_new(o, "max_retries", json_integer(t->max_retries));
    rc |= json_object_set_new(o, "timeout_s",
                              t->timeout_s > 0 ? json_real(t->timeout_s)
                                               : json_null());
    rc |= json_object_set_new(o, "command", command_json(t));
    rc |= json_object_set_new(o, "owner", str_or_null(t->owner));
    rc |= json_object_set_new(o, "node", str_or_null(t->node));
    rc |= json_object_set_new(o, "pid",
                              t->pid ? json_integer(t->pid) : json_null());
    rc |= json_object_set_new(o, "cancel_requested",
                              json_boolean(t->cancel_requested));
    rc |= json_object_set_new(o, "pause_requested",
                              json_boolean(t->pause_requested));
    rc |= json_object_set_new(o, "heartbeat_timeout_s",
                              t->source == TL_SOURCE_TRACKED
                                  ? json_real(t->heartbeat_timeout_s)
                                  : json_null());
    rc |= json_object_set_new(o, "created_at", time_or_null(t->created_at));
    rc |= json_object_set_new(o, "started_at", time_or_null(t->started_at));
    rc |= json_object_set_new(o, "finished_at", time_or_null(t->finished_at));
    rc |= json_object_set_new(o, "updated_at", time_or_null(t->updated_at));
    rc |= json_object_set_new(o, "run_after", time_or_null(t->run_after));
    rc |= json_object_set_new(
        o, "elapsed_s", t->started_at ? json_real(elapsed_s) : json_null());
    rc |= json_object_set_new(o, "eta_s", eta);
    rc |= json_object_set_new(o, "estimated_total_s", est_total);
    if (rc) {
        json_decref(o);
        return NULL;
    }
    return o;
}

/* ---- public accessors --------------------------------------------------- */

int64_t tl_task_id(const tl_task_t *t)
{
    return t->id;
}

tl_state_t tl_task_state(const tl_task_t *t)
{
    return t->state;
}

int tl_task_exit_code(const tl_task_t *t)
{
    return t->exit_code;
}

const char *tl_task_error(const tl_task_t *t)
{
    return t->error;
}

char *tl_task_to_json(const tl_task_t *t)
{
    json_t *o = tl__task_to_json(t, tl__now_ms());
    if (!o)
        return NULL;
    char *s = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(o);
    return s;
}

/* ---- string vectors ----------------------------------------------------- */

size_t tl__strv_len(const char *const *v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

char **tl__strv_dup(const char *const *v)
{
    size_t n = tl__strv_len(v);
    char **c = calloc(n + 1, sizeof(*c));
    if (!c)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (!(c[i] = strdup(v[i]))) {
            tl__strv_free(c);
            return NULL;
        }
    }
    return c;
}

void tl__strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

json_t *tl__strv_to_json(const char *const *v)
{
    json_t *a = json_array();
    for (size_t i = 0; a && v && v[i]; i++) {
        if (json_array_append_new(a, json_string(v[i]))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

int tl__strv_from_json(const json_t *a, char ***out)
{
    if (!json_is_array(a))
        return TL_EINVAL;
    size_t n = json_array_size(a);
    char **v = calloc(n + 1, sizeof(*v));
    if (!v)
        return TL_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(a, i));
        if (!s) {
            tl__strv_free(v);
            return TL_EINVAL;
        }
        if (!(v[i] = strdup(s))) {
            tl__strv_free(v);
            return TL_ENOMEM;
        }
    }
    *out = v;
    return 0;
}

int tl__str_set(char **dst, const char *src)
{
    char *c = NULL;
    if (src && !(c = strdup(src)))
        return TL_ENOMEM;
    free(*dst);
    *dst = c;
    return 0;
}
