/*
 * cmd_complete.c -- `tl __complete-ids [STATE...]`, hidden: task ids for
 * the shell completions, one "ID<TAB>TITLE" line each, newest first.
 *
 * DESIGN: completion runs on every <TAB>, so this is one request per state
 * asked for (one in all without states), capped at COMPLETE_MAX tasks, and
 * silent: errors give an empty answer and a non-zero exit, never text on
 * the user's command line. Titles are fitted and stripped of control
 * characters (a tab or newline would break the line format).
 */
#include <stdio.h>
#include <string.h>

#include <tasklight.h>

#include "args.h"
#include "cli.h"
#include "client.h"

#define COMPLETE_MAX 200
#define TITLE_COLS 60

static void print_ids(const json_t *page)
{
    char title[TITLE_COLS * 4 + 8];
    json_t *t;
    size_t i;

    json_array_foreach(json_object_get(page, "tasks"), i, t)
    {
        args_fit_text(cli_json_str(t, "title") ? cli_json_str(t, "title") : "",
                      TITLE_COLS, title, sizeof(title));
        printf("%lld\t%s\n", (long long)cli_json_int(t, "id", 0), title);
    }
}

static int list(cli_t *cli, const char *state)
{
    char *path = state ? cli_xasprintf("/api/tasks?state=%s&limit=%d", state,
                                       COMPLETE_MAX)
                       : cli_xasprintf("/api/tasks?limit=%d", COMPLETE_MAX);
    cli_http_t res;
    int rc = cli_http(cli, "GET", path, NULL, &res);

    if (rc == CLI_OK)
        print_ids(res.json);
    cli_http_free(&res);
    free(path);
    return rc;
}

int cmd_complete_ids(cli_t *cli, int argc, char **argv)
{
    tl_state_t st;
    int i, rc = CLI_OK;

    if (cli_resolve(cli))
        return CLI_USAGE;
    if (argc < 2)
        return list(cli, NULL);
    for (i = 1; i < argc && rc == CLI_OK; i++) {
        if (tl_state_parse(argv[i], &st))
            return CLI_USAGE;
        rc = list(cli, argv[i]);
    }
    return rc;
}
