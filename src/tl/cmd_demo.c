/*
 * cmd_demo.c -- `tl demo`: submits a set of tasks that shows a newcomer
 * what tasklight does, and says what to try next.
 *
 * DESIGN: every scenario is an ordinary task a user could have added: sh
 * loops whose output the daemon parses into progress ("7/30 files",
 * "45%"), several at once, one that fails, a group with one slot (so the
 * rest queue), one multi-step task that reports its substeps with this very
 * binary (`tl step`), and one tracked task, driven by a small reporter
 * task through `tl progress --task` and `tl done`. They take well under a
 * minute. The demo groups get their limits set first (demo: no limit,
 * demo-queue: one at a time), so the demo does not wait behind the user's
 * own work in the default group.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "args.h"
#include "cli.h"
#include "client.h"

static const char usage[] =
    "usage: tl demo\n"
    "\n"
    "Adds demo tasks that show what tasklight does: progress parsed from\n"
    "output, several tasks at once, a failure, a queue, substeps and a\n"
    "tracked task. Then try tl watch. Starts a daemon when none answers.\n";

typedef struct demo {
    cli_t *cli;
    char *tl; /* this binary, shell-quoted */
    int added;
} demo_t;

typedef struct scenario {
    const char *title, *kind, *group, *what, *script;
} scenario_t;

/* "%s" in a script is replaced by the quoted path of tl. */
static const scenario_t scenarios[] = {
    {"Download market data", "download", "demo",
     "progress parsed from \"N/30 files\"",
     "i=0; while [ $i -lt 30 ]; do i=$((i+1)); "
     "echo \"downloaded $i/30 files\"; sleep 1; done"},
    {"Backtest - Golden Cross", "backtest", "demo", "prints percentages",
     "p=0; while [ $p -lt 100 ]; do p=$((p+4)); echo \"backtest $p%\"; "
     "sleep 0.8; done; echo 'win rate: 65%'"},
    {"Simulation BTCUSDT", "simulation", "demo", "runs alongside",
     "p=0; while [ $p -lt 100 ]; do p=$((p+5)); echo \"simulated $p%\"; "
     "sleep 1.2; done"},
    {"Parameter optimization", "optimization", "demo",
     "reports with tl progress and tl meta",
     "i=0; while [ $i -lt 40 ]; do i=$((i+1)); echo \"trial $i\"; "
     "%s progress --unit trials $i/40 \"best sharpe so far: 1.$i\"; "
     "sleep 0.6; done; %s meta best_sharpe=1.40 trials=40"},
    {"Live trading - connect", "live_trading", "demo", "fails after a while",
     "echo 'connecting to the exchange...'; sleep 4; "
     "echo 'error: the exchange refused the API key' >&2; exit 2"},
    {"Train model A", "optimization", "demo-queue", "one at a time: runs",
     "p=0; while [ $p -lt 100 ]; do p=$((p+10)); echo \"epoch $p%\"; "
     "sleep 0.8; done"},
    {"Train model B", "optimization", "demo-queue", "queued behind A",
     "p=0; while [ $p -lt 100 ]; do p=$((p+10)); echo \"epoch $p%\"; "
     "sleep 0.8; done"},
    {"Train model C", "optimization", "demo-queue", "queued behind B",
     "p=0; while [ $p -lt 100 ]; do p=$((p+10)); echo \"epoch $p%\"; "
     "sleep 0.8; done"},
    {"Release build", "build", "demo", "substeps with tl step",
     "n=0; for s in 'Fetch sources' 'Compile' 'Run tests' 'Package'; do "
     "%s step \"$s\"; %s note \"$s...\"; echo \"$s...\"; sleep 3; "
     "%s step \"$s\" --state completed; n=$((n+1)); "
     "%s progress $((n*25)); done; "
     "%s result '{\"artifact\": \"app-1.0.tar.gz\"}'"},
};

/* ---- requests --------------------------------------------------------- */

static int put_group(demo_t *d, const char *group, int parallel)
{
    char *path = cli_xasprintf("/api/groups/%s", group);
    json_t *body = cli_xcheck(json_pack("{si}", "parallel", parallel));
    int rc = cli_call(d->cli, "PUT", path, body, NULL);

    json_decref(body);
    free(path);
    return rc;
}

/* Creates the task of body and prints its line; its id in *id. */
static int create(demo_t *d, json_t *body, const char *what, int64_t *id)
{
    cli_http_t res;
    int rc = cli_create_task(d->cli, body, 0, &res);

    if (rc == CLI_OK) {
        *id = cli_json_int(res.json, "id", 0);
        printf("  %4lld  %-30s %s\n", (long long)*id,
               cli_json_str(body, "title"), what);
        d->added++;
    }
    cli_http_free(&res);
    json_decref(body);
    return rc;
}

/* The script with each "%s" replaced by the quoted tl. */
static char *expand(const demo_t *d, const char *script)
{
    size_t n = strlen(script) + 1, i, o = 0;
    char *out;
    const char *p;

    for (p = script; (p = strstr(p, "%s")); p += 2)
        n += strlen(d->tl);
    out = cli_xmalloc(n);
    for (i = 0; script[i]; i++) {
        if (script[i] == '%' && script[i + 1] == 's') {
            memcpy(out + o, d->tl, strlen(d->tl));
            o += strlen(d->tl);
            i++;
        } else {
            out[o++] = script[i];
        }
    }
    out[o] = '\0';
    return out;
}

static int add_command(demo_t *d, const scenario_t *s, int64_t *id)
{
    char *script = expand(d, s->script);
    json_t *body =
        json_pack("{s{s[sss]}ssssss}", "command", "argv", "sh", "-c", script,
                  "title", s->title, "kind", s->kind, "group", s->group);

    free(script);
    return create(d, cli_xcheck(body), s->what, id);
}

/* A tracked task, and a small task that reports on it like a program. */
static int add_tracked(demo_t *d)
{
    int64_t id, helper;
    char *script;
    json_t *body;
    int rc;

    body = json_pack("{sssssssisssf}", "title", "Backtest report (tracked)",
                     "kind", "backtest", "description",
                     "registered over HTTP; another program reports on it",
                     "total", 20, "unit", "strategies", "heartbeat_timeout_s",
                     30.0);
    rc =
        create(d, cli_xcheck(body), "a tracked task: work done elsewhere", &id);
    if (rc)
        return rc;
    script = cli_xasprintf(
        "i=0; while [ $i -lt 20 ]; do i=$((i+1)); "
        "%s progress --task %lld $i/20 \"strategy $i of 20\"; sleep 1; done; "
        "%s done %lld --result '{\"best\": \"golden-cross\"}'",
        d->tl, (long long)id, d->tl, (long long)id);
    body = json_pack("{s{s[sss]}ssssss}", "command", "argv", "sh", "-c", script,
                     "title", "Reporter for the tracked task", "kind",
                     "reporter", "group", "demo");
    free(script);
    return create(d, cli_xcheck(body), "reports on it: tl progress --task",
                  &helper);
}

/* ---- what next -------------------------------------------------------- */

/* The first line of DATA_DIR/name, or NULL; malloc'd. */
static char *read_line(const cli_t *cli, const char *name)
{
    char *path = cli_xasprintf("%s/%s", cli->data_dir, name), *line = NULL;
    size_t cap = 0;
    FILE *f = fopen(path, "r");

    free(path);
    if (!f)
        return NULL;
    if (getline(&line, &cap, f) < 0) {
        free(line);
        line = NULL;
    } else {
        line[strcspn(line, "\r\n")] = '\0';
    }
    fclose(f);
    return line;
}

static void print_next(const cli_t *cli, int64_t first)
{
    char *listen = read_line(cli, "listen"), *token = read_line(cli, "token");

    printf("\nnext:\n"
           "  tl watch              a live view of every task (q quits)\n"
           "  tl ls                 the table; tl show ID for one task\n"
           "  tl log -f %-11lld follow the download's output\n"
           "  tl stats              success rate and durations per kind\n",
           (long long)first);
    if (listen && token)
        printf("  dashboard             http://%s/?token=%s\n", listen, token);
    else
        printf("  dashboard             start tl serve with TCP to get one\n");
    free(listen);
    free(token);
}

static char *self_path(void)
{
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

    if (n <= 0)
        return cli_xstrdup("tl");
    buf[n] = '\0';
    return cli_xcheck(args_shell_quote(buf));
}

int cmd_demo(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {CLI_GLOBAL_OPTIONS};
    demo_t d = {.cli = cli};
    int64_t id, first = 0;
    size_t i;
    int rc = CLI_OK;

    if (cli_getopt(cli, argc, argv, ":h", longopts, usage) != -1)
        return cli->rc;
    if (optind < argc)
        return cli_usage_error(usage, "unexpected argument '%s'", argv[optind]);
    d.tl = self_path();
    printf("tasklight demo: adding tasks\n");
    fflush(stdout);
    for (i = 0; i < sizeof(scenarios) / sizeof(scenarios[0]) && !rc; i++) {
        rc = add_command(&d, &scenarios[i], &id);
        if (i == 0 && !rc) { /* a daemon answers now */
            first = id;
            rc = put_group(&d, "demo", 0);
            if (!rc)
                rc = put_group(&d, "demo-queue", 1);
        }
    }
    if (!rc)
        rc = add_tracked(&d);
    if (!rc)
        print_next(cli, first);
    free(d.tl);
    return rc;
}
