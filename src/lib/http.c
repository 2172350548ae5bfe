/*
 * http.c -- the HTTP server: a unix-socket listener (trusted: file mode
 * 0600 is the access control) and a TCP listener behind a token, request
 * limits, JSON replies, and Server-Sent Events.
 *
 * DESIGN: libevent's evhttp parses requests on the manager's loop. Each
 * listener has its own evhttp, so "which door did this come in by" is a
 * property of the evhttp, not of a header a client could forge. Replies to
 * requests that changed something wait for the turn's commit
 * (tl__http_reply_committed): nothing is acknowledged before it is durable.
 * SSE clients are a list fed by one manager subscription; a client whose
 * unsent output passes a cap is dropped, so a slow reader never holds the
 * daemon's memory or time. Recent events stay in a bounded ring, so a
 * client that reconnects with Last-Event-ID gets what it missed (see the
 * SSE section). Each answered request is counted for /metrics by route,
 * method and status, with its latency. Bodies are capped (1 MiB; evhttp itself
 * refuses a declared length over 8 MiB before reading it), JSON depth is
 * capped, and idle connections time out.
 */
#include "http.h"
#include "metrics.h"
#include "util.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define SSE_MAX_CLIENTS 1024 /* default of tl_server_options_t.max_streams */
#define SSE_MAX_PENDING (4 << 20)
#define SSE_PING_S 15
#define SSE_RETRY_MS 2000
#define SSE_RING_EVENTS 8192
#define SSE_RING_BYTES (16 << 20)
#define SSE_REPLAY_CHUNK (256 << 10)
#define SSE_MAX_WRITE (1 << 20)
#define SSE_MAX_FILTER 4096
#define SSE_MAX_FILTER_TASKS 256
#define HTTP_HARD_MAX_BODY (8 << 20)
#define HTTP_MAX_HEADERS (64 << 10)
#define HTTP_TIMEOUT_S 60

typedef struct door {
    tl_server_t *server;
    struct evhttp *http;
    bool trusted;
} door_t;

/* What a client of /api/events asked for; NULL or 0: anything. */
typedef struct sse_filter {
    char *kinds, *groups, *types; /* comma-separated lists */
    int64_t *tasks;
    size_t ntasks;
} sse_filter_t;

typedef struct sse_client {
    tl_server_t *server;
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    int64_t task_id; /* the task of /api/tasks/ID/stream; 0: /api/events */
    sse_filter_t filter;
    bool replaying;  /* resuming: fed from the ring, not by on_event */
    uint64_t cursor; /* while replaying: the last sequence number passed */
    struct sse_client *next;
} sse_client_t;

struct frame;
typedef struct sse_ring {
    struct frame **slot; /* SSE_RING_EVENTS, oldest at head */
    size_t head, len, bytes;
    uint64_t floor; /* the newest sequence number not in the ring */
} sse_ring_t;

struct tl_server {
    tl_manager_t *m;
    door_t unix_door, tcp_door;
    char *socket_path;
    char *token;
    int port;
    uint64_t sub;
    sse_client_t *clients;
    int nclients;
    int max_clients;
    struct event *ping_ev;
    char epoch[17]; /* this run's id: event ids are EPOCH-SEQ */
    sse_ring_t ring;
    struct evbuffer *scratch; /* frames on their way to one client */
    int64_t started_mono_ms;
    tl__auth_t auth;
    bool multi_user;
    double http_timeout_s;
};

/* Slow clients: a deadline for each request (see below). */
static void deadline_met(struct evhttp_request *req);
static void deadline_next(struct evhttp_request *req);
static void deadline_release(struct evhttp_connection *conn);

/* ---- replies ------------------------------------------------------------ */

static void send_json(struct evhttp_request *req, int status, json_t *body)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    char *text =
        body ? json_dumps(body, JSON_COMPACT | JSON_REAL_PRECISION(12)) : NULL;
    json_decref(body);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "application/json");
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control",
                      "no-store");
    if (text && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
        evbuffer_add(out, text, strlen(text));
        evbuffer_add(out, "\n", 1);
    }
    free(text);
    evhttp_send_reply(req, status, NULL, NULL);
}

/* Length of the valid UTF-8 sequence at s (1..4), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
    size_t n = s[0] < 0x80             ? 1
               : (s[0] & 0xe0) == 0xc0 ? 2
               : (s[0] & 0xf0) == 0xe0 ? 3
               : (s[0] & 0xf8) == 0xf0 ? 4
                                       : 0;
    if (n == 2 && s[0] < 0xc2)
        return 0; /* overlong */
    for (size_t i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80)
            return 0;
    return n;
}

/* Messages quote what clients sent: bytes that are not UTF-8 (or a
 * sequence cut by a %.Ns) become '?', so the answer is always JSON. */
static json_t *error_json(const char *code, const char *msg)
{
    char clean[600];
    size_t o = 0;
    const unsigned char *p = (const unsigned char *)msg;
    while (*p && o + 5 < sizeof(clean)) {
        size_t n = utf8_seq(p);
        if (n == 0 || (n == 1 && *p < 0x20)) {
            clean[o++] = '?';
            p++;
            continue;
        }
        memcpy(clean + o, p, n);
        o += n;
        p += n;
    }
    clean[o] = '\0';
    json_t *j =
        json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", clean);
    return j ? j
             : json_pack("{s:{s:s, s:s}}", "error", "code", code, "message",
                         "(unprintable)");
}

void tl__http_reply_json(tl__http_req_t *r, int status, json_t *body)
{
    send_json(r->req, status, body);
}

void tl__http_reply_errorf(tl__http_req_t *r, int status, const char *code,
                           const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    send_json(r->req, status, error_json(code, msg));
}

void tl__http_reply_error(tl__http_req_t *r, int rc)
{
    send_json(r->req, tl_err_http_status(rc),
              error_json(tl_err_name(rc), tl_manager_errmsg(r->m)));
}

typedef struct pending_reply {
    struct evhttp_request *req;
    int status;
    json_t *body;
    tl_manager_t *m;
} pending_reply_t;

static void send_committed(void *ud, int rc)
{
    pending_reply_t *p = ud;
    if (rc) {
        json_decref(p->body);
        p->body = error_json(tl_err_name(rc), tl_manager_errmsg(p->m));
        p->status = tl_err_http_status(rc);
    }
    send_json(p->req, p->status, p->body);
    free(p);
}

void tl__http_reply_committed(tl__http_req_t *r, int status, json_t *body)
{
    pending_reply_t *p = malloc(sizeof(*p));
    if (!p) {
        json_decref(body);
        send_json(r->req, 500, error_json("out_of_memory", "out of memory"));
        return;
    }
    *p = (pending_reply_t){r->req, status, body, r->m};
    tl__mgr_after_commit(r->m, send_committed, p);
}

/* ---- bodies and queries ------------------------------------------------- */

static int depth_ok(const char *s, size_t n)
{
    int depth = 0;
    bool in_str = false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > TL__HTTP_MAX_DEPTH)
                return 0;
        } else if (c == '}' || c == ']') {
            depth--;
        }
    }
    return 1;
}

json_t *tl__http_body_json(tl__http_req_t *r)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(r->req);
    size_t n = evbuffer_get_length(in);
    if (n > TL__HTTP_MAX_BODY) {
        tl__http_reply_errorf(r, 413, "too_large",
                              "body of %zu bytes is over the limit of %d", n,
                              TL__HTTP_MAX_BODY);
        return NULL;
    }
    const char *s = (const char *)evbuffer_pullup(in, -1);
    if (!depth_ok(s ? s : "", n)) {
        tl__http_reply_errorf(r, 400, "bad_request",
                              "JSON nested deeper than %d", TL__HTTP_MAX_DEPTH);
        return NULL;
    }
    json_error_t err;
    json_t *j = json_loadb(s ? s : "", n, JSON_REJECT_DUPLICATES, &err);
    if (!j) {
        tl__http_reply_errorf(r, 400, "bad_request",
                              "invalid JSON at line %d column %d: %s", err.line,
                              err.column, err.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        tl__http_reply_errorf(r, 400, "bad_request",
                              "the body must be a JSON object");
        return NULL;
    }
    return j;
}

const char *tl__http_query(tl__http_req_t *r, const char *name)
{
    return r->has_query ? evhttp_find_header(&r->query, name) : NULL;
}

bool tl__http_is_read(const tl__http_req_t *r)
{
    return r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD;
}

bool tl__http_prefers_minimal(tl__http_req_t *r)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(r->req);
    const char *p = evhttp_find_header(in, "Prefer");
    if (!p || !strcasestr(p, "return=minimal"))
        return false;
    evhttp_add_header(evhttp_request_get_output_headers(r->req),
                      "Preference-Applied", "return=minimal");
    return true;
}

/* ---- auth --------------------------------------------------------------- */

static const char *cookie_token(struct evkeyvalq *h)
{
    const char *c = evhttp_find_header(h, "Cookie");
    static char buf[256];
    for (const char *p = c; p && (p = strstr(p, "tl_token=")); p++) {
        if (p != c && p[-1] != ' ' && p[-1] != ';')
            continue;
        p += 9;
        size_t n = strcspn(p, ";");
        if (n >= sizeof(buf))
            return NULL;
        memcpy(buf, p, n);
        buf[n] = '\0';
        return buf;
    }
    return NULL;
}

/* A cookie is sent by the browser on its own: a state change carried only
 * by the cookie must come from our own origin (no CSRF). */
static bool same_origin(struct evkeyvalq *h)
{
    const char *origin = evhttp_find_header(h, "Origin");
    const char *host = evhttp_find_header(h, "Host");
    if (!origin || !host)
        return false;
    return strncmp(origin, "http://", 7) == 0 && strcmp(origin + 7, host) == 0;
}

static void redirect_with_cookie(tl__http_req_t *r, const char *token)
{
    char cookie[400];
    snprintf(cookie, sizeof(cookie),
             "tl_token=%s; HttpOnly; SameSite=Strict; Path=/", token);
    struct evkeyvalq *out = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(out, "Set-Cookie", cookie);
    evhttp_add_header(out, "Location", "/");
    evhttp_send_reply(r->req, 303, "See Other", NULL);
}

static tl__principal_t *bearer(tl__http_req_t *r, struct evkeyvalq *h)
{
    const char *auth = evhttp_find_header(h, "Authorization");
    if (auth && strncasecmp(auth, "Bearer ", 7) == 0)
        return tl__auth_match(&r->server->auth, auth + 7);
    return NULL;
}

/* Who is asking over TCP, or NULL (then the request has been answered).
 * A cookie alone carries no state change from another origin (CSRF). */
static tl__principal_t *authenticate(tl__http_req_t *r)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
    tl__principal_t *p = NULL;
    const char *tok = tl__http_query(r, "token");
    if (tok && r->nparts == 0 && tl__auth_match(&r->server->auth, tok)) {
        redirect_with_cookie(r, tok);
        return NULL;
    }
    if ((p = bearer(r, h)))
        return p;
    const char *c = cookie_token(h);
    if (c && (p = tl__auth_match(&r->server->auth, c))) {
        if (r->method == EVHTTP_REQ_GET || r->method == EVHTTP_REQ_HEAD ||
            same_origin(h))
            return p;
        tl__http_reply_errorf(r, 403, "forbidden",
                              "cross-origin request refused");
        return NULL;
    }
    if (r->nparts == 1 && strcmp(r->parts[0], "healthz") == 0)
        return &r->server->auth.local; /* says only "ok" and a version */
    tl__http_reply_errorf(r, 401, "unauthorized",
                          "a valid token is required (Authorization: "
                          "Bearer TOKEN)");
    return NULL;
}

/* Returns true when the request may go on; else it has been answered. */
static bool authorize(tl__http_req_t *r, bool trusted)
{
    tl__auth_t *a = &r->server->auth;
    r->who = trusted ? &a->local : authenticate(r);
    if (!r->who)
        return false;
    if (!tl__auth_rate_ok(a, r->who, tl__mono_ms())) {
        evhttp_add_header(evhttp_request_get_output_headers(r->req),
                          "Retry-After", "1");
        tl__http_reply_errorf(r, 429, "limit_reached",
                              "too many requests from %s", r->who->name);
        return false;
    }
    if (r->who->role == TL__ROLE_READ_ONLY && !tl__http_is_read(r)) {
        tl__http_reply_errorf(r, 403, "forbidden", "token %s is read-only",
                              r->who->name);
        return false;
    }
    return true;
}

tl__auth_t *tl__http_auth(tl__http_req_t *r)
{
    return &r->server->auth;
}

bool tl__http_may_change(tl__http_req_t *r, int64_t id)
{
    if (!r->server->multi_user || r->who->role == TL__ROLE_ADMIN)
        return true;
    tl_task_t *t = NULL;
    if (tl_task_get(r->m, id, &t) != 0)
        return true; /* unknown: the operation says 404 itself */
    const char *owner = t->owner;
    bool ok = owner && strcmp(owner, r->who->name) == 0;
    if (!ok)
        tl__http_reply_errorf(r, 403, "forbidden", "task %lld belongs to %s",
                              (long long)id, owner ? owner : "someone else");
    tl_task_free(t);
    return ok;
}

/* ---- dispatch ----------------------------------------------------------- */

static int split_path(tl__http_req_t *r)
{
    const char *uri = evhttp_request_get_uri(r->req);
    struct evhttp_uri *u = evhttp_uri_parse_with_flags(uri, 0);
    if (!u)
        return -1;
    const char *q = evhttp_uri_get_query(u);
    if (q) {
        r->query.tqh_first = NULL;
        r->query.tqh_last = &r->query.tqh_first;
        if (evhttp_parse_query_str(q, &r->query) != 0) {
            evhttp_uri_free(u);
            return -1;
        }
        r->has_query = true;
    }
    const char *p = evhttp_uri_get_path(u);
    size_t decoded = 0;
    r->path = evhttp_uridecode(p && *p ? p : "/", 0, &decoded);
    evhttp_uri_free(u);
    /* No NUL (%00) to cut a name short, no CR or LF to forge a header. */
    if (!r->path || strlen(r->path) != decoded ||
        decoded != strcspn(r->path, "\r\n"))
        return -1;
    r->split = strdup(r->path); /* cut into parts; path stays whole */
    if (!r->split)
        return -1;
    for (char *s = strtok(r->split, "/"); s; s = strtok(NULL, "/")) {
        if (r->nparts == TL__HTTP_MAX_PATH_PARTS)
            return -1;
        r->parts[r->nparts++] = s;
    }
    return 0;
}

/* ---- request metrics ---------------------------------------------------- */

static const char *method_name(enum evhttp_cmd_type m)
{
    switch (m) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    default:
        return "other";
    }
}

static void http_observe(tl__http_req_t *r, int status)
{
    tl__metrics_observe_http((tl__route_t)r->route, method_name(r->method),
                             status, (double)(tl__mono_us() - r->t0_us) / 1e6);
}

/* The answer's last byte is written (the request may have waited for a
 * commit). Route, method and arrival time ride in the callback's pointer:
 * nothing to allocate, nothing to leak when the client goes away first.
 * Bits: 0-51 arrival in us (mod 2^52), 52-56 route, 57-61 the method's bit
 * number (evhttp methods are bit flags). */
_Static_assert(TL__ROUTE__COUNT <= 32, "a route must fit in 5 bits");
#if UINTPTR_MAX > 0xffffffffu
#define OBS_TIME_MASK ((UINT64_C(1) << 52) - 1)
static void on_complete(struct evhttp_request *req, void *arg)
{
    deadline_next(req);
    uint64_t v = (uint64_t)(uintptr_t)arg;
    int64_t t0 = (int64_t)(v & OBS_TIME_MASK);
    int64_t now = (int64_t)((uint64_t)tl__mono_us() & OBS_TIME_MASK);
    enum evhttp_cmd_type method =
        (enum evhttp_cmd_type)(1u << ((v >> 57) & 0x1f));
    tl__metrics_observe_http((tl__route_t)((v >> 52) & 0x1f),
                             method_name(method),
                             evhttp_request_get_response_code(req),
                             (double)(now >= t0 ? now - t0 : 0) / 1e6);
}

static void observe_on_complete(tl__http_req_t *r)
{
    unsigned bit = 0;
    while (bit < 31 && (1u << bit) != (unsigned)r->method)
        bit++;
    uint64_t v = ((uint64_t)bit << 57) | ((uint64_t)(r->route & 0x1f) << 52) |
                 ((uint64_t)r->t0_us & OBS_TIME_MASK);
    evhttp_request_set_on_complete_cb(r->req, on_complete,
                                      (void *)(uintptr_t)v);
}
#else /* no room for the time: counted, latency 0 */
static void on_complete(struct evhttp_request *req, void *arg)
{
    deadline_next(req);
    uintptr_t v = (uintptr_t)arg;
    tl__metrics_observe_http(
        (tl__route_t)(v & 0x1f),
        method_name((enum evhttp_cmd_type)(1u << ((v >> 5) & 0x1f))),
        evhttp_request_get_response_code(req), 0);
}

static void observe_on_complete(tl__http_req_t *r)
{
    unsigned bit = 0;
    while (bit < 31 && (1u << bit) != (unsigned)r->method)
        bit++;
    evhttp_request_set_on_complete_cb(
        r->req, on_complete,
        (void *)(uintptr_t)((bit << 5) | (r->route & 0x1f)));
}
#endif

#define MAX_HEADERS 100

/* What the parser lets through but we will not take: more than one
 * Content-Length (a smuggling shape), a flood of headers, a NUL hidden in
 * the query. NULL when the request is fine, else why not. */
static const char *refuse_shape(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    int n = 0, lengths = 0;
    for (struct evkeyval *kv = h->tqh_first; kv; kv = kv->next.tqe_next) {
        n++;
        lengths += strcasecmp(kv->key, "Content-Length") == 0;
    }
    if (lengths > 1)
        return "more than one Content-Length";
    if (n > MAX_HEADERS)
        return "too many headers";
    const char *uri = evhttp_request_get_uri(req);
    if (uri && strstr(uri, "%00"))
        return "a NUL byte in the URI";
    return NULL;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    door_t *door = arg;
    deadline_met(req);
    tl__http_req_t r = {.req = req,
                        .server = door->server,
                        .m = door->server->m,
                        .method = evhttp_request_get_command(req),
                        .route = TL__ROUTE_OTHER,
                        .t0_us = tl__mono_us()};
    int split = split_path(&r);
    if (split == 0)
        r.route = (int)tl__metrics_route(r.parts, r.nparts);
    observe_on_complete(&r);
    const char *refused = refuse_shape(req);
    if (refused) {
        bool flood = strcmp(refused, "too many headers") == 0;
        tl__http_reply_errorf(&r, flood ? 431 : 400,
                              flood ? "too_large" : "bad_request", "%s",
                              refused);
    } else if (split != 0) {
        tl__http_reply_errorf(&r, 400, "bad_request", "malformed URI");
    } else if (authorize(&r, door->trusted)) {
        tl__api_route(&r);
    }
    if (r.has_query)
        evhttp_clear_headers(&r.query);
    free(r.path);
    free(r.split);
}

/* ---- SSE ---------------------------------------------------------------- */

/*
 * Every event becomes one frame ("id: EPOCH-SEQ\nevent: TYPE\ndata: ...\n\n")
 * built once, kept in a ring for replay and shared by reference with every
 * client's output buffer (evbuffer_add_reference): a frame is freed when
 * the ring and the last buffer holding it let it go. The ring is bounded in
 * frames and in bytes; `floor` is the newest sequence number it no longer
 * holds (evicted, or emitted before this server started), so a client that
 * last saw SEQ >= floor of this epoch can be replayed without loss.
 *
 * A resuming client replays from the ring in chunks: the next chunk goes
 * when the previous one has been written to the socket (libevent's chunk
 * callback), so a long replay neither piles up in memory nor counts as a
 * slow reader. While it replays it receives nothing else (live events join
 * the ring it reads), and it goes live when it reaches the ring's head. If
 * the ring moves past its cursor meanwhile, it gets `reset`.
 */

typedef struct frame {
    int refs;
    uint64_t seq;
    int64_t task_id;
    const char *type, *kind, *group; /* in the same block; kind and group
                                        NULL when unknown */
    size_t len;
    char text[]; /* the frame, then type, kind, group, each NUL-ended */
} frame_t;

static void frame_unref(frame_t *f)
{
    if (f && --f->refs == 0)
        free(f);
}

static void frame_cleanup(const void *data, size_t len, void *extra)
{
    frame_unref(extra);
}

/* The frame goes to b by reference: b then holds one reference. */
static void frame_add(struct evbuffer *b, frame_t *f)
{
    f->refs++;
    if (evbuffer_add_reference(b, f->text, f->len, frame_cleanup, f) != 0)
        f->refs--;
}

static void ring_push(sse_ring_t *r, frame_t *f)
{
    while (r->len &&
           (r->len == SSE_RING_EVENTS || r->bytes + f->len > SSE_RING_BYTES)) {
        frame_t *old = r->slot[r->head];
        r->slot[r->head] = NULL;
        r->head = (r->head + 1) % SSE_RING_EVENTS;
        r->len--;
        r->bytes -= old->len;
        r->floor = old->seq;
        frame_unref(old);
    }
    r->slot[(r->head + r->len) % SSE_RING_EVENTS] = f;
    r->len++;
    r->bytes += f->len;
    f->refs++;
}

static frame_t *ring_at(const sse_ring_t *r, size_t i)
{
    return r->slot[(r->head + i) % SSE_RING_EVENTS];
}

/* The index of the first frame with a sequence number above seq. */
static size_t ring_after(const sse_ring_t *r, uint64_t seq)
{
    size_t lo = 0, hi = r->len;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(r, mid)->seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void ring_clear(sse_ring_t *r)
{
    while (r->len) {
        frame_unref(r->slot[r->head]);
        r->head = (r->head + 1) % SSE_RING_EVENTS;
        r->len--;
    }
    free(r->slot);
    r->slot = NULL;
}

/* Kind and group of the event's task: from its job, else from the event's
 * data when that is a task. */
static void event_labels(tl_server_t *s, const tl_event_t *ev, json_t **tmp,
                         const char **kind, const char **group)
{
    tl__job_t *j = ev->task_id ? tl__map_get(&s->m->jobs, ev->task_id) : NULL;
    *kind = *group = NULL;
    *tmp = NULL;
    if (j) {
        *kind = j->task->kind;
        *group = j->task->group;
        return;
    }
    if (strcmp(ev->type, "task.log") == 0 || !ev->data_json)
        return;
    *tmp = json_loads(ev->data_json, 0, NULL);
    *kind = json_string_value(json_object_get(*tmp, "kind"));
    *group = json_string_value(json_object_get(*tmp, "group"));
}

/* Appends n bytes of src at *p and advances it. */
static void put(char **p, const char *src, size_t n)
{
    memcpy(*p, src, n);
    *p += n;
}

/* One event as an SSE frame ("id: EPOCH-SEQ\nevent: TYPE\ndata: JSON\n\n"),
 * with the type, kind and group the filters match kept after it. The data
 * is copied, not formatted: it is most of the frame. */
static frame_t *frame_new(tl_server_t *s, const tl_event_t *ev)
{
    json_t *tmp;
    const char *kind, *group;
    event_labels(s, ev, &tmp, &kind, &group);
    const char *data = ev->data_json ? ev->data_json : "null";
    char seq[24];
    int sl = snprintf(seq, sizeof(seq), "%llu", (unsigned long long)ev->seq);
    size_t el = strlen(s->epoch), tl = strlen(ev->type), dl = strlen(data),
           kl = kind ? strlen(kind) : 0, gl = group ? strlen(group) : 0;
    size_t n = 4 + el + 1 + (size_t)sl + 8 + tl + 7 + dl + 2;
    frame_t *f = malloc(sizeof(*f) + n + 1 + tl + 1 + kl + 1 + gl + 1);
    if (f) {
        *f = (frame_t){.refs = 1, /* the caller's */
                       .seq = ev->seq,
                       .task_id = ev->task_id,
                       .len = n};
        char *p = f->text;
        put(&p, "id: ", 4);
        put(&p, s->epoch, el);
        put(&p, "-", 1);
        put(&p, seq, (size_t)sl);
        put(&p, "\nevent: ", 8);
        put(&p, ev->type, tl);
        put(&p, "\ndata: ", 7);
        put(&p, data, dl);
        put(&p, "\n\n", 3); /* with the NUL */
        f->type = memcpy(p, ev->type, tl + 1);
        p += tl + 1;
        f->kind = kind ? memcpy(p, kind, kl + 1) : NULL;
        p += kl + 1;
        f->group = group ? memcpy(p, group, gl + 1) : NULL;
    }
    json_decref(tmp);
    return f;
}

/* ---- filters: ?kind=a,b &group=g &task=1,2 &type=task.failed,-task.log */

/* Whether the comma-separated list has the item. */
static bool list_has(const char *list, const char *item, size_t n)
{
    for (const char *p = list; p && *p;) {
        size_t len = strcspn(p, ",");
        if (len == n && memcmp(p, item, n) == 0)
            return true;
        p += len + (p[len] == ',');
    }
    return false;
}

static bool type_ok(const char *types, const char *type)
{
    bool include = false, included = false;
    size_t n = strlen(type);
    for (const char *p = types; p && *p;) {
        size_t len = strcspn(p, ",");
        bool exclude = *p == '-';
        const char *name = p + exclude;
        size_t nlen = len - exclude;
        bool hit = nlen == n && memcmp(name, type, n) == 0;
        if (exclude && hit)
            return false;
        if (!exclude && len) {
            include = true;
            included |= hit;
        }
        p += len + (p[len] == ',');
    }
    return !include || included;
}

static bool filter_ok(const sse_client_t *c, const frame_t *f)
{
    if (c->task_id)
        return f->task_id == c->task_id;
    const sse_filter_t *q = &c->filter;
    if (q->types && !type_ok(q->types, f->type))
        return false;
    /* Unknown kind or group (a deleted task): let it through, so clients
     * can forget the task. */
    if (q->kinds && f->kind && !list_has(q->kinds, f->kind, strlen(f->kind)))
        return false;
    if (q->groups && f->group &&
        !list_has(q->groups, f->group, strlen(f->group)))
        return false;
    if (q->ntasks) {
        size_t i = 0;
        while (i < q->ntasks && q->tasks[i] != f->task_id)
            i++;
        if (i == q->ntasks)
            return false;
    }
    return true;
}

static void filter_free(sse_filter_t *q)
{
    free(q->kinds);
    free(q->groups);
    free(q->types);
    free(q->tasks);
}

static int filter_list(tl__http_req_t *r, const char *name, char **out)
{
    const char *v = tl__http_query(r, name);
    if (!v || !*v)
        return 0;
    if (strlen(v) > SSE_MAX_FILTER) {
        tl__http_reply_errorf(r, 400, "bad_request", "%s is over %d bytes",
                              name, SSE_MAX_FILTER);
        return -1;
    }
    *out = strdup(v);
    if (!*out) {
        tl__http_reply_errorf(r, 500, "out_of_memory", "out of memory");
        return -1;
    }
    return 0;
}

static int filter_tasks(tl__http_req_t *r, sse_filter_t *q)
{
    const char *v = tl__http_query(r, "task");
    if (!v || !*v)
        return 0;
    q->tasks = calloc(SSE_MAX_FILTER_TASKS, sizeof(*q->tasks));
    if (!q->tasks) {
        tl__http_reply_errorf(r, 500, "out_of_memory", "out of memory");
        return -1;
    }
    for (const char *p = v; *p;) {
        char *end;
        errno = 0;
        long long id = strtoll(p, &end, 10);
        if (errno || id <= 0 || end == p || (*end && *end != ',') ||
            q->ntasks == SSE_MAX_FILTER_TASKS) {
            tl__http_reply_errorf(r, 400, "bad_request",
                                  "task must be up to %d task ids, "
                                  "comma-separated",
                                  SSE_MAX_FILTER_TASKS);
            return -1;
        }
        q->tasks[q->ntasks++] = id;
        p = *end ? end + 1 : end;
    }
    return 0;
}

/* Reads the filters of /api/events; on error it has answered. */
static int filter_parse(tl__http_req_t *r, sse_filter_t *q)
{
    if (filter_list(r, "kind", &q->kinds) ||
        filter_list(r, "group", &q->groups) ||
        filter_list(r, "type", &q->types) || filter_tasks(r, q)) {
        filter_free(q);
        *q = (sse_filter_t){0};
        return -1;
    }
    return 0;
}

/* ---- clients ------------------------------------------------------------ */

static void sse_remove(sse_client_t *c)
{
    tl_server_t *s = c->server;
    for (sse_client_t **p = &s->clients; *p; p = &(*p)->next) {
        if (*p == c) {
            *p = c->next;
            s->nclients--;
            break;
        }
    }
    filter_free(&c->filter);
    free(c);
}

static void sse_on_close(struct evhttp_connection *conn, void *arg)
{
    sse_client_t *c = arg;
    /* When the client hung up, libevent detached the unfinished request
     * from its connection and left it to us; otherwise (we dropped it, or
     * the server stops) it frees the request with the connection. */
    if (!evhttp_request_get_connection(c->req))
        evhttp_request_free(c->req);
    sse_remove(c);
}

static void sse_end(sse_client_t *c)
{
    evhttp_connection_set_closecb(c->conn, NULL, NULL);
    evhttp_send_reply_end(c->req);
    sse_remove(c);
}

static size_t sse_pending(sse_client_t *c)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->conn);
    return evbuffer_get_length(bufferevent_get_output(bev));
}

/* Closes the connection of a reader that fell too far behind. */
static void sse_drop(sse_client_t *c)
{
    tl__metrics_sse_dropped();
    evhttp_connection_free(c->conn); /* its close callback removes c */
}

static void sse_frame(struct evbuffer *b, uint64_t seq, const char *type,
                      const char *data)
{
    if (seq)
        evbuffer_add_printf(b, "id: %llu\n", (unsigned long long)seq);
    evbuffer_add_printf(b, "event: %s\ndata: %s\n\n", type, data);
}

/* `reset`: the client must refetch; its id makes the next resume start
 * from now. */
static void sse_reset_frame(tl_server_t *s, struct evbuffer *b, const char *why)
{
    tl__metrics_sse_reset();
    evbuffer_add_printf(b,
                        "id: %s-%llu\nevent: reset\ndata: {\"epoch\":\"%s\","
                        "\"seq\":%llu,\"reason\":\"%s\"}\n\n",
                        s->epoch, (unsigned long long)s->m->event_seq, s->epoch,
                        (unsigned long long)s->m->event_seq, why);
}

static bool is_final_event(const char *type)
{
    return strcmp(type, "task.completed") == 0 ||
           strcmp(type, "task.failed") == 0 ||
           strcmp(type, "task.cancelled") == 0 ||
           strcmp(type, "task.deleted") == 0;
}

static void replay_step(sse_client_t *c);

static void replay_written(struct evhttp_connection *conn, void *arg)
{
    replay_step(arg);
}

/* Sends the next chunk of a resuming client's replay, or takes it live. */
static void replay_step(sse_client_t *c)
{
    tl_server_t *s = c->server;
    sse_ring_t *r = &s->ring;
    if (!c->replaying)
        return;
    struct evbuffer *b = s->scratch;
    if (c->cursor < r->floor) { /* the ring moved past it meanwhile */
        c->replaying = false;
        sse_reset_frame(s, b, "too_far_behind");
        evhttp_send_reply_chunk(c->req, b);
        return;
    }
    size_t i = ring_after(r, c->cursor), bytes = 0;
    uint64_t sent = 0;
    for (; i < r->len && bytes < SSE_REPLAY_CHUNK; i++) {
        frame_t *f = ring_at(r, i);
        c->cursor = f->seq;
        if (!filter_ok(c, f))
            continue;
        frame_add(b, f);
        bytes += f->len;
        sent++;
    }
    tl__metrics_sse_replayed(sent);
    if (i == r->len) {
        c->replaying = false; /* caught up: on_event feeds it from now */
        evhttp_send_reply_chunk(c->req, b);
    } else {
        evhttp_send_reply_chunk_with_cb(c->req, b, replay_written, c);
    }
    evbuffer_drain(b, evbuffer_get_length(b));
}

static void on_event(const tl_event_t *ev, void *ud)
{
    tl_server_t *s = ud;
    tl__metrics_count_event(ev->type);
    frame_t *f = frame_new(s, ev);
    if (!f) { /* out of memory: the event is lost, so every client resets */
        s->ring.floor = ev->seq;
        for (sse_client_t *c = s->clients; c; c = c->next) {
            if (c->replaying || c->task_id)
                continue; /* a replay meets the floor itself */
            sse_reset_frame(s, s->scratch, "lost");
            evhttp_send_reply_chunk(c->req, s->scratch);
            evbuffer_drain(s->scratch, evbuffer_get_length(s->scratch));
        }
        return;
    }
    ring_push(&s->ring, f);
    for (sse_client_t *c = s->clients, *next; c; c = next) {
        next = c->next;
        if (c->replaying || !filter_ok(c, f))
            continue;
        if (sse_pending(c) > SSE_MAX_PENDING) {
            sse_drop(c);
            continue;
        }
        frame_add(s->scratch, f);
        evhttp_send_reply_chunk(c->req, s->scratch);
        evbuffer_drain(s->scratch, evbuffer_get_length(s->scratch));
        if (c->task_id && is_final_event(ev->type))
            sse_end(c);
    }
    frame_unref(f); /* the ring and the buffers hold it now */
}

/* A comment every SSE_PING_S keeps proxies and clients from timing out.
 * It carries the current id (an id alone dispatches no event but moves
 * the browser's Last-Event-ID), so a filtered client that saw no event for
 * a long time still resumes from now, not from its last match. */
static void on_ping(evutil_socket_t fd, short what, void *arg)
{
    tl_server_t *s = arg;
    for (sse_client_t *c = s->clients, *next; c; c = next) {
        next = c->next;
        if (c->replaying)
            continue;
        if (sse_pending(c) > SSE_MAX_PENDING) {
            sse_drop(c);
            continue;
        }
        if (c->task_id)
            evbuffer_add(s->scratch, ": ping\n\n", 8);
        else
            evbuffer_add_printf(s->scratch, ": ping\nid: %s-%llu\n\n", s->epoch,
                                (unsigned long long)s->m->event_seq);
        evhttp_send_reply_chunk(c->req, s->scratch);
        evbuffer_drain(s->scratch, evbuffer_get_length(s->scratch));
    }
}

static void frame_logs(struct evbuffer *b, tl_manager_t *m, int64_t id,
                       long tail)
{
    json_t *logs;
    if (tail <= 0 || tl__mgr_logs_json(m, id, tail, -1, 0, &logs) != 0)
        return;
    size_t i;
    json_t *line;
    json_array_foreach(json_object_get(logs, "lines"), i, line)
    {
        json_object_set_new(line, "task_id", json_integer(id));
        char *text = json_dumps(line, JSON_COMPACT);
        if (text)
            sse_frame(b, 0, "task.log", text);
        free(text);
    }
    json_decref(logs);
}

/* Parses "EPOCH-SEQ" of this server's epoch; false for anything else. */
static bool parse_event_id(tl_server_t *s, const char *id, uint64_t *seq)
{
    size_t el = strlen(s->epoch);
    if (!id || strncmp(id, s->epoch, el) != 0 || id[el] != '-')
        return false;
    const char *p = id + el + 1;
    if (!*p || strspn(p, "0123456789") != strlen(p) || strlen(p) > 19)
        return false;
    *seq = strtoull(p, NULL, 10);
    return true;
}

/* Where a client of /api/events starts. With a Last-Event-ID (header, or
 * ?last_event_id= for clients that cannot set headers) of this epoch that
 * the ring still covers, it resumes; an id it cannot honour gets `reset`;
 * no id gets `hello` with the current id. */
static void resume_point(tl__http_req_t *r, struct evbuffer *b,
                         uint64_t *cursor, bool *replay)
{
    tl_server_t *s = r->server;
    struct evkeyvalq *h = evhttp_request_get_input_headers(r->req);
    const char *last = evhttp_find_header(h, "Last-Event-ID");
    if (!last || !*last)
        last = tl__http_query(r, "last_event_id");
    uint64_t seq = 0, now = s->m->event_seq;
    *replay = false;
    if (!last || !*last) {
        evbuffer_add_printf(b,
                            "id: %s-%llu\nevent: hello\ndata: {\"epoch\":"
                            "\"%s\",\"seq\":%llu,\"resumed\":false}\n\n",
                            s->epoch, (unsigned long long)now, s->epoch,
                            (unsigned long long)now);
    } else if (!parse_event_id(s, last, &seq)) {
        sse_reset_frame(s, b, "unknown_epoch"); /* another daemon's id */
    } else if (seq < s->ring.floor || seq > now) {
        sse_reset_frame(s, b, "too_old");
    } else {
        /* No id: the client's Last-Event-ID stays until replayed events
         * move it. */
        evbuffer_add_printf(b,
                            "event: hello\ndata: {\"epoch\":\"%s\",\"seq\":"
                            "%llu,\"resumed\":true,\"from\":%llu}\n\n",
                            s->epoch, (unsigned long long)now,
                            (unsigned long long)seq);
        *cursor = seq;
        *replay = true;
    }
}

/* The first frames of a stream: a comment and the reconnection delay; for
 * one task its snapshot and log tail. *final says the task has ended. */
static int first_frames(tl__http_req_t *r, int64_t task_id, long log_tail,
                        struct evbuffer *b, bool *final)
{
    *final = false;
    evbuffer_add_printf(b, ": tasklight\nretry: %d\n\n", SSE_RETRY_MS);
    if (!task_id)
        return 0;
    json_t *snap;
    int rc = tl__mgr_task_json(r->m, task_id, false, &snap);
    if (rc)
        return rc;
    tl_state_t state;
    const char *st = json_string_value(json_object_get(snap, "state"));
    *final = tl_state_parse(st, &state) == 0 && tl_state_is_final(state);
    char *text = json_dumps(snap, JSON_COMPACT | JSON_REAL_PRECISION(12));
    json_decref(snap);
    if (!text)
        return TL_ENOMEM;
    sse_frame(b, 0, "task.snapshot", text);
    free(text);
    frame_logs(b, r->m, task_id, log_tail);
    return 0;
}

/* A stream ends with its connection: clients read to the end. */
static void sse_headers(tl__http_req_t *r)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(r->req);
    evhttp_add_header(h, "Connection", "close");
    evhttp_add_header(h, "Content-Type", "text/event-stream");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_add_header(h, "X-Accel-Buffering", "no");
}

int tl__sse_start(tl__http_req_t *r, int64_t task_id, long log_tail)
{
    tl_server_t *s = r->server;
    bool final = false, replay = false;
    uint64_t cursor = 0;
    sse_filter_t filter = {0};
    if (!task_id && filter_parse(r, &filter))
        return TL_EINVAL;
    struct evbuffer *b = evbuffer_new();
    int rc = b ? first_frames(r, task_id, log_tail, b, &final) : TL_ENOMEM;
    if (!rc && !task_id)
        resume_point(r, b, &cursor, &replay);
    sse_client_t *c = NULL;
    if (rc) {
        tl__http_reply_error(r, rc);
    } else if (final) { /* nothing will follow: one plain answer */
        sse_headers(r);
        evhttp_send_reply(r->req, 200, "OK", b);
    } else if (s->nclients >= s->max_clients) {
        rc = TL_ELIMIT;
        tl__http_reply_errorf(r, 429, "limit_reached",
                              "too many event streams (%d)", s->max_clients);
    } else if (!(c = calloc(1, sizeof(*c)))) {
        rc = TL_ENOMEM;
        tl__http_reply_errorf(r, 500, "out_of_memory", "out of memory");
    } else {
        *c = (sse_client_t){.server = s,
                            .req = r->req,
                            .conn = evhttp_request_get_connection(r->req),
                            .task_id = task_id,
                            .filter = filter,
                            .cursor = cursor,
                            .replaying = replay,
                            .next = s->clients};
        filter = (sse_filter_t){0};
        s->clients = c;
        s->nclients++;
        sse_headers(r);
        evhttp_connection_set_timeout(c->conn, 24 * 3600);
        /* libevent writes 16 KiB per socket per loop turn by default: a
         * busy stream needs more to keep up with what it is sent. */
        bufferevent_set_max_single_write(
            evhttp_connection_get_bufferevent(c->conn), SSE_MAX_WRITE);
        /* A stream is counted when it starts, not when it ends. */
        evhttp_request_set_on_complete_cb(r->req, NULL, NULL);
        http_observe(r, 200);
        evhttp_send_reply_start(r->req, 200, "OK");
        deadline_release(c->conn);
        evhttp_connection_set_closecb(c->conn, sse_on_close, c);
        evhttp_send_reply_chunk(r->req, b);
        replay_step(c);
    }
    filter_free(&filter);
    if (b)
        evbuffer_free(b);
    return rc;
}

json_t *tl__sse_stats_json(tl_server_t *s)
{
    return json_pack("{s:s, s:I, s:i, s:I, s:I, s:I, s:f}", "epoch", s->epoch,
                     "event_seq", (json_int_t)s->m->event_seq, "sse_clients",
                     s->nclients, "buffered_events", (json_int_t)s->ring.len,
                     "buffered_bytes", (json_int_t)s->ring.bytes,
                     "replay_floor", (json_int_t)s->ring.floor, "uptime_s",
                     (double)(tl__mono_ms() - s->started_mono_ms) / 1e3);
}

void tl__sse_live(tl_server_t *s, tl__metrics_live_t *live)
{
    *live = (tl__metrics_live_t){
        .sse_clients = s->nclients,
        .ring_events = s->ring.len,
        .ring_bytes = s->ring.bytes,
        .uptime_s = (double)(tl__mono_ms() - s->started_mono_ms) / 1e3};
}

/* ---- listeners ---------------------------------------------------------- */

/* ---- a deadline for each request (slow clients) -------------------------- */

/* evhttp's timeout is an idle timeout, restarted by every byte: a client
 * that sends a byte a second (slow loris) would hold its connection for
 * ever. Each connection therefore has a deadline for its next request,
 * armed when it opens and again when an answer is complete: if no whole
 * request has arrived by then, its socket is shut down and evhttp cleans
 * up as for any closed peer. The bufferevent is referenced while a
 * deadline watches it, so it is never touched after evhttp frees it; from
 * the first request on, the connection's close callback ends the watch
 * (an event stream ends it at once: it has no next request). Deadlines
 * are found by bufferevent in one table for the process. */
typedef struct deadline {
    tl_server_t *server;
    struct bufferevent *bev;
    struct event *timer;
    bool watched; /* the connection's close callback is ours */
    bool nodelay; /* TCP_NODELAY was set */
} deadline_t;

static tl__map_t deadlines; /* bufferevent -> deadline_t; loop thread */

static void deadline_done(deadline_t *dl)
{
    tl__map_del(&deadlines, (int64_t)(intptr_t)dl->bev);
    event_free(dl->timer);
    bufferevent_decref(dl->bev);
    free(dl);
}

static void deadline_arm(deadline_t *dl)
{
    struct timeval tv = tl__timeval(dl->server->http_timeout_s);
    evtimer_add(dl->timer, &tv);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    deadline_t *dl = arg;
    evutil_socket_t sock = bufferevent_getfd(dl->bev);
    if (sock >= 0)
        shutdown(sock, SHUT_RDWR);
    if (!dl->watched) /* else the close callback, soon, ends it */
        deadline_done(dl);
}

static struct bufferevent *new_connection(struct event_base *base, void *arg)
{
    tl_server_t *s = arg;
    struct bufferevent *bev =
        bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
    deadline_t *dl = bev ? calloc(1, sizeof(*dl)) : NULL;
    if (!dl)
        return bev;
    dl->server = s;
    dl->bev = bev;
    dl->timer = evtimer_new(base, on_deadline, dl);
    if (!dl->timer ||
        tl__map_put(&deadlines, (int64_t)(intptr_t)bev, dl) != 0) {
        if (dl->timer)
            event_free(dl->timer);
        free(dl);
        return bev;
    }
    bufferevent_incref(bev);
    deadline_arm(dl);
    return bev;
}

static deadline_t *deadline_of(struct evhttp_connection *c)
{
    struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c) : NULL;
    return bev ? tl__map_get(&deadlines, (int64_t)(intptr_t)bev) : NULL;
}

static void on_connection_closed(struct evhttp_connection *c, void *arg)
{
    deadline_done(arg);
}

/* A whole request arrived on the connection: its deadline is met. */
static void deadline_met(struct evhttp_request *req)
{
    struct evhttp_connection *conn = evhttp_request_get_connection(req);
    deadline_t *dl = deadline_of(conn);
    if (!dl)
        return;
    evtimer_del(dl->timer);
    if (!dl->nodelay) {
        /* No Nagle delay on answers: a reply of a few segments would
         * otherwise wait ~40 ms for the peer's delayed ACK. A unix
         * socket refuses the option; that is fine. */
        int one = 1;
        setsockopt(bufferevent_getfd(dl->bev), IPPROTO_TCP, TCP_NODELAY, &one,
                   sizeof(one));
        dl->nodelay = true;
    }
    if (!dl->watched) {
        evhttp_connection_set_closecb(conn, on_connection_closed, dl);
        dl->watched = true;
    }
}

/* The answer is complete: the next request has its own deadline. */
static void deadline_next(struct evhttp_request *req)
{
    deadline_t *dl = deadline_of(evhttp_request_get_connection(req));
    if (dl)
        deadline_arm(dl);
}

/* An event stream keeps its connection, and takes the close callback. */
static void deadline_release(struct evhttp_connection *conn)
{
    deadline_t *dl = deadline_of(conn);
    if (!dl)
        return;
    if (dl->watched)
        evhttp_connection_set_closecb(conn, NULL, NULL);
    deadline_done(dl);
}

/* After the server's connections are gone: what is left of its own. */
static void deadlines_free(tl_server_t *s)
{
    bool again = true;
    while (again) {
        again = false;
        for (size_t i = 0; i < deadlines.cap && !again; i++) {
            deadline_t *dl =
                deadlines.keys[i] != INT64_MIN ? deadlines.vals[i] : NULL;
            if (dl && dl->server == s) {
                deadline_done(dl);
                again = true;
            }
        }
    }
    if (deadlines.len == 0)
        tl__map_free(&deadlines);
}

static int setup_http(tl_server_t *s, door_t *d, bool trusted)
{
    d->server = s;
    d->trusted = trusted;
    d->http = evhttp_new(s->m->base);
    if (!d->http)
        return TL_ENOMEM;
    evhttp_set_max_body_size(d->http, HTTP_HARD_MAX_BODY);
    evhttp_set_max_headers_size(d->http, HTTP_MAX_HEADERS);
    struct timeval idle = tl__timeval(s->http_timeout_s);
    evhttp_set_timeout_tv(d->http, &idle);
    evhttp_set_allowed_methods(
        d->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
                     EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE | EVHTTP_REQ_PATCH |
                     EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(d->http, on_request, d);
    evhttp_set_bevcb(d->http, new_connection, s);
    return 0;
}

/* A socket file left by a dead daemon is removed; the data-dir lock says
 * no live daemon of ours owns it. */
static int bind_unix(tl_server_t *s)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (strlen(s->socket_path) >= sizeof(sa.sun_path))
        return tl__mgr_error(s->m, TL_EINVAL, "socket path too long: %s",
                             s->socket_path);
    strcpy(sa.sun_path, s->socket_path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return tl__mgr_error(s->m, TL_EIO, "socket: %s", strerror(errno));
    unlink(s->socket_path);
    mode_t old = umask(0177);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (rc == 0)
        rc = chmod(s->socket_path, 0600);
    if (rc != 0 || listen(fd, 511) != 0) {
        close(fd);
        return tl__mgr_error(s->m, TL_EIO, "cannot listen on %s: %s",
                             s->socket_path, strerror(errno));
    }
    struct evconnlistener *l = evconnlistener_new(
        s->m->base, NULL, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
        -1, fd);
    if (!l || !evhttp_bind_listener(s->unix_door.http, l)) {
        if (l)
            evconnlistener_free(l);
        else
            close(fd);
        return tl__mgr_error(s->m, TL_EIO, "cannot serve %s", s->socket_path);
    }
    return 0;
}

static int bind_tcp(tl_server_t *s, const char *listen_addr)
{
    char host[256];
    const char *colon = strrchr(listen_addr, ':');
    if (!colon || (size_t)(colon - listen_addr) >= sizeof(host))
        return tl__mgr_error(s->m, TL_EINVAL,
                             "--listen wants HOST:PORT, not %s", listen_addr);
    memcpy(host, listen_addr, (size_t)(colon - listen_addr));
    host[colon - listen_addr] = '\0';
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end || port < 0 || port > 65535 || end == colon + 1)
        return tl__mgr_error(s->m, TL_EINVAL, "bad port in %s", listen_addr);
    struct evhttp_bound_socket *b =
        evhttp_bind_socket_with_handle(s->tcp_door.http, host, (int)port);
    if (!b)
        return tl__mgr_error(s->m, TL_EIO, "cannot listen on %s: %s",
                             listen_addr, strerror(errno));
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    getsockname(evhttp_bound_socket_get_fd(b), (struct sockaddr *)&ss, &len);
    s->port =
        ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                       : ((struct sockaddr_in *)&ss)->sin_port);
    return 0;
}

static int random_token(char **out)
{
    unsigned char raw[24];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
        if (fd >= 0)
            close(fd);
        return TL_EIO;
    }
    close(fd);
    char *t = malloc(sizeof(raw) * 2 + 1);
    if (!t)
        return TL_ENOMEM;
    for (size_t i = 0; i < sizeof(raw); i++)
        sprintf(t + 2 * i, "%02x", raw[i]);
    *out = t;
    return 0;
}

static int read_token_file(const char *path, char **out)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return TL_ENOTFOUND;
    char buf[256];
    char *ok = fgets(buf, sizeof(buf), f);
    fclose(f);
    if (!ok)
        return TL_EIO;
    buf[strcspn(buf, "\r\n")] = '\0';
    if (strlen(buf) < 16)
        return TL_EINVAL;
    *out = strdup(buf);
    return *out ? 0 : TL_ENOMEM;
}

static int load_token(tl_server_t *s)
{
    char *path = tl__strfmt("%s/token", s->m->data_dir);
    if (!path)
        return TL_ENOMEM;
    int rc = read_token_file(path, &s->token);
    if (rc == TL_ENOTFOUND || rc == TL_EINVAL) {
        rc = random_token(&s->token);
        int fd =
            rc ? -1
               : open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd >= 0) {
            dprintf(fd, "%s\n", s->token);
            fchmod(fd, 0600);
            close(fd);
        } else if (!rc) {
            rc = tl__mgr_error(s->m, TL_EIO, "cannot write %s: %s", path,
                               strerror(errno));
        }
    }
    free(path);
    return rc;
}

/* A random epoch per run: ids of another run are told apart. */
static void make_epoch(tl_server_t *s)
{
    unsigned char raw[4];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, raw, sizeof(raw)) != (ssize_t)sizeof(raw)) {
        uint32_t x = (uint32_t)tl__now_ms() ^ ((uint32_t)getpid() << 16) ^
                     (uint32_t)tl__mono_us();
        memcpy(raw, &x, sizeof(raw));
    }
    if (fd >= 0)
        close(fd);
    for (size_t i = 0; i < sizeof(raw); i++)
        snprintf(s->epoch + 2 * i, 3, "%02x", raw[i]);
}

static int start_events(tl_server_t *s)
{
    make_epoch(s);
    s->started_mono_ms = tl__mono_ms();
    s->ring.slot = calloc(SSE_RING_EVENTS, sizeof(*s->ring.slot));
    s->ring.floor = s->m->event_seq; /* what came before is not kept */
    s->scratch = evbuffer_new();
    if (!s->ring.slot || !s->scratch)
        return TL_ENOMEM;
    s->ping_ev = event_new(s->m->base, -1, EV_PERSIST, on_ping, s);
    struct timeval tv = {SSE_PING_S, 0};
    if (!s->ping_ev || event_add(s->ping_ev, &tv))
        return TL_ENOMEM;
    return tl_manager_subscribe(s->m, on_event, s, &s->sub);
}

static int start(tl_server_t *s, const tl_server_options_t *o)
{
    const char *listen_addr = o && o->listen ? o->listen : "127.0.0.1:8787";
    s->socket_path = o && o->socket_path
                         ? strdup(o->socket_path)
                         : tl__strfmt("%s/tasklight.sock", s->m->data_dir);
    if (!s->socket_path)
        return TL_ENOMEM;
    int rc = o && o->token ? ((s->token = strdup(o->token)) ? 0 : TL_ENOMEM)
                           : load_token(s);
    s->multi_user = o && o->multi_user;
    s->http_timeout_s =
        o && o->http_timeout_s > 0 ? o->http_timeout_s : HTTP_TIMEOUT_S;
    s->max_clients = o && o->max_streams > 0 ? o->max_streams : SSE_MAX_CLIENTS;
    rc = rc ? rc : tl__auth_init(&s->auth, s->token, o ? o->rate_limit : 0);
    rc = rc ? rc : tl__auth_load(&s->auth, s->m->store);
    rc = rc ? rc : setup_http(s, &s->unix_door, true);
    rc = rc ? rc : setup_http(s, &s->tcp_door, false);
    rc = rc ? rc : bind_unix(s);
    if (!rc && *listen_addr)
        rc = bind_tcp(s, listen_addr);
    return rc ? rc : start_events(s);
}

int tl_server_start(tl_manager_t *m, const tl_server_options_t *o,
                    tl_server_t **out)
{
    tl_server_t *s = calloc(1, sizeof(*s));
    if (!s)
        return TL_ENOMEM;
    s->m = m;
    int rc = start(s, o);
    if (rc) {
        tl_server_stop(s);
        return rc;
    }
    char *url = s->port ? tl__strfmt("http://127.0.0.1:%d", s->port) : NULL;
    tl__mgr_set_task_env(m, s->socket_path, url, NULL);
    free(url);
    *out = s;
    return 0;
}

int tl_server_port(const tl_server_t *s)
{
    return s->port;
}

const char *tl_server_token(const tl_server_t *s)
{
    return s->token;
}

const char *tl_server_socket_path(const tl_server_t *s)
{
    return s->socket_path;
}

void tl_server_stop(tl_server_t *s)
{
    if (!s)
        return;
    if (s->sub)
        tl_manager_unsubscribe(s->m, s->sub);
    while (s->clients) {
        sse_client_t *c = s->clients;
        evhttp_connection_set_closecb(c->conn, NULL, NULL);
        sse_remove(c);
    }
    if (s->ping_ev)
        event_free(s->ping_ev);
    if (s->unix_door.http)
        evhttp_free(s->unix_door.http);
    if (s->tcp_door.http)
        evhttp_free(s->tcp_door.http);
    ring_clear(&s->ring); /* after the buffers that shared its frames */
    if (s->scratch)
        evbuffer_free(s->scratch);
    if (s->socket_path)
        unlink(s->socket_path);
    free(s->socket_path);
    tl__auth_free(&s->auth);
    deadlines_free(s);
    free(s->token);
    free(s);
}
