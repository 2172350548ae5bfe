/*
 * output.h -- terminal output of the tl command: colours, state icons,
 * the terminal width and padded cells.
 */
#ifndef TL_OUTPUT_H
#define TL_OUTPUT_H

#include <stddef.h>

#include "cli.h"

/* SGR parameters for cli_sgr(). */
#define SGR_RESET "0"
#define SGR_BOLD "1"
#define SGR_DIM "2"
#define SGR_RED "31"
#define SGR_GREEN "32"
#define SGR_YELLOW "33"
#define SGR_CYAN "36"

/* "\033[<sgr>m" when cli shows colour, else "". */
const char *cli_sgr(const cli_t *cli, const char *sgr);

#define SGR_BLUE "34"
#define SGR_MAGENTA "35"

/* The icon ("✓", "▶", ...; ASCII ones when the locale is not UTF-8) and
 * colour (an SGR) of a state name; "?" and "" for an unknown one. */
void cli_state_style(const cli_t *cli, const char *state, const char **icon,
                     const char **sgr);

/* Is state a final one (completed, failed, cancelled)? */
int cli_state_is_final(const char *state);

/* The terminal's width: TIOCGWINSZ on stdout, else $COLUMNS, else 100. */
size_t cli_term_width(void);

/* s fitted to width columns (args_fit_text()); malloc'd, free() it. */
char *cli_fit(const char *s, size_t width);

/* Prints text (already fit to width) padded with spaces to width columns;
 * right-aligned when right. */
void cli_put_cell(const char *text, size_t width, int right);

/* Prints "key: value" with the value sanitised for the terminal and the
 * key padded to key_width; nothing when value is NULL. */
void cli_put_field(const char *key, size_t key_width, const char *value);

#endif
