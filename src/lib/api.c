/*
 * api.c -- the routes of the HTTP API (docs/API.md): parse and validate,
 * call the operations in ops.c, answer JSON.
 *
 * DESIGN: validation happens here, at the edge, with a message that names
 * the field; the operations below trust their arguments. Every answer to a
 * request that changed something goes through tl__http_reply_committed(),
 * so it leaves only after the change is committed.
 */
#include "http.h"
#include "metrics.h"
#include "util.h"

#include <ctype.h>
#include <event2/buffer.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SHORT_STR 4096
#define MAX_DESCRIPTION (64 << 10)
#define MAX_ARGS 1024
#define MAX_COMMAND_BYTES (256 << 10)
#define MAX_ENV 4096
#define MAX_PRIORITY 1000000
#define MAX_RETRIES 100
#define MAX_TIMEOUT_S (10.0 * 365 * 86400)

typedef struct verr {
    int status;
    char msg[256];
} verr_t;

static int invalid(verr_t *e, int status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int invalid(verr_t *e, int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
    va_end(ap);
    e->status = status;
    return -1;
}

static void reply_verr(tl__http_req_t *r, const verr_t *e)
{
    tl__http_reply_errorf(r, e->status,
                          e->status == 413   ? "too_large"
                          : e->status == 422 ? "invalid"
                                             : "bad_request",
                          "%s", e->msg);
}

/* ---- field readers: 0 ok (absent leaves *out), -1 with e filled -------- */

static int opt_str(json_t *o, const char *name, size_t max, const char **out,
                   verr_t *e)
{
    json_t *v = json_object_get(o, name);
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return invalid(e, 400, "%s must be a string", name);
    if (json_string_length(v) > max)
        return invalid(e, 413, "%s is longer than %zu bytes", name, max);
    *out = json_string_value(v);
    return 0;
}

static int opt_priority(json_t *o, int64_t *out, verr_t *e)
{
    json_t *v = json_object_get(o, "priority");
    static const struct {
        const char *name;
        int64_t value;
    } named[] = {{"low", -10}, {"normal", 0}, {"high", 10}};
    if (!v || json_is_null(v))
        return 0;
    for (size_t i = 0; json_is_string(v) && i < 3; i++) {
        if (strcmp(json_string_value(v), named[i].name) == 0) {
            *out = named[i].value;
            return 0;
        }
    }
    if (json_is_string(v))
        return invalid(e, 422,
                       "priority must be an integer or low, "
                       "normal, high");
    if (!json_is_integer(v))
        return invalid(e, 400, "priority must be an integer");
    json_int_t p = json_integer_value(v);
    if (p < -MAX_PRIORITY || p > MAX_PRIORITY)
        return invalid(e, 422, "priority must be within +-%d", MAX_PRIORITY);
    *out = p;
    return 0;
}

static int group_name_ok(const char *g)
{
    size_t n = strlen(g);
    if (n == 0 || n > 64 || !isalnum((unsigned char)g[0]))
        return 0; /* no ".", "..", "-x": a name starts with a letter or digit */
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)g[i]) && !strchr("._-", g[i]))
            return 0;
    return 1;
}

static int opt_group(json_t *o, const char **out, verr_t *e)
{
    const char *g = NULL;
    if (opt_str(o, "group", 64, &g, e))
        return -1;
    if (g && !group_name_ok(g))
        return invalid(e, 422,
                       "group must be 1-64 letters, digits, '.', "
                       "'_' or '-', starting with a letter or digit");
    if (g)
        *out = g;
    return 0;
}

static int opt_timeout(json_t *o, double *out, verr_t *e)
{
    json_t *v = json_object_get(o, "timeout_s");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_number(v))
        return invalid(e, 400, "timeout_s must be a number");
    double t = json_number_value(v);
    if (!isfinite(t) || t <= 0 || t > MAX_TIMEOUT_S)
        return invalid(e, 422,
                       "timeout_s must be above 0 and at most 10 "
                       "years");
    *out = t;
    return 0;
}

static int opt_retries(json_t *o, int *out, verr_t *e)
{
    json_t *v = json_object_get(o, "max_retries");
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v))
        return invalid(e, 400, "max_retries must be an integer");
    json_int_t n = json_integer_value(v);
    if (n < 0 || n > MAX_RETRIES)
        return invalid(e, 422, "max_retries must be 0 to %d", MAX_RETRIES);
    *out = (int)n;
    return 0;
}

static int read_argv(json_t *cmd, tl_task_t *t, verr_t *e)
{
    json_t *a = json_object_get(cmd, "argv");
    if (!json_is_array(a))
        return invalid(e, 422, "command.argv must be an array of strings");
    size_t n = json_array_size(a), bytes = 0;
    if (n == 0)
        return invalid(e, 422, "command.argv must not be empty");
    if (n > MAX_ARGS)
        return invalid(e, 413, "command.argv has over %d arguments", MAX_ARGS);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_array_get(a, i);
        if (!json_is_string(s))
            return invalid(e, 400, "command.argv[%zu] must be a string", i);
        bytes += json_string_length(s) + 1;
    }
    if (bytes > MAX_COMMAND_BYTES)
        return invalid(e, 413, "command.argv is over %d bytes",
                       MAX_COMMAND_BYTES);
    if (json_string_length(json_array_get(a, 0)) == 0)
        return invalid(e, 422, "command.argv[0] must not be empty");
    if (tl__strv_from_json(a, &t->argv))
        return invalid(e, 500, "out of memory");
    return 0;
}

static int read_env(json_t *cmd, tl_task_t *t, verr_t *e)
{
    json_t *env = json_object_get(cmd, "env");
    if (!env || json_is_null(env))
        return 0;
    if (!json_is_object(env))
        return invalid(e, 400, "command.env must be an object of strings");
    if (json_object_size(env) > MAX_ENV)
        return invalid(e, 413, "command.env has over %d entries", MAX_ENV);
    t->env = calloc(json_object_size(env) + 1, sizeof(char *));
    if (!t->env)
        return invalid(e, 500, "out of memory");
    size_t k = 0;
    const char *key;
    json_t *v;
    json_object_foreach(env, key, v)
    {
        if (!json_is_string(v))
            return invalid(e, 400, "command.env.%.64s must be a string", key);
        if (!*key || strchr(key, '='))
            return invalid(e, 422, "command.env has an invalid name");
        if (json_string_length(v) + strlen(key) > MAX_COMMAND_BYTES)
            return invalid(e, 413, "command.env.%.64s is too long", key);
        t->env[k++] = tl__strfmt("%s=%s", key, json_string_value(v));
        if (!t->env[k - 1])
            return invalid(e, 500, "out of memory");
    }
    return 0;
}

/* command.progress_parse (bool) and command.progress_regex (a pattern
 * that must compile). */
static int read_progress_options(json_t *cmd, tl_task_t *t, verr_t *e)
{
    json_t *parse = json_object_get(cmd, "progress_parse");
    const char *re = NULL;
    if (parse && !json_is_null(parse) && !json_is_boolean(parse))
        return invalid(e, 400, "command.progress_parse must be true or false");
    if (json_is_boolean(parse))
        t->progress_parse = json_is_true(parse);
    if (opt_str(cmd, "progress_regex", 1024, &re, e))
        return -1;
    if (!re)
        return 0;
    tl__progress_re_t *compiled;
    char err[200];
    if (tl__progress_re_compile(re, &compiled, err, sizeof(err)) != 0)
        return invalid(e, 422, "command.progress_regex: %s", err);
    tl__progress_re_free(compiled);
    if (tl__str_set(&t->progress_regex, re))
        return invalid(e, 500, "out of memory");
    return 0;
}

static int read_command(json_t *body, tl_task_t *t, verr_t *e)
{
    json_t *cmd = json_object_get(body, "command");
    if (!json_is_object(cmd))
        return invalid(e, 400, "command must be an object");
    const char *cwd = NULL;
    if (read_argv(cmd, t, e) || opt_str(cmd, "cwd", 4096, &cwd, e) ||
        read_env(cmd, t, e))
        return -1;
    if (cwd && cwd[0] != '/')
        return invalid(e, 422, "command.cwd must be an absolute path");
    if (cwd && tl__str_set(&t->cwd, cwd))
        return invalid(e, 500, "out of memory");
    return read_progress_options(cmd, t, e);
}

static int read_labels(json_t *b, tl_task_t *t, verr_t *e)
{
    const char *title = NULL, *kind = "command", *desc = NULL, *key = NULL;
    const char *group = "default";
    if (opt_str(b, "title", MAX_SHORT_STR, &title, e) ||
        opt_str(b, "kind", 128, &kind, e) ||
        opt_str(b, "description", MAX_DESCRIPTION, &desc, e) ||
        opt_str(b, "key", 256, &key, e) || opt_group(b, &group, e))
        return -1;
    if (key && !*key)
        return invalid(e, 422, "key must not be empty");
    if (!t->argv && !strcmp(kind, "command"))
        kind = "tracked";
    if (!title)
        title = t->argv ? t->argv[0] : kind;
    int rc = tl__str_set(&t->title, title) | tl__str_set(&t->kind, kind) |
             tl__str_set(&t->description, desc) | tl__str_set(&t->key, key) |
             tl__str_set(&t->group, group);
    return rc ? invalid(e, 500, "out of memory") : 0;
}

/* A command line as a title: the arguments joined by spaces, capped. */
static int default_title(tl_task_t *t)
{
    char buf[256];
    size_t n = 0;
    for (size_t i = 0; t->argv[i] && n < sizeof(buf) - 1; i++) {
        int w = snprintf(buf + n, sizeof(buf) - n, "%s%s", i ? " " : "",
                         t->argv[i]);
        if (w < 0)
            break;
        n += (size_t)w;
    }
    if (n >= sizeof(buf))
        memcpy(buf + sizeof(buf) - 4, "...", 4);
    return tl__str_set(&t->title, buf);
}

static int read_report(json_t *b, tl__report_t *r, verr_t *e);

/* The starting values of a tracked task, as a PATCH would give them. */
static int read_tracked(json_t *b, tl_task_t *t, verr_t *e)
{
    tl__report_t r;
    t->heartbeat_timeout_s = 60;
    json_t *hb = json_object_get(b, "heartbeat_timeout_s");
    if (hb && !json_is_null(hb)) {
        double s = json_number_value(hb);
        if (!json_is_number(hb))
            return invalid(e, 400, "heartbeat_timeout_s must be a number");
        if (!isfinite(s) || s < 0 || s > MAX_TIMEOUT_S)
            return invalid(e, 422,
                           "heartbeat_timeout_s must be 0 (never) "
                           "or a number of seconds");
        t->heartbeat_timeout_s = s;
    }
    if (read_report(b, &r, e))
        return -1;
    if (r.state >= 0 || r.result || r.error)
        return invalid(e, 422,
                       "a new task starts running: state, result "
                       "and error come later, with PATCH");
    if (r.has_current && r.has_total && isfinite(r.current) &&
        isfinite(r.total) && r.current > r.total)
        return invalid(e, 422, "current is above total");
    t->progress = r.has_progress ? r.progress : NAN;
    t->current = r.has_current ? r.current : NAN;
    t->total = r.has_total ? r.total : NAN;
    if (!r.has_progress && isfinite(t->current) && isfinite(t->total) &&
        t->total > 0)
        t->progress = 100 * t->current / t->total;
    int rc =
        tl__str_set(&t->unit, r.unit) | tl__str_set(&t->message, r.message);
    if (r.metadata) {
        json_decref(t->metadata);
        t->metadata = json_deep_copy(r.metadata);
    }
    t->source = TL_SOURCE_TRACKED;
    return rc || !t->metadata ? invalid(e, 500, "out of memory") : 0;
}

static int task_from_body(json_t *b, tl_task_t *t, verr_t *e)
{
    bool has_title = json_is_string(json_object_get(b, "title"));
    json_t *cmd = json_object_get(b, "command");
    bool tracked = !cmd || json_is_null(cmd);
    if ((!tracked && read_command(b, t, e)) || read_labels(b, t, e) ||
        opt_priority(b, &t->priority, e))
        return -1;
    if (tracked)
        return read_tracked(b, t, e);
    if (opt_timeout(b, &t->timeout_s, e) || opt_retries(b, &t->max_retries, e))
        return -1;
    if (!has_title && default_title(t))
        return invalid(e, 500, "out of memory");
    t->source = TL_SOURCE_COMMAND;
    return 0;
}

/* ---- reports (PATCH) ----------------------------------------------------- */

/* A number field: absent leaves *has false; null gives NAN when allowed. */
static int opt_number(json_t *o, const char *name, double lo, double hi,
                      bool *has, double *out, verr_t *e)
{
    json_t *v = json_object_get(o, name);
    *has = v != NULL;
    if (!v)
        return 0;
    if (json_is_null(v)) {
        *out = NAN;
        return 0;
    }
    if (!json_is_number(v))
        return invalid(e, 400, "%s must be a number or null", name);
    double d = json_number_value(v);
    if (!isfinite(d) || d < lo || d > hi)
        return invalid(e, 422, "%s must be between %g and %g", name, lo, hi);
    *out = d;
    return 0;
}

static int opt_nullable_str(json_t *o, const char *name, size_t max, bool *has,
                            const char **out, verr_t *e)
{
    json_t *v = json_object_get(o, name);
    *has = v != NULL;
    *out = NULL;
    return opt_str(o, name, max, out, e);
}

static int read_state(json_t *b, int *state, verr_t *e)
{
    json_t *v = json_object_get(b, "state");
    tl_state_t s;
    *state = -1;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v) || tl_state_parse(json_string_value(v), &s))
        return invalid(e, 422,
                       "state must be one of running, paused, "
                       "completed, failed, cancelled");
    if (s == TL_STATE_QUEUED)
        return invalid(e, 422,
                       "a running task cannot be queued again; "
                       "use retry once it has ended");
    *state = (int)s;
    return 0;
}

static int read_report(json_t *b, tl__report_t *r, verr_t *e)
{
    *r = (tl__report_t){.state = -1};
    json_t *meta = json_object_get(b, "metadata");
    json_t *err = json_object_get(b, "error");
    if (opt_number(b, "progress", 0, 100, &r->has_progress, &r->progress, e) ||
        opt_number(b, "current", 0, 1e18, &r->has_current, &r->current, e) ||
        opt_number(b, "total", 0, 1e18, &r->has_total, &r->total, e) ||
        opt_nullable_str(b, "unit", 32, &r->has_unit, &r->unit, e) ||
        opt_nullable_str(b, "message", MAX_SHORT_STR, &r->has_message,
                         &r->message, e) ||
        read_state(b, &r->state, e))
        return -1;
    if (meta && !json_is_null(meta) && !json_is_object(meta))
        return invalid(e, 400, "metadata must be an object");
    if (err && !json_is_null(err) && !json_is_string(err))
        return invalid(e, 400, "error must be a string");
    if (err && json_string_length(err) > MAX_DESCRIPTION)
        return invalid(e, 413, "error is too long");
    r->metadata = json_is_object(meta) ? meta : NULL;
    r->result = json_object_get(b, "result");
    r->error = json_string_value(err);
    return 0;
}

static bool report_empty(const tl__report_t *r)
{
    return !r->has_progress && !r->has_current && !r->has_total &&
           !r->has_unit && !r->has_message && !r->metadata && r->state < 0 &&
           !r->result && !r->error;
}

/* ---- handlers ----------------------------------------------------------- */

/* The task as the answer to a change; with "Prefer: return=minimal" only
 * id, state, cancel_requested and pause_requested (what a reporter reads),
 * which costs a tenth of the whole task to build and send. */
static void reply_task(tl__http_req_t *r, int64_t id, int status,
                       bool committed)
{
    json_t *t;
    bool brief = !tl__http_is_read(r) && tl__http_prefers_minimal(r);
    int rc = tl__mgr_task_json(r->m, id, brief, &t);
    if (rc)
        tl__http_reply_error(r, rc);
    else if (committed)
        tl__http_reply_committed(r, status, t);
    else
        tl__http_reply_json(r, status, t);
}

static void create_task(tl__http_req_t *r)
{
    json_t *b = tl__http_body_json(r);
    if (!b)
        return;
    verr_t e = {0};
    tl_task_t *t = tl__task_new();
    if (!t) {
        json_decref(b);
        tl__http_reply_errorf(r, 500, "out_of_memory", "out of memory");
        return;
    }
    int rc = task_from_body(b, t, &e);
    json_decref(b);
    if (!rc && tl__str_set(&t->owner, r->who->name))
        rc = invalid(&e, 500, "out of memory");
    if (rc) {
        tl_task_free(t);
        reply_verr(r, &e);
        return;
    }
    int64_t id;
    bool existed;
    rc = tl__mgr_create(r->m, t, &id, &existed);
    if (rc) {
        tl__http_reply_error(r, rc);
        return;
    }
    char loc[64];
    snprintf(loc, sizeof(loc), "/api/tasks/%lld", (long long)id);
    evhttp_add_header(evhttp_request_get_output_headers(r->req), "Location",
                      loc);
    reply_task(r, id, existed ? 200 : 201, true);
}

static int parse_long(const char *s, long lo, long hi, long *out)
{
    if (!s || !*s)
        return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (*end || errno || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_id(const char *s, int64_t *out)
{
    if (!s || !*s || strlen(s) > 19 || s[0] == '0')
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno || v <= 0)
        return -1;
    *out = v;
    return 0;
}

static void list_tasks(tl__http_req_t *r)
{
    tl_filter_t f = {.state = -1};
    const char *state = tl__http_query(r, "state");
    const char *limit = tl__http_query(r, "limit");
    const char *cursor = tl__http_query(r, "cursor");
    tl_state_t s;
    long l = 100;
    if (state && *state) {
        if (tl_state_parse(state, &s)) {
            tl__http_reply_errorf(r, 400, "bad_request", "unknown state %.64s",
                                  state);
            return;
        }
        f.state = (int)s;
    }
    if (limit && parse_long(limit, 1, 1000, &l)) {
        tl__http_reply_errorf(r, 400, "bad_request", "limit must be 1 to 1000");
        return;
    }
    f.limit = (int)l;
    if (cursor && *cursor && parse_id(cursor, &f.cursor)) {
        tl__http_reply_errorf(r, 400, "bad_request", "bad cursor");
        return;
    }
    f.kind = tl__http_query(r, "kind");
    f.group = tl__http_query(r, "group");
    f.text = tl__http_query(r, "q");
    f.kind = f.kind && *f.kind ? f.kind : NULL;
    f.group = f.group && *f.group ? f.group : NULL;
    f.text = f.text && *f.text ? f.text : NULL;
    json_t *out;
    int rc = tl__mgr_list_json(r->m, &f, &out);
    if (rc)
        tl__http_reply_error(r, rc);
    else
        tl__http_reply_json(r, 200, out);
}

static int patch_labels(tl__http_req_t *r, int64_t id, json_t *b, verr_t *e,
                        bool *durable)
{
    const char *title = NULL, *desc = NULL, *group = NULL;
    int64_t prio = 0;
    bool has_prio = json_object_get(b, "priority") != NULL;
    if (opt_str(b, "title", MAX_SHORT_STR, &title, e) ||
        opt_str(b, "description", MAX_DESCRIPTION, &desc, e) ||
        opt_priority(b, &prio, e) || opt_group(b, &group, e))
        return -1;
    if (!title && !desc && !has_prio && !group)
        return 0;
    *durable = true;
    return tl__mgr_patch(r->m, id, title, desc, has_prio ? &prio : NULL, group);
}

/* PATCH: labels and queue place, and reports on a running task. The
 * answer waits for a commit only when something durable changed. */
static void patch_task(tl__http_req_t *r, int64_t id)
{
    json_t *b = tl__http_body_json(r);
    if (!b)
        return;
    verr_t e = {0};
    tl__report_t rep;
    bool durable = false, report_durable = false;
    int rc = read_report(b, &rep, &e);
    if (!rc)
        rc = patch_labels(r, id, b, &e, &durable);
    if (rc < 0 && e.status) {
        json_decref(b);
        reply_verr(r, &e);
        return;
    }
    if (!rc && (!report_empty(&rep) || !durable))
        rc = tl__mgr_report(r->m, id, &rep, &report_durable);
    json_decref(b);
    if (rc)
        tl__http_reply_error(r, rc);
    else
        reply_task(r, id, 200, durable || report_durable);
}

static json_t *log_lines(json_t *b, verr_t *e)
{
    json_t *lines = json_object_get(b, "lines");
    json_t *line = json_object_get(b, "line");
    if (line && json_is_string(line))
        return json_pack("[O]", line);
    if (!json_is_array(lines)) {
        invalid(e, 400,
                "give \"line\": a string, or \"lines\": an array "
                "of strings");
        return NULL;
    }
    if (json_array_size(lines) > 10000) {
        invalid(e, 413, "at most 10000 lines at a time");
        return NULL;
    }
    size_t i;
    json_t *v;
    json_array_foreach(lines, i, v)
    {
        if (!json_is_string(v)) {
            invalid(e, 400, "lines[%zu] must be a string", i);
            return NULL;
        }
    }
    return json_incref(lines);
}

static int log_stream(json_t *b, char *stream, verr_t *e)
{
    const char *s = "stdout";
    if (opt_str(b, "stream", 16, &s, e))
        return -1;
    if (strcmp(s, "stdout") && strcmp(s, "stderr") && strcmp(s, "info"))
        return invalid(e, 422, "stream must be stdout, stderr or info");
    *stream = s[3] == 'e' ? 'e' : s[0] == 'i' ? 'i' : 'o';
    return 0;
}

static void append_logs(tl__http_req_t *r, int64_t id)
{
    json_t *b = tl__http_body_json(r);
    if (!b)
        return;
    verr_t e = {0};
    char stream = 'o';
    json_t *lines = log_stream(b, &stream, &e) ? NULL : log_lines(b, &e);
    json_decref(b);
    if (!lines) {
        reply_verr(r, &e);
        return;
    }
    size_t n = 0;
    int rc = tl__mgr_append_logs(r->m, id, stream, lines, &n);
    json_decref(lines);
    if (rc)
        tl__http_reply_error(r, rc);
    else
        tl__http_reply_json(r, 200,
                            json_pack("{s:I}", "appended", (json_int_t)n));
}

static int substep_body(json_t *b, bool creating, verr_t *e)
{
    const char *name = NULL, *state = NULL, *id = NULL, *err = NULL;
    bool has_p;
    double p;
    if (opt_str(b, "name", MAX_SHORT_STR, &name, e) ||
        opt_str(b, "state", 16, &state, e) || opt_str(b, "id", 64, &id, e) ||
        opt_str(b, "error", MAX_SHORT_STR, &err, e) ||
        opt_number(b, "progress", 0, 100, &has_p, &p, e))
        return -1;
    if (creating && !name)
        return invalid(e, 422, "a substep needs a name");
    if (id && (!*id || strchr(id, '/')))
        return invalid(e, 422, "a substep id must be non-empty, without '/'");
    return state && !tl__substep_state_ok(state)
               ? invalid(e, 422,
                         "substep state must be queued, running, "
                         "completed, failed or cancelled")
               : 0;
}

static void substep(tl__http_req_t *r, int64_t id, const char *sid)
{
    json_t *b = tl__http_body_json(r);
    if (!b)
        return;
    verr_t e = {0};
    if (substep_body(b, sid == NULL, &e)) {
        json_decref(b);
        reply_verr(r, &e);
        return;
    }
    json_t *out = NULL;
    int rc = sid ? tl__mgr_substep_update(r->m, id, sid, b, &out)
                 : tl__mgr_substep_add(r->m, id, b, &out);
    json_decref(b);
    if (rc)
        tl__http_reply_error(r, rc);
    else
        tl__http_reply_committed(r, sid ? 200 : 201, out);
}

static void delete_task(tl__http_req_t *r, int64_t id)
{
    int rc = tl_task_remove(r->m, id);
    if (rc)
        tl__http_reply_error(r, rc);
    else
        tl__http_reply_committed(r, 200, json_pack("{s:I}", "deleted", id));
}

static void task_action(tl__http_req_t *r, int64_t id, const char *action)
{
    static const struct {
        const char *name;
        int (*fn)(tl_manager_t *, int64_t);
    } actions[] = {{"cancel", tl_task_cancel},
                   {"pause", tl_task_pause},
                   {"resume", tl_task_resume},
                   {"retry", tl_task_retry}};
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        if (strcmp(action, actions[i].name) != 0)
            continue;
        int rc = actions[i].fn(r->m, id);
        if (rc)
            tl__http_reply_error(r, rc);
        else
            reply_task(r, id, 200, true);
        return;
    }
    tl__http_reply_errorf(r, 404, "not_found", "no such action: %.32s", action);
}

static void task_logs(tl__http_req_t *r, int64_t id)
{
    long tail = 100, from = -1, limit = 0;
    const char *q = tl__http_query(r, "tail");
    const char *f = tl__http_query(r, "from");
    const char *l = tl__http_query(r, "limit");
    if ((q && parse_long(q, 0, 1000000, &tail)) ||
        (f && parse_long(f, 0, 100000000, &from)) ||
        (l && parse_long(l, 1, 1000000, &limit))) {
        tl__http_reply_errorf(r, 400, "bad_request",
                              "tail must be 0 to 1000000, from a line "
                              "number, limit 1 to 1000000");
        return;
    }
    json_t *out;
    int rc = tl__mgr_logs_json(r->m, id, tail, from, limit, &out);
    if (rc)
        tl__http_reply_error(r, rc);
    else
        tl__http_reply_json(r, 200, out);
}

static void task_stream(tl__http_req_t *r, int64_t id)
{
    long logs = 0;
    const char *q = tl__http_query(r, "logs");
    if (q && parse_long(q, 0, 100000, &logs)) {
        tl__http_reply_errorf(r, 400, "bad_request",
                              "logs must be 0 to 100000");
        return;
    }
    tl__sse_start(r, id, logs);
}

static void method_not_allowed(tl__http_req_t *r)
{
    tl__http_reply_errorf(r, 405, "method_not_allowed",
                          "method not allowed on %.200s", r->path);
}

static bool is(tl__http_req_t *r, enum evhttp_cmd_type m)
{
    return r->method == m;
}

static void route_task(tl__http_req_t *r)
{
    int64_t id;
    if (parse_id(r->parts[2], &id)) {
        tl__http_reply_errorf(r, 404, "not_found", "no task %.40s",
                              r->parts[2]);
        return;
    }
    if (!tl__http_is_read(r) && !tl__http_may_change(r, id))
        return;
    if (r->nparts == 3) {
        if (is(r, EVHTTP_REQ_GET))
            reply_task(r, id, 200, false);
        else if (is(r, EVHTTP_REQ_PATCH))
            patch_task(r, id);
        else if (is(r, EVHTTP_REQ_DELETE))
            delete_task(r, id);
        else
            method_not_allowed(r);
        return;
    }
    const char *sub = r->parts[3];
    bool substeps = strcmp(sub, "substeps") == 0;
    if (substeps && r->nparts == 5)
        is(r, EVHTTP_REQ_PATCH) ? substep(r, id, r->parts[4])
                                : method_not_allowed(r);
    else if (r->nparts != 4)
        tl__http_reply_errorf(r, 404, "not_found", "no such path");
    else if (substeps)
        is(r, EVHTTP_REQ_POST) ? substep(r, id, NULL) : method_not_allowed(r);
    else if (strcmp(sub, "logs") == 0 && is(r, EVHTTP_REQ_POST))
        append_logs(r, id);
    else if (strcmp(sub, "logs") == 0)
        is(r, EVHTTP_REQ_GET) ? task_logs(r, id) : method_not_allowed(r);
    else if (strcmp(sub, "stream") == 0)
        is(r, EVHTTP_REQ_GET) ? task_stream(r, id) : method_not_allowed(r);
    else if (is(r, EVHTTP_REQ_POST))
        task_action(r, id, sub);
    else
        method_not_allowed(r);
}

static void put_group(tl__http_req_t *r, const char *name)
{
    if (!group_name_ok(name)) {
        tl__http_reply_errorf(r, 422, "invalid", "invalid group name");
        return;
    }
    json_t *b = tl__http_body_json(r);
    if (!b)
        return;
    json_t *p = json_object_get(b, "parallel");
    json_int_t n = json_is_integer(p) ? json_integer_value(p) : -1;
    json_decref(b);
    if (n < 0 || n > 100000) {
        tl__http_reply_errorf(r, 422, "invalid",
                              "parallel must be an integer 0 to 100000");
        return;
    }
    int rc = tl_group_set_parallel(r->m, name, (int)n);
    if (rc)
        tl__http_reply_error(r, rc);
    else
        tl__http_reply_committed(
            r, 200, json_pack("{s:s, s:I}", "name", name, "parallel", n));
}

static void route_groups(tl__http_req_t *r)
{
    json_t *out;
    if (r->nparts == 2 && is(r, EVHTTP_REQ_GET)) {
        int rc = tl__mgr_groups_json(r->m, &out);
        rc ? tl__http_reply_error(r, rc) : tl__http_reply_json(r, 200, out);
    } else if (r->nparts == 3 && is(r, EVHTTP_REQ_PUT)) {
        put_group(r, r->parts[2]);
    } else {
        method_not_allowed(r);
    }
}

static void clean(tl__http_req_t *r)
{
    json_t *b = tl__http_body_json(r);
    if (!b)
        return;
    json_t *v = json_object_get(b, "older_than_s");
    double s = v ? json_number_value(v) : 0;
    bool ok = !v || (json_is_number(v) && isfinite(s) && s >= 0);
    json_decref(b);
    if (!ok) {
        tl__http_reply_errorf(r, 422, "invalid",
                              "older_than_s must be a number >= 0");
        return;
    }
    int64_t removed;
    int rc = tl__mgr_clean(r->m, (int64_t)(s * 1000), &removed);
    if (rc)
        tl__http_reply_error(r, rc);
    else
        tl__http_reply_committed(r, 200,
                                 json_pack("{s:I}", "removed", removed));
}

/* ---- dashboard, metrics and stats (docs/dashboard.md) -------------------- */

/* GET /api/stats: counts and groups; the event streams' numbers ("server");
 * totals since the daemon started ("totals"); with ?recent=N (1..5000) a
 * summary of the newest N tasks for the dashboard's charts ("recent"). */
static void stats(tl__http_req_t *r)
{
    long window = 0;
    const char *q = tl__http_query(r, "recent");
    if (q && parse_long(q, 1, 5000, &window)) {
        tl__http_reply_errorf(r, 400, "bad_request",
                              "recent must be 1 to 5000");
        return;
    }
    tl_filter_t f = {.state = -1, .limit = 1};
    json_t *list, *groups, *recent = NULL;
    int rc = tl__mgr_list_json(r->m, &f, &list);
    if (!rc && (rc = tl__mgr_groups_json(r->m, &groups)))
        json_decref(list);
    if (!rc && window &&
        (rc = tl__metrics_recent_json(r->m, (int)window, &recent))) {
        json_decref(list);
        json_decref(groups);
    }
    if (rc) {
        tl__http_reply_error(r, rc);
        return;
    }
    json_t *out = json_pack(
        "{s:O, s:O, s:o, s:o}", "counts", json_object_get(list, "counts"),
        "groups", json_object_get(groups, "groups"), "server",
        tl__sse_stats_json(r->server), "totals", tl__metrics_summary_json());
    if (out && recent)
        json_object_set_new(out, "recent", recent);
    else
        json_decref(recent);
    json_decref(list);
    json_decref(groups);
    if (!out)
        tl__http_reply_errorf(r, 500, "out_of_memory", "out of memory");
    else
        tl__http_reply_json(r, 200, out);
}

/* GET /metrics: Prometheus text format 0.0.4. */
static void metrics(tl__http_req_t *r)
{
    tl__metrics_live_t live;
    tl__sse_live(r->server, &live);
    struct evbuffer *b = evhttp_request_get_output_buffer(r->req);
    int rc = tl__metrics_render(r->m, &live, b);
    if (rc) {
        evbuffer_drain(b, evbuffer_get_length(b));
        tl__http_reply_error(r, rc);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(r->req, 200, "OK", NULL);
}

/* The dashboard's files. Scripts and styles come only from here: no inline
 * script runs, so even text that slipped into the page as HTML could not
 * run anything. */
static void web_file(tl__http_req_t *r, const char *name)
{
    tl__web_asset_t a;
    if (tl__web_find(name, &a)) {
        tl__http_reply_errorf(r, 404, "not_found", "no such path: %.200s",
                              r->path);
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Content-Type", a.content_type);
    evhttp_add_header(h, "Content-Security-Policy",
                      "default-src 'none'; script-src 'self'; "
                      "style-src 'self'; img-src 'self' data:; "
                      "connect-src 'self'; base-uri 'none'; "
                      "form-action 'self'; frame-ancestors 'none'");
    evhttp_add_header(h, "X-Content-Type-Options", "nosniff");
    evhttp_add_header(h, "X-Frame-Options", "DENY");
    evhttp_add_header(h, "Referrer-Policy", "no-referrer");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    evbuffer_add_reference(evhttp_request_get_output_buffer(r->req), a.data,
                           a.len, NULL, NULL);
    evhttp_send_reply(r->req, 200, "OK", NULL);
}

/* ---- tokens (admins only) --------------------------------------------- */

static bool admin_only(tl__http_req_t *r)
{
    if (r->who->role == TL__ROLE_ADMIN)
        return true;
    tl__http_reply_errorf(r, 403, "forbidden", "tokens are for admins");
    return false;
}

static void add_token(tl__http_req_t *r)
{
    json_t *b = tl__http_body_json(r);
    if (!b)
        return;
    verr_t e = {0};
    const char *name = NULL, *role_s = "user";
    tl__role_t role;
    int rc = opt_str(b, "name", 64, &name, &e) ||
             opt_str(b, "role", 16, &role_s, &e);
    if (!rc && (!name || !group_name_ok(name)))
        rc = invalid(&e, 422,
                     "name must be 1-64 letters, digits, '.', '_' "
                     "or '-', starting with a letter or digit");
    if (!rc && tl__role_parse(role_s, &role))
        rc = invalid(&e, 422, "role must be read-only, user or admin");
    if (rc) {
        json_decref(b);
        reply_verr(r, &e);
        return;
    }
    const char *secret = NULL;
    rc = tl__mgr_begin(r->m);
    rc = rc ? rc
            : tl__auth_add(tl__http_auth(r), r->m->store, name, role,
                           tl__now_ms(), &secret);
    if (rc == TL_ECONFLICT)
        tl__mgr_error(r->m, rc, "a token named %s exists already", name);
    if (rc)
        tl__http_reply_error(r, rc);
    else
        tl__http_reply_committed(r, 201,
                                 json_pack("{s:s, s:s, s:s}", "name", name,
                                           "role", tl__role_name(role), "token",
                                           secret));
    json_decref(b);
}

static void remove_token(tl__http_req_t *r, const char *name)
{
    int rc = tl__mgr_begin(r->m);
    rc = rc ? rc : tl__auth_remove(tl__http_auth(r), r->m->store, name);
    if (rc == TL_ENOTFOUND)
        tl__mgr_error(r->m, rc, "no token named %.64s", name);
    if (rc)
        tl__http_reply_error(r, rc);
    else
        tl__http_reply_committed(r, 200, json_pack("{s:s}", "deleted", name));
}

static void route_tokens(tl__http_req_t *r)
{
    if (!admin_only(r))
        return;
    if (r->nparts == 2 && is(r, EVHTTP_REQ_GET))
        tl__http_reply_json(r, 200, tl__auth_list_json(tl__http_auth(r)));
    else if (r->nparts == 2 && is(r, EVHTTP_REQ_POST))
        add_token(r);
    else if (r->nparts == 3 && is(r, EVHTTP_REQ_DELETE))
        remove_token(r, r->parts[2]);
    else
        method_not_allowed(r);
}

static void route_api(tl__http_req_t *r)
{
    const char *what = r->parts[1];
    if (strcmp(what, "tasks") == 0 && r->nparts == 2) {
        if (is(r, EVHTTP_REQ_GET))
            list_tasks(r);
        else if (is(r, EVHTTP_REQ_POST))
            create_task(r);
        else
            method_not_allowed(r);
    } else if (strcmp(what, "tasks") == 0) {
        route_task(r);
    } else if (strcmp(what, "events") == 0 && r->nparts == 2) {
        is(r, EVHTTP_REQ_GET) ? (void)tl__sse_start(r, 0, 0)
                              : method_not_allowed(r);
    } else if (strcmp(what, "groups") == 0 && r->nparts <= 3) {
        route_groups(r);
    } else if (strcmp(what, "clean") == 0 && r->nparts == 2) {
        is(r, EVHTTP_REQ_POST) ? clean(r) : method_not_allowed(r);
    } else if (strcmp(what, "tokens") == 0 && r->nparts <= 3) {
        route_tokens(r);
    } else if (strcmp(what, "stats") == 0 && r->nparts == 2) {
        is(r, EVHTTP_REQ_GET) ? stats(r) : method_not_allowed(r);
    } else {
        tl__http_reply_errorf(r, 404, "not_found", "no such path: %.200s",
                              r->path);
    }
}

void tl__api_route(tl__http_req_t *r)
{
    if (r->nparts == 0) {
        is(r, EVHTTP_REQ_GET) ? web_file(r, "") : method_not_allowed(r);
    } else if (r->nparts == 1 && strcmp(r->parts[0], "healthz") == 0 &&
               !is(r, EVHTTP_REQ_GET) && !is(r, EVHTTP_REQ_HEAD)) {
        method_not_allowed(r);
    } else if (r->nparts == 1 && strcmp(r->parts[0], "healthz") == 0) {
        tl__http_reply_json(
            r, 200, json_pack("{s:b, s:s}", "ok", 1, "version", TL_VERSION));
    } else if (r->nparts == 1 && strcmp(r->parts[0], "metrics") == 0) {
        is(r, EVHTTP_REQ_GET) ? metrics(r) : method_not_allowed(r);
    } else if (r->nparts == 1 && is(r, EVHTTP_REQ_GET)) {
        web_file(r, r->parts[0]);
    } else if (r->nparts >= 2 && strcmp(r->parts[0], "api") == 0) {
        route_api(r);
    } else {
        tl__http_reply_errorf(r, 404, "not_found", "no such path: %.200s",
                              r->path);
    }
}
