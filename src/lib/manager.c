/*
 * manager.c -- the manager: opening the data directory and the store,
 * recovering from a previous daemon, the per-turn transaction, events, and
 * the operations the public API and the HTTP layer call. See manager.h for
 * the DESIGN.
 */
#include "manager.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tl__mgr_error(tl_manager_t *m, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m->errmsg, sizeof(m->errmsg), fmt, ap);
    va_end(ap);
    return rc;
}

const char *tl_manager_errmsg(const tl_manager_t *m)
{
    return m->errmsg[0] ? m->errmsg : "ok";
}

static int store_error(tl_manager_t *m, int rc)
{
    return tl__mgr_error(m, rc, "store: %s", m->store->ops->errmsg(m->store));
}

/* ---- the turn's transaction ------------------------------------------- */

int tl__mgr_begin(tl_manager_t *m)
{
    if (m->in_txn)
        return 0;
    int rc = m->store->ops->begin(m->store);
    if (rc)
        return store_error(m, rc);
    m->in_txn = true;
    return 0;
}

void tl__mgr_touch(tl__job_t *j)
{
    if (j->dirty || j->deleted)
        return;
    j->dirty = true;
    j->dirty_next = j->m->dirty;
    j->m->dirty = j;
}

void tl__mgr_after_commit(tl_manager_t *m, tl__after_commit_fn fn, void *ud)
{
    if (!m->in_txn) {
        fn(ud, 0);
        return;
    }
    tl__deferred_t *d = malloc(sizeof(*d));
    if (!d) {
        fn(ud, TL_ENOMEM);
        return;
    }
    d->fn = fn;
    d->ud = ud;
    d->next = NULL;
    *m->deferred_tail = d;
    m->deferred_tail = &d->next;
}

int tl__idvec_push(tl__idvec_t *v, int64_t id)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 64;
        int64_t *ids = realloc(v->ids, cap * sizeof(*ids));
        if (!ids)
            return TL_ENOMEM;
        v->ids = ids;
        v->cap = cap;
    }
    v->ids[v->len++] = id;
    return 0;
}

static int write_job(tl_manager_t *m, tl__job_t *j)
{
    const tl_task_t *t = j->task;
    bool indexed = j->stored_state != (int)t->state ||
                   j->stored_finished_at != t->finished_at;
    int rc = m->store->ops->update_task(m->store, t, indexed, j->stored_state);
    if (!rc)
        tl__job_stored(j);
    return rc;
}

/* Writes the dirty jobs into the open transaction. They stay in memory
 * (in the batch) until the commit says whether the writes held. */
int tl__mgr_flush(tl_manager_t *m)
{
    int rc = 0;
    tl__job_t *j = m->dirty;
    m->dirty = NULL;
    while (j) {
        tl__job_t *next = j->dirty_next;
        j->dirty = false;
        j->dirty_next = NULL;
        if (!rc && !j->deleted)
            rc = write_job(m, j);
        if (!j->in_batch && tl__idvec_push(&m->batch, j->task->id) == 0)
            j->in_batch = true;
        j = next;
    }
    return rc;
}

static void run_deferred(tl_manager_t *m, int rc)
{
    tl__deferred_t *d = m->deferred;
    m->deferred = NULL;
    m->deferred_tail = &m->deferred;
    while (d) {
        tl__deferred_t *next = d->next;
        d->fn(d->ud, rc);
        free(d);
        d = next;
    }
}

/* A task created in a transaction that did not commit was never
 * acknowledged: it goes, with anything it started. */
static void drop_created(tl_manager_t *m)
{
    for (size_t i = 0; i < m->created.len; i++) {
        int64_t id = m->created.ids[i];
        tl__job_t *j = tl__map_get(&m->jobs, id);
        if (!j || j->fctx)
            continue;
        if (j->proc) {
            tl__proc_signal(j->proc, SIGKILL);
            tl__map_del(&m->pids, tl__proc_pid(j->proc));
        }
        if (j->holds_slot)
            tl__sched_release(j);
        tl__map_del(&m->jobs, id);
        tl__job_free(j);
        tl__mgr_emit(m, "task.deleted", id, json_pack("{s:I}", "id", id));
    }
    m->created.len = 0;
}

static void on_retry_commit(evutil_socket_t fd, short what, void *arg)
{
    tl_manager_t *m = arg;
    if (m->dirty)
        tl__mgr_begin(m); /* the turn's end commits it */
}

/* A tracked task changes only because its reporter asked, and the answer
 * to that request says it failed: back to what the store holds, so the
 * reporter's retry finds the task as it left it. */
static bool revert_to_stored(tl_manager_t *m, tl__job_t *j)
{
    tl_task_t *stored = NULL;
    if (j->task->source != TL_SOURCE_TRACKED ||
        m->store->ops->load_task(m->store, j->task->id, &stored) != 0)
        return false;
    tl_task_free(j->task);
    j->task = stored;
    return true;
}

/* After a failed commit (a full disk, say) memory is ahead of the store.
 * What a process did (it exited, it was signalled) is a fact: those tasks
 * are written again a second later, until the store takes them. */
static void keep_for_retry(tl_manager_t *m)
{
    for (size_t i = 0; i < m->batch.len; i++) {
        tl__job_t *j = tl__map_get(&m->jobs, m->batch.ids[i]);
        if (!j)
            continue;
        j->in_batch = false;
        j->stored_state = -1; /* the writes were rolled back */
        if (!revert_to_stored(m, j))
            tl__mgr_touch(j);
        tl__job_release_if_done(j);
    }
    m->batch.len = 0;
    struct timeval tv = {1, 0};
    if (m->retry_ev && m->dirty)
        evtimer_add(m->retry_ev, &tv);
}

static void batch_committed(tl_manager_t *m)
{
    m->created.len = 0;
    for (size_t i = 0; i < m->batch.len; i++) {
        tl__job_t *j = tl__map_get(&m->jobs, m->batch.ids[i]);
        if (j) {
            j->in_batch = false;
            tl__job_release_if_done(j);
        }
    }
    m->batch.len = 0;
}

static int commit(tl_manager_t *m)
{
    if (!m->in_txn)
        return 0;
    int64_t t0 = tl__mono_us();
    int rc = tl__mgr_flush(m);
    if (!rc)
        rc = m->store->ops->commit(m->store);
    if (!rc)
        tl__metrics_observe_commit((double)(tl__mono_us() - t0) / 1e6);
    m->in_txn = false;
    if (rc) {
        fprintf(stderr, "tasklight: commit failed: %s\n",
                m->store->ops->errmsg(m->store));
        store_error(m, rc);
        m->store->ops->rollback(m->store);
        drop_created(m);
        keep_for_retry(m);
    } else {
        batch_committed(m);
    }
    run_deferred(m, rc);
    return rc;
}

static void run_scheduler(tl_manager_t *m)
{
    while (m->sched_pending && !m->closing) {
        m->sched_pending = false;
        tl__sched_run(m);
    }
}

static void on_sched(evutil_socket_t fd, short what, void *arg)
{
    run_scheduler(arg);
}

/* The end of a loop turn: commit what the turn did and answer the requests
 * that waited for the commit; start what can start. A turn with no request
 * waiting starts tasks in the same transaction. A turn with replies to send
 * commits first, and the scheduler runs in the next turn, from a timer,
 * which libevent runs after the sockets that became writable: the replies
 * leave before the spawns (posix_spawn holds the loop until the child has
 * exec'd), so a client adding tasks one at a time does not wait for them
 * to start. */
static void end_turn(tl_manager_t *m)
{
    bool sched_later = evtimer_pending(m->sched_ev, NULL);
    if (!m->deferred && !sched_later)
        run_scheduler(m);
    commit(m);
    if (m->sched_pending && !m->closing && !sched_later) {
        static const struct timeval now = {0, 0};
        evtimer_add(m->sched_ev, &now);
    }
}

/* ---- events ----------------------------------------------------------- */

void tl__mgr_emit(tl_manager_t *m, const char *type, int64_t id, json_t *data)
{
    m->event_seq++;
    if (!m->subs || !data) {
        json_decref(data);
        return;
    }
    char *text = json_dumps(data, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(data);
    if (!text)
        return;
    tl_event_t ev = {m->event_seq, type, id, text};
    for (tl__sub_t *s = m->subs, *next; s; s = next) {
        next = s->next; /* a callback may unsubscribe itself */
        s->cb(&ev, s->ud);
    }
    free(text);
}

void tl__mgr_emit_task(tl_manager_t *m, const char *type, tl__job_t *j)
{
    json_t *d = m->subs ? tl__job_json(j, tl__now_ms()) : NULL;
    tl__mgr_emit(m, type, j->task->id, d);
}

int tl_manager_subscribe(tl_manager_t *m, tl_event_cb cb, void *ud,
                         uint64_t *sub)
{
    tl__sub_t *s = calloc(1, sizeof(*s));
    if (!s)
        return TL_ENOMEM;
    s->id = ++m->next_sub;
    s->cb = cb;
    s->ud = ud;
    s->next = m->subs;
    m->subs = s;
    if (sub)
        *sub = s->id;
    return 0;
}

void tl_manager_unsubscribe(tl_manager_t *m, uint64_t sub)
{
    for (tl__sub_t **p = &m->subs; *p; p = &(*p)->next) {
        if ((*p)->id == sub) {
            tl__sub_t *s = *p;
            *p = s->next;
            free(s);
            return;
        }
    }
}

/* ---- children ----------------------------------------------------------- */

static void on_sigchld(evutil_socket_t fd, short what, void *arg)
{
    tl_manager_t *m = arg;
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        tl__job_t *j = tl__map_get(&m->pids, pid);
        if (j)
            tl__job_reaped(j, status);
        /* else: an orphan that came back to us as subreaper; reaped. */
    }
}

/* ---- open and recovery -------------------------------------------------- */

static int lock_data_dir(tl_manager_t *m)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/tasklight.lock", m->data_dir);
    m->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (m->lock_fd < 0)
        return tl__mgr_error(m, TL_EIO, "cannot open %s: %s", path,
                             strerror(errno));
    /* A daemon killed a moment ago may still have a process of its own
     * between fork and exec holding the lock's file: give it two seconds. */
    for (int i = 0; flock(m->lock_fd, LOCK_EX | LOCK_NB) != 0; i++) {
        if (errno != EWOULDBLOCK || i == 40)
            return tl__mgr_error(m, TL_EBUSY, "another daemon is serving %s",
                                 m->data_dir);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

static int open_store(tl_manager_t *m)
{
    const char *uri = m->opts.store;
    char path[4200];
    if (!uri || strcmp(uri, "sqlite") == 0)
        snprintf(path, sizeof(path), "%s/tasklight.db", m->data_dir);
    else if (strncmp(uri, "sqlite:", 7) == 0)
        snprintf(path, sizeof(path), "%s", uri + 7);
    else
        return tl__mgr_error(m, TL_EINVAL, "unknown store %s", uri);
    /* Made 0600 before SQLite opens it: its -wal and -shm files take the
     * database's mode, and the daemon's umask is left to its tasks. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0)
        close(fd);
    int rc = tl__store_sqlite_ops.open(path, &m->store);
    if (rc)
        return tl__mgr_error(m, rc, "cannot open store %s: %s", path,
                             tl__store_sqlite_ops.errmsg(NULL));
    return 0;
}

static int adopt(tl_manager_t *m, tl_task_t *t, tl__job_t **out)
{
    tl__job_t *j = tl__job_new(m, t);
    if (!j) {
        tl_task_free(t);
        return TL_ENOMEM;
    }
    tl__job_stored(j); /* t was just read from the store */
    int rc = tl__map_put(&m->jobs, t->id, j);
    if (rc) {
        tl__job_free(j);
        return rc;
    }
    *out = j;
    return 0;
}

static void interrupt(tl__job_t *j, int64_t now)
{
    tl_task_t *t = j->task;
    /* A crashed daemon's commands are still running, orphaned: stop them. */
    if (t->pid && !j->proc && tl__proc_kill_stale(t->pid, t->pid_start))
        fprintf(stderr,
                "tasklight: stopped the leftover processes of task "
                "%lld (pid %d)\n",
                (long long)t->id, t->pid);
    t->pid = 0;
    t->pid_start = 0;
    bool retry = t->attempt <= t->max_retries;
    tl__str_set(&t->error, "interrupted: daemon stopped");
    t->state = retry ? TL_STATE_QUEUED : TL_STATE_FAILED;
    t->finished_at = retry ? 0 : now;
    t->updated_at = now;
    if (t->paused_at) {
        t->paused_ms += now - t->paused_at;
        t->paused_at = 0;
    }
    tl__mgr_touch(j);
}

static int recover_one(tl_task_t *t, void *ud)
{
    tl_manager_t *m = ud;
    tl__job_t *j;
    int rc = adopt(m, t, &j);
    if (rc)
        return rc;
    bool active = t->state == TL_STATE_RUNNING || t->state == TL_STATE_PAUSED;
    /* A tracked task's reporter is another process: it may well still be
     * at work, so it keeps its task and a fresh heartbeat deadline. */
    if (active && t->source == TL_SOURCE_TRACKED) {
        tl__job_heartbeat(j);
    } else if (t->source == TL_SOURCE_FUNCTION) {
        /* Its function lived in the process that stopped: it cannot run. */
        t->max_retries = 0;
        t->state = TL_STATE_RUNNING;
        interrupt(j, tl__now_ms());
        tl__str_set(&t->error,
                    "interrupted: the program that submitted it stopped");
    } else if (active) {
        interrupt(j, tl__now_ms());
    }
    if (t->state == TL_STATE_QUEUED)
        return tl__sched_enqueue(j);
    return 0;
}

static void load_group(const char *name, int parallel, void *ud)
{
    tl__group_t *g = tl__group_get(ud, name, true);
    if (g) {
        g->parallel = parallel;
        g->configured = true;
    }
}

static int recover(tl_manager_t *m)
{
    int rc = m->store->ops->load_groups(m->store, load_group, m);
    rc = rc ? rc : tl__mgr_begin(m);
    rc = rc ? rc : m->store->ops->load_active(m->store, recover_one, m);
    rc = rc ? rc : commit(m);
    if (rc)
        return tl__mgr_error(m, rc, "recovery failed: %s",
                             m->store->ops->errmsg(m->store));
    return 0;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    tl_manager_t *m = arg;
    char buf[64];
    while (read(fd, buf, sizeof(buf)) > 0)
        ;
    m->stopping = true;
    event_base_loopbreak(m->base);
}

/* tl_manager_stop() may run in a signal handler: it only writes a byte. */
static int make_stop_pipe(tl_manager_t *m)
{
    if (pipe2(m->stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return TL_EIO;
    m->stop_ev =
        event_new(m->base, m->stop_pipe[0], EV_READ | EV_PERSIST, on_stop, m);
    if (!m->stop_ev)
        return TL_ENOMEM;
    return event_add(m->stop_ev, NULL) ? TL_EIO : 0;
}

static int make_events(tl_manager_t *m)
{
    /* The changelist folds the epoll_ctl calls of one turn: evhttp turns
     * a connection's reading off and on again around every request, two
     * system calls per request without it. The fds the loop watches are
     * never dup()ed, the case the libevent manual warns about. */
    struct event_config *cfg = event_config_new();
    if (!cfg)
        return TL_ENOMEM;
    event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    m->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (!m->base)
        return TL_ENOMEM;
    m->sigchld_ev = evsignal_new(m->base, SIGCHLD, on_sigchld, m);
    m->retry_ev = evtimer_new(m->base, on_retry_commit, m);
    m->sched_ev = evtimer_new(m->base, on_sched, m);
    if (!m->sigchld_ev || !m->retry_ev || !m->sched_ev)
        return TL_ENOMEM;
    if (event_add(m->sigchld_ev, NULL))
        return TL_EIO;
    int rc = tl__report_init(m);
    return rc ? rc : make_stop_pipe(m);
}

static int make_redactor(tl_manager_t *m, const char *const *extra)
{
    char err[256];
    int rc = tl__redactor_new(extra, &m->redactor, err, sizeof(err));
    return rc ? tl__mgr_error(m, rc, "redaction pattern: %s", err) : 0;
}

static void apply_defaults(tl_manager_options_t *o)
{
    if (o->kill_grace_s <= 0 || !isfinite(o->kill_grace_s))
        o->kill_grace_s = 5;
    if (o->log_cap_bytes <= 0)
        o->log_cap_bytes = 16 << 20;
    if (o->retry_base_s <= 0 || !isfinite(o->retry_base_s))
        o->retry_base_s = 1;
    if (o->max_queued <= 0)
        o->max_queued = 1000000;
}

static int set_paths(tl_manager_t *m, const char *data_dir)
{
    char host[256] = "localhost";
    gethostname(host, sizeof(host) - 1);
    m->data_dir = strdup(data_dir);
    m->logs_dir = tl__strfmt("%s/logs", data_dir);
    m->node = tl__strfmt("%s:%d", host, (int)getpid());
    if (!m->data_dir || !m->logs_dir || !m->node)
        return TL_ENOMEM;
    if (tl__mkdir_p(m->data_dir) || tl__mkdir_p(m->logs_dir))
        return tl__mgr_error(m, TL_EIO, "cannot create %s: %s", m->logs_dir,
                             strerror(errno));
    return 0;
}

int tl_manager_open(const tl_manager_options_t *opts, tl_manager_t **out)
{
    if (!opts || !opts->data_dir || !out)
        return TL_EINVAL;
    tl_manager_t *m = calloc(1, sizeof(*m));
    if (!m)
        return TL_ENOMEM;
    m->lock_fd = -1;
    m->stop_pipe[0] = m->stop_pipe[1] = -1;
    m->opts = *opts;
    m->opts.data_dir = NULL;
    m->opts.store = NULL;
    m->opts.redact_patterns = NULL;
    apply_defaults(&m->opts);
    m->deferred_tail = &m->deferred;
    tl__map_init(&m->jobs);
    tl__map_init(&m->pids);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    int rc = set_paths(m, opts->data_dir);
    rc = rc ? rc : lock_data_dir(m);
    rc = rc ? rc : make_events(m);
    rc = rc ? rc : make_redactor(m, opts->redact_patterns);
    if (!rc) {
        m->opts.store = opts->store;
        rc = open_store(m);
        m->opts.store = NULL;
    }
    rc = rc ? rc : recover(m);
    if (rc) {
        fprintf(stderr, "tasklight: %s\n", tl_manager_errmsg(m));
        tl_manager_close(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* Running command tasks are stopped and recorded as interrupted, as a
 * restart after a crash would record them. */
static void stop_running(tl_manager_t *m)
{
    int64_t now = tl__now_ms();
    for (size_t i = 0; i < m->jobs.cap; i++) {
        if (m->jobs.keys[i] == INT64_MIN)
            continue;
        tl__job_t *j = m->jobs.vals[i];
        if (!j->proc)
            continue;
        tl__proc_signal(j->proc, SIGKILL);
        tl__proc_signal(j->proc, SIGCONT);
        if (j->task->state == TL_STATE_RUNNING ||
            j->task->state == TL_STATE_PAUSED)
            interrupt(j, now);
    }
}

static void free_jobs(tl_manager_t *m)
{
    for (size_t i = 0; i < m->jobs.cap; i++) {
        if (m->jobs.keys[i] == INT64_MIN)
            continue;
        tl__job_t *j = m->jobs.vals[i];
        j->qi.pos = SIZE_MAX; /* the queues go with their groups */
        j->group = NULL;
        tl__job_free(j);
    }
    tl__map_free(&m->jobs);
    tl__map_free(&m->pids);
}

void tl_manager_close(tl_manager_t *m)
{
    if (!m)
        return;
    m->closing = true;
    for (size_t i = 0; i < m->jobs.cap; i++) /* functions: stop soon */
        if (m->jobs.keys[i] != INT64_MIN &&
            ((tl__job_t *)m->jobs.vals[i])->fctx)
            tl__func_cancel(((tl__job_t *)m->jobs.vals[i])->fctx, false);
    tl__pool_free(m->pool); /* waits for them to return */
    m->pool = NULL;
    if (m->base)
        tl__report_close(m);
    if (m->store) {
        if (tl__mgr_begin(m) == 0)
            stop_running(m);
        commit(m);
        m->store->ops->close(m->store);
    }
    free_jobs(m);
    tl__group_free_all(m);
    tl__history_free(m);
    tl__redactor_free(m->redactor);
    while (m->subs)
        tl_manager_unsubscribe(m, m->subs->id);
    if (m->sigchld_ev)
        event_free(m->sigchld_ev);
    if (m->stop_ev)
        event_free(m->stop_ev);
    if (m->retry_ev)
        event_free(m->retry_ev);
    if (m->sched_ev)
        event_free(m->sched_ev);
    free(m->batch.ids);
    free(m->created.ids);
    for (int i = 0; i < 2; i++)
        if (m->stop_pipe[i] >= 0)
            close(m->stop_pipe[i]);
    if (m->base)
        event_base_free(m->base);
    if (m->lock_fd >= 0)
        close(m->lock_fd);
    tl__strv_free(m->extra_env);
    free(m->data_dir);
    free(m->logs_dir);
    free(m->node);
    free(m);
}

int tl__mgr_turn(tl_manager_t *m, int flags)
{
    end_turn(m); /* work queued by calls made outside the loop */
    int rc = event_base_loop(m->base, EVLOOP_ONCE | flags);
    end_turn(m);
    return rc < 0 ? TL_EIO : 0;
}

int tl_manager_run(tl_manager_t *m)
{
    m->stopping = false;
    while (!m->stopping) {
        int rc = tl__mgr_turn(m, 0);
        if (rc)
            return rc;
    }
    return 0;
}

int tl_manager_run_once(tl_manager_t *m, int nonblock)
{
    return tl__mgr_turn(m, nonblock ? EVLOOP_NONBLOCK : 0);
}

void tl_manager_stop(tl_manager_t *m)
{
    int saved = errno;
    ssize_t n = write(m->stop_pipe[1], "x", 1);
    (void)n;
    errno = saved;
}

void tl__mgr_set_task_env(tl_manager_t *m, const char *socket_path,
                          const char *url, const char *token)
{
    char *v[4] = {NULL};
    size_t k = 0;
    if (socket_path)
        v[k++] = tl__strfmt("TASKLIGHT_SOCKET=%s", socket_path);
    if (url)
        v[k++] = tl__strfmt("TASKLIGHT_URL=%s", url);
    if (token)
        v[k++] = tl__strfmt("TASKLIGHT_TOKEN=%s", token);
    tl__strv_free(m->extra_env);
    m->extra_env = tl__strv_dup((const char *const *)v);
    for (size_t i = 0; i < k; i++)
        free(v[i]);
}
