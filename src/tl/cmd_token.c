/*
 * cmd_token.c -- `tl token add|ls|rm`: named API tokens with a role, for
 * programs and people who reach the daemon over TCP. Over the unix socket
 * the CLI is an admin, so it may manage them.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "client.h"

static const char usage[] =
    "usage: tl token add NAME [--read-only | --role ROLE] [--json]\n"
    "       tl token ls [--json]\n"
    "       tl token rm NAME\n"
    "\n"
    "Named tokens for the HTTP API on TCP. ROLE is read-only (reads only),\n"
    "user (may create and change tasks; with `tl serve --multi-user` only\n"
    "its own) or admin. `add` prints the secret once: keep it.\n";

enum { OPT_JSON = CLI_OPT_FIRST_LOCAL, OPT_READ_ONLY, OPT_ROLE };

static int token_add(cli_t *cli, const char *name, const char *role, int json)
{
    json_t *body =
               cli_xcheck(json_pack("{ss, ss}", "name", name, "role", role)),
           *out = NULL;
    int rc = cli_call(cli, "POST", "/api/tokens", body, &out);
    json_decref(body);
    if (rc == CLI_OK && json)
        cli_print_json(out);
    else if (rc == CLI_OK)
        printf("%s\n", cli_json_str(out, "token"));
    json_decref(out);
    return rc;
}

static int token_ls(cli_t *cli, int json)
{
    json_t *out = NULL;
    int rc = cli_call(cli, "GET", "/api/tokens", NULL, &out);
    if (rc == CLI_OK && json) {
        cli_print_json(out);
    } else if (rc == CLI_OK) {
        json_t *t;
        size_t i;
        json_t *all = json_object_get(out, "tokens");
        if (json_array_size(all) == 0)
            printf("no tokens\n");
        else
            printf("%-24s  %-9s  %s\n", "NAME", "ROLE", "CREATED");
        json_array_foreach(all, i, t)
        {
            printf("%-24s  %-9s  %s\n", cli_json_str(t, "name"),
                   cli_json_str(t, "role"), cli_json_str(t, "created_at"));
        }
    }
    json_decref(out);
    return rc;
}

static int token_rm(cli_t *cli, const char *name)
{
    char *esc = cli_url_escape(cli, name);
    char *path = cli_xasprintf("/api/tokens/%s", esc);
    json_t *out = NULL;
    int rc = cli_call(cli, "DELETE", path, NULL, &out);
    if (rc == CLI_OK)
        printf("removed token %s\n", name);
    json_decref(out);
    free(path);
    free(esc);
    return rc;
}

int cmd_token(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"json", no_argument, NULL, OPT_JSON},
        {"read-only", no_argument, NULL, OPT_READ_ONLY},
        {"role", required_argument, NULL, OPT_ROLE},
        CLI_GLOBAL_OPTIONS,
    };
    const char *role = "user";
    int c, json = 0;

    while ((c = cli_getopt(cli, argc, argv, ":h", longopts, usage)) != -1) {
        if (c == OPT_JSON)
            json = 1;
        else if (c == OPT_READ_ONLY)
            role = "read-only";
        else if (c == OPT_ROLE)
            role = optarg;
        else
            return cli->rc;
    }
    const char *what = optind < argc ? argv[optind] : NULL;
    int left = argc - optind - 1;
    if (what && strcmp(what, "add") == 0 && left == 1)
        return token_add(cli, argv[optind + 1], role, json);
    if (what && strcmp(what, "ls") == 0 && left == 0)
        return token_ls(cli, json);
    if (what && strcmp(what, "rm") == 0 && left == 1)
        return token_rm(cli, argv[optind + 1]);
    return cli_usage_error(
        usage, what ? "bad use of 'tl token %s'" : "say add, ls or rm",
        what ? what : "");
}
