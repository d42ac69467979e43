#!/usr/bin/env bash
# Stops exactly what infra/local started (by pid file), services first, then the SMTP sink,
# Kafka, then PostgreSQL. Data stays in $STATE; `rm -rf .local` after this starts from scratch.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
stop_pid() {
  local name="$1" f="$RUN/$1.pid"
  [ -f "$f" ] || return 0
  local pid; pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$f"
}
for svc in $(ls "$RUN" 2>/dev/null | sed -n 's/\.pid$//p' | grep -vx 'kafka\|postgres\|smtp-sink' || true); do
  stop_pid "$svc"
done
stop_pid smtp-sink
stop_pid kafka
if [ -f "$RUN/postgres.pid" ]; then
  log "stopping PostgreSQL"
  as_pg "$(pg_bin)/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
  rm -f "$RUN/postgres.pid"
fi
