#!/bin/sh
# scripts/man.sh TOKMETER — writes the tokmeter(1) man page to stdout, made
# from the binary's own `--help` and every `tokmeter COMMAND --help`, so the
# page says what the binary says.
set -eu
tm=$1
ver=$("$tm" --version | sed 's/^tokmeter //')
# Text to troff: backslashes escaped, a leading . or ' neutralised.
esc() { sed -e 's/\\/\\e/g' -e "s/^\([.']\)/\\\\\&\1/"; }
printf '.TH TOKMETER 1 "" "tokmeter %s" "User Commands"\n' "$ver"
printf '%s\n' '.SH NAME' 'tokmeter \- usage and cost tracking for LLM APIs' '.SH SYNOPSIS' \
    '.B tokmeter' '[\fB\-\-db\fR \fIPATH\fR] \fICOMMAND\fR [\fIoptions\fR]' '.SH DESCRIPTION'

echo ".nf"
"$tm" --help | esc
echo ".fi"
echo ".SH COMMANDS"
for c in $("$tm" --help | sed -n '/^commands:/,/^$/p' | awk 'NR > 1 && NF { print $1 }'); do
    echo ".SS $c"
    echo ".nf"
    "$tm" "$c" --help | esc
    echo ".fi"
done
printf '%s\n' '.SH FILES' \
    'The store: \fI$TOKMETER_DB\fR, else \fI~/.local/share/tokmeter/tokmeter.db\fR.' \
    'The config: \fI$TOKMETER_CONFIG\fR, else \fI~/.config/tokmeter/config.json\fR.' \
    '.SH SEE ALSO' \
    'The documents under docs/ in the source tree: events, queries, quotas, alerts,' \
    'importers, pricing, the HTTP API and the config file.'

