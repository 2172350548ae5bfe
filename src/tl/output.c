/*
 * output.c -- colours, state icons, the terminal width and padded cells.
 *
 * DESIGN: colour is decided once (cli_resolve(): a tty, no NO_COLOR, no
 * --no-color) and every escape sequence goes through cli_sgr(), so output
 * to a pipe or file never holds one. Text that came from the daemon (task
 * titles, groups, errors) is shown through args_fit_text(), which replaces
 * control characters, so a task cannot drive the user's terminal.
 */
#include "output.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "args.h"

const char *cli_sgr(const cli_t *cli, const char *sgr)
{
    /* a small ring, so several may be used in one printf() */
    static char ring[8][16];
    static unsigned next;
    char *buf;

    if (!cli->color)
        return "";
    buf = ring[next++ % 8];
    snprintf(buf, sizeof(ring[0]), "\033[%sm", sgr);
    return buf;
}

static const struct {
    const char *state, *icon, *ascii, *sgr;
} styles[] = {
    {"queued", "\xE2\x97\xA6", ".", SGR_DIM},      /* ◦ */
    {"running", "\xE2\x96\xB6", ">", SGR_CYAN},    /* ▶ */
    {"paused", "\xE2\x8F\xB8", "=", SGR_YELLOW},   /* ⏸ */
    {"completed", "\xE2\x9C\x93", "+", SGR_GREEN}, /* ✓ */
    {"failed", "\xE2\x9C\x97", "x", SGR_RED},      /* ✗ */
    {"cancelled", "\xE2\x96\xA0", "-", SGR_DIM},   /* ■ */
};

void cli_state_style(const cli_t *cli, const char *state, const char **icon,
                     const char **sgr)
{
    size_t i;

    for (i = 0; state && i < sizeof(styles) / sizeof(styles[0]); i++) {
        if (strcmp(state, styles[i].state) == 0) {
            *icon = cli->unicode ? styles[i].icon : styles[i].ascii;
            *sgr = styles[i].sgr;
            return;
        }
    }
    *icon = "?";
    *sgr = "";
}

int cli_state_is_final(const char *state)
{
    return state &&
           (strcmp(state, "completed") == 0 || strcmp(state, "failed") == 0 ||
            strcmp(state, "cancelled") == 0);
}

size_t cli_term_width(void)
{
    struct winsize ws;
    const char *cols = getenv("COLUMNS");
    long n;
    char *end;

    if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
        return ws.ws_col;
    if (cols && *cols) {
        n = strtol(cols, &end, 10);
        if (*end == '\0' && n > 0 && n < 10000)
            return (size_t)n;
    }
    return 100;
}

char *cli_fit(const char *s, size_t width)
{
    size_t size = strlen(s) * 4 + 8;
    char *buf = cli_xmalloc(size);

    args_fit_text(s, width, buf, size);
    return buf;
}

void cli_put_cell(const char *text, size_t width, int right)
{
    size_t w = args_text_width(text);
    size_t pad = w < width ? width - w : 0;

    if (right)
        printf("%*s%s", (int)pad, "", text);
    else
        printf("%s%*s", text, (int)pad, "");
}

void cli_put_field(const char *key, size_t key_width, const char *value)
{
    size_t len, size, klen = strlen(key);
    char *buf;

    if (!value)
        return;
    len = strlen(value);
    size = len * 4 + 8;
    buf = cli_xmalloc(size);
    args_fit_text(value, len + 1, buf, size);
    printf("%s:%*s %s\n", key, (int)(klen < key_width ? key_width - klen : 0),
           "", buf);
    free(buf);
}
