/*
 * task.h -- the task record shared by every module of libtasklight.
 *
 * A tl_task is plain data: the fields of DESIGN section 3 plus the few the
 * scheduler needs (run_after, paused_ms, paused_at). Strings are owned
 * (malloc'd) and may be NULL where the contract says "or null". JSON-valued
 * fields are jansson values owned by the task. Times are milliseconds since
 * the Unix epoch, 0 meaning "not yet".
 */
#ifndef TL_TASK_H
#define TL_TASK_H

#include "tasklight.h"

#include <jansson.h>
#include <stdbool.h>

#define TL__NO_EXIT_CODE (-1)

struct tl_task {
    int64_t id; /* 0 until stored */
    char *key;
    char *kind;
    char *title;
    char *description;
    char *group; /* never NULL once created ("default") */
    char *owner; /* who created it: "local" (the unix socket) or a token */
    char *node;  /* the daemon that runs it ("host:pid"), once started */
    tl_state_t state;
    tl_source_t source;
    int64_t priority;
    double progress; /* percent, NAN when unknown */
    double current;  /* NAN when unknown */
    double total;    /* NAN when unknown */
    char *unit;
    char *message;
    char *error;
    json_t *metadata; /* object, never NULL */
    json_t *substeps; /* array, never NULL */
    json_t *result;   /* NULL when none */
    int exit_code;    /* TL__NO_EXIT_CODE when none */
    int attempt;      /* 0 before the first start, 1 for the first run */
    int max_retries;
    double timeout_s; /* 0: none */
    char **argv;      /* NULL-terminated; NULL for non-command tasks */
    char *cwd;
    char **env; /* NULL-terminated "K=V"; NULL: inherit the daemon's */
    bool cancel_requested;
    int64_t created_at;
    int64_t started_at;
    int64_t finished_at;
    int64_t updated_at;
    int64_t run_after; /* not before this time (retry backoff); 0: now */
    int64_t paused_ms; /* time spent paused during this attempt */
    int64_t paused_at; /* when the current pause began; 0 when not paused */
    int pid;           /* process group of a running command, else 0 */
    int64_t pid_start; /* its start time (clock ticks after boot) */
    double heartbeat_timeout_s; /* tracked: lost after this silence; 0 never */
    bool pause_requested;       /* tracked: a pause was asked for */
    bool progress_parse;        /* commands: read progress from output */
    char *progress_regex;       /* commands: the user's pattern, or NULL */
};

/* A new task with defaults (group "default", NAN progress, empty metadata
 * and substeps); NULL on allocation failure. */
tl_task_t *tl__task_new(void);
/* A deep copy; NULL on allocation failure. */
tl_task_t *tl__task_dup(const tl_task_t *t);

/* Whether the state machine (DESIGN section 3) allows from -> to. */
bool tl__state_transition_ok(tl_state_t from, tl_state_t to);

/* Running time of the current attempt in ms, paused time excluded. */
int64_t tl__task_elapsed_ms(const tl_task_t *t, int64_t now);

/* The task as a JSON object with the contract's field names; NULL on
 * allocation failure. env is never included. */
json_t *tl__task_to_json(const tl_task_t *t, int64_t now);

/* NULL-terminated string vectors. */
char **tl__strv_dup(const char *const *v);
void tl__strv_free(char **v);
size_t tl__strv_len(const char *const *v);
json_t *tl__strv_to_json(const char *const *v);
/* From a JSON array of strings; TL_EINVAL if anything else. */
int tl__strv_from_json(const json_t *a, char ***out);

/* Replaces *dst with a copy of src (NULL allowed); TL_ENOMEM on failure. */
int tl__str_set(char **dst, const char *src);

#endif
