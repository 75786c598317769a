/*
 * web.h — one file of the web dashboard as compiled into the binary: the
 * table scripts/embed_web.sh generates and route_web.c serves.
 */
#ifndef TM_SERVER_WEB_H
#define TM_SERVER_WEB_H

typedef struct tm__web_file {
    const char *name, *type;
    const unsigned char *data;
    unsigned long len;
} tm__web_file;

#endif
