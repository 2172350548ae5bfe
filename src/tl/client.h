/*
 * client.h -- talking to the daemon: HTTP requests and Server-Sent Events
 * streams over its unix socket, and small jansson helpers.
 */
#ifndef TL_CLIENT_H
#define TL_CLIENT_H

#include <jansson.h>
#include <stdint.h>

#include "args.h"
#include "cli.h"

typedef struct cli_http {
    long status; /* the HTTP status; 0 when none came */
    char *body;  /* the response body, NUL-terminated, or NULL */
    size_t len;
    json_t *json;       /* the body parsed, or NULL */
    int connect_failed; /* nothing was sent: no daemon listens */
    int timed_out;      /* the timeout passed */
    char errmsg[1024];  /* why the call failed, for "tl: error: ..." */
} cli_http_t;

/* Sends METHOD path ("/api/...") with body (JSON, may be NULL) and reads
 * the answer into *res (cli_http_free() it). Returns CLI_OK for a 2xx,
 * CLI_NOT_FOUND for a 404 and CLI_FAIL for another error answer (errmsg
 * is the daemon's message), and CLI_UNREACHABLE when no answer came. */
int cli_http(cli_t *cli, const char *method, const char *path, json_t *body,
             cli_http_t *res);
/* cli_http() asking for the short answer to a change: id, state,
 * cancel_requested and pause_requested ("Prefer: return=minimal"). */
int cli_http_brief(cli_t *cli, const char *method, const char *path,
                   json_t *body, cli_http_t *res);
void cli_http_free(cli_http_t *res);

/* cli_http() that prints the error and, on success, hands the parsed body
 * to *out (json_decref() it; NULL if out is: then a change asks for the
 * short answer). Returns the exit code. */
int cli_call(cli_t *cli, const char *method, const char *path, json_t *body,
             json_t **out);

/* Called per event; return non-zero to stop reading. */
typedef int (*cli_event_cb)(const args_sse_event_t *ev, void *ud);

/* Reads the event stream at path until the daemon closes it, cb stops it,
 * or timeout_s passes (<= 0: no timeout; res->timed_out). Returns CLI_OK
 * when the stream ended or cb stopped it, else as cli_http(). */
int cli_stream(cli_t *cli, const char *path, double timeout_s, cli_event_cb cb,
               void *ud, cli_http_t *res);

/* ---- event streams in a UI loop (poll(2); one thread) ---------------- */

typedef struct cli_feeds cli_feeds_t;
typedef struct cli_feed cli_feed_t;

/* A set of streams; cli_feeds_free() closes them all. */
cli_feeds_t *cli_feeds_new(cli_t *cli);
void cli_feeds_free(cli_feeds_t *fs);

/* Starts reading the event stream at path; cb gets its events from within
 * cli_feeds_poll() (cb must not use the feeds). Never NULL: a stream that
 * cannot start is done at once (cli_feed_done()). */
cli_feed_t *cli_feed_open(cli_feeds_t *fs, const char *path, cli_event_cb cb,
                          void *ud);
void cli_feed_close(cli_feeds_t *fs, cli_feed_t *f);

/* Reads what came on the streams, then waits up to timeout_ms for more or
 * for fd (-1: none) to be readable, and reads again. *fd_ready says fd is
 * readable. 0, or -1 when poll fails. */
int cli_feeds_poll(cli_feeds_t *fs, int fd, int timeout_ms, int *fd_ready);

/* 1 once f's stream answered 2xx and sent its first bytes (the daemon
 * starts every stream with a comment): from then on no event is missed. */
int cli_feed_started(const cli_feed_t *f);

/* 1 when f's stream ended, with its exit code (CLI_OK: the daemon closed
 * it, or cb stopped it) and why in *errmsg (valid until f is closed). */
int cli_feed_done(const cli_feed_t *f, int *rc, const char **errmsg);

/* s escaped for a URL path segment or query value; free() it. */
char *cli_url_escape(cli_t *cli, const char *s);

/* POST /api/tasks with body; when no daemon answers, starts one (spawn.c)
 * and sends it again. Prints the error; returns the exit code, with the
 * created task in res->json on CLI_OK (cli_http_free() res either way):
 * the whole task, or with whole 0 the short answer (its id and state). */
int cli_create_task(cli_t *cli, json_t *body, int whole, cli_http_t *res);

/* Frees the connection (at exit). */
void cli_client_cleanup(cli_t *cli);

/* ---- JSON helpers: NULL / dflt when the field is missing or wrongly typed */

const char *cli_json_str(const json_t *obj, const char *key);
int64_t cli_json_int(const json_t *obj, const char *key, int64_t dflt);
/* A number (integer or real) in *out; 0 when present, -1 when not. */
int cli_json_num(const json_t *obj, const char *key, double *out);

/* Prints the groups of GET /api/groups as a table (only group `only`
 * when not NULL). */
void cli_print_groups(const json_t *groups, const char *only);

/* Prints v to stdout as indented JSON and a newline. */
void cli_print_json(const json_t *v);

#endif
