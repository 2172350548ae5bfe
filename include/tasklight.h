/*
 * tasklight.h -- the public API of libtasklight.
 *
 * libtasklight runs and tracks background tasks: it keeps them in a store
 * (SQLite by default), runs command tasks as process groups, schedules them
 * by priority within groups that have parallel limits, emits an event for
 * every change, and can serve all of it over HTTP (a unix socket and a
 * loopback TCP port behind a token).
 *
 * Threads: a manager is driven by one thread, the one that calls
 * tl_manager_run() (or tl_manager_run_once()). Every function taking a
 * tl_manager_t must be called from that thread, except tl_manager_stop(),
 * which any thread or a signal handler may call. tl_strerror(),
 * tl_err_name(), tl_state_name() and the tl_task_* accessors are safe from
 * any thread on a task the caller owns.
 *
 * Memory: everything the library hands out is freed with tl_free() (strings)
 * or the matching destroy function; destroy functions accept NULL. On
 * allocation failure functions return TL_ENOMEM and leave outputs untouched.
 *
 * Errors: every function that can fail returns a tl_err_t: 0 on success, a
 * negative TL_E* code on failure. tl_manager_errmsg() then says what failed
 * in words ("task 42 does not exist").
 */
#ifndef TASKLIGHT_H
#define TASKLIGHT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define TL_EXTERN __attribute__((visibility("default")))
#else
#define TL_EXTERN
#endif

#define TL_VERSION "0.1.0"

/* ---- errors ----------------------------------------------------------- */

/* XX(name, code, http status, stable API code, message) */
#define TL_ERRNO_MAP(XX)                                                       \
    XX(EINVAL, -1, 400, "bad_request", "invalid argument")                     \
    XX(ENOTFOUND, -2, 404, "not_found", "not found")                           \
    XX(ECONFLICT, -3, 409, "conflict", "conflicting state")                    \
    XX(EUNPROCESSABLE, -4, 422, "invalid", "invalid value")                    \
    XX(ETOOBIG, -5, 413, "too_large", "too large")                             \
    XX(ENOMEM, -6, 500, "out_of_memory", "out of memory")                      \
    XX(ESTORE, -7, 503, "store_error", "store error")                          \
    XX(EFULL, -8, 507, "storage_full", "no space left on the store")           \
    XX(EIO, -9, 500, "io_error", "input/output error")                         \
    XX(EBUSY, -10, 409, "busy", "resource busy")                               \
    XX(EUNAUTH, -11, 401, "unauthorized", "unauthorized")                      \
    XX(EFORBIDDEN, -12, 403, "forbidden", "forbidden")                         \
    XX(ELIMIT, -13, 429, "limit_reached", "limit reached")                     \
    XX(ESPAWN, -14, 500, "spawn_failed", "cannot start process")               \
    XX(ETIMEDOUT, -15, 504, "timeout", "timed out")                            \
    XX(ECLOSED, -16, 503, "shutting_down", "manager is closing")

typedef enum {
    TL_OK = 0,
#define TL_ERR_ENUM(name, code, status, api, msg) TL_##name = code,
    TL_ERRNO_MAP(TL_ERR_ENUM)
#undef TL_ERR_ENUM
} tl_err_t;

/* A static English description of err ("not found"); never NULL. */
TL_EXTERN const char *tl_strerror(int err);
/* The stable API code of err ("not_found"); "ok" for 0, never NULL. */
TL_EXTERN const char *tl_err_name(int err);
/* The HTTP status that fits err (404 for TL_ENOTFOUND, 200 for 0). */
TL_EXTERN int tl_err_http_status(int err);

/* Frees memory the library handed out (strings, JSON text). NULL is fine. */
TL_EXTERN void tl_free(void *p);

/* ---- the task model --------------------------------------------------- */

typedef enum {
    TL_STATE_QUEUED = 0,
    TL_STATE_RUNNING,
    TL_STATE_PAUSED,
    TL_STATE_COMPLETED,
    TL_STATE_FAILED,
    TL_STATE_CANCELLED,
    TL_STATE__COUNT
} tl_state_t;

typedef enum {
    TL_SOURCE_COMMAND = 0,
    TL_SOURCE_TRACKED,
    TL_SOURCE_FUNCTION
} tl_source_t;

/* "queued", "running", ...; NULL for a value out of range. */
TL_EXTERN const char *tl_state_name(tl_state_t s);
/* Parses a state name; returns TL_EINVAL when unknown. */
TL_EXTERN int tl_state_parse(const char *name, tl_state_t *out);
/* Non-zero for completed, failed and cancelled. */
TL_EXTERN int tl_state_is_final(tl_state_t s);

/* A snapshot of one task, owned by the caller: tl_task_free() it. */
typedef struct tl_task tl_task_t;

TL_EXTERN void tl_task_free(tl_task_t *t);
TL_EXTERN int64_t tl_task_id(const tl_task_t *t);
TL_EXTERN tl_state_t tl_task_state(const tl_task_t *t);
/* The exit code of the last attempt, or -1 when there is none. */
TL_EXTERN int tl_task_exit_code(const tl_task_t *t);
/* The error text, or NULL. Owned by the task. */
TL_EXTERN const char *tl_task_error(const tl_task_t *t);
/* The task as JSON text (DESIGN section 3 field names); tl_free() it.
 * Returns NULL on allocation failure. */
TL_EXTERN char *tl_task_to_json(const tl_task_t *t);

/* ---- the manager ------------------------------------------------------ */

typedef struct tl_manager tl_manager_t;

typedef struct tl_manager_options {
    /* Directory for the database, logs/, the token and the socket; created
     * 0700 if missing. Required. */
    const char *data_dir;
    /* Store URI: NULL or "sqlite" for DATA_DIR/tasklight.db, or
     * "sqlite:PATH". */
    const char *store;
    /* Seconds between SIGTERM and SIGKILL on cancel; 0 means 5. */
    double kill_grace_s;
    /* Per-task log cap in bytes (the newest output is kept); 0: 16 MiB. */
    int64_t log_cap_bytes;
    /* Base delay of automatic retries in seconds, doubled per attempt and
     * capped at 300; 0 means 1. */
    double retry_base_s;
    /* More secrets to redact from logs: NULL-terminated PCRE2 patterns
     * (the whole match, or group 1, is replaced); NULL for none. Built-in
     * rules (passwords, tokens, keys, URLs with credentials) always apply. */
    const char *const *redact_patterns;
    /* Queued tasks at most; creating more is TL_ELIMIT (429). 0: 1000000. */
    int64_t max_queued;
} tl_manager_options_t;

/* Opens the store, recovers tasks a previous daemon left running (failed
 * with "interrupted: daemon stopped", re-queued if retries remain) and
 * returns a manager in *out (free with tl_manager_close()). Takes an
 * exclusive lock on the data directory: TL_EBUSY when another manager holds
 * it. Makes the calling process a child subreaper. */
TL_EXTERN int tl_manager_open(const tl_manager_options_t *opts,
                              tl_manager_t **out);
/* Kills the process groups of running command tasks (they are recovered
 * as interrupted on the next open), commits, and frees everything. */
TL_EXTERN void tl_manager_close(tl_manager_t *m);
/* The message of the last failed call on this manager; never NULL. */
TL_EXTERN const char *tl_manager_errmsg(const tl_manager_t *m);

/* Runs the event loop until tl_manager_stop(). */
TL_EXTERN int tl_manager_run(tl_manager_t *m);
/* Runs one turn of the loop; blocks for events unless nonblock. */
TL_EXTERN int tl_manager_run_once(tl_manager_t *m, int nonblock);
/* Makes tl_manager_run() return soon. Async-signal-safe. */
TL_EXTERN void tl_manager_stop(tl_manager_t *m);

typedef struct tl_submit {
    const char *title;       /* NULL: the command line */
    const char *kind;        /* NULL: "command" */
    const char *description; /* may be NULL */
    const char *group;       /* NULL: "default" */
    const char *key;         /* NULL: none; an existing key returns its task */
    int64_t priority;        /* higher first */
    int max_retries;         /* automatic retries after a failure */
    double timeout_s;        /* 0: none; time paused does not count */
    /* The command: argv is NULL-terminated and run as given (no shell). */
    const char *const *argv;
    const char *cwd;        /* NULL: the manager's working directory */
    const char *const *env; /* NULL-terminated "K=V"; NULL: inherit */
} tl_submit_t;

/* Submits a command task; durable once the call's loop turn commits. The
 * new (or, for an existing key, the old) id goes to *id. */
TL_EXTERN int tl_submit_command(tl_manager_t *m, const tl_submit_t *s,
                                int64_t *id);

/* A copy of task id in *out (tl_task_free() it). */
TL_EXTERN int tl_task_get(tl_manager_t *m, int64_t id, tl_task_t **out);

typedef struct tl_filter {
    int state;         /* a tl_state_t, or -1 for any */
    const char *kind;  /* NULL: any */
    const char *group; /* NULL: any */
    const char *text;  /* substring of title, command or message; NULL */
    int limit;         /* 1..1000; 0 means 100 */
    int64_t cursor;    /* 0: from the newest; else ids below the cursor */
} tl_filter_t;

/* Tasks matching f, newest first, as a JSON object text
 * {"tasks": [...], "counts": {...}, "next_cursor": N|null}; tl_free() it. */
TL_EXTERN int tl_task_list_json(tl_manager_t *m, const tl_filter_t *f,
                                char **json_out);

/* State changes; TL_ECONFLICT when the task's state does not allow it. */
TL_EXTERN int tl_task_cancel(tl_manager_t *m, int64_t id);
TL_EXTERN int tl_task_pause(tl_manager_t *m, int64_t id);
TL_EXTERN int tl_task_resume(tl_manager_t *m, int64_t id);
TL_EXTERN int tl_task_retry(tl_manager_t *m, int64_t id);
/* Removes a finished (or queued) task and its log; TL_ECONFLICT while it
 * runs. */
TL_EXTERN int tl_task_remove(tl_manager_t *m, int64_t id);
/* Changes priority and/or group of a queued task (group NULL: keep). */
TL_EXTERN int tl_task_requeue(tl_manager_t *m, int64_t id,
                              const int64_t *priority, const char *group);

/* Runs the loop until task id reaches a final state or timeout_s passes
 * (TL_ETIMEDOUT; <= 0 waits forever). The final task goes to *out when out
 * is not NULL. */
TL_EXTERN int tl_task_wait(tl_manager_t *m, int64_t id, double timeout_s,
                           tl_task_t **out);

/* Sets the parallel limit of a group (0: unlimited). */
TL_EXTERN int tl_group_set_parallel(tl_manager_t *m, const char *group,
                                    int parallel);

/* ---- function tasks ------------------------------------------------------ */

/* A C function run as a task on the manager's pool of worker threads. It
 * reports through its context and polls it for cancel and pause, which are
 * cooperative. It returns 0 for success; anything else fails the task,
 * with the text given to tl_ctx_fail() (or "returned N") as its error. */
typedef struct tl_ctx tl_ctx_t;
typedef int (*tl_task_fn)(tl_ctx_t *ctx, void *arg);

typedef struct tl_function {
    tl_task_fn fn;               /* required */
    void *arg;                   /* passed to fn */
    void (*free_arg)(void *arg); /* called once the task is over; may be
                                    NULL. Runs on the loop thread. */
    const char *title;           /* NULL: "function" */
    const char *kind;            /* NULL: "function" */
    const char *description;
    const char *group; /* NULL: "functions", whose parallel limit is
                          the number of workers */
    const char *key;   /* an existing key returns its task */
    int64_t priority;  /* higher first */
    double timeout_s;  /* 0: none; cancels cooperatively, then the
                          task fails as timed out */
} tl_function_t;

/* Sets the number of worker threads (default 4, at most 256) and the
 * parallel limit of the "functions" group to match. Loop thread. */
TL_EXTERN int tl_manager_set_workers(tl_manager_t *m, int workers);
/* Submits a function task (durable once the turn commits; the function
 * itself lives only in this process: if the program stops first, the task
 * is recorded as interrupted). Loop thread. */
TL_EXTERN int tl_submit_function(tl_manager_t *m, const tl_function_t *f,
                                 int64_t *id);
/* Runs the loop until no task is queued, running or paused, or timeout_s
 * passes (TL_ETIMEDOUT; <= 0 waits forever). Loop thread. */
TL_EXTERN int tl_wait_all(tl_manager_t *m, double timeout_s);

/* Stops taking work, cancels running tasks when cancel_running (command
 * tasks get SIGTERM; function tasks see tl_ctx_cancelled()) and runs the
 * loop until every task has ended or timeout_s passes; then closes as
 * tl_manager_close() does. Loop thread. */
TL_EXTERN void tl_manager_shutdown(tl_manager_t *m, int cancel_running,
                                   double timeout_s);

/* The tl_ctx_* functions are called by the task's function, on its worker
 * thread, with its own context, and only while it runs. They never block
 * (but tl_ctx_checkpoint()) and are cheap: tl_ctx_progress() and
 * tl_ctx_count() are a few atomic operations, made for tight loops; the
 * latest value wins and reaches the manager on its next loop turn. */
TL_EXTERN int64_t tl_ctx_task_id(const tl_ctx_t *c);
/* percent 0..100 (clamped; NaN ignored). */
TL_EXTERN void tl_ctx_progress(tl_ctx_t *c, double percent);
/* current of total (progress follows when total > 0). */
TL_EXTERN void tl_ctx_count(tl_ctx_t *c, double current, double total);
/* The latest status text. TL_ENOMEM. */
TL_EXTERN int tl_ctx_message(tl_ctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends a line to the task's log. TL_ENOMEM. */
TL_EXTERN int tl_ctx_log(tl_ctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Adds substep step_id, or updates it if it exists: state is "queued",
 * "running", "completed", "failed" or "cancelled"; progress NaN to leave
 * it. TL_EINVAL, TL_ENOMEM. */
TL_EXTERN int tl_ctx_step(tl_ctx_t *c, const char *step_id, const char *name,
                          const char *state, double progress);
/* The task's result, as JSON text. TL_EINVAL if it does not parse. */
TL_EXTERN int tl_ctx_result(tl_ctx_t *c, const char *json);
/* The error text the task fails with when the function returns non-zero. */
TL_EXTERN int tl_ctx_fail(tl_ctx_t *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Non-zero once the task was cancelled (or timed out): return soon. */
TL_EXTERN int tl_ctx_cancelled(const tl_ctx_t *c);
/* A cancel and pause point: blocks while the task is paused; returns
 * TL_ECLOSED when it was cancelled (the function should return), else 0. */
TL_EXTERN int tl_ctx_checkpoint(tl_ctx_t *c);

/* ---- events ----------------------------------------------------------- */

typedef struct tl_event {
    uint64_t seq;     /* increasing, per manager */
    const char *type; /* "task.created", "task.completed", ... */
    int64_t task_id;
    const char *data_json; /* the task (or a log line) as JSON text */
} tl_event_t;

/* Called on the loop thread; the event is valid during the call only. */
typedef void (*tl_event_cb)(const tl_event_t *ev, void *ud);

/* Subscribes cb; the subscription id goes to *sub. */
TL_EXTERN int tl_manager_subscribe(tl_manager_t *m, tl_event_cb cb, void *ud,
                                   uint64_t *sub);
TL_EXTERN void tl_manager_unsubscribe(tl_manager_t *m, uint64_t sub);

/* ---- the HTTP server -------------------------------------------------- */

typedef struct tl_server tl_server_t;

typedef struct tl_server_options {
    /* Unix socket path (created 0600); NULL: DATA_DIR/tasklight.sock. */
    const char *socket_path;
    /* "HOST:PORT" for TCP behind the token; NULL: 127.0.0.1:8787; "" for
     * none. Port 0 picks a free port (see tl_server_port()). */
    const char *listen;
    /* The token TCP clients must present; NULL: read or create
     * DATA_DIR/token (0600). */
    const char *token;
    /* Tasks belong to whoever created them: only the owner or an admin
     * token may change them (the unix socket is an admin). */
    int multi_user;
    /* Requests per second per TCP token (a burst of twice that); 0: no
     * limit. Over it: 429 with Retry-After. */
    double rate_limit;
    /* Seconds a connection may idle or take to send a request; 0: 60. */
    double http_timeout_s;
    /* Event streams (SSE) open at once; more are answered 429. 0: 1024.
     * Each takes a file descriptor: see RLIMIT_NOFILE. */
    int max_streams;
} tl_server_options_t;

/* Starts serving the API and the dashboard on the manager's loop. */
TL_EXTERN int tl_server_start(tl_manager_t *m, const tl_server_options_t *o,
                              tl_server_t **out);
/* The TCP port actually bound, or 0 when none. */
TL_EXTERN int tl_server_port(const tl_server_t *s);
/* The token TCP clients must present (owned by the server). */
TL_EXTERN const char *tl_server_token(const tl_server_t *s);
/* The unix socket path (owned by the server). */
TL_EXTERN const char *tl_server_socket_path(const tl_server_t *s);
TL_EXTERN void tl_server_stop(tl_server_t *s);

#ifdef __cplusplus
}
#endif
#endif
