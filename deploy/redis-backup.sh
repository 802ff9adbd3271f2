#!/bin/sh
# Back up Redis's AOF directory as a gzipped tar on stdout, with AOF rewrites paused for the copy
# (a copy taken during a rewrite can be inconsistent). Runs where redis-cli and the data are:
#   docker compose exec -T redis sh < deploy/redis-backup.sh > frontdesk-redis-$(date +%F).tar.gz
# REDIS_CLI_ARGS passes connection options (e.g. "-p 6380 -a PASSWORD"). docs/operations.md.
set -eu
cli="redis-cli ${REDIS_CLI_ARGS:-}"
dir=$($cli CONFIG GET dir | tail -n 1)
aofdir=$($cli CONFIG GET appenddirname | tail -n 1)
previous=$($cli CONFIG GET auto-aof-rewrite-percentage | tail -n 1)
$cli CONFIG SET auto-aof-rewrite-percentage 0 >/dev/null
trap '$cli CONFIG SET auto-aof-rewrite-percentage "$previous" >/dev/null' EXIT
until $cli INFO persistence | grep -q '^aof_rewrite_in_progress:0' \
  && $cli INFO persistence | grep -q '^aof_rewrite_scheduled:0'; do
  sleep 1
done
tar -C "$dir" -czf - "$aofdir"
