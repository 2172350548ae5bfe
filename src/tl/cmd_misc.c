/*
 * cmd_misc.c -- `tl parallel` (a group's parallel limit, or the groups)
 * and `tl clean` (remove old finished tasks).
 */
#include <stdio.h>
#include <string.h>

#include "args.h"
#include "cli.h"
#include "client.h"

static const char parallel_usage[] =
    "usage: tl parallel [N] [-g|--group G] [--json]\n"
    "\n"
    "With N, lets group G (default \"default\") run N tasks at once (0: no\n"
    "limit). Without N, shows the groups.\n"
    "\n"
    "options:\n"
    "  -g, --group G  the group\n"
    "      --json     print the group ({\"name\", \"parallel\"}), or\n"
    "                 {\"groups\": [...]} without N\n";

static const char clean_usage[] =
    "usage: tl clean [--older-than DUR]\n"
    "\n"
    "Removes finished tasks (and their logs) that finished more than DUR\n"
    "ago (30s, 5m, 2h, 7d, ...; default 0: all finished tasks).\n";

enum { OPT_JSON = CLI_OPT_FIRST_LOCAL, OPT_OLDER_THAN };

#define PARALLEL_MAX 100000
#define GROUP_NAME_COLS 16

/* ---- groups ----------------------------------------------------------- */

void cli_print_groups(const json_t *groups, const char *only)
{
    json_t *g;
    size_t i, shown = 0;
    char name[GROUP_NAME_COLS * 4 + 8], limit[24];
    int64_t parallel;

    json_array_foreach(groups, i, g)
    {
        const char *gname = cli_json_str(g, "name");

        if (!gname || (only && strcmp(gname, only) != 0))
            continue;
        if (shown++ == 0)
            printf("%-*s  %8s  %7s  %6s\n", GROUP_NAME_COLS, "GROUP",
                   "PARALLEL", "RUNNING", "QUEUED");
        args_fit_text(gname, GROUP_NAME_COLS, name, sizeof(name));
        parallel = cli_json_int(g, "parallel", 0);
        if (parallel > 0)
            snprintf(limit, sizeof(limit), "%lld", (long long)parallel);
        else
            snprintf(limit, sizeof(limit), "no limit");
        printf("%s%*s  %8s  %7lld  %6lld\n", name,
               (int)(GROUP_NAME_COLS - args_text_width(name)), "", limit,
               (long long)cli_json_int(g, "running", 0),
               (long long)cli_json_int(g, "queued", 0));
    }
    if (shown == 0)
        printf(only ? "no group %s\n" : "no groups\n", only ? only : "");
}

static int set_parallel(cli_t *cli, const char *group, int64_t n, int json)
{
    char *name = cli_url_escape(cli, group);
    char *path = cli_xasprintf("/api/groups/%s", name);
    json_t *body = json_pack("{sI}", "parallel", (json_int_t)n), *out = NULL;
    int rc;

    rc = cli_call(cli, "PUT", path, cli_xcheck(body), &out);
    if (rc == CLI_OK && json)
        cli_print_json(out);
    else if (rc == CLI_OK)
        printf("group %s: parallel %lld%s\n", group, (long long)n,
               n == 0 ? " (no limit)" : "");
    json_decref(out);
    json_decref(body);
    free(path);
    free(name);
    return rc;
}

int cmd_parallel(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"group", required_argument, NULL, 'g'},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS,
    };
    const char *group = NULL;
    json_t *out = NULL;
    int64_t n;
    int c, json = 0, rc;

    while ((c = cli_getopt(cli, argc, argv, ":hg:", longopts,
                           parallel_usage)) != -1) {
        if (c == 'g')
            group = optarg;
        else if (c == OPT_JSON)
            json = 1;
        else
            return cli->rc;
    }
    if (argc - optind > 1)
        return cli_usage_error(parallel_usage, "unexpected argument '%s'",
                               argv[optind + 1]);
    if (group && !*group)
        return cli_usage_error(parallel_usage, "the group name is empty");
    if (argc - optind == 1) {
        if (cli_opt_int(parallel_usage, "N", argv[optind], 0, PARALLEL_MAX, &n))
            return CLI_USAGE;
        return set_parallel(cli, group ? group : "default", n, json);
    }
    rc = cli_call(cli, "GET", "/api/groups", NULL, &out);
    if (rc == CLI_OK && json)
        cli_print_json(out);
    else if (rc == CLI_OK)
        cli_print_groups(json_object_get(out, "groups"), group);
    json_decref(out);
    return rc;
}

/* ---- clean ------------------------------------------------------------ */

int cmd_clean(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"older-than", required_argument, NULL, OPT_OLDER_THAN},
        {"json", no_argument, NULL, OPT_JSON},
        CLI_GLOBAL_OPTIONS,
    };
    double older = 0;
    json_t *body, *out = NULL;
    int64_t removed;
    int c, json = 0, rc;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, clean_usage)) !=
           -1) {
        if (c == OPT_OLDER_THAN) {
            if (cli_opt_duration(clean_usage, "--older-than", optarg, &older))
                return CLI_USAGE;
        } else if (c == OPT_JSON) {
            json = 1;
        } else {
            return cli->rc;
        }
    }
    if (optind < argc)
        return cli_usage_error(clean_usage, "unexpected argument '%s'",
                               argv[optind]);
    body = cli_xcheck(json_pack("{sf}", "older_than_s", older));
    rc = cli_call(cli, "POST", "/api/clean", body, &out);
    json_decref(body);
    if (rc == CLI_OK && json) {
        cli_print_json(out);
    } else if (rc == CLI_OK) {
        removed = cli_json_int(out, "removed", 0);
        printf("removed %lld task%s\n", (long long)removed,
               removed == 1 ? "" : "s");
    }
    json_decref(out);
    return rc;
}
