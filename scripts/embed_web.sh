#!/bin/sh
# Turns the built dashboard (build/web/*) into C: one byte array per file
# and the table src/server/route_web.c serves. Used by the Makefile, like
# the price catalog's rule.   usage: embed_web.sh OUT.c FILE...
set -eu
out=$1; shift
{
    echo '/* generated from the built web dashboard by scripts/embed_web.sh; do not edit */'
    echo '#include "src/server/web.h"'
    i=0
    for f in "$@"; do
        echo "static const unsigned char f$i[] = {"
        od -An -v -tx1 "$f" | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g'
        echo '0};'
        i=$((i + 1))
    done
    echo 'const tm__web_file tm__web_files[] = {'
    i=0
    for f in "$@"; do
        case $f in
        *.html) type='text/html; charset=utf-8' ;;
        *.js) type='text/javascript; charset=utf-8' ;;
        *.css) type='text/css; charset=utf-8' ;;
        *.png) type='image/png' ;;
        *.svg) type='image/svg+xml' ;;
        *) echo "embed_web.sh: $f: no content type for this kind of file" >&2; exit 1 ;;
        esac
        echo "    {\"$(basename "$f")\", \"$type\", f$i, sizeof f$i - 1},"
        i=$((i + 1))
    done
    echo '};'
    echo 'const unsigned long tm__web_nfiles = sizeof tm__web_files / sizeof tm__web_files[0];'
} > "$out.tmp"
mv "$out.tmp" "$out"
