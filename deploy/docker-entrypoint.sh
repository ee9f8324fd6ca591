#!/bin/sh
# The provider container's entry point (see Dockerfile and docs/DEPLOYMENT.md).
# 1. Creates the PostgreSQL database when missing and migrates it (UEC_DB_CREATE=false skips
#    the creation, for a database user without CREATEDB: then the database must exist).
# 2. Execs `uec-booking serve provider` (PID 1: SIGTERM from `docker stop` drains requests).
# Every setting is a UEC_* variable (README, "Configuration"); extra arguments are passed on.
set -eu
: "${UEC_DB_URL:?set UEC_DB_URL to the provider database, e.g. postgresql://uec@db:5432/uec_provider}"
if [ "${UEC_DB_CREATE:-true}" != "false" ]; then
  uec-booking db create --db "$UEC_DB_URL"
else
  uec-booking db upgrade --db "$UEC_DB_URL"
fi
exec uec-booking serve provider \
  --host "${UEC_HOST:-0.0.0.0}" \
  --port "${UEC_PORT:-8020}" \
  --workers "${UEC_WORKERS:-2}" \
  "$@"
