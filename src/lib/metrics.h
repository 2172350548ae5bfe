/*
 * metrics.h -- the process's metrics registry (counters and histograms in
 * fixed arrays) and its Prometheus text rendering for GET /metrics.
 *
 * Observations may come from any thread (they are relaxed atomic adds: no
 * lock, no allocation); a kind seen for the first time takes a slot under a
 * mutex, once. Past TL__METRICS_MAX_KINDS kinds the rest count as "other".
 * The registry is process-wide: two managers in one process add up.
 */
#ifndef TL_METRICS_H
#define TL_METRICS_H

#include "manager.h"

#include <event2/buffer.h>

#define TL__METRICS_MAX_KINDS 64

/* The routes of the API, as the "route" label of HTTP metrics. */
#define TL__ROUTE_MAP(XX)                                                      \
    XX(DASHBOARD, "/")                                                         \
    XX(ASSET, "/{asset}")                                                      \
    XX(HEALTHZ, "/healthz")                                                    \
    XX(METRICS, "/metrics")                                                    \
    XX(TASKS, "/api/tasks")                                                    \
    XX(TASK, "/api/tasks/{id}")                                                \
    XX(TASK_ACTION, "/api/tasks/{id}/{action}")                                \
    XX(TASK_LOGS, "/api/tasks/{id}/logs")                                      \
    XX(TASK_STREAM, "/api/tasks/{id}/stream")                                  \
    XX(SUBSTEPS, "/api/tasks/{id}/substeps")                                   \
    XX(SUBSTEP, "/api/tasks/{id}/substeps/{sid}")                              \
    XX(EVENTS, "/api/events")                                                  \
    XX(GROUPS, "/api/groups")                                                  \
    XX(GROUP, "/api/groups/{name}")                                            \
    XX(CLEAN, "/api/clean")                                                    \
    XX(TOKENS, "/api/tokens")                                                  \
    XX(TOKEN, "/api/tokens/{name}")                                            \
    XX(STATS, "/api/stats")                                                    \
    XX(OTHER, "other")

typedef enum {
#define TL__ROUTE_ENUM(name, path) TL__ROUTE_##name,
    TL__ROUTE_MAP(TL__ROUTE_ENUM)
#undef TL__ROUTE_ENUM
        TL__ROUTE__COUNT
} tl__route_t;

/* The route label of a split request path. */
tl__route_t tl__metrics_route(const char *const *parts, int nparts);

/* One answered HTTP request: its route, method ("GET"...), status and the
 * seconds from its arrival to its last byte written (to the first byte for
 * event streams). */
void tl__metrics_observe_http(tl__route_t route, const char *method, int status,
                              double seconds);

/* One store commit of a loop turn that wrote something (the flush of its
 * dirty tasks and the COMMIT), in seconds. */
void tl__metrics_observe_commit(double seconds);

/* A task left the queue for a slot after waiting wait_s (created or
 * retried, to started). */
void tl__metrics_observe_queue_wait(const char *kind, double wait_s);

/* A task that had started reached a final state (completed, failed,
 * cancelled) after running run_s seconds, paused time excluded. */
void tl__metrics_observe_task_end(const char *kind, tl_state_t state,
                                  double run_s);

/* One event emitted (counted by type). */
void tl__metrics_count_event(const char *type);

/* Event streams: a slow client dropped, a client resumed with replayed
 * events, a client told to reset. */
void tl__metrics_sse_dropped(void);
void tl__metrics_sse_replayed(uint64_t events);
void tl__metrics_sse_reset(void);

/* Values only the caller knows, rendered as gauges. */
typedef struct tl__metrics_live {
    int sse_clients;
    size_t ring_events, ring_bytes;
    double uptime_s;
} tl__metrics_live_t;

/* The Prometheus text exposition (format 0.0.4) of everything: tasks by
 * state (from the store's counts) and, for tasks not final, by kind and
 * state (from memory), then the registry. TL_ENOMEM or a store error. */
int tl__metrics_render(tl_manager_t *m, const tl__metrics_live_t *live,
                       struct evbuffer *out);

/* Totals for /api/stats: events emitted, and per kind the finished tasks
 * and their mean running time since the process started. A new object;
 * NULL on allocation failure. */
json_t *tl__metrics_summary_json(void);

/* The newest window tasks of the store (a bounded read: cost follows the
 * window, not history) summed up for the dashboard's charts into *out:
 * {"tasks", "finished", "kinds": [{"kind", "finished", "completed",
 * "failed", "cancelled", "failure_rate", "duration_s": {"mean", "p50",
 * "p90", "max"}}], "timeline": {"bucket_s", "buckets": [{"start",
 * "completed", "failed", "cancelled", "failure_rate",
 * "mean_duration_s"}]}}. Durations are of completed tasks. */
int tl__metrics_recent_json(tl_manager_t *m, int window, json_t **out);

/* For tests: forget every observation. */
void tl__metrics_reset(void);

#endif
