/*
 * test_sse.c -- the event streams of the HTTP server: ids, replay after
 * Last-Event-ID, reset when the gap cannot be replayed, filters, and a
 * slow reader dropped without holding up a fast one. A real manager and
 * server on a temp dir, raw loopback sockets as clients, events emitted
 * straight into the manager.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "http.h"
#include "metrics.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define TOKEN "test-token-0123456789abcdef"

typedef struct env {
    char dir[64];
    tl_manager_t *m;
    tl_server_t *s;
} env_t;

/* One client: a socket and what it has read, parsed into events. */
typedef struct sse_reader {
    int fd;
    char *buf;
    size_t len, cap, pos; /* pos: start of the first unparsed event */
    bool headers_done;
    int status;
    bool eof;
} sse_reader_t;

typedef struct sse_event {
    char id[64];
    char type[64];
    char *data;
} sse_event_t;

static int setup(void **state)
{
    env_t *e = calloc(1, sizeof(*e));
    assert_non_null(e);
    strcpy(e->dir, "/tmp/tl-sse-XXXXXX");
    assert_non_null(mkdtemp(e->dir));
    tl_manager_options_t o = {.data_dir = e->dir};
    assert_int_equal(tl_manager_open(&o, &e->m), 0);
    tl_server_options_t so = {.listen = "127.0.0.1:0", .token = TOKEN};
    assert_int_equal(tl_server_start(e->m, &so, &e->s), 0);
    assert_true(tl_server_port(e->s) > 0);
    tl__metrics_reset();
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    env_t *e = *state;
    tl_server_stop(e->s);
    tl_manager_close(e->m);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", e->dir);
    int rc = system(cmd);
    free(e);
    return rc;
}

static void pump(env_t *e, int turns)
{
    for (int i = 0; i < turns; i++)
        tl_manager_run_once(e->m, 1);
}

static sse_reader_t *open_stream(env_t *e, const char *path,
                                 const char *last_id)
{
    sse_reader_t *r = calloc(1, sizeof(*r));
    assert_non_null(r);
    r->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(r->fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)tl_server_port(e->s)),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(connect(r->fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    char req[1024];
    /* HTTP/1.0: the stream comes back without chunked encoding. */
    int n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                     "Authorization: Bearer " TOKEN "\r\n%s%s%s\r\n",
                     path, last_id ? "Last-Event-ID: " : "",
                     last_id ? last_id : "", last_id ? "\r\n" : "");
    assert_int_equal(write(r->fd, req, (size_t)n), n);
    return r;
}

static void close_stream(sse_reader_t *r)
{
    close(r->fd);
    free(r->buf);
    free(r);
}

/* Reads what is there without blocking. */
static void read_some(sse_reader_t *r)
{
    for (;;) {
        struct pollfd p = {r->fd, POLLIN, 0};
        if (poll(&p, 1, 0) <= 0)
            return;
        if (r->cap - r->len < 65536) {
            r->cap = r->cap ? r->cap * 2 : 1 << 17;
            r->buf = realloc(r->buf, r->cap + 1);
            assert_non_null(r->buf);
        }
        ssize_t n = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (n <= 0) {
            r->eof = true;
            return;
        }
        r->len += (size_t)n;
        r->buf[r->len] = '\0';
        if (!r->headers_done) {
            char *end = strstr(r->buf, "\r\n\r\n");
            if (end) {
                r->headers_done = true;
                r->status = atoi(r->buf + 9);
                r->pos = (size_t)(end + 4 - r->buf);
            }
        }
    }
}

/* The next complete event (comments and id-only blocks are skipped);
 * false when none is there yet. */
static bool next_event(sse_reader_t *r, sse_event_t *ev)
{
    while (r->headers_done && r->pos < r->len) {
        char *start = r->buf + r->pos;
        char *end = strstr(start, "\n\n");
        if (!end)
            return false;
        *end = '\0';
        r->pos = (size_t)(end + 2 - r->buf);
        *ev = (sse_event_t){0};
        for (char *line = start; line && *line;) {
            char *nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            if (strncmp(line, "id: ", 4) == 0)
                snprintf(ev->id, sizeof(ev->id), "%s", line + 4);
            else if (strncmp(line, "event: ", 7) == 0)
                snprintf(ev->type, sizeof(ev->type), "%s", line + 7);
            else if (strncmp(line, "data: ", 6) == 0)
                ev->data = line + 6;
            line = nl ? nl + 1 : NULL;
        }
        if (ev->data)
            return true;
    }
    return false;
}

/* Pumps the loop and reads until an event comes (or 5 s pass). */
static void wait_event(env_t *e, sse_reader_t *r, sse_event_t *ev)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        if (next_event(r, ev))
            return;
        pump(e, 1);
        read_some(r);
        if (next_event(r, ev))
            return;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if (t.tv_sec - t0.tv_sec > 5)
            fail_msg("no event within 5 s (read %zu bytes, status %d)", r->len,
                     r->status);
        usleep(1000);
    }
}

static uint64_t seq_of(const char *id)
{
    const char *dash = strrchr(id, '-');
    assert_non_null(dash);
    return strtoull(dash + 1, NULL, 10);
}

static void emit(env_t *e, const char *type, int64_t id, const char *kind)
{
    tl__mgr_emit(e->m, type, id,
                 json_pack("{s:I, s:s, s:s}", "id", (json_int_t)id, "kind",
                           kind, "state", "running"));
}

static void test_ids_and_replay(void **state)
{
    env_t *e = *state;
    sse_reader_t *a = open_stream(e, "/api/events", NULL);
    sse_event_t ev;
    wait_event(e, a, &ev);
    assert_int_equal(a->status, 200);
    assert_string_equal(ev.type, "hello");
    char epoch[32];
    snprintf(epoch, sizeof(epoch), "%.*s", (int)(strchr(ev.id, '-') - ev.id),
             ev.id);
    uint64_t base = seq_of(ev.id);

    for (int i = 1; i <= 10; i++)
        emit(e, "task.progress", i, "k");
    char seventh[64] = "";
    for (uint64_t i = 1; i <= 10; i++) {
        wait_event(e, a, &ev);
        assert_string_equal(ev.type, "task.progress");
        assert_int_equal(seq_of(ev.id), base + i);
        assert_memory_equal(ev.id, epoch, strlen(epoch));
        if (i == 7)
            snprintf(seventh, sizeof(seventh), "%s", ev.id);
    }
    close_stream(a);
    pump(e, 3);

    /* Missed while away: 11..15. */
    for (int i = 11; i <= 15; i++)
        emit(e, "task.progress", i, "k");
    sse_reader_t *b = open_stream(e, "/api/events", seventh);
    wait_event(e, b, &ev);
    assert_string_equal(ev.type, "hello");
    assert_non_null(strstr(ev.data, "\"resumed\":true"));
    assert_string_equal(ev.id, ""); /* does not move the client's id */
    for (uint64_t i = 8; i <= 15; i++) {
        wait_event(e, b, &ev);
        assert_string_equal(ev.type, "task.progress");
        assert_int_equal(seq_of(ev.id), base + i);
    }
    /* Then live, with nothing twice. */
    emit(e, "task.completed", 16, "k");
    wait_event(e, b, &ev);
    assert_string_equal(ev.type, "task.completed");
    assert_int_equal(seq_of(ev.id), base + 16);
    close_stream(b);

    /* The same through ?last_event_id= (EventSource polyfills). */
    char path[128];
    snprintf(path, sizeof(path), "/api/events?last_event_id=%s", seventh);
    sse_reader_t *c = open_stream(e, path, NULL);
    wait_event(e, c, &ev);
    assert_string_equal(ev.type, "hello");
    wait_event(e, c, &ev);
    assert_int_equal(seq_of(ev.id), base + 8);
    close_stream(c);
}

/* A gap larger than one replay chunk: sent chunk by chunk as the socket
 * drains, in order, then live. */
static void test_long_replay(void **state)
{
    env_t *e = *state;
    sse_event_t ev;
    sse_reader_t *a = open_stream(e, "/api/events", NULL);
    wait_event(e, a, &ev);
    char from[64];
    snprintf(from, sizeof(from), "%s", ev.id);
    uint64_t base = seq_of(ev.id);
    close_stream(a);
    pump(e, 3);

    char text[8192];
    memset(text, 'y', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    for (int i = 0; i < 300; i++) /* ~2.4 MB */
        tl__mgr_emit(e->m, "task.log", 1,
                     json_pack("{s:i, s:s}", "task_id", 1, "text", text));
    sse_reader_t *b = open_stream(e, "/api/events", from);
    wait_event(e, b, &ev);
    assert_string_equal(ev.type, "hello");
    for (uint64_t i = 1; i <= 300; i++) {
        wait_event(e, b, &ev);
        assert_string_equal(ev.type, "task.log");
        assert_int_equal(seq_of(ev.id), base + i);
        if (i == 150) /* events that come during the replay follow it */
            emit(e, "task.progress", 2, "k");
    }
    wait_event(e, b, &ev);
    assert_string_equal(ev.type, "task.progress");
    assert_int_equal(seq_of(ev.id), base + 301);
    close_stream(b);
}

static void test_reset(void **state)
{
    env_t *e = *state;
    sse_event_t ev;
    /* Another daemon's id (it restarted: the epoch differs). */
    sse_reader_t *a = open_stream(e, "/api/events", "0badc0de-5");
    wait_event(e, a, &ev);
    assert_string_equal(ev.type, "reset");
    assert_non_null(strstr(ev.data, "unknown_epoch"));
    char now_id[64];
    snprintf(now_id, sizeof(now_id), "%s", ev.id);
    close_stream(a);

    /* A gap older than the ring. */
    for (int i = 0; i < 9000; i++)
        emit(e, "task.progress", 1, "k");
    sse_reader_t *b = open_stream(e, "/api/events", now_id);
    wait_event(e, b, &ev);
    assert_string_equal(ev.type, "reset");
    assert_non_null(strstr(ev.data, "too_old"));
    assert_int_equal(seq_of(ev.id), e->m->event_seq);
    close_stream(b);

    /* An id from the future of this epoch is not honoured either. */
    char future[64];
    snprintf(future, sizeof(future), "%.*s-%llu",
             (int)(strchr(now_id, '-') - now_id), now_id,
             (unsigned long long)e->m->event_seq + 100);
    sse_reader_t *c = open_stream(e, "/api/events", future);
    wait_event(e, c, &ev);
    assert_string_equal(ev.type, "reset");
    close_stream(c);
}

static void test_filters(void **state)
{
    env_t *e = *state;
    sse_event_t ev;
    sse_reader_t *a =
        open_stream(e, "/api/events?kind=pull,build&type=-task.progress", NULL);
    sse_reader_t *b = open_stream(e, "/api/events?task=3,4", NULL);
    wait_event(e, a, &ev);
    assert_string_equal(ev.type, "hello");
    wait_event(e, b, &ev);
    assert_string_equal(ev.type, "hello");
    emit(e, "task.progress", 1, "pull");  /* a: type excluded */
    emit(e, "task.created", 2, "train");  /* a: kind not asked for */
    emit(e, "task.created", 3, "build");  /* a, b */
    emit(e, "task.completed", 4, "pull"); /* a, b */
    wait_event(e, a, &ev);
    assert_string_equal(ev.type, "task.created");
    assert_non_null(strstr(ev.data, "\"id\":3"));
    wait_event(e, a, &ev);
    assert_string_equal(ev.type, "task.completed");
    assert_non_null(strstr(ev.data, "\"id\":4"));
    wait_event(e, b, &ev);
    assert_non_null(strstr(ev.data, "\"id\":3"));
    wait_event(e, b, &ev);
    assert_non_null(strstr(ev.data, "\"id\":4"));
    close_stream(a);
    close_stream(b);

    sse_reader_t *bad = open_stream(e, "/api/events?task=x", NULL);
    for (int i = 0; i < 200 && !bad->headers_done; i++) {
        pump(e, 1);
        read_some(bad);
        usleep(1000);
    }
    assert_int_equal(bad->status, 400);
    close_stream(bad);
}

static void test_slow_client_dropped(void **state)
{
    env_t *e = *state;
    sse_event_t ev;
    sse_reader_t *slow = open_stream(e, "/api/events", NULL);
    int small = 4096;
    setsockopt(slow->fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sse_reader_t *fast = open_stream(e, "/api/events", NULL);
    wait_event(e, fast, &ev);
    pump(e, 5);
    json_t *st = tl__sse_stats_json(e->s);
    assert_int_equal(json_integer_value(json_object_get(st, "sse_clients")), 2);
    json_decref(st);

    /* 400 events of 64 KiB: far more than the slow reader's socket
     * buffers and its 4 MiB allowance. */
    size_t big = 64 << 10;
    char *text = malloc(big + 1);
    assert_non_null(text);
    memset(text, 'x', big);
    text[big] = '\0';
    int got = 0;
    uint64_t first = e->m->event_seq + 1;
    for (int i = 0; i < 400; i++) {
        tl__mgr_emit(e->m, "task.log", 1,
                     json_pack("{s:i, s:s}", "task_id", 1, "text", text));
        pump(e, 2);
        read_some(fast);
        while (next_event(fast, &ev)) {
            assert_int_equal(seq_of(ev.id), first + (uint64_t)got);
            got++;
        }
    }
    while (got < 400) {
        wait_event(e, fast, &ev);
        assert_int_equal(seq_of(ev.id), first + (uint64_t)got);
        got++;
    }
    free(text);
    st = tl__sse_stats_json(e->s);
    assert_int_equal(json_integer_value(json_object_get(st, "sse_clients")), 1);
    json_decref(st);
    json_t *totals = tl__metrics_summary_json();
    assert_true(
        json_integer_value(json_object_get(totals, "sse_dropped_total")) >= 1);
    json_decref(totals);

    close_stream(slow);
    close_stream(fast);
}

static void test_task_stream_unknown(void **state)
{
    env_t *e = *state;
    sse_reader_t *r = open_stream(e, "/api/tasks/999/stream", NULL);
    for (int i = 0; i < 500 && !r->headers_done; i++) {
        pump(e, 1);
        read_some(r);
        usleep(1000);
    }
    assert_int_equal(r->status, 404);
    close_stream(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ids_and_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_replay, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_slow_client_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_task_stream_unknown, setup,
                                        teardown),
    };
    return cmocka_run_group_tests_name("sse", tests, NULL, NULL);
}
