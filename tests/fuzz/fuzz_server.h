/*
 * fuzz_server.h -- the real tasklight server, in-process, for the HTTP fuzz
 * targets (fuzz_http.c, fuzz_sse.c).
 *
 * DESIGN: a manager and a server are opened once on a throwaway data
 * directory (in /dev/shm when it exists, so SQLite's fsyncs cost nothing)
 * and listen on DATA_DIR/tasklight.sock and on 127.0.0.1:0. An input is
 * written as an HTTP request into a fresh client connection and the
 * manager's loop is turned (non-blocking) until the answer is complete, or
 * until nothing has moved for a while (a request the server is still
 * waiting on). The client end is then closed and the loop turned until the
 * server has let the connection go, so no state leaks from one input to the
 * next except the store and the tasks, which are reset every
 * FS_RESET_EVERY inputs.
 *
 * Nothing a fuzzed request creates can run: the harness defines
 * posix_spawnp(), which the library's exec.c calls, as "not found", so a
 * command task fails at once without a process. Single-threaded.
 */
#ifndef TL_FUZZ_SERVER_H
#define TL_FUZZ_SERVER_H

#include <stddef.h>

#define FS_TOKEN "fuzz-token-0123456789abcdef0123456789abcdef"
#define FS_RESET_EVERY 5000

typedef struct fs_response {
    char *raw; /* everything read, NUL-ended; owned by the server */
    size_t len;
    int status;       /* 0: no complete status line */
    const char *body; /* in raw, after the header block; NULL if none */
    size_t body_len;
    int json;  /* Content-Type: application/json */
    int sse;   /* Content-Type: text/event-stream */
    int close; /* the server closed the connection */
    int whole; /* all of it: its Content-Length, or up to the close */
} fs_response_t;

/* Opens the manager and the server (once; again after a reset). Aborts on
 * failure: a harness that cannot start finds nothing. */
void fs_start(void);
/* Counts an input; every FS_RESET_EVERY inputs closes everything and opens
 * a fresh data directory. */
void fs_tick(void);
/* Sends req[0..len) on a new connection (TCP when tcp, else the unix
 * socket) and reads the answer into *out (valid until the next call). */
void fs_exchange(int tcp, const char *req, size_t len, fs_response_t *out);
/* A complete request from parts: "METHOD TARGET HTTP/1.1", Host, the extra
 * header lines (each ending "\r\n", may be empty), Content-Length and
 * Connection: close, then the body. malloc'd; *len its length. */
char *fs_request(const char *method_target, const char *headers,
                 const char *body, size_t body_len, size_t *len);
/* The epoch of the server's event ids (from /api/stats). */
const char *fs_epoch(void);
/* Checks the error shape of a JSON error answer; aborts, showing the
 * request and the answer, when it is not {"error": {"code", "message"}}. */
void fs_check_error_body(const fs_response_t *r, const char *req,
                         size_t req_len);
/* Prints what, the request and the answer, then aborts. */
void fs_fail(const char *what, const char *req, size_t req_len,
             const fs_response_t *r) __attribute__((noreturn));

#endif
