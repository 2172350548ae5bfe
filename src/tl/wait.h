/*
 * wait.h -- waiting for tasks to finish, shared by `tl wait` and
 * `tl add --wait`.
 */
#ifndef TL_WAIT_H
#define TL_WAIT_H

#include <jansson.h>
#include <stdint.h>

#include "cli.h"

/* Follows task id's event stream until the daemon closes it (the task is
 * final) or timeout_s passes (<= 0: no timeout). On CLI_OK the final task
 * is in *task (json_decref() it). Otherwise prints why and returns the
 * exit code: CLI_FAIL for an unknown or deleted task or a timeout,
 * CLI_UNREACHABLE when the daemon went away. */
int cli_wait_task(cli_t *cli, int64_t id, double timeout_s, json_t **task);

/* Says on stderr why a final task did not complete, and returns its exit
 * code: 0 when completed; with use_exit_code, a failed task's exit code
 * (1 when it has none) and 130 when cancelled; else 1. */
int cli_task_outcome(const json_t *task, int use_exit_code);

#endif
