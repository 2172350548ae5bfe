/*
 * wait.h -- following a task to its end, shared by `tl wait`,
 * `tl add --wait/--follow` and `tl log -f`.
 */
#ifndef TL_WAIT_H
#define TL_WAIT_H

#include <jansson.h>
#include <stdint.h>

#include "cli.h"

typedef struct follow_opts {
    double timeout_s;  /* give up after this (<= 0: never) */
    int logs;          /* print the task's log lines as they come */
    int split_streams; /* stderr lines to stderr (else all to stdout) */
    long log_tail;     /* with logs: start with the last N lines */
    int live;          /* a one-line progress display on stderr (a tty) */
    const char *label; /* shown before the live line ("2/3"), or NULL */
} follow_opts_t;

/* Follows task id's event stream until the daemon closes it (the task is
 * final) or the timeout passes, printing what o asks for. On CLI_OK the
 * final task is in *task (json_decref() it). Otherwise prints why and
 * returns the exit code: CLI_NOT_FOUND for an unknown task, CLI_FAIL for a
 * deleted task or a timeout, CLI_UNREACHABLE when the daemon went away. */
int cli_follow_task(cli_t *cli, int64_t id, const follow_opts_t *o,
                    json_t **task);

/* cli_follow_task() with only a timeout (<= 0: none). */
int cli_wait_task(cli_t *cli, int64_t id, double timeout_s, json_t **task);

/* Says on stderr why a final task did not complete, and returns its exit
 * code: 0 when completed; with use_exit_code, a failed task's exit code
 * (1 when it has none) and 130 when cancelled; else 1. */
int cli_task_outcome(const json_t *task, int use_exit_code);

/* Whether a live display belongs on stderr: a terminal that is not
 * "dumb". */
int cli_live_ok(void);

#endif
