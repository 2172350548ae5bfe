/*
 * web.c -- the dashboard, embedded at build time from web/index.html with
 * .incbin, so the binary serves it with no files beside it.
 */
#include "http.h"

__asm__(".section .rodata\n"
        ".global tl__web_index\n"
        ".type tl__web_index, @object\n"
        ".balign 16\n"
        "tl__web_index:\n"
        ".incbin \"web/index.html\"\n"
        ".byte 0\n"
        ".global tl__web_index_len\n"
        ".type tl__web_index_len, @object\n"
        ".balign 4\n"
        "tl__web_index_len:\n"
        ".int tl__web_index_len - tl__web_index - 1\n"
        ".previous\n");
