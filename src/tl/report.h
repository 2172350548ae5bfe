/*
 * report.h -- what the reporters (cmd_report.c) share with the tracked
 * task commands (cmd_track.c).
 */
#ifndef TL_REPORT_H
#define TL_REPORT_H

#include <jansson.h>
#include <stdint.h>

#include "cli.h"

/* The task a reporter reports on: opt (--task) when given, else
 * $TASKLIGHT_TASK_ID. Prints the error and returns CLI_USAGE when neither
 * names one. */
int report_task_id(const char *usage, const char *opt, int64_t *id);

/* argv[0..argc) joined with spaces; malloc'd. */
char *report_join(int argc, char **argv);

/* obj[key] = s; a usage error when s is not UTF-8. */
int report_set_string(const char *usage, json_t *obj, const char *key,
                      const char *s);

/* s parsed as JSON (any value), else the string s; NULL when s is not
 * UTF-8. */
json_t *report_json_or_string(const char *s);

/* s ("-": stdin) parsed as any JSON value into *out; a usage error naming
 * what otherwise. */
int report_parse_json(const char *usage, const char *what, const char *s,
                      json_t **out);

/* PATCH /api/tasks/ID with body (not stolen); the answer in *task when
 * task is not NULL. Prints errors; returns the exit code. */
int report_patch(cli_t *cli, int64_t id, json_t *body, json_t **task);

#endif
