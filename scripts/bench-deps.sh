#!/bin/sh
# Installs what only the benchmarks need (PostgreSQL 15 and libpq, for the
# side-by-side comparison), when missing. Not part of `make test`.
exec sh "$(dirname "$0")/deps.sh" postgresql-15 libpq-dev procps time
