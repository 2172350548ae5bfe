/*
 * job.c -- the life of one command task: start, output, pause, resume,
 * cancel, timeout, exit, automatic retry.
 *
 * DESIGN: every state change goes through tl__job_set_state(), which checks the
 * state machine, stamps the task, marks it for the turn's commit and emits
 * the event. Cancel makes the task final at once (the answer says
 * "cancelled") while the process group is still being stopped: SIGTERM,
 * then SIGKILL after the grace period; the job keeps its slot until the
 * leader is reaped, so a slot never holds two live tasks. When the leader
 * exits, whatever is left of its group is killed (exec.c). Timeouts count
 * running time only: the timer is removed on pause and re-armed with what
 * is left on resume.
 */
#include "manager.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char *event_for_state(tl_state_t s)
{
    switch (s) {
    case TL_STATE_QUEUED:
        return "task.retrying";
    case TL_STATE_RUNNING:
        return "task.started";
    case TL_STATE_PAUSED:
        return "task.paused";
    case TL_STATE_COMPLETED:
        return "task.completed";
    case TL_STATE_FAILED:
        return "task.failed";
    default:
        return "task.cancelled";
    }
}

int tl__job_set_state(tl__job_t *j, tl_state_t to, const char *event)
{
    tl_task_t *t = j->task;
    if (!tl__state_transition_ok(t->state, to))
        return TL_ECONFLICT;
    int64_t now = tl__now_ms();
    tl_state_t from = t->state;
    t->state = to;
    t->updated_at = now;
    if (tl_state_is_final(to)) {
        t->finished_at = now;
        if (t->paused_at) {
            t->paused_ms += now - t->paused_at;
            t->paused_at = 0;
        }
        if (from == TL_STATE_RUNNING || from == TL_STATE_PAUSED)
            tl__metrics_observe_task_end(
                t->kind, to, (double)tl__task_elapsed_ms(t, now) / 1e3);
    }
    if (to == TL_STATE_COMPLETED) {
        /* Done is all the way: the bar ends full (unless it never had
         * a value for a command, which stays unknown). */
        if (t->source != TL_SOURCE_COMMAND || isfinite(t->progress))
            t->progress = 100;
        if (isfinite(t->total))
            t->current = t->total;
        tl__history_record(j->m, t);
    }
    tl__mgr_touch(j);
    if (!event || *event) /* "" means: a later change will tell */
        tl__mgr_emit_task(j->m, event ? event : event_for_state(to), j);
    return 0;
}

tl__job_t *tl__job_new(tl_manager_t *m, tl_task_t *t)
{
    tl__job_t *j = calloc(1, sizeof(*j));
    if (!j)
        return NULL;
    j->task = t;
    j->m = m;
    j->qi.pos = SIZE_MAX;
    j->stored_state = -1;
    tl__eta_init(&j->eta);
    return j;
}

void tl__job_stored(tl__job_t *j)
{
    j->stored_state = (int)j->task->state;
    j->stored_finished_at = j->task->finished_at;
}

void tl__job_free(tl__job_t *j)
{
    if (!j)
        return;
    tl__sched_dequeue(j);
    if (j->timeout_ev)
        event_free(j->timeout_ev);
    if (j->kill_ev)
        event_free(j->kill_ev);
    tl__proc_free(j->proc);
    tl__tasklog_close(j->log);
    tl__report_free_job(j);
    tl__func_spec_free(j->fspec);
    tl__progress_re_free(j->progress_re);
    tl_task_free(j->task);
    free(j);
}

/* Secrets go before anything is stored or sent. */
static size_t redact(tl__job_t *j, char stream, const char *line, size_t len,
                     char *out, size_t cap)
{
    size_t n = 0;
    tl__redact_state_t *st = &j->redact[stream == 'o' ? 0 : stream == 'e'];
    if (stream == 'i')
        st = &j->redact[2];
    tl__redact(j->m->redactor, st, line, len, out, cap, &n);
    return n;
}

/* held: a note about an attempt that went well, written only if the task
 * has a log file by then (see tl__tasklog_append_held). */
static int log_line(tl__job_t *j, char stream, const char *raw, size_t raw_len,
                    bool held)
{
    char line[TL__LOG_LINE_MAX + 256];
    size_t len = redact(j, stream, raw, raw_len, line, sizeof(line));
    int64_t now = tl__now_ms();
    int rc = 0;
    if (j->log)
        rc = held ? tl__tasklog_append_held(j->log, now, stream, line, len)
                  : tl__tasklog_append(j->log, now, stream, line, len);
    if (!j->m->subs)
        return rc;
    char ts[40];
    tl__fmt_time(now, ts, sizeof(ts));
    json_t *d = json_pack("{s:I, s:s, s:s, s:s%}", "task_id",
                          (json_int_t)j->task->id, "ts", ts, "stream",
                          stream == 'e'   ? "stderr"
                          : stream == 'i' ? "info"
                                          : "stdout",
                          "text", line, len);
    if (d)
        tl__mgr_emit(j->m, "task.log", j->task->id, d);
    return rc;
}

int tl__job_log_line(tl__job_t *j, char stream, const char *raw, size_t raw_len)
{
    return log_line(j, stream, raw, raw_len, false);
}

/* Progress read from a command's output, with no help from the command. */
static void read_progress(tl__job_t *j, const char *line, size_t len)
{
    tl_task_t *t = j->task;
    tl__progress_reading_t r;
    bool found = j->progress_re
                     ? tl__progress_re_match(j->progress_re, line, len, &r)
                     : t->progress_parse && tl__progress_parse(line, len, &r);
    if (!found || t->state != TL_STATE_RUNNING)
        return;
    if (isfinite(r.percent))
        t->progress = r.percent;
    t->current = r.current;
    t->total = r.total;
    if (r.unit[0] && (!t->unit || strcmp(t->unit, r.unit) != 0))
        tl__str_set(&t->unit, r.unit);
    tl__job_observe_progress(j);
    tl__job_progress_changed(j);
}

static void on_output(void *ud, char stream, const char *line, size_t len,
                      int kind)
{
    tl__job_t *j = ud;
    read_progress(j, line, len);
    if (kind == TL__PROC_LINE)
        tl__job_log_line(j, stream, line, len);
}

/* A note of the daemon's in the task's log. held: about an attempt that
 * went well, so it goes only to a log the task has made by printing
 * something or by failing: a task that prints nothing and succeeds makes
 * no file. */
__attribute__((format(printf, 3, 4))) static void
log_note(tl__job_t *j, bool held, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    log_line(j, 'i', line, len, held);
}

/* ---- environment ---------------------------------------------------- */

static bool env_overridden(const char *kv, char *const *extra)
{
    size_t n = strcspn(kv, "=");
    if (strncmp(kv, "TASKLIGHT_", 10) != 0)
        return false;
    for (size_t i = 0; extra && extra[i]; i++)
        if (strncmp(extra[i], kv, n + 1) == 0)
            return true;
    return strncmp(kv, "TASKLIGHT_TASK_ID=", 18) == 0;
}

extern char **environ;

/* The task's environment plus TASKLIGHT_*; a malloc'd vector of borrowed
 * strings except the id entry (envp[0]). */
static char **build_env(tl__job_t *j)
{
    char *const *base = j->task->env ? j->task->env : environ;
    char *const *extra = j->m->extra_env;
    size_t n = tl__strv_len((const char *const *)base) +
               tl__strv_len((const char *const *)extra) + 2;
    char **envp = calloc(n, sizeof(*envp));
    if (!envp)
        return NULL;
    size_t k = 0;
    envp[k++] = tl__strfmt("TASKLIGHT_TASK_ID=%lld", (long long)j->task->id);
    for (size_t i = 0; base[i]; i++)
        if (!env_overridden(base[i], extra))
            envp[k++] = base[i];
    for (size_t i = 0; extra && extra[i]; i++)
        envp[k++] = extra[i];
    envp[k] = NULL;
    if (!envp[0]) {
        free(envp);
        return NULL;
    }
    return envp;
}

/* ---- start ------------------------------------------------------------ */

static void on_timeout(evutil_socket_t fd, short what, void *arg);
static void arm_kill_timer(tl__job_t *j);

static void arm_timeout(tl__job_t *j)
{
    tl_task_t *t = j->task;
    if (t->timeout_s <= 0)
        return;
    if (!j->timeout_ev)
        j->timeout_ev = evtimer_new(j->m->base, on_timeout, j);
    if (!j->timeout_ev)
        return;
    int64_t left =
        (int64_t)(t->timeout_s * 1000) - tl__task_elapsed_ms(t, tl__now_ms());
    if (left < 0)
        left = 0;
    struct timeval tv = {left / 1000, (left % 1000) * 1000};
    evtimer_add(j->timeout_ev, &tv);
}

static void reset_attempt(tl_task_t *t, int64_t now)
{
    t->attempt++;
    t->started_at = now;
    t->finished_at = 0;
    t->paused_ms = 0;
    t->paused_at = 0;
    t->run_after = 0;
    t->exit_code = TL__NO_EXIT_CODE;
    t->cancel_requested = false;
    t->progress = t->current = NAN;
    free(t->error);
    t->error = NULL;
}

static int spawn(tl__job_t *j, char *err, size_t errlen)
{
    char **envp = build_env(j);
    if (!envp) {
        snprintf(err, errlen, "out of memory");
        return TL_ENOMEM;
    }
    tl__spawn_t spec = {j->task->argv, j->task->cwd, envp};
    int rc =
        tl__proc_spawn(j->m->base, &spec, on_output, j, &j->proc, err, errlen);
    free(envp[0]);
    free(envp);
    return rc;
}

static void fail_to_start(tl__job_t *j, const char *err)
{
    log_note(j, false, "%s", err);
    tl__str_set(&j->task->error, err);
    tl__job_set_state(j, TL_STATE_FAILED, NULL);
    tl__sched_release(j);
    tl__job_release_if_done(j);
}

void tl__job_start(tl__job_t *j)
{
    tl_manager_t *m = j->m;
    tl_task_t *t = j->task;
    int64_t now = tl__now_ms();
    int rc = tl__mgr_begin(m);
    if (!m->store->ops->exclusive) {
        if (!rc && j->dirty) /* the claim below must see its queued row */
            rc = tl__mgr_flush(m);
        rc = rc ? rc : m->store->ops->claim_task(m->store, t->id, m->node, now);
        if (!rc)
            j->stored_state = TL_STATE_RUNNING; /* the claim moved it */
    }
    if (rc) { /* another daemon took it, or the store failed: skip it */
        tl__sched_release(j);
        return;
    }
    int64_t queued = t->attempt == 0 ? t->created_at : t->run_after;
    if (queued > 0 && now >= queued)
        tl__metrics_observe_queue_wait(t->kind, (double)(now - queued) / 1e3);
    reset_attempt(t, now);
    tl__eta_init(&j->eta);
    tl__str_set(&t->node, m->node);
    if (!j->log)
        tl__tasklog_open(m->logs_dir, t->id, m->opts.log_cap_bytes, &j->log);
    tl__job_set_state(j, TL_STATE_RUNNING, NULL);
    char err[512];
    if (t->source == TL_SOURCE_FUNCTION) {
        if (tl__func_dispatch(j) != 0)
            fail_to_start(j, j->fspec ? "out of memory"
                                      : "interrupted: the program that "
                                        "submitted it stopped");
        else
            arm_timeout(j);
        return;
    }
    if (!t->argv || !t->argv[0]) {
        fail_to_start(j, "task has no command");
        return;
    }
    if (t->progress_regex && !j->progress_re &&
        tl__progress_re_compile(t->progress_regex, &j->progress_re, err,
                                sizeof(err)) != 0) {
        fail_to_start(j, err);
        return;
    }
    if (spawn(j, err, sizeof(err)) != 0) {
        fail_to_start(j, err);
        return;
    }
    t->pid = (int)tl__proc_pid(j->proc);
    t->pid_start = tl__proc_start_time_now();
    tl__map_put(&m->pids, tl__proc_pid(j->proc), j);
    log_note(j, true, "started attempt %d as pid %d", t->attempt,
             (int)tl__proc_pid(j->proc));
    arm_timeout(j);
}

/* ---- signals ---------------------------------------------------------- */

static void on_kill(evutil_socket_t fd, short what, void *arg)
{
    tl__job_t *j = arg;
    if (j->proc)
        tl__proc_signal(j->proc, SIGKILL);
}

static void arm_kill_timer(tl__job_t *j)
{
    if (!j->kill_ev)
        j->kill_ev = evtimer_new(j->m->base, on_kill, j);
    if (!j->kill_ev)
        return;
    struct timeval tv = tl__timeval(j->m->opts.kill_grace_s);
    evtimer_add(j->kill_ev, &tv);
}

/* SIGTERM to the group (woken first if stopped), SIGKILL after grace. */
static void terminate(tl__job_t *j)
{
    if (!j->proc)
        return;
    tl__proc_signal(j->proc, SIGTERM);
    tl__proc_signal(j->proc, SIGCONT);
    arm_kill_timer(j);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    tl__job_t *j = arg;
    if (j->task->state != TL_STATE_RUNNING || j->timed_out)
        return;
    j->timed_out = true;
    log_note(j, false, "timed out after %gs; stopping", j->task->timeout_s);
    if (j->fctx)
        tl__func_cancel(j->fctx, true);
    terminate(j);
}

int tl__job_cancel(tl__job_t *j)
{
    tl_task_t *t = j->task;
    if (t->source == TL_SOURCE_TRACKED)
        return tl__job_request(j, "cancel");
    if (!tl__state_transition_ok(t->state, TL_STATE_CANCELLED))
        return TL_ECONFLICT;
    int rc = tl__mgr_begin(j->m);
    if (rc)
        return rc;
    if (t->state == TL_STATE_QUEUED) {
        tl__sched_dequeue(j);
        tl__job_set_state(j, TL_STATE_CANCELLED, NULL);
        tl__job_release_if_done(j);
        return 0;
    }
    t->cancel_requested = true;
    j->cancelling = true;
    if (j->timeout_ev)
        evtimer_del(j->timeout_ev);
    log_note(j, false, "cancelled; stopping");
    tl__job_set_state(j, TL_STATE_CANCELLED, NULL);
    if (j->fctx)
        tl__func_cancel(j->fctx, false);
    terminate(j);
    tl__job_release_if_done(j);
    return 0;
}

int tl__job_pause(tl__job_t *j)
{
    tl_task_t *t = j->task;
    if (t->source == TL_SOURCE_TRACKED)
        return tl__job_request(j, "pause");
    if (t->state != TL_STATE_RUNNING || (!j->proc && !j->fctx))
        return TL_ECONFLICT;
    int rc = tl__mgr_begin(j->m);
    if (rc)
        return rc;
    if (j->proc)
        tl__proc_signal(j->proc, SIGSTOP);
    else
        tl__func_pause(j->fctx);
    t->paused_at = tl__now_ms();
    if (j->timeout_ev)
        evtimer_del(j->timeout_ev);
    log_note(j, false, "paused");
    return tl__job_set_state(j, TL_STATE_PAUSED, NULL);
}

int tl__job_resume(tl__job_t *j)
{
    tl_task_t *t = j->task;
    if (t->source == TL_SOURCE_TRACKED)
        return tl__job_request(j, "resume");
    if (t->state != TL_STATE_PAUSED || (!j->proc && !j->fctx))
        return TL_ECONFLICT;
    int rc = tl__mgr_begin(j->m);
    if (rc)
        return rc;
    if (j->proc)
        tl__proc_signal(j->proc, SIGCONT);
    else
        tl__func_resume(j->fctx);
    t->paused_ms += tl__now_ms() - t->paused_at;
    t->paused_at = 0;
    log_note(j, false, "resumed");
    rc = tl__job_set_state(j, TL_STATE_RUNNING, "task.resumed");
    arm_timeout(j);
    return rc;
}

/* ---- exit ------------------------------------------------------------- */

static void describe_exit(tl__job_t *j, int wstatus, char *err, size_t len)
{
    tl_task_t *t = j->task;
    err[0] = '\0';
    if (WIFEXITED(wstatus)) {
        t->exit_code = WEXITSTATUS(wstatus);
        if (t->exit_code != 0)
            snprintf(err, len, "exited with code %d", t->exit_code);
    } else if (WIFSIGNALED(wstatus)) {
        int sig = WTERMSIG(wstatus);
        t->exit_code = 128 + sig;
        snprintf(err, len, "killed by signal %d (%s)", sig,
                 sigabbrev_np(sig) ? sigabbrev_np(sig) : "?");
    }
    if (j->timed_out)
        snprintf(err, len, "timed out after %gs", t->timeout_s);
}

static double backoff_s(const tl__job_t *j)
{
    double d = j->m->opts.retry_base_s * pow(2, j->task->attempt - 1);
    return d > 300 ? 300 : d;
}

static void maybe_retry(tl__job_t *j)
{
    tl_task_t *t = j->task;
    if (t->attempt > t->max_retries)
        return;
    double d = backoff_s(j);
    t->run_after = tl__now_ms() + (int64_t)(d * 1000);
    log_note(j, false, "retrying in %gs (attempt %d of %d)", d, t->attempt + 1,
             t->max_retries + 1);
    if (tl__job_set_state(j, TL_STATE_QUEUED, "task.retrying") == 0)
        tl__sched_enqueue(j);
}

/* The end of an attempt, whatever ran it: the final state unless a
 * cancel already set it, a retry if allowed, the slot given back. */
static void attempt_over(tl__job_t *j, const char *err)
{
    if (tl__mgr_begin(j->m) == 0 && !j->cancelling) {
        bool ok = !err;
        if (ok)
            log_note(j, true, "completed");
        else
            log_note(j, false, "failed: %s", err);
        if (!ok)
            tl__str_set(&j->task->error, err);
        bool retry = !ok && j->task->attempt <= j->task->max_retries;
        tl__job_set_state(j, ok ? TL_STATE_COMPLETED : TL_STATE_FAILED,
                          retry ? "" : NULL);
        if (retry)
            maybe_retry(j);
    } else if (j->cancelling) {
        tl__mgr_touch(j);
    }
    j->cancelling = false;
    j->timed_out = false;
    tl__sched_release(j);
    tl__job_release_if_done(j);
}

void tl__job_reaped(tl__job_t *j, int wstatus)
{
    tl_manager_t *m = j->m;
    tl__proc_exited(j->proc);
    tl__map_del(&m->pids, tl__proc_pid(j->proc));
    tl__proc_free(j->proc);
    j->proc = NULL;
    j->task->pid = 0;
    j->task->pid_start = 0;
    if (j->kill_ev)
        evtimer_del(j->kill_ev);
    if (j->timeout_ev)
        evtimer_del(j->timeout_ev);
    char err[256];
    describe_exit(j, wstatus, err, sizeof(err));
    attempt_over(j, err[0] ? err : NULL);
}

void tl__job_function_returned(tl__job_t *j, int rc, const char *err)
{
    if (j->timeout_ev)
        evtimer_del(j->timeout_ev);
    char why[128];
    if (j->timed_out) {
        snprintf(why, sizeof(why), "timed out after %gs", j->task->timeout_s);
        err = why;
    }
    attempt_over(j, rc || j->timed_out ? err : NULL);
}

void tl__job_release_if_done(tl__job_t *j)
{
    if (!tl_state_is_final(j->task->state) || j->proc || j->fctx)
        return;
    /* Written at commit from the dirty list; freed once it held. */
    if (j->dirty || j->in_batch)
        return;
    tl__map_del(&j->m->jobs, j->task->id);
    tl__job_free(j);
}
