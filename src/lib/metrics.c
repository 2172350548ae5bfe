/*
 * metrics.c -- the metrics registry and its Prometheus text exposition.
 *
 * DESIGN: every series lives in a fixed array sized at compile time, so an
 * observation is a few relaxed atomic adds with no allocation and no lock;
 * any thread may observe. Histograms keep per-bucket counts (cumulated
 * when rendered), a count and a sum in integer microseconds (an atomic add,
 * where a double would need a compare-and-swap loop). Kinds are free text,
 * so they take slots on first use (a mutex guards the append; readers scan
 * the published prefix without it); past TL__METRICS_MAX_KINDS they share
 * the slot "(other)", so a client inventing kinds cannot grow memory.
 * Rendering follows the text format 0.0.4: HELP and TYPE once per family,
 * label values escaped (\\, \", \n), histogram buckets cumulative with
 * le="+Inf" equal to _count.
 */
#include "metrics.h"
#include "util.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KIND_MAX_BYTES 128
/* The label of the kinds past TL__METRICS_MAX_KINDS. */
#define OTHER_KIND "(other)"
#define NBUCKETS_MAX 16

typedef struct hist {
    atomic_uint_fast64_t bucket[NBUCKETS_MAX]; /* not cumulative */
    atomic_uint_fast64_t count;
    atomic_uint_fast64_t sum_us;
} hist_t;

static const double http_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01,
                                 0.025,  0.05,  0.1,    0.25,  0.5,
                                 1,      2.5,   5,      10};
static const double commit_le[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                   0.005,  0.01,    0.025,  0.05,  0.1,
                                   0.25,   0.5,     1,      2.5};
static const double duration_le[] = {
    1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 14400, 43200, 86400};
static const double wait_le[] = {0.01, 0.1, 0.5, 1,   5,    10,
                                 30,   60,  300, 900, 3600, 14400};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static const char *const methods[] = {"GET",   "HEAD",   "POST",    "PUT",
                                      "PATCH", "DELETE", "OPTIONS", "other"};
#define NMETHODS NELEM(methods)

/* The statuses the daemon answers; anything else counts as "other". */
static const int codes[] = {200, 201, 204, 303, 304, 400, 401, 403, 404,
                            405, 409, 413, 422, 429, 500, 503, 504, 507};
#define NCODES (NELEM(codes) + 1)

static const char *const route_paths[] = {
#define TL__ROUTE_PATH(name, path) path,
    TL__ROUTE_MAP(TL__ROUTE_PATH)
#undef TL__ROUTE_PATH
};

static const char *const event_types[] = {
    "task.created", "task.started",   "task.progress", "task.log",
    "task.substep", "task.paused",    "task.resumed",  "task.completed",
    "task.failed",  "task.cancelled", "task.retrying", "task.updated",
    "task.deleted", "other"};
#define NEVENT_TYPES NELEM(event_types)

/* Final states, in the order of the duration histograms. */
static const tl_state_t final_states[] = {TL_STATE_COMPLETED, TL_STATE_FAILED,
                                          TL_STATE_CANCELLED};
#define NFINAL NELEM(final_states)

typedef struct kind_slot {
    char name[KIND_MAX_BYTES + 1];
    hist_t wait;
    hist_t duration[NFINAL];
} kind_slot_t;

static struct {
    atomic_uint_fast64_t http_count[TL__ROUTE__COUNT][NMETHODS][NCODES];
    hist_t http_latency[TL__ROUTE__COUNT];
    hist_t commit;
    atomic_uint_fast64_t events[NEVENT_TYPES];
    atomic_uint_fast64_t sse_dropped, sse_replayed, sse_resets;
    kind_slot_t kinds[TL__METRICS_MAX_KINDS + 1]; /* the last: OTHER_KIND */
    atomic_int nkinds;
} reg;

static pthread_mutex_t kinds_lock = PTHREAD_MUTEX_INITIALIZER;

/* ---- observing ----------------------------------------------------------- */

static void add(atomic_uint_fast64_t *c, uint64_t n)
{
    atomic_fetch_add_explicit(c, n, memory_order_relaxed);
}

static uint64_t get(atomic_uint_fast64_t *c)
{
    return atomic_load_explicit(c, memory_order_relaxed);
}

static void observe(hist_t *h, const double *le, size_t n, double v)
{
    if (!isfinite(v) || v < 0)
        v = 0;
    size_t i = 0;
    while (i < n && v > le[i])
        i++;
    if (i < n)
        add(&h->bucket[i], 1);
    add(&h->count, 1);
    add(&h->sum_us, (uint64_t)llround(fmin(v, 1e12) * 1e6));
}

/* A copy of kind cut to KIND_MAX_BYTES on a UTF-8 character boundary. */
static void kind_key(const char *kind, char out[KIND_MAX_BYTES + 1])
{
    size_t n = strlen(kind ? kind : "");
    if (n > KIND_MAX_BYTES) {
        n = KIND_MAX_BYTES;
        while (n > 0 && ((unsigned char)kind[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(out, kind ? kind : "", n);
    out[n] = '\0';
}

static kind_slot_t *kind_slot(const char *kind)
{
    char key[KIND_MAX_BYTES + 1];
    kind_key(kind, key);
    int n = atomic_load_explicit(&reg.nkinds, memory_order_acquire);
    for (int i = 0; i < n; i++)
        if (strcmp(reg.kinds[i].name, key) == 0)
            return &reg.kinds[i];
    pthread_mutex_lock(&kinds_lock);
    kind_slot_t *slot = &reg.kinds[TL__METRICS_MAX_KINDS];
    n = atomic_load_explicit(&reg.nkinds, memory_order_relaxed);
    int i = 0;
    while (i < n && strcmp(reg.kinds[i].name, key) != 0)
        i++;
    if (i < n) {
        slot = &reg.kinds[i];
    } else if (n < TL__METRICS_MAX_KINDS) {
        slot = &reg.kinds[n];
        memcpy(slot->name, key, sizeof(key));
        atomic_store_explicit(&reg.nkinds, n + 1, memory_order_release);
    }
    pthread_mutex_unlock(&kinds_lock);
    return slot;
}

tl__route_t tl__metrics_route(const char *const *parts, int nparts)
{
    if (nparts == 0)
        return TL__ROUTE_DASHBOARD;
    if (nparts == 1)
        return strcmp(parts[0], "healthz") == 0   ? TL__ROUTE_HEALTHZ
               : strcmp(parts[0], "metrics") == 0 ? TL__ROUTE_METRICS
                                                  : TL__ROUTE_ASSET;
    if (strcmp(parts[0], "api") != 0)
        return TL__ROUTE_OTHER;
    const char *what = parts[1];
    if (strcmp(what, "tasks") == 0) {
        if (nparts == 2)
            return TL__ROUTE_TASKS;
        if (nparts == 3)
            return TL__ROUTE_TASK;
        const char *sub = parts[3];
        if (strcmp(sub, "substeps") == 0)
            return nparts == 4   ? TL__ROUTE_SUBSTEPS
                   : nparts == 5 ? TL__ROUTE_SUBSTEP
                                 : TL__ROUTE_OTHER;
        if (nparts != 4)
            return TL__ROUTE_OTHER;
        if (strcmp(sub, "logs") == 0)
            return TL__ROUTE_TASK_LOGS;
        if (strcmp(sub, "stream") == 0)
            return TL__ROUTE_TASK_STREAM;
        return TL__ROUTE_TASK_ACTION;
    }
    if (nparts == 2 && strcmp(what, "events") == 0)
        return TL__ROUTE_EVENTS;
    if (strcmp(what, "groups") == 0)
        return nparts == 2   ? TL__ROUTE_GROUPS
               : nparts == 3 ? TL__ROUTE_GROUP
                             : TL__ROUTE_OTHER;
    if (nparts == 2 && strcmp(what, "clean") == 0)
        return TL__ROUTE_CLEAN;
    if (strcmp(what, "tokens") == 0)
        return nparts == 2   ? TL__ROUTE_TOKENS
               : nparts == 3 ? TL__ROUTE_TOKEN
                             : TL__ROUTE_OTHER;
    if (nparts == 2 && strcmp(what, "stats") == 0)
        return TL__ROUTE_STATS;
    return TL__ROUTE_OTHER;
}

void tl__metrics_observe_http(tl__route_t route, const char *method, int status,
                              double seconds)
{
    if ((unsigned)route >= TL__ROUTE__COUNT)
        route = TL__ROUTE_OTHER;
    size_t mi = 0;
    while (mi < NMETHODS - 1 && strcmp(methods[mi], method ? method : ""))
        mi++;
    size_t ci = 0;
    while (ci < NCODES - 1 && codes[ci] != status)
        ci++;
    add(&reg.http_count[route][mi][ci], 1);
    observe(&reg.http_latency[route], http_le, NELEM(http_le), seconds);
}

void tl__metrics_observe_commit(double seconds)
{
    observe(&reg.commit, commit_le, NELEM(commit_le), seconds);
}

void tl__metrics_observe_queue_wait(const char *kind, double wait_s)
{
    observe(&kind_slot(kind)->wait, wait_le, NELEM(wait_le), wait_s);
}

void tl__metrics_observe_task_end(const char *kind, tl_state_t state,
                                  double run_s)
{
    for (size_t i = 0; i < NFINAL; i++) {
        if (final_states[i] == state) {
            observe(&kind_slot(kind)->duration[i], duration_le,
                    NELEM(duration_le), run_s);
            return;
        }
    }
}

void tl__metrics_count_event(const char *type)
{
    size_t i = 0;
    while (i < NEVENT_TYPES - 1 && strcmp(event_types[i], type ? type : ""))
        i++;
    add(&reg.events[i], 1);
}

void tl__metrics_sse_dropped(void)
{
    add(&reg.sse_dropped, 1);
}

void tl__metrics_sse_replayed(uint64_t events)
{
    add(&reg.sse_replayed, events);
}

void tl__metrics_sse_reset(void)
{
    add(&reg.sse_resets, 1);
}

void tl__metrics_reset(void)
{
    pthread_mutex_lock(&kinds_lock);
    memset(&reg, 0, sizeof(reg));
    pthread_mutex_unlock(&kinds_lock);
}

/* ---- rendering ----------------------------------------------------------- */

/* A label value with \, " and newline escaped, as the text format wants. */
static void put_label_value(struct evbuffer *b, const char *v)
{
    size_t start = 0, i = 0;
    for (; v[i]; i++) {
        const char *esc = v[i] == '\\'   ? "\\\\"
                          : v[i] == '"'  ? "\\\""
                          : v[i] == '\n' ? "\\n"
                                         : NULL;
        if (!esc)
            continue;
        evbuffer_add(b, v + start, i - start);
        evbuffer_add(b, esc, 2);
        start = i + 1;
    }
    evbuffer_add(b, v + start, i - start);
}

static void family(struct evbuffer *b, const char *name, const char *type,
                   const char *help)
{
    evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
                        type);
}

/* A label of a sample; its value is escaped when rendered. */
typedef struct label {
    const char *name, *value;
} label_t;

static void put_labels(struct evbuffer *b, const label_t *l, size_t n,
                       const char *le)
{
    if (n == 0 && !le)
        return;
    evbuffer_add(b, "{", 1);
    for (size_t i = 0; i < n; i++) {
        evbuffer_add_printf(b, "%s%s=\"", i ? "," : "", l[i].name);
        put_label_value(b, l[i].value);
        evbuffer_add(b, "\"", 1);
    }
    if (le)
        evbuffer_add_printf(b, "%sle=\"%s\"", n ? "," : "", le);
    evbuffer_add(b, "}", 1);
}

static void sample_u64(struct evbuffer *b, const char *name, const label_t *l,
                       size_t n, uint64_t v)
{
    evbuffer_add_printf(b, "%s", name);
    put_labels(b, l, n, NULL);
    evbuffer_add_printf(b, " %llu\n", (unsigned long long)v);
}

static void sample_f(struct evbuffer *b, const char *name, const label_t *l,
                     size_t n, double v)
{
    evbuffer_add_printf(b, "%s", name);
    put_labels(b, l, n, NULL);
    evbuffer_add_printf(b, " %.17g\n", v);
}

static void histogram(struct evbuffer *b, const char *name, hist_t *h,
                      const double *le, size_t nle, const label_t *l, size_t n)
{
    /* Read count first: buckets observed after it may make the cumulative
     * sum pass it, so each is capped at the count read. */
    uint64_t count = get(&h->count), cum = 0;
    char le_text[32];
    for (size_t i = 0; i < nle; i++) {
        cum += get(&h->bucket[i]);
        snprintf(le_text, sizeof(le_text), "%g", le[i]);
        evbuffer_add_printf(b, "%s_bucket", name);
        put_labels(b, l, n, le_text);
        evbuffer_add_printf(b, " %llu\n",
                            (unsigned long long)(cum < count ? cum : count));
    }
    evbuffer_add_printf(b, "%s_bucket", name);
    put_labels(b, l, n, "+Inf");
    evbuffer_add_printf(b, " %llu\n", (unsigned long long)count);
    evbuffer_add_printf(b, "%s_sum", name);
    put_labels(b, l, n, NULL);
    evbuffer_add_printf(b, " %.6f\n", (double)get(&h->sum_us) / 1e6);
    evbuffer_add_printf(b, "%s_count", name);
    put_labels(b, l, n, NULL);
    evbuffer_add_printf(b, " %llu\n", (unsigned long long)count);
}

static int render_tasks(tl_manager_t *m, struct evbuffer *b)
{
    int64_t counts[TL_STATE__COUNT] = {0};
    int rc = m->store->ops->count_states(m->store, counts);
    if (rc)
        return tl__mgr_error(m, rc, "store: %s",
                             m->store->ops->errmsg(m->store));
    family(b, "tasklight_tasks", "gauge", "Tasks in the store, by state.");
    for (int s = 0; s < TL_STATE__COUNT; s++) {
        label_t l = {"state", tl_state_name((tl_state_t)s)};
        sample_u64(b, "tasklight_tasks", &l, 1, (uint64_t)counts[s]);
    }

    /* Tasks not final are in memory: by kind and state, cheaply. */
    json_t *by_kind = json_object();
    if (!by_kind)
        return TL_ENOMEM;
    for (size_t i = 0; i < m->jobs.cap; i++) {
        if (m->jobs.keys[i] == INT64_MIN)
            continue;
        const tl_task_t *t = ((tl__job_t *)m->jobs.vals[i])->task;
        if (tl_state_is_final(t->state))
            continue;
        const char *kind = t->kind ? t->kind : "";
        json_t *row = json_object_get(by_kind, kind);
        if (!row) {
            row = json_pack("[iii]", 0, 0, 0);
            if (!row || json_object_set_new(by_kind, kind, row))
                continue; /* out of memory, or a kind that is not UTF-8 */
        }
        json_t *c = json_array_get(row, (size_t)t->state);
        json_integer_set(c, json_integer_value(c) + 1);
    }
    family(b, "tasklight_active_tasks", "gauge",
           "Tasks not yet final, by kind and state.");
    const char *kind;
    json_t *row;
    json_object_foreach(by_kind, kind, row)
    {
        for (int s = TL_STATE_QUEUED; s <= TL_STATE_PAUSED; s++) {
            label_t l[2] = {{"kind", kind},
                            {"state", tl_state_name((tl_state_t)s)}};
            sample_u64(
                b, "tasklight_active_tasks", l, 2,
                (uint64_t)json_integer_value(json_array_get(row, (size_t)s)));
        }
    }
    json_decref(by_kind);
    return 0;
}

static void render_kinds(struct evbuffer *b)
{
    int n = atomic_load_explicit(&reg.nkinds, memory_order_acquire);
    bool other = get(&reg.kinds[TL__METRICS_MAX_KINDS].wait.count) != 0;
    for (size_t f = 0; f < NFINAL; f++)
        other |= get(&reg.kinds[TL__METRICS_MAX_KINDS].duration[f].count) != 0;

    family(b, "tasklight_task_duration_seconds", "histogram",
           "Running time of finished tasks (paused time excluded), by kind "
           "and final state.");
    for (int i = 0; i <= TL__METRICS_MAX_KINDS; i++) {
        if (i >= n && !(i == TL__METRICS_MAX_KINDS && other))
            continue;
        kind_slot_t *k = &reg.kinds[i];
        const char *name = i == TL__METRICS_MAX_KINDS ? OTHER_KIND : k->name;
        for (size_t f = 0; f < NFINAL; f++) {
            if (get(&k->duration[f].count) == 0)
                continue;
            label_t l[2] = {{"kind", name},
                            {"state", tl_state_name(final_states[f])}};
            histogram(b, "tasklight_task_duration_seconds", &k->duration[f],
                      duration_le, NELEM(duration_le), l, 2);
        }
    }
    family(b, "tasklight_task_queue_wait_seconds", "histogram",
           "Time tasks waited in the queue before they started, by kind.");
    for (int i = 0; i <= TL__METRICS_MAX_KINDS; i++) {
        if (i >= n && !(i == TL__METRICS_MAX_KINDS && other))
            continue;
        kind_slot_t *k = &reg.kinds[i];
        if (get(&k->wait.count) == 0)
            continue;
        label_t l = {"kind", i == TL__METRICS_MAX_KINDS ? OTHER_KIND : k->name};
        histogram(b, "tasklight_task_queue_wait_seconds", &k->wait, wait_le,
                  NELEM(wait_le), &l, 1);
    }
}

static void render_http(struct evbuffer *b)
{
    family(b, "tasklight_http_requests_total", "counter",
           "HTTP requests answered, by route, method and status code.");
    for (size_t r = 0; r < TL__ROUTE__COUNT; r++) {
        for (size_t mi = 0; mi < NMETHODS; mi++) {
            for (size_t ci = 0; ci < NCODES; ci++) {
                uint64_t v = get(&reg.http_count[r][mi][ci]);
                if (!v)
                    continue;
                char code[16];
                if (ci < NCODES - 1)
                    snprintf(code, sizeof(code), "%d", codes[ci]);
                else
                    snprintf(code, sizeof(code), "other");
                label_t l[3] = {{"route", route_paths[r]},
                                {"method", methods[mi]},
                                {"code", code}};
                sample_u64(b, "tasklight_http_requests_total", l, 3, v);
            }
        }
    }
    family(b, "tasklight_http_request_duration_seconds", "histogram",
           "Time from a request's arrival to its answer written (to the "
           "first byte for event streams), by route.");
    for (size_t r = 0; r < TL__ROUTE__COUNT; r++) {
        if (get(&reg.http_latency[r].count) == 0)
            continue;
        label_t l = {"route", route_paths[r]};
        histogram(b, "tasklight_http_request_duration_seconds",
                  &reg.http_latency[r], http_le, NELEM(http_le), &l, 1);
    }
}

int tl__metrics_render(tl_manager_t *m, const tl__metrics_live_t *live,
                       struct evbuffer *b)
{
    int rc = render_tasks(m, b);
    if (rc)
        return rc;
    render_kinds(b);

    family(b, "tasklight_events_total", "counter", "Events emitted, by type.");
    for (size_t i = 0; i < NEVENT_TYPES; i++) {
        label_t l = {"type", event_types[i]};
        sample_u64(b, "tasklight_events_total", &l, 1, get(&reg.events[i]));
    }
    family(b, "tasklight_sse_clients", "gauge", "Open event streams.");
    sample_u64(b, "tasklight_sse_clients", NULL, 0,
               (uint64_t)(live ? live->sse_clients : 0));
    family(b, "tasklight_sse_dropped_total", "counter",
           "Event streams closed because the client read too slowly.");
    sample_u64(b, "tasklight_sse_dropped_total", NULL, 0,
               get(&reg.sse_dropped));
    family(b, "tasklight_sse_replayed_events_total", "counter",
           "Events sent again to clients that resumed with Last-Event-ID.");
    sample_u64(b, "tasklight_sse_replayed_events_total", NULL, 0,
               get(&reg.sse_replayed));
    family(b, "tasklight_sse_resets_total", "counter",
           "Resumes whose gap was too old to replay (told to refetch).");
    sample_u64(b, "tasklight_sse_resets_total", NULL, 0, get(&reg.sse_resets));
    family(b, "tasklight_event_buffer_events", "gauge",
           "Events kept for replay.");
    sample_u64(b, "tasklight_event_buffer_events", NULL, 0,
               (uint64_t)(live ? live->ring_events : 0));
    family(b, "tasklight_event_buffer_bytes", "gauge",
           "Bytes of the events kept for replay.");
    sample_u64(b, "tasklight_event_buffer_bytes", NULL, 0,
               (uint64_t)(live ? live->ring_bytes : 0));

    render_http(b);

    family(b, "tasklight_store_commit_duration_seconds", "histogram",
           "Time to commit one loop turn's writes to the store.");
    histogram(b, "tasklight_store_commit_duration_seconds", &reg.commit,
              commit_le, NELEM(commit_le), NULL, 0);

    family(b, "tasklight_uptime_seconds", "gauge",
           "Seconds since the server started.");
    sample_f(b, "tasklight_uptime_seconds", NULL, 0, live ? live->uptime_s : 0);
    return 0;
}

json_t *tl__metrics_summary_json(void)
{
    json_t *kinds = json_object();
    json_t *out = json_object();
    uint64_t events = 0;
    for (size_t i = 0; i < NEVENT_TYPES; i++)
        events += get(&reg.events[i]);
    int n = atomic_load_explicit(&reg.nkinds, memory_order_acquire);
    for (int i = 0; kinds && i <= TL__METRICS_MAX_KINDS; i++) {
        if (i >= n && i != TL__METRICS_MAX_KINDS)
            continue;
        kind_slot_t *k = &reg.kinds[i];
        json_t *o = json_object();
        uint64_t total = 0, sum_us = 0;
        for (size_t f = 0; o && f < NFINAL; f++) {
            uint64_t c = get(&k->duration[f].count);
            total += c;
            sum_us += get(&k->duration[f].sum_us);
            json_object_set_new(o, tl_state_name(final_states[f]),
                                json_integer((json_int_t)c));
        }
        if (o && total == 0 && get(&k->wait.count) == 0) {
            json_decref(o);
            continue;
        }
        if (o) {
            json_object_set_new(o, "finished", json_integer((json_int_t)total));
            json_object_set_new(
                o, "mean_duration_s",
                total ? json_real((double)sum_us / 1e6 / (double)total)
                      : json_null());
            uint64_t wc = get(&k->wait.count);
            json_object_set_new(
                o, "mean_queue_wait_s",
                wc ? json_real((double)get(&k->wait.sum_us) / 1e6 / (double)wc)
                   : json_null());
        }
        json_object_set_new(
            kinds, i == TL__METRICS_MAX_KINDS ? OTHER_KIND : k->name, o);
    }
    if (!out || !kinds) {
        json_decref(out);
        json_decref(kinds);
        return NULL;
    }
    json_object_set_new(out, "events_total", json_integer((json_int_t)events));
    json_object_set_new(out, "sse_dropped_total",
                        json_integer((json_int_t)get(&reg.sse_dropped)));
    json_object_set_new(out, "kinds", kinds);
    return out;
}

/* ---- recent history, for the dashboard's charts ------------------------- */

typedef struct finished {
    const char *kind;
    tl_state_t state;
    int64_t finished_at; /* ms */
    double run_s;
} finished_t;

static int by_kind_then_duration(const void *a, const void *b)
{
    const finished_t *x = a, *y = b;
    int c = strcmp(x->kind, y->kind);
    if (c)
        return c;
    return (x->run_s > y->run_s) - (x->run_s < y->run_s);
}

static int by_count_desc(const void *a, const void *b)
{
    json_int_t x =
        json_integer_value(json_object_get(*(json_t *const *)a, "finished"));
    json_int_t y =
        json_integer_value(json_object_get(*(json_t *const *)b, "finished"));
    return (y > x) - (y < x);
}

static double quantile(const double *sorted, size_t n, double q)
{
    if (n == 0)
        return NAN;
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    double frac = pos - (double)i;
    return i + 1 < n ? sorted[i] + frac * (sorted[i + 1] - sorted[i])
                     : sorted[i];
}

static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

/* Per kind: counts by final state and the running time of completed
 * tasks; the 20 kinds with most finished tasks. */
static json_t *recent_kinds(finished_t *fs, size_t n)
{
    qsort(fs, n, sizeof(*fs), by_kind_then_duration);
    json_t *rows = json_array();
    double *d = malloc((n ? n : 1) * sizeof(*d));
    for (size_t i = 0; rows && d && i < n;) {
        size_t j = i, nd = 0, c[TL_STATE__COUNT] = {0};
        double sum = 0;
        for (; j < n && strcmp(fs[j].kind, fs[i].kind) == 0; j++) {
            c[fs[j].state]++;
            if (fs[j].state == TL_STATE_COMPLETED) {
                d[nd++] = fs[j].run_s; /* sorted: the run is sorted */
                sum += fs[j].run_s;
            }
        }
        size_t total = j - i;
        json_t *row =
            json_pack("{s:s, s:I, s:I, s:I, s:I, s:f, s:{s:o, s:o, s:o, s:o}}",
                      "kind", fs[i].kind, "finished", (json_int_t)total,
                      "completed", (json_int_t)c[TL_STATE_COMPLETED], "failed",
                      (json_int_t)c[TL_STATE_FAILED], "cancelled",
                      (json_int_t)c[TL_STATE_CANCELLED], "failure_rate",
                      (double)c[TL_STATE_FAILED] / (double)total, "duration_s",
                      "mean", real_or_null(nd ? sum / (double)nd : NAN), "p50",
                      real_or_null(quantile(d, nd, 0.5)), "p90",
                      real_or_null(quantile(d, nd, 0.9)), "max",
                      real_or_null(nd ? d[nd - 1] : NAN));
        if (!row || json_array_append_new(rows, row)) {
            json_decref(rows);
            rows = NULL;
        }
        i = j;
    }
    free(d);
    if (!rows)
        return NULL;
    size_t nrows = json_array_size(rows);
    json_t **sorted = malloc((nrows ? nrows : 1) * sizeof(*sorted));
    json_t *out = sorted ? json_array() : NULL;
    if (out) {
        for (size_t i = 0; i < nrows; i++)
            sorted[i] = json_array_get(rows, i);
        qsort(sorted, nrows, sizeof(*sorted), by_count_desc);
        for (size_t i = 0; i < nrows && i < 20; i++)
            json_array_append(out, sorted[i]);
    }
    free(sorted);
    json_decref(rows);
    return out;
}

/* Finished tasks per time bucket, the bucket chosen so the window's span
 * takes at most 48 of them (older ones are left out past 48). */
static json_t *recent_timeline(const finished_t *fs, size_t n, int64_t now)
{
    static const int64_t sizes[] = {60,    300,   900,   1800,  3600,
                                    10800, 21600, 43200, 86400, 604800};
    int64_t oldest = now;
    for (size_t i = 0; i < n; i++)
        if (fs[i].finished_at < oldest)
            oldest = fs[i].finished_at;
    size_t si = 0;
    while (si + 1 < sizeof(sizes) / sizeof(sizes[0]) &&
           (now - oldest) / 1000 / sizes[si] >= 48)
        si++;
    int64_t bucket_ms = sizes[si] * 1000;
    int64_t last = now / bucket_ms * bucket_ms;
    int64_t first = oldest / bucket_ms * bucket_ms;
    if ((last - first) / bucket_ms >= 48)
        first = last - 47 * bucket_ms;
    if ((last - first) / bucket_ms < 11) /* some context around a burst */
        first = last - 11 * bucket_ms;
    size_t nb = (size_t)((last - first) / bucket_ms) + 1;
    size_t(*c)[3] = calloc(nb, sizeof(*c));
    double *sum = calloc(nb, sizeof(*sum));
    json_t *buckets = json_array();
    if (!c || !sum || !buckets) {
        free(c);
        free(sum);
        json_decref(buckets);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (fs[i].finished_at < first)
            continue;
        size_t b = (size_t)((fs[i].finished_at - first) / bucket_ms);
        if (b >= nb)
            b = nb - 1;
        int k = fs[i].state == TL_STATE_COMPLETED ? 0
                : fs[i].state == TL_STATE_FAILED  ? 1
                                                  : 2;
        c[b][k]++;
        if (k == 0)
            sum[b] += fs[i].run_s;
    }
    for (size_t b = 0; b < nb; b++) {
        char ts[40];
        tl__fmt_time(first + (int64_t)b * bucket_ms, ts, sizeof(ts));
        size_t total = c[b][0] + c[b][1] + c[b][2];
        json_array_append_new(
            buckets,
            json_pack(
                "{s:s, s:I, s:I, s:I, s:o, s:o}", "start", ts, "completed",
                (json_int_t)c[b][0], "failed", (json_int_t)c[b][1], "cancelled",
                (json_int_t)c[b][2], "failure_rate",
                real_or_null(total ? (double)c[b][1] / (double)total : NAN),
                "mean_duration_s",
                real_or_null(c[b][0] ? sum[b] / (double)c[b][0] : NAN)));
    }
    free(c);
    free(sum);
    return json_pack("{s:I, s:o}", "bucket_s", (json_int_t)sizes[si], "buckets",
                     buckets);
}

int tl__metrics_recent_json(tl_manager_t *m, int window, json_t **out)
{
    tl_task_t **all = calloc((size_t)window, sizeof(*all));
    finished_t *fs = calloc((size_t)window, sizeof(*fs));
    size_t nall = 0, nfs = 0;
    int rc = all && fs ? 0 : TL_ENOMEM;
    int64_t cursor = 0, now = tl__now_ms();
    while (!rc && nall < (size_t)window) {
        tl__store_filter_t f = {.state = -1, .cursor = cursor};
        f.limit = window - (int)nall > 1000 ? 1000 : window - (int)nall;
        tl_task_t **page = NULL;
        size_t n = 0;
        rc = m->store->ops->list_tasks(m->store, &f, &page, &n, &cursor);
        if (rc) {
            rc = tl__mgr_error(m, rc, "store: %s",
                               m->store->ops->errmsg(m->store));
            break;
        }
        for (size_t i = 0; i < n; i++) {
            tl_task_t *t = all[nall++] = page[i];
            if (!tl_state_is_final(t->state) || !t->finished_at)
                continue;
            fs[nfs++] =
                (finished_t){t->kind ? t->kind : "", t->state, t->finished_at,
                             tl__task_elapsed_ms(t, now) / 1e3};
        }
        free(page);
        if (!cursor || n == 0)
            break;
    }
    json_t *kinds = rc ? NULL : recent_kinds(fs, nfs);
    json_t *timeline = kinds ? recent_timeline(fs, nfs, now) : NULL;
    if (!rc && (!kinds || !timeline))
        rc = TL_ENOMEM;
    if (!rc) {
        *out = json_pack("{s:I, s:I, s:o, s:o}", "tasks", (json_int_t)nall,
                         "finished", (json_int_t)nfs, "kinds", kinds,
                         "timeline", timeline);
        kinds = timeline = NULL;
        if (!*out)
            rc = TL_ENOMEM;
    }
    json_decref(kinds);
    json_decref(timeline);
    for (size_t i = 0; i < nall; i++)
        tl_task_free(all[i]);
    free(all);
    free(fs);
    return rc;
}
