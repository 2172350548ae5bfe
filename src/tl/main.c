/*
 * main.c -- the tl command: reads the options that come before the
 * command, finds the command and runs it.
 *
 * DESIGN: each command is a function taking its own argv (argv[0] is its
 * name) that returns the exit code: 0 ok, 1 a task failed or the daemon
 * answered an error, 2 a usage error, 3 no daemon answers, 4 no such task
 * (404). Only the
 * LC_CTYPE locale is taken from the environment (for the width of
 * characters); numbers are always parsed and printed the C way.
 */
#include <locale.h>
#include <stdio.h>
#include <string.h>

#include <tasklight.h>

#include "cli.h"
#include "client.h"

typedef struct command {
    const char *name;
    int (*run)(cli_t *cli, int argc, char **argv);
    const char *summary; /* NULL: hidden from the help */
    int reporter;        /* listed with the in-task reporters */
} command_t;

static const command_t commands[] = {
    {"serve", cmd_serve, "run the daemon (API, dashboard, tasks)", 0},
    {"add", cmd_add, "add a task: tl add [options] -- CMD...", 0},
    {"ls", cmd_ls, "list tasks", 0},
    {"show", cmd_show, "show one task", 0},
    {"log", cmd_log, "print a task's output (-f to follow)", 0},
    {"wait", cmd_wait, "wait until tasks finish", 0},
    {"watch", cmd_watch, "a live full-screen view of the tasks", 0},
    {"cancel", cmd_action, "cancel tasks", 0},
    {"pause", cmd_action, "pause running tasks", 0},
    {"resume", cmd_action, "resume paused tasks", 0},
    {"retry", cmd_action, "queue failed or cancelled tasks again", 0},
    {"rm", cmd_action, "remove finished tasks", 0},
    {"parallel", cmd_parallel, "set or show how many tasks a group runs", 0},
    {"clean", cmd_clean, "remove old finished tasks", 0},
    {"stats", cmd_stats, "counts, success rates and durations", 0},
    {"track", cmd_track, "register work this shell does; prints its id", 0},
    {"done", cmd_done, "end a tracked task", 0},
    {"demo", cmd_demo, "add demo tasks to see what tasklight does", 0},
    {"token", cmd_token, "named API tokens with roles: add, ls, rm", 0},
    {"progress", cmd_progress, "report progress: 45, 50/154, --current", 1},
    {"step", cmd_step, "add or update a substep", 1},
    {"note", cmd_note, "set the status message", 1},
    {"meta", cmd_meta, "merge KEY=VALUE into the metadata", 1},
    {"result", cmd_result, "set the result (JSON)", 1},
    {"log-line", cmd_log_line, "append lines to the log (args or stdin)", 1},
    {"__complete-ids", cmd_complete_ids, NULL, 0},
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const char usage_head[] =
    "usage: tl [--data-dir D] [--socket PATH] [--no-color] COMMAND [ARGS]\n";

static void print_commands(FILE *f, int reporter)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++)
        if (commands[i].summary && commands[i].reporter == reporter)
            fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
}

static void print_help(FILE *f)
{
    fputs(usage_head, f);
    fputs("\nRuns and tracks background tasks through a local daemon.\n"
          "\ncommands:\n",
          f);
    print_commands(f, 0);
    fputs("  help      show help: tl help COMMAND\n"
          "\nin a task (TASKLIGHT_TASK_ID), or with --task ID:\n",
          f);
    print_commands(f, 1);
    fputs(
        "\noptions (before the command, or among its options):\n"
        "  --data-dir D    the instance's directory (env TASKLIGHT_DATA_DIR;\n"
        "                  default $XDG_DATA_HOME/tasklight or\n"
        "                  ~/.local/share/tasklight)\n"
        "  --socket PATH   the daemon's socket (env TASKLIGHT_SOCKET;\n"
        "                  default DATA_DIR/tasklight.sock)\n"
        "  --no-color      no colour even on a terminal (also NO_COLOR)\n"
        "  -V, --version   print the version\n"
        "\nexit status: 0 ok, 1 a task failed or the daemon answered an\n"
        "error, 2 a usage error, 3 no daemon answers, 4 no such task.\n"
        "See tl(1) and tl-COMMAND(1).\n",
        f);
}

static const command_t *find_command(const char *name)
{
    size_t i;

    for (i = 0; i < NCOMMANDS; i++)
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    return NULL;
}

static int run_command(cli_t *cli, int argc, char **argv)
{
    const command_t *cmd = find_command(argv[0]);
    char *help_argv[] = {NULL, "--help", NULL};

    if (strcmp(argv[0], "help") == 0) {
        if (argc < 2) {
            print_help(stdout);
            return CLI_OK;
        }
        cmd = find_command(argv[1]);
        if (!cmd)
            return cli_usage_error(usage_head, "unknown command '%s'", argv[1]);
        help_argv[0] = argv[1];
        argv = help_argv;
        argc = 2;
    }
    if (!cmd)
        return cli_usage_error(usage_head, "unknown command '%s'", argv[0]);
    optind = 0; /* a full getopt restart for the command's options */
    return cmd->run(cli, argc, argv);
}

/* Parses the options before the command; returns -1 to go on. */
static int main_options(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"version", no_argument, NULL, 'V'},
        {"data-dir", required_argument, NULL, CLI_OPT_DATA_DIR},
        {"socket", required_argument, NULL, CLI_OPT_SOCKET},
        {"no-color", no_argument, NULL, CLI_OPT_NO_COLOR},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    char opt[3] = "-?";
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:hV", longopts, NULL)) != -1) {
        switch (c) {
        case 'h':
            print_help(stdout);
            return CLI_OK;
        case 'V':
            printf("tasklight %s\n", TL_VERSION);
            return CLI_OK;
        case CLI_OPT_DATA_DIR:
        case CLI_OPT_SOCKET:
        case CLI_OPT_NO_COLOR:
            cli_global_option(cli, c, optarg);
            break;
        case ':':
            return cli_usage_error(usage_head, "option '%s' needs a value",
                                   argv[optind - 1]);
        default:
            opt[1] = (char)optopt;
            return cli_usage_error(usage_head, "unknown option '%s'",
                                   optopt ? opt : argv[optind - 1]);
        }
    }
    if (optind >= argc) {
        print_help(stderr);
        return CLI_USAGE;
    }
    return -1;
}

int main(int argc, char **argv)
{
    cli_t cli = {0};
    int rc;

    setlocale(LC_CTYPE, "");
    rc = main_options(&cli, argc, argv);
    if (rc < 0)
        rc = run_command(&cli, argc - optind, argv + optind);
    cli_client_cleanup(&cli);
    free(cli.data_dir);
    free(cli.socket_path);
    if (fflush(stdout) != 0 || ferror(stdout)) {
        fprintf(stderr, "tl: error: cannot write the output\n");
        if (rc == CLI_OK)
            rc = CLI_FAIL;
    }
    return rc;
}
