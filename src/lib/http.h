/*
 * http.h -- the HTTP transport shared by http.c (listeners, auth, limits,
 * replies, Server-Sent Events) and api.c (the routes).
 */
#ifndef TL_HTTP_H
#define TL_HTTP_H

#include "auth.h"
#include "manager.h"

#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdbool.h>

#define TL__HTTP_MAX_BODY (1 << 20)
#define TL__HTTP_MAX_DEPTH 32
#define TL__HTTP_MAX_PATH_PARTS 8

typedef struct tl__http_req {
    struct evhttp_request *req;
    tl_server_t *server;
    tl_manager_t *m;
    enum evhttp_cmd_type method;
    char *path;  /* decoded path */
    char *split; /* its copy, cut into parts */
    const char *parts[TL__HTTP_MAX_PATH_PARTS];
    int nparts;
    struct evkeyvalq query;
    bool has_query;
    int route;            /* a tl__route_t (metrics.h), for /metrics */
    tl__principal_t *who; /* who is asking */
    int64_t t0_us;        /* arrival, monotonic */
} tl__http_req_t;

/* Replies: each takes body (may be NULL) and ends the request. */
void tl__http_reply_json(tl__http_req_t *r, int status, json_t *body);
/* Waits for the turn's commit: body on success, else a 503/507 error. */
void tl__http_reply_committed(tl__http_req_t *r, int status, json_t *body);
/* {"error": {"code", "message"}} from rc and the manager's message. */
void tl__http_reply_error(tl__http_req_t *r, int rc);
void tl__http_reply_errorf(tl__http_req_t *r, int status, const char *code,
                           const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parses the body as a JSON object; on failure replies 400/413 itself and
 * returns NULL. */
json_t *tl__http_body_json(tl__http_req_t *r);
const char *tl__http_query(tl__http_req_t *r, const char *name);
/* GET or HEAD: the request changes nothing. */
bool tl__http_is_read(const tl__http_req_t *r);
/* Whether the request asks for a short answer (RFC 7240 "Prefer:
 * return=minimal"); if so the reply says Preference-Applied. */
bool tl__http_prefers_minimal(tl__http_req_t *r);

/* Starts an SSE stream for the request. task_id 0: /api/events, with its
 * filters (?kind= &group= &task= &type=) and resumption (Last-Event-ID or
 * ?last_event_id=); else the stream of one task, its snapshot first and
 * log_tail log lines. */
int tl__sse_start(tl__http_req_t *r, int64_t task_id, long log_tail);
/* The event streams' numbers for /api/stats: epoch, event_seq,
 * sse_clients, buffered_events, buffered_bytes, replay_floor, uptime_s. */
json_t *tl__sse_stats_json(tl_server_t *s);
struct tl__metrics_live;
/* The gauges only the server knows, for /metrics. */
void tl__sse_live(tl_server_t *s, struct tl__metrics_live *live);

/* With --multi-user, whether the asker may change task id (its owner or
 * an admin); if not, the request has been answered 403. */
bool tl__http_may_change(tl__http_req_t *r, int64_t id);
/* The auth of the request's server (tokens). */
tl__auth_t *tl__http_auth(tl__http_req_t *r);

/* api.c */
void tl__api_route(tl__http_req_t *r);
/* The dashboard's files (web.c), embedded at build time. */
typedef struct tl__web_asset {
    const char *name; /* "" for the page itself */
    const char *content_type;
    const char *data;
    size_t len;
} tl__web_asset_t;
/* The file named name ("" for index.html) into *out; TL_ENOTFOUND. */
int tl__web_find(const char *name, tl__web_asset_t *out);

#endif
