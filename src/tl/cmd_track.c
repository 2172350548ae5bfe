/*
 * cmd_track.c -- tracked tasks from the shell: `tl track` registers work
 * that this shell (not the daemon) does and prints its id; the reporters
 * (tl progress --task ID, ...) report on it; `tl done ID` ends it.
 *
 * DESIGN: `tl track` is POST /api/tasks without a command (a tracked task,
 * running at once), and starts a daemon when none answers, like tl add.
 * It prints only the id, for `id=$(tl track ...)`. The daemon fails a
 * tracked task that sends nothing for its heartbeat timeout (60 s unless
 * --heartbeat says else), so a script that died does not leave a task
 * running forever. `tl done` is a PATCH of the state.
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "report.h"

enum {
    OPT_KIND = CLI_OPT_FIRST_LOCAL,
    OPT_DESCRIPTION,
    OPT_KEY,
    OPT_HEARTBEAT,
    OPT_TOTAL,
    OPT_UNIT,
    OPT_JSON,
    OPT_TASK,
    OPT_FAILED,
    OPT_CANCELLED,
    OPT_RESULT,
    OPT_MESSAGE,
};

static const char track_usage[] =
    "usage: tl track [-t|--title T] [--kind K] [--heartbeat DUR] [--json]\n"
    "\n"
    "Registers a tracked task: work this shell does, which it reports with\n"
    "tl progress --task ID (and tl step, tl note, tl log-line, ...) and ends\n"
    "with tl done ID. Prints the new task's id.\n"
    "\n"
    "options:\n"
    "  -t, --title T        the title\n"
    "      --kind K         a free-form kind (default \"tracked\")\n"
    "      --description D  a longer description\n"
    "      --key K          a unique key: tracking it again gives that task\n"
    "      --total N        how many units there are (with --unit)\n"
    "      --unit U         what a unit is (files, layers, ...)\n"
    "      --heartbeat DUR  fail the task as lost when nothing is reported\n"
    "                       for DUR (default 60s; 0: never)\n"
    "      --json           print the task as JSON\n";

static int track_option(int c, json_t *body, int *json)
{
    double d;

    switch (c) {
    case 't':
        return report_set_string(track_usage, body, "title", optarg);
    case OPT_KIND:
        return report_set_string(track_usage, body, "kind", optarg);
    case OPT_DESCRIPTION:
        return report_set_string(track_usage, body, "description", optarg);
    case OPT_KEY:
        return report_set_string(track_usage, body, "key", optarg);
    case OPT_UNIT:
        return report_set_string(track_usage, body, "unit", optarg);
    case OPT_TOTAL:
        if (args_parse_number(optarg, 0, 1e15, &d))
            return cli_usage_error(track_usage,
                                   "invalid value '%s' for --total", optarg);
        json_object_set_new(body, "total", json_real(d));
        return 0;
    case OPT_HEARTBEAT:
        if (cli_opt_duration(track_usage, "--heartbeat", optarg, &d))
            return CLI_USAGE;
        json_object_set_new(body, "heartbeat_timeout_s", json_real(d));
        return 0;
    case OPT_JSON:
        *json = 1;
        return 0;
    }
    return CLI_USAGE;
}

int cmd_track(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"title", required_argument, NULL, 't'},
        {"kind", required_argument, NULL, OPT_KIND},
        {"description", required_argument, NULL, OPT_DESCRIPTION},
        {"key", required_argument, NULL, OPT_KEY},
        {"total", required_argument, NULL, OPT_TOTAL},
        {"unit", required_argument, NULL, OPT_UNIT},
        {"heartbeat", required_argument, NULL, OPT_HEARTBEAT},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS,
    };
    json_t *body = cli_xcheck(json_object());
    cli_http_t res = {0};
    int c, json = 0, rc = CLI_OK;

    while ((c = cli_getopt(cli, argc, argv, ":ht:", longopts, track_usage)) !=
           -1) {
        rc = c == CLI_OPT_EXIT ? cli->rc : track_option(c, body, &json);
        if (rc || c == CLI_OPT_EXIT)
            goto out;
    }
    if (optind < argc) {
        rc = cli_usage_error(track_usage, "unexpected argument '%s'",
                             argv[optind]);
        goto out;
    }
    if (!json_object_get(body, "kind"))
        json_object_set_new(body, "kind", json_string("tracked"));
    rc = cli_create_task(cli, body, json, &res);
    if (rc)
        goto out;
    if (json)
        cli_print_json(res.json);
    else
        printf("%lld\n", (long long)cli_json_int(res.json, "id", 0));
out:
    cli_http_free(&res);
    json_decref(body);
    return rc;
}

/* ---- tl done ---------------------------------------------------------- */

static const char done_usage[] =
    "usage: tl done [ID] [--failed ERROR | --cancelled] [--result JSON]\n"
    "\n"
    "Ends tracked task ID (default: --task or $TASKLIGHT_TASK_ID):\n"
    "completed, or failed with ERROR, or cancelled.\n"
    "\n"
    "options:\n"
    "      --failed ERROR  it failed, because of ERROR\n"
    "      --cancelled     it was cancelled\n"
    "      --result JSON   its result, any JSON value ('-': stdin)\n"
    "  -m, --message M     a last status message\n"
    "      --json          print the final task as JSON\n";

typedef struct done_opts {
    json_t *body;
    const char *task;
    int json, outcomes;
} done_opts_t;

static int done_option(int c, done_opts_t *o)
{
    json_t *v;
    int rc;

    switch (c) {
    case OPT_FAILED:
        o->outcomes++;
        json_object_set_new(o->body, "state", json_string("failed"));
        return report_set_string(done_usage, o->body, "error", optarg);
    case OPT_CANCELLED:
        o->outcomes++;
        json_object_set_new(o->body, "state", json_string("cancelled"));
        return 0;
    case OPT_RESULT:
        if ((rc = report_parse_json(done_usage, "result", optarg, &v)))
            return rc;
        json_object_set_new(o->body, "result", v);
        return 0;
    case 'm':
        return report_set_string(done_usage, o->body, "message", optarg);
    case OPT_TASK:
        o->task = optarg;
        return 0;
    case OPT_JSON:
        o->json = 1;
        return 0;
    }
    return CLI_USAGE;
}

int cmd_done(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"failed", required_argument, NULL, OPT_FAILED},
        {"cancelled", no_argument, NULL, OPT_CANCELLED},
        {"result", required_argument, NULL, OPT_RESULT},
        {"message", required_argument, NULL, 'm'},
        {"task", required_argument, NULL, OPT_TASK},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS,
    };
    done_opts_t o = {.body = cli_xcheck(json_object())};
    json_t *task = NULL;
    int64_t id;
    int c, rc = CLI_OK;

    while ((c = cli_getopt(cli, argc, argv, ":hm:", longopts, done_usage)) !=
           -1) {
        rc = c == CLI_OPT_EXIT ? cli->rc : done_option(c, &o);
        if (rc || c == CLI_OPT_EXIT)
            goto out;
    }
    if (o.outcomes > 1 || argc - optind > 1) {
        rc =
            cli_usage_error(done_usage, "%s",
                            o.outcomes > 1 ? "--failed or --cancelled, not both"
                                           : "one task id at a time");
        goto out;
    }
    if (optind < argc)
        o.task = argv[optind];
    if ((rc = report_task_id(done_usage, o.task, &id)))
        goto out;
    if (!json_object_get(o.body, "state"))
        json_object_set_new(o.body, "state", json_string("completed"));
    rc = report_patch(cli, id, o.body, o.json ? &task : NULL);
    if (rc == CLI_OK && o.json)
        cli_print_json(task);
out:
    json_decref(task);
    json_decref(o.body);
    return rc;
}
