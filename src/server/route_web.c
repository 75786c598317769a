/*
 * route_web.c — the web dashboard's files (web/, bundled by esbuild) served
 * at "/" and "/assets/NAME" without a key: the page asks for a key itself
 * and sends it with each API call. The files are compiled into the binary
 * by the Makefile (scripts/embed_web.sh); libtokmeter.a alone has no
 * dashboard (the reference below is weak), and then "/" says how to get one.
 */
#include <string.h>

#include "server_int.h"

extern const tm__web_file tm__web_files[] __attribute__((weak));
extern const unsigned long tm__web_nfiles __attribute__((weak));

static enum MHD_Result reply_file(req *r, const tm__web_file *f)
{
    static const char *const extra[] = {
        "Cache-Control", "no-cache", "X-Content-Type-Options", "nosniff",
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "frame-ancestors 'none'",
        NULL};
    return tm__reply_as(r, 200, f->data, f->len, 1, f->type, extra);
}

enum MHD_Result tm__get_web(req *r)
{
    const char *name = strcmp(r->url, "/") == 0 ? "index.html" : r->url + strlen("/assets/");
    if (!&tm__web_nfiles)
        return tm__reply_error(r, 404, "not_found",
                               "this build has no dashboard: build tokmeter with make "
                               "(it bundles web/ with Node.js)");
    for (unsigned long i = 0; i < tm__web_nfiles; i++)
        if (strcmp(tm__web_files[i].name, name) == 0)
            return reply_file(r, &tm__web_files[i]);
    return tm__reply_error(r, 404, "not_found", "no dashboard file %.200s", r->url);
}
