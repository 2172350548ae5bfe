/*
 * func.c -- function tasks: C functions run as tasks on a pool of worker
 * threads, reporting through their context.
 *
 * DESIGN: the manager's loop thread owns every task; workers never touch
 * one. A worker reports by posting a message to the loop (a mutex-guarded
 * list plus an eventfd that wakes the loop when the list goes from empty
 * to not). Progress is the exception, since functions report it in tight
 * loops: tl_ctx_progress() stores the value in the context with relaxed
 * atomics and posts a message only when the context was clean; the loop
 * marks it clean before reading the values, so the latest value always
 * arrives and a burst of reports costs one message per loop turn. Cancel
 * and pause go the other way as atomic flags the function polls
 * (tl_ctx_cancelled, tl_ctx_checkpoint); a paused checkpoint sleeps on a
 * condition variable. A context lives from dispatch until the loop has
 * handled the function's return; its job stays in memory until then, even
 * if the task was cancelled meanwhile, so a worker slot is never counted
 * free while its function still runs.
 */
#include "func.h"

#include "manager.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

enum msg_type {
    MSG_PROGRESS,
    MSG_MESSAGE,
    MSG_LOG,
    MSG_STEP,
    MSG_RESULT,
    MSG_DONE
};

typedef struct msg {
    enum msg_type type;
    tl_ctx_t *ctx;
    char *text;   /* message, log line, result JSON, step id */
    char *name;   /* step name */
    char *state;  /* step state */
    double value; /* step progress */
    struct msg *next;
} msg_t;

struct tl_ctx {
    tl__pool_t *pool;
    tl__job_t *job; /* loop thread only */
    int64_t id;
    tl__func_spec_t spec;
    _Atomic double progress, current, total;
    atomic_int dirty;
    atomic_int cancelled;
    atomic_int paused;
    pthread_mutex_t mu; /* with resumed: sleeping while paused */
    pthread_cond_t resumed;
    char *fail_text; /* the worker's until MSG_DONE */
    int rc;
    struct tl_ctx *next; /* in the work queue */
};

struct tl__pool {
    tl_manager_t *m;
    pthread_t *threads;
    int nthreads;
    pthread_mutex_t mu;
    pthread_cond_t work;
    tl_ctx_t *head, *tail;
    bool stopping;
    int busy; /* contexts dispatched and not yet returned */
    pthread_mutex_t out_mu;
    msg_t *out_head, *out_tail;
    int wake_fd;
    struct event *wake_ev;
};

/* ---- worker -> loop ------------------------------------------------------ */

static void post(tl__pool_t *p, msg_t *msg)
{
    pthread_mutex_lock(&p->out_mu);
    bool was_empty = p->out_head == NULL;
    if (p->out_tail)
        p->out_tail->next = msg;
    else
        p->out_head = msg;
    p->out_tail = msg;
    pthread_mutex_unlock(&p->out_mu);
    if (was_empty) {
        uint64_t one = 1;
        ssize_t n = write(p->wake_fd, &one, sizeof(one));
        (void)n; /* a full counter still wakes the loop */
    }
}

static int post_new(tl_ctx_t *c, enum msg_type type, char *text)
{
    msg_t *msg = calloc(1, sizeof(*msg));
    if (!msg) {
        free(text);
        return TL_ENOMEM;
    }
    msg->type = type;
    msg->ctx = c;
    msg->text = text;
    post(c->pool, msg);
    return 0;
}

static void mark_dirty(tl_ctx_t *c)
{
    if (atomic_load_explicit(&c->dirty, memory_order_relaxed))
        return;
    if (!atomic_exchange_explicit(&c->dirty, 1, memory_order_acq_rel))
        post_new(c, MSG_PROGRESS, NULL);
}

int64_t tl_ctx_task_id(const tl_ctx_t *c)
{
    return c->id;
}

void tl_ctx_progress(tl_ctx_t *c, double percent)
{
    if (isnan(percent))
        return;
    percent = percent < 0 ? 0 : percent > 100 ? 100 : percent;
    atomic_store_explicit(&c->progress, percent, memory_order_relaxed);
    mark_dirty(c);
}

void tl_ctx_count(tl_ctx_t *c, double current, double total)
{
    if (!isfinite(current) || current < 0)
        return;
    atomic_store_explicit(&c->current, current, memory_order_relaxed);
    if (isfinite(total) && total >= 0)
        atomic_store_explicit(&c->total, total, memory_order_relaxed);
    mark_dirty(c);
}

static char *vfmt(const char *fmt, va_list ap)
{
    char *s = NULL;
    return vasprintf(&s, fmt, ap) < 0 ? NULL : s;
}

static int post_vfmt(tl_ctx_t *c, enum msg_type type, const char *fmt,
                     va_list ap)
{
    char *s = vfmt(fmt, ap);
    return s ? post_new(c, type, s) : TL_ENOMEM;
}

int tl_ctx_message(tl_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = post_vfmt(c, MSG_MESSAGE, fmt, ap);
    va_end(ap);
    return rc;
}

int tl_ctx_log(tl_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = post_vfmt(c, MSG_LOG, fmt, ap);
    va_end(ap);
    return rc;
}

int tl_ctx_step(tl_ctx_t *c, const char *step_id, const char *name,
                const char *state, double progress)
{
    if (!step_id || !*step_id || (state && !tl__substep_state_ok(state)) ||
        (!isnan(progress) && (progress < 0 || progress > 100)))
        return TL_EINVAL;
    msg_t *msg = calloc(1, sizeof(*msg));
    if (!msg)
        return TL_ENOMEM;
    msg->type = MSG_STEP;
    msg->ctx = c;
    msg->text = strdup(step_id);
    msg->name = name ? strdup(name) : NULL;
    msg->state = state ? strdup(state) : NULL;
    msg->value = progress;
    if (!msg->text || (name && !msg->name) || (state && !msg->state)) {
        free(msg->text);
        free(msg->name);
        free(msg->state);
        free(msg);
        return TL_ENOMEM;
    }
    post(c->pool, msg);
    return 0;
}

int tl_ctx_result(tl_ctx_t *c, const char *json)
{
    json_t *v = json ? json_loads(json, JSON_DECODE_ANY, NULL) : NULL;
    if (!v)
        return TL_EINVAL;
    json_decref(v);
    char *s = strdup(json);
    return s ? post_new(c, MSG_RESULT, s) : TL_ENOMEM;
}

int tl_ctx_fail(tl_ctx_t *c, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = vfmt(fmt, ap);
    va_end(ap);
    if (!s)
        return TL_ENOMEM;
    free(c->fail_text);
    c->fail_text = s;
    return 0;
}

int tl_ctx_cancelled(const tl_ctx_t *c)
{
    return atomic_load_explicit(&c->cancelled, memory_order_acquire);
}

int tl_ctx_checkpoint(tl_ctx_t *c)
{
    if (atomic_load_explicit(&c->paused, memory_order_acquire)) {
        pthread_mutex_lock(&c->mu);
        while (atomic_load(&c->paused) && !atomic_load(&c->cancelled))
            pthread_cond_wait(&c->resumed, &c->mu);
        pthread_mutex_unlock(&c->mu);
    }
    return tl_ctx_cancelled(c) ? TL_ECLOSED : 0;
}

/* ---- loop -> worker ------------------------------------------------------ */

static void wake_sleeper(tl_ctx_t *c)
{
    pthread_mutex_lock(&c->mu);
    pthread_cond_broadcast(&c->resumed);
    pthread_mutex_unlock(&c->mu);
}

void tl__func_cancel(tl_ctx_t *c, bool timed_out)
{
    (void)timed_out;
    atomic_store(&c->cancelled, 1);
    wake_sleeper(c);
}

void tl__func_pause(tl_ctx_t *c)
{
    atomic_store(&c->paused, 1);
}

void tl__func_resume(tl_ctx_t *c)
{
    atomic_store(&c->paused, 0);
    wake_sleeper(c);
}

/* ---- the pool ------------------------------------------------------------ */

static tl_ctx_t *take_work(tl__pool_t *p)
{
    pthread_mutex_lock(&p->mu);
    while (!p->head && !p->stopping)
        pthread_cond_wait(&p->work, &p->mu);
    tl_ctx_t *c = p->head;
    if (c) {
        p->head = c->next;
        if (!p->head)
            p->tail = NULL;
    }
    pthread_mutex_unlock(&p->mu);
    return c;
}

static void *worker(void *arg)
{
    tl__pool_t *p = arg;
    tl_ctx_t *c;
    while ((c = take_work(p))) {
        c->rc = atomic_load(&c->cancelled) ? 0 : c->spec.fn(c, c->spec.arg);
        post_new(c, MSG_DONE, NULL);
    }
    return NULL;
}

static int start_threads(tl__pool_t *p, int from, int to)
{
    for (int i = from; i < to; i++) {
        if (pthread_create(&p->threads[i], NULL, worker, p) != 0)
            return TL_ENOMEM;
        p->nthreads = i + 1;
    }
    return 0;
}

int tl__pool_resize(tl__pool_t *p, int workers)
{
    if (workers <= p->nthreads)
        return 0; /* threads are only added; extra ones just wait */
    pthread_t *t = realloc(p->threads, (size_t)workers * sizeof(*t));
    if (!t)
        return TL_ENOMEM;
    p->threads = t;
    return start_threads(p, p->nthreads, workers);
}

/* ---- the loop's side ----------------------------------------------------- */

static void apply_progress(tl_ctx_t *c)
{
    atomic_store_explicit(&c->dirty, 0, memory_order_release);
    tl__job_t *j = c->job;
    tl_task_t *t = j->task;
    double p = atomic_load_explicit(&c->progress, memory_order_relaxed);
    double cur = atomic_load_explicit(&c->current, memory_order_relaxed);
    double tot = atomic_load_explicit(&c->total, memory_order_relaxed);
    if (tl_state_is_final(t->state))
        return;
    t->current = cur;
    t->total = tot;
    if (isfinite(p))
        t->progress = p;
    else if (isfinite(cur) && isfinite(tot) && tot > 0)
        t->progress = 100 * (cur > tot ? 1 : cur / tot);
    tl__job_observe_progress(j);
    tl__job_progress_changed(j);
}

static void apply_step(tl_ctx_t *c, msg_t *msg)
{
    tl_manager_t *m = c->pool->m;
    json_t *body = json_pack("{s:s}", "id", msg->text);
    json_t *out = NULL;
    if (!body)
        return;
    if (msg->name)
        json_object_set_new(body, "name", json_string(msg->name));
    if (msg->state)
        json_object_set_new(body, "state", json_string(msg->state));
    if (!isnan(msg->value))
        json_object_set_new(body, "progress", json_real(msg->value));
    if (tl__mgr_substep_update(m, c->id, msg->text, body, &out) ==
        TL_ENOTFOUND) {
        if (!msg->name)
            json_object_set_new(body, "name", json_string(msg->text));
        tl__mgr_substep_add(m, c->id, body, &out);
    }
    json_decref(out);
    json_decref(body);
}

static void apply_result(tl_ctx_t *c, const char *text)
{
    tl_task_t *t = c->job->task;
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    if (!v || tl__mgr_begin(c->pool->m) != 0) {
        json_decref(v);
        return;
    }
    json_decref(t->result);
    t->result = v;
    tl__mgr_touch(c->job);
}

static void ctx_free(tl_ctx_t *c)
{
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->resumed);
    free(c->fail_text);
    free(c);
}

static void finish(tl_ctx_t *c)
{
    tl__job_t *j = c->job;
    tl__pool_t *p = c->pool;
    p->busy--;
    if (atomic_load(&c->dirty))
        apply_progress(c);
    char made[64];
    const char *err = c->fail_text;
    if (!err && c->rc) {
        snprintf(made, sizeof(made), "returned %d", c->rc);
        err = made;
    }
    j->fctx = NULL;
    tl__job_function_returned(j, c->rc, err);
    ctx_free(c);
}

static void handle(msg_t *msg)
{
    tl_ctx_t *c = msg->ctx;
    tl__job_t *j = c->job;
    bool live = !tl_state_is_final(j->task->state);
    switch (msg->type) {
    case MSG_PROGRESS:
        apply_progress(c);
        break;
    case MSG_MESSAGE:
        if (live && tl__str_set(&j->task->message, msg->text) == 0)
            tl__job_progress_changed(j);
        break;
    case MSG_LOG:
        tl__job_log_line(j, 'o', msg->text, strlen(msg->text));
        break;
    case MSG_STEP:
        if (live)
            apply_step(c, msg);
        break;
    case MSG_RESULT:
        apply_result(c, msg->text);
        break;
    case MSG_DONE:
        finish(c);
        break;
    }
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
    tl__pool_t *p = arg;
    uint64_t n;
    ssize_t got = read(fd, &n, sizeof(n));
    (void)got;
    pthread_mutex_lock(&p->out_mu);
    msg_t *msg = p->out_head;
    p->out_head = p->out_tail = NULL;
    pthread_mutex_unlock(&p->out_mu);
    while (msg) {
        msg_t *next = msg->next;
        handle(msg);
        free(msg->text);
        free(msg->name);
        free(msg->state);
        free(msg);
        msg = next;
    }
}

int tl__pool_new(tl_manager_t *m, int workers, tl__pool_t **out)
{
    tl__pool_t *p = calloc(1, sizeof(*p));
    if (!p)
        return TL_ENOMEM;
    p->m = m;
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_init(&p->out_mu, NULL);
    pthread_cond_init(&p->work, NULL);
    p->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    p->wake_ev = p->wake_fd >= 0 ? event_new(m->base, p->wake_fd,
                                             EV_READ | EV_PERSIST, on_wake, p)
                                 : NULL;
    if (!p->wake_ev || event_add(p->wake_ev, NULL) != 0) {
        tl__pool_free(p);
        return TL_ENOMEM;
    }
    int rc = tl__pool_resize(p, workers);
    if (rc) {
        tl__pool_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void tl__pool_free(tl__pool_t *p)
{
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nthreads; i++)
        pthread_join(p->threads[i], NULL);
    if (p->wake_ev) {
        on_wake(p->wake_fd, 0, p); /* what the last functions said */
        event_free(p->wake_ev);
    }
    if (p->wake_fd >= 0)
        close(p->wake_fd);
    while (p->head) { /* dispatched, never started */
        tl_ctx_t *c = p->head;
        p->head = c->next;
        c->job->fctx = NULL;
        ctx_free(c);
    }
    free(p->threads);
    pthread_mutex_destroy(&p->mu);
    pthread_mutex_destroy(&p->out_mu);
    pthread_cond_destroy(&p->work);
    free(p);
}

int tl__func_dispatch(tl__job_t *j)
{
    tl__pool_t *p = j->m->pool;
    tl_ctx_t *c = calloc(1, sizeof(*c));
    if (!c || !p || !j->fspec) {
        free(c);
        return TL_ENOMEM;
    }
    c->pool = p;
    c->job = j;
    c->id = j->task->id;
    c->spec = *j->fspec;
    atomic_init(&c->progress, NAN);
    atomic_init(&c->current, NAN);
    atomic_init(&c->total, NAN);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->resumed, NULL);
    j->fctx = c;
    p->busy++;
    pthread_mutex_lock(&p->mu);
    if (p->tail)
        p->tail->next = c;
    else
        p->head = c;
    p->tail = c;
    pthread_cond_signal(&p->work);
    pthread_mutex_unlock(&p->mu);
    return 0;
}

void tl__func_spec_free(tl__func_spec_t *s)
{
    if (s && s->free_arg)
        s->free_arg(s->arg);
    free(s);
}
