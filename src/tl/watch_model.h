/*
 * watch_model.h -- the tasks `tl watch` shows: a set keyed by id, kept up
 * to date from the event stream, in display order, with a text filter.
 */
#ifndef TL_WATCH_MODEL_H
#define TL_WATCH_MODEL_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wm_task {
    int64_t id;
    json_t *json;   /* the latest task */
    char *last_log; /* its latest log line, or NULL; malloc'd */
    double seen_at; /* when json came (monotonic s): times run on from it */
    int stale;      /* not in the latest refetch */
} wm_task_t;

typedef struct wmodel {
    wm_task_t *tasks; /* display order after wm_sort() */
    size_t n, cap;
    int dirty; /* changed since the last draw */
} wmodel_t;

/* Frees everything; the model is empty and usable after. */
void wm_clear(wmodel_t *m);

/* Stores task (a reference is taken) under its id; seen_at is now. */
void wm_put(wmodel_t *m, json_t *task, double now);
void wm_remove(wmodel_t *m, int64_t id);
wm_task_t *wm_find(wmodel_t *m, int64_t id);

/* Sets the last log line of task id (when the model has it). */
void wm_log(wmodel_t *m, int64_t id, const char *text);

/* Refetch: wm_mark_stale(), wm_put() what came, wm_sweep() the rest. */
void wm_mark_stale(wmodel_t *m);
void wm_sweep(wmodel_t *m);

/* Display order: running, paused, queued (by priority), then finished,
 * the most recently finished first; and at most keep_finished of those. */
void wm_sort(wmodel_t *m, size_t keep_finished);

/* Does task t match filter (case-insensitive, in its id, title, command,
 * state, kind, group or message)? An empty filter matches all. */
int wm_matches(const wm_task_t *t, const char *filter);

/* Applies one event of GET /api/events (or of a task's stream) to the
 * model. Returns 1 when it was "reset" (the caller must refetch), else 0. */
int wm_apply_event(wmodel_t *m, const char *name, const char *data, size_t len,
                   double now);

#endif
