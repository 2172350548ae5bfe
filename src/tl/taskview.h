/*
 * taskview.h -- what the listings show of a task (tl ls, tl watch, tl wait):
 * its cells, read once from the task's JSON.
 */
#ifndef TL_TASKVIEW_H
#define TL_TASKVIEW_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tv_task {
    int64_t id;
    const char *state; /* never NULL ("?") */
    char *title;       /* malloc'd: the title, else the command line */
    const char *group; /* NULL when none */
    const char *kind;
    const char *message;   /* the message; for a failed task, its error */
    const char *step;      /* the name of the running substep, or NULL */
    double progress;       /* percent, or -1 when unknown */
    double current, total; /* -1 when unknown */
    const char *unit;
    double elapsed_s, eta_s; /* -1 when unknown */
} tv_task_t;

/* Reads t into *v; the strings point into t, which must outlive v (but
 * title, which tv_task_free() frees). */
void tv_task_read(tv_task_t *v, const json_t *t);
void tv_task_free(tv_task_t *v);

/* "45%", or "" when the progress is unknown. */
void tv_percent(const tv_task_t *v, char *buf, size_t size);

/* The elapsed time ("1m 3s"), or "" when unknown or queued. */
void tv_elapsed(const tv_task_t *v, char *buf, size_t size);

/* The time left ("1m 10s") of a running task, "" otherwise. */
void tv_eta(const tv_task_t *v, char *buf, size_t size);

/* "11/24 layers" when the task counts, else "". */
void tv_count(const tv_task_t *v, char *buf, size_t size);

/* Is the state one that shows a bar (a progress may still come)? */
int tv_is_active(const tv_task_t *v);

#endif
