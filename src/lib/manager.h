/*
 * manager.h -- the manager's internals, shared by manager.c, sched.c,
 * job.c and the HTTP layer.
 *
 * DESIGN: one thread runs one libevent loop. Every change to a task happens
 * on it, in memory first (the job), then in the store inside a transaction
 * opened lazily on the first write of a loop turn. A turn is one pass of
 * the libevent loop (every ready socket, timer and signal); at its end the
 * scheduler fills free slots, then the commit writes the dirty tasks,
 * COMMITs, and answers the requests that waited on it. So every
 * acknowledgement follows a commit, and a burst of requests costs one.
 *
 * Only tasks that are not final live in memory (jobs, by id); finished ones
 * are read from the store on demand, so memory and start-up cost follow
 * the active work, not history. A job whose task has ended stays until its
 * process group is gone (a cancelled task may still be dying).
 */
#ifndef TL_MANAGER_H
#define TL_MANAGER_H

#include "eta.h"
#include "exec.h"
#include "func.h"
#include "progress.h"
#include "redact.h"
#include "map.h"
#include "queue.h"
#include "store.h"
#include "tasklog.h"

#include <event2/event.h>
#include <jansson.h>
#include <stdbool.h>

#define TL__HISTORY_MAX 20
typedef struct tl__kind_history tl__kind_history_t;

typedef struct tl__group {
    char *name;
    int parallel;    /* 0: unlimited */
    bool configured; /* the limit was set by someone, not defaulted */
    int running;     /* jobs holding a slot */
    tl__queue_t queue;
    struct tl__group *next;
} tl__group_t;

typedef struct tl__job {
    tl__qitem_t qi; /* in its group's queue while queued and due */
    tl_task_t *task;
    tl_manager_t *m;
    tl__group_t *group; /* the group whose slot it holds or queue it is in */
    tl__proc_t *proc;   /* the running process group, or NULL */
    tl__tasklog_t *log;
    struct event *timeout_ev; /* the task's timeout */
    struct event *kill_ev;    /* SIGKILL after the grace period */
    struct event *due_ev;     /* run_after reached */
    bool holds_slot;
    bool cancelling; /* final state already set to cancelled */
    bool timed_out;
    bool dirty; /* must be written at commit */
    struct tl__job *dirty_next;
    struct event *beat_ev;     /* tracked: heartbeat deadline */
    struct event *progress_ev; /* a coalesced task.progress to send */
    int64_t last_progress_event;
    bool progress_unsaved; /* a progress tick awaits the periodic save */
    bool in_batch;         /* written in the open transaction */
    /* The state and finished_at the store holds (stored_state -1: not
     * known, or the group moved): a write that leaves them as they are
     * skips the store's indexes on them. */
    int stored_state;
    int64_t stored_finished_at;
    bool deleted; /* removed from the store; forget once idle */
    tl__eta_t eta;
    tl__func_spec_t *fspec; /* function tasks: what to run */
    tl_ctx_t *fctx;         /* function tasks: while the function runs */
    tl__progress_re_t *progress_re; /* commands: the user's pattern */
    tl__redact_state_t redact[3];   /* per stream: stdout, stderr, info */
} tl__job_t;

/* A report on a running task (PATCH): each has_ field says whether the
 * request set it. Values are validated for type by the caller. */
typedef struct tl__report {
    bool has_progress, has_current, has_total, has_unit, has_message;
    double progress, current, total; /* NAN: null */
    const char *unit, *message;      /* NULL: null */
    json_t *metadata;                /* merged; NULL: untouched */
    int state;                       /* a tl_state_t, or -1 */
    json_t *result;                  /* NULL: untouched */
    const char *error;               /* NULL: untouched */
} tl__report_t;

typedef void (*tl__after_commit_fn)(void *ud, int rc);

typedef struct tl__deferred {
    tl__after_commit_fn fn;
    void *ud;
    struct tl__deferred *next;
} tl__deferred_t;

typedef struct tl__sub {
    uint64_t id;
    tl_event_cb cb;
    void *ud;
    struct tl__sub *next;
} tl__sub_t;

typedef struct tl__idvec {
    int64_t *ids;
    size_t len, cap;
} tl__idvec_t;

struct tl_manager {
    struct event_base *base;
    tl__store_t *store;
    tl_manager_options_t opts;
    char *data_dir;
    char *logs_dir;
    char *node;       /* "host:pid": this daemon, as tasks record it */
    char **extra_env; /* TASKLIGHT_SOCKET=..., TASKLIGHT_URL=... */
    int lock_fd;
    tl__map_t jobs; /* id -> job, for tasks not yet final (and dying) */
    tl__map_t pids; /* pid -> job */
    tl__group_t *groups;
    bool sched_pending;     /* run the scheduler at the end of this turn */
    struct event *sched_ev; /* the scheduler after this turn's replies */
    bool stopping;
    struct event *sigchld_ev;
    struct event *stop_ev;
    int stop_pipe[2];
    bool in_txn;
    tl__job_t *dirty;
    tl__deferred_t *deferred, **deferred_tail;
    tl__sub_t *subs;
    uint64_t next_sub;
    uint64_t event_seq;
    bool closing;
    bool draining;          /* shutting down: nothing new starts */
    tl__idvec_t unsaved;    /* jobs with progress ticks not yet stored */
    tl__idvec_t batch;      /* jobs written in the open transaction */
    tl__idvec_t created;    /* tasks inserted in the open transaction */
    struct event *retry_ev; /* a failed commit is tried again */
    tl__kind_history_t *history;
    tl__pool_t *pool; /* worker threads for function tasks, made on need */
    tl__redactor_t *redactor;
    int workers;
    struct event *save_ev; /* stores them, a few times a second */
    char errmsg[512];
};

/* manager.c */
int tl__mgr_error(tl_manager_t *m, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tl__mgr_begin(tl_manager_t *m); /* opens the turn's transaction */
void tl__mgr_touch(tl__job_t *j);   /* job changed: write it at commit */
/* Writes the dirty jobs into the open transaction (reads then see them). */
int tl__mgr_flush(tl_manager_t *m);
int tl__idvec_push(tl__idvec_t *v, int64_t id);
/* fn(ud, rc) runs after this turn's commit (at once if nothing is
 * pending), rc the commit's result. */
void tl__mgr_after_commit(tl_manager_t *m, tl__after_commit_fn fn, void *ud);
void tl__mgr_emit(tl_manager_t *m, const char *type, int64_t id,
                  json_t *data /* taken */);
void tl__mgr_emit_task(tl_manager_t *m, const char *type, tl__job_t *j);
/* The task as JSON, from memory or the store; brief: only what a reporter
 * needs back (id, state, cancel_requested, pause_requested).
 * TL_ENOTFOUND. */
int tl__mgr_task_json(tl_manager_t *m, int64_t id, bool brief, json_t **out);
int tl__mgr_list_json(tl_manager_t *m, const tl_filter_t *f, json_t **out);
int tl__mgr_create(tl_manager_t *m, tl_task_t *t /* taken */, int64_t *id,
                   bool *existed);
int tl__mgr_patch(tl_manager_t *m, int64_t id, const char *title,
                  const char *description, const int64_t *priority,
                  const char *group);
int tl__mgr_groups_json(tl_manager_t *m, json_t **out);
int tl__mgr_clean(tl_manager_t *m, int64_t older_than_ms, int64_t *removed);
int tl__mgr_logs_json(tl_manager_t *m, int64_t id, long tail, long from,
                      long limit, json_t **out);
void tl__mgr_set_task_env(tl_manager_t *m, const char *socket_path,
                          const char *url, const char *token);

/* report.c: tracked tasks and reports on running tasks */
int tl__mgr_report(tl_manager_t *m, int64_t id, const tl__report_t *r,
                   bool *durable);
int tl__mgr_append_logs(tl_manager_t *m, int64_t id, char stream,
                        const json_t *lines, size_t *appended);
/* queued, running, completed, failed or cancelled. */
bool tl__substep_state_ok(const char *state);
int tl__mgr_substep_add(tl_manager_t *m, int64_t id, json_t *body,
                        json_t **out);
int tl__mgr_substep_update(tl_manager_t *m, int64_t id, const char *sid,
                           json_t *body, json_t **out);
void tl__job_heartbeat(tl__job_t *j);
void tl__job_progress_changed(tl__job_t *j);
/* Tracked tasks: cancel and pause are requests to the reporter. */
int tl__job_request(tl__job_t *j, const char *what);
void tl__report_free_job(tl__job_t *j);
int tl__report_init(tl_manager_t *m);
void tl__report_close(tl_manager_t *m);

/* history.c: typical durations per kind */
double tl__history_prior(tl_manager_t *m, const char *kind); /* NAN: none */
void tl__history_record(tl_manager_t *m, const tl_task_t *t);
void tl__history_free(tl_manager_t *m);

/* The task of a job as JSON, with its live ETA. */
json_t *tl__job_json(tl__job_t *j, int64_t now);
/* Feeds the job's ETA with its current progress. */
void tl__job_observe_progress(tl__job_t *j);

/* sched.c: groups, queues and slots */
tl__group_t *tl__group_get(tl_manager_t *m, const char *name, bool create);
void tl__group_free_all(tl_manager_t *m);
int tl__sched_enqueue(tl__job_t *j); /* queued job: into its queue now or
                                        when run_after comes */
void tl__sched_dequeue(tl__job_t *j);
void tl__sched_release(tl__job_t *j); /* give back the job's slot */
void tl__sched_kick(tl_manager_t *m); /* run the scheduler this turn */
void tl__sched_run(tl_manager_t *m);
/* One loop turn and its end (scheduler, commit); flags as event_base_loop */
int tl__mgr_turn(tl_manager_t *m, int flags);

/* job.c: a job's life */
/* Checks the state machine, stamps, marks for commit, emits (event NULL:
 * the state's own; "": none). TL_ECONFLICT when not allowed. */
int tl__job_set_state(tl__job_t *j, tl_state_t to, const char *event);
tl__job_t *tl__job_new(tl_manager_t *m, tl_task_t *t /* taken */);
/* The store now holds j's task as it is in memory. */
void tl__job_stored(tl__job_t *j);
void tl__job_free(tl__job_t *j);
void tl__job_start(tl__job_t *j);
int tl__job_cancel(tl__job_t *j);
int tl__job_pause(tl__job_t *j);
int tl__job_resume(tl__job_t *j);
void tl__job_reaped(tl__job_t *j, int wstatus);
/* The job's function returned rc (err: its error text, or NULL). */
void tl__job_function_returned(tl__job_t *j, int rc, const char *err);
/* Stores a log line of the job's task and emits task.log. */
int tl__job_log_line(tl__job_t *j, char stream, const char *line, size_t len);
/* Forgets the job if its task is final and nothing of it runs. */
void tl__job_release_if_done(tl__job_t *j);

#endif
