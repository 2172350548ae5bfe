/*
 * embedded_server.c -- a program that runs its own work as function tasks
 * and serves the dashboard and API itself, in-process (the seed's "local
 * server"): open http://127.0.0.1:PORT/?token=TOKEN while it runs.
 *
 *   cc embedded_server.c $(pkg-config --cflags --libs tasklight) -o serve
 *   ./serve /tmp/embedded-data 30
 */
#define _POSIX_C_SOURCE 200809L
#include <tasklight.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static tl_manager_t *manager;

static void on_signal(int sig)
{
    (void)sig;
    tl_manager_stop(manager); /* async-signal-safe */
}

static int slow_job(tl_ctx_t *ctx, void *arg)
{
    int seconds = (int)(size_t)arg;
    for (int i = 0; i < seconds * 10; i++) {
        struct timespec ts = {0, 100000000};
        nanosleep(&ts, NULL);
        tl_ctx_progress(ctx, 100.0 * (i + 1) / (seconds * 10));
        if (tl_ctx_checkpoint(ctx) != 0) /* pause and cancel land here */
            return 0;
    }
    return 0;
}

int main(int argc, char **argv)
{
    tl_manager_options_t opts = {.data_dir = argc > 1 ? argv[1]
                                                      : "/tmp/tl-embedded"};
    int seconds = argc > 2 ? atoi(argv[2]) : 30;
    if (tl_manager_open(&opts, &manager) != 0)
        return 1;
    tl_server_t *server;
    tl_server_options_t so = {.listen = "127.0.0.1:0"};
    if (tl_server_start(manager, &so, &server) != 0) {
        fprintf(stderr, "error: %s\n", tl_manager_errmsg(manager));
        return 1;
    }
    printf("dashboard: http://127.0.0.1:%d/?token=%s\n",
           tl_server_port(server), tl_server_token(server));
    fflush(stdout);
    for (int i = 0; i < 3; i++) {
        tl_function_t f = {.fn = slow_job,
                           .arg = (void *)(size_t)seconds,
                           .title = "slow job",
                           .kind = "example"};
        tl_submit_function(manager, &f, NULL);
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    tl_manager_run(manager);
    tl_server_stop(server);
    tl_manager_shutdown(manager, 1, 5);
    return 0;
}
