/*
 * cmd_log.c -- `tl log`: prints a task's output (stdout, stderr and the
 * daemon's notes, all to stdout), or follows it with -f until the task
 * is final.
 *
 * DESIGN: -f reads GET /api/tasks/ID/stream?logs=N, which sends the last N
 * lines right after the snapshot and then every new line as it comes, so
 * no line falls between "what was there" and "what came since". The text
 * of a line is the task's own output and is printed as it is.
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "client.h"
#include "wait.h"

static const char usage[] =
    "usage: tl log [-n|--tail N] [-f|--follow] ID\n"
    "\n"
    "Prints the output of task ID (stdout and stderr lines).\n"
    "\n"
    "options:\n"
    "  -n, --tail N   the last N lines (default 100; 0 for all)\n"
    "  -f, --follow   keep printing new lines until the task finishes\n"
    "                 (exits 0 when it has, whatever its outcome)\n";

#define TAIL_MAX 1000000
#define STREAM_LOGS_MAX 100000 /* the most ?logs= takes */

static void print_line(const json_t *line)
{
    const char *text = cli_json_str(line, "text");
    json_t *v = json_object_get(line, "text");

    if (!text)
        return;
    fwrite(text, 1, json_string_length(v), stdout);
    fputc('\n', stdout);
}

static int print_logs(cli_t *cli, int64_t id, int64_t tail)
{
    char *path = cli_xasprintf("/api/tasks/%lld/logs?tail=%lld", (long long)id,
                               (long long)tail);
    json_t *out = NULL, *line;
    size_t i;
    int rc;

    rc = cli_call(cli, "GET", path, NULL, &out);
    free(path);
    if (rc)
        return rc;
    json_array_foreach(json_object_get(out, "lines"), i, line) print_line(line);
    json_decref(out);
    return CLI_OK;
}

static int follow_logs(cli_t *cli, int64_t id, int64_t tail)
{
    follow_opts_t o = {.logs = 1, .log_tail = (long)tail};
    json_t *task = NULL;
    int rc;

    if (tail == 0 || tail > STREAM_LOGS_MAX)
        o.log_tail = STREAM_LOGS_MAX;
    rc = cli_follow_task(cli, id, &o, &task);
    json_decref(task);
    return rc;
}

int cmd_log(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"tail", required_argument, NULL, 'n'},
        {"follow", no_argument, NULL, 'f'},
        CLI_GLOBAL_OPTIONS,
    };
    int64_t tail = 100, id;
    int c, follow = 0;

    while ((c = cli_getopt(cli, argc, argv, ":hn:f", longopts, usage)) != -1) {
        switch (c) {
        case 'n':
            if (cli_opt_int(usage, "--tail", optarg, 0, TAIL_MAX, &tail))
                return CLI_USAGE;
            break;
        case 'f':
            follow = 1;
            break;
        default:
            return cli->rc;
        }
    }
    if (argc - optind != 1)
        return cli_usage_error(usage, "%s",
                               argc == optind ? "no task id given"
                                              : "one task id at a time");
    if (args_parse_id(argv[optind], &id))
        return cli_usage_error(usage, "invalid task id '%s'", argv[optind]);
    return follow ? follow_logs(cli, id, tail) : print_logs(cli, id, tail);
}
