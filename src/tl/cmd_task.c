/*
 * cmd_task.c -- `tl cancel|pause|resume|retry|rm ID...`: one state change
 * per task.
 *
 * DESIGN: the ids are all checked before anything is sent, so a typo
 * changes nothing. Then each id is one request; a task the daemon refuses
 * is reported with the daemon's message and the others still go on. Only
 * an unreachable daemon stops the run.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "client.h"

typedef struct action {
    const char *name, *method, *suffix, *done, *what;
} action_t;

static const action_t actions[] = {
    {"cancel", "POST", "/cancel", "cancelled",
     "Cancels tasks: queued ones at once, running ones with SIGTERM, then\n"
     "SIGKILL after a grace period"},
    {"pause", "POST", "/pause", "paused",
     "Pauses running tasks (SIGSTOP to their process group)"},
    {"resume", "POST", "/resume", "resumed", "Resumes paused tasks (SIGCONT)"},
    {"retry", "POST", "/retry", "retried",
     "Queues failed or cancelled tasks again"},
    {"rm", "DELETE", "", "removed",
     "Removes tasks that are not running or paused, with their logs"},
};

static const action_t *find_action(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(actions) / sizeof(actions[0]); i++)
        if (strcmp(actions[i].name, name) == 0)
            return &actions[i];
    return NULL;
}

/* "task 7: cannot pause a queued task", without saying "task 7" twice. */
static void report(int64_t id, const char *msg)
{
    char prefix[32];
    size_t n =
        (size_t)snprintf(prefix, sizeof(prefix), "task %lld", (long long)id);

    if (strncmp(msg, prefix, n) == 0 && (msg[n] == ' ' || msg[n] == ':'))
        cli_error(CLI_FAIL, "%s", msg);
    else
        cli_error(CLI_FAIL, "%s: %s", prefix, msg);
}

static int act(cli_t *cli, const action_t *a, int64_t id)
{
    char *path = cli_xasprintf("/api/tasks/%lld%s", (long long)id, a->suffix);
    cli_http_t res;
    int rc = cli_http(cli, a->method, path, NULL, &res);

    free(path);
    if (rc == CLI_OK)
        printf("%s task %lld\n", a->done, (long long)id);
    else if (rc == CLI_FAIL || rc == CLI_NOT_FOUND)
        report(id, res.errmsg);
    else
        cli_error(rc, "%s", res.errmsg);
    fflush(stdout);
    cli_http_free(&res);
    return rc;
}

int cmd_action(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_GLOBAL_OPTIONS};
    const action_t *a = find_action(argv[0]);
    char *usage;
    int64_t *ids = NULL;
    int i, r, rc = CLI_OK;

    if (!a)
        return cli_error(CLI_USAGE, "unknown command '%s'", argv[0]);
    usage = cli_xasprintf("usage: tl %s ID...\n\n%s.\n", a->name, a->what);
    if (cli_getopt(cli, argc, argv, ":h", longopts, usage) != -1) {
        rc = cli->rc;
        goto out;
    }
    rc = cli_parse_ids(usage, argc - optind, argv + optind, &ids);
    if (rc)
        goto out;
    for (i = 0; i < argc - optind; i++) {
        r = act(cli, a, ids[i]);
        if (r > rc)
            rc = r;
        if (r == CLI_UNREACHABLE)
            break;
    }
out:
    free(ids);
    free(usage);
    return rc;
}
