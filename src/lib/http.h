/*
 * http.h -- the HTTP transport shared by http.c (listeners, auth, limits,
 * replies, Server-Sent Events) and api.c (the routes).
 */
#ifndef TL_HTTP_H
#define TL_HTTP_H

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
    char *path; /* decoded path */
    const char *parts[TL__HTTP_MAX_PATH_PARTS];
    int nparts;
    struct evkeyvalq query;
    bool has_query;
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

/* Starts an SSE stream for the request. task_id 0: every task. */
int tl__sse_start(tl__http_req_t *r, int64_t task_id, long log_tail);

/* api.c */
void tl__api_route(tl__http_req_t *r);
/* The dashboard (web.c). */
extern const char tl__web_index[];
extern const unsigned int tl__web_index_len;

#endif
