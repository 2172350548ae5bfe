/*
 * web.c -- the dashboard's files, embedded at build time from web/ with
 * .incbin, so the binary serves them with no files beside it. A file here
 * is served at /NAME by api.c (index.html at /).
 */
#include "http.h"

#include <string.h>

/* sym: the bytes of web/FILE; sym_end: just past them (a NUL follows). */
#define TL__WEB_EMBED(sym, file)                                               \
    __asm__(".section .rodata\n"                                               \
            ".balign 16\n"                                                     \
            ".global " #sym "\n"                                               \
            ".hidden " #sym "\n"                                               \
            ".global " #sym "_end\n"                                           \
            ".hidden " #sym "_end\n"                                           \
            ".type " #sym ", @object\n" #sym ":\n"                             \
            ".incbin \"web/" file "\"\n" #sym "_end:\n"                        \
            ".byte 0\n"                                                        \
            ".previous\n");                                                    \
    extern const char sym[] __attribute__((visibility("hidden")));             \
    extern const char sym##_end[] __attribute__((visibility("hidden")))

TL__WEB_EMBED(tl__web_index_html, "index.html");
TL__WEB_EMBED(tl__web_app_js, "app.js");
TL__WEB_EMBED(tl__web_app_css, "app.css");

int tl__web_find(const char *name, tl__web_asset_t *out)
{
    static const struct {
        const char *name, *content_type, *start, *end;
    } files[] = {
        {"", "text/html; charset=utf-8", tl__web_index_html,
         tl__web_index_html_end},
        {"app.js", "text/javascript; charset=utf-8", tl__web_app_js,
         tl__web_app_js_end},
        {"app.css", "text/css; charset=utf-8", tl__web_app_css,
         tl__web_app_css_end},
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        if (strcmp(files[i].name, name) != 0)
            continue;
        *out = (tl__web_asset_t){files[i].name, files[i].content_type,
                                 files[i].start,
                                 (size_t)(files[i].end - files[i].start)};
        return 0;
    }
    return TL_ENOTFOUND;
}
