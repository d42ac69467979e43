#!/usr/bin/env bash
# The fault harness. `make chaos` runs every fault; `chaos.sh --short` (what `make test` runs)
# a few. It starts the whole stack in its own database, topic prefix and ports, beside whatever
# else runs on this PostgreSQL and Kafka, then phase by phase: the chaos load (clients that
# retry each command with its Idempotency-Key until answered, `freshline chaos load`), one
# fault injected and healed while the load runs, a drain, and every invariant checked over
# everything so far (`freshline chaos check`). The report (faults x invariants, with each
# fault's recovery time) goes to bench/results/chaos-<date>.md (short form: the run's
# directory). Exits non-zero when an invariant broke.
#
# PostgreSQL and Kafka faults hit the shared local instances: anything else using them sees
# the restart too. Binaries come from $FRESHLINE_BIN_DIR (default target/release).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
MODE="${1:---full}"
BIN="${FRESHLINE_BIN_DIR:-$ROOT/target/release}"
[ -x "$BIN/freshline" ] && [ -x "$BIN/freshline-sim" ] || die "no binaries in $BIN (cargo build --release --bins)"
command -v faketime >/dev/null || "$ROOT/infra/local/install.sh" --packages
"$ROOT/infra/local/infra-up.sh"

source "$ROOT/infra/local/stack.sh"
stack_init chaos 0
export FRESHLINE_RELAY_LEASE_SECS=4
export FRESHLINE_NOTIFIER_LEASE_SECS=20
SERVICES=(command-api outbox-relay outbox-relay-standby query-api projector card-gateway messaging notifier
  fulfilment-saga image-worker scheduler delivery-sim)
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# note <phase> <fault> [recovery seconds]
note() {
  printf '{"phase":"%s","fault":"%s","recovery_secs":%s}\n' "$1" "$2" "${3:-null}" >>"$CS/faults.jsonl"
  log "  $2${3:+: recovered in $3 s}"
}

cleanup() { stack_cleanup; }
trap cleanup EXIT
trap "exit 130" INT TERM HUP PIPE
log "chaos run $RUN_ID: database $DB, topics ${FRESHLINE_TOPIC_PREFIX}*, logs $CS/log"
for s in "${SERVICES[@]}"; do start "$s"; done

# --- faults -----------------------------------------------------------------------------
kill_one() {  # kill_one <phase> <service>
  local t0; t0="$(now)"
  kill -9 "$(pid_of "$2")" 2>/dev/null || true
  sleep 1
  start "$2"
  note "$1" "SIGKILL $2, restarted" "$(since "$t0")"
}
fault_kill_each() { for s in command-api outbox-relay projector query-api fulfilment-saga notifier image-worker scheduler; do kill_one "$1" "$s"; sleep 2; done; }
fault_postgres() {
  local t0; t0="$(now)"
  as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null
  sleep 3
  as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$PG_HOME/postgres.log" -w -t 60 start >/dev/null
  wait_ready command-api 120
  note "$1" "PostgreSQL stopped in immediate mode for 3 s" "$(since "$t0")"
}
fault_kafka() {
  local t0; t0="$(now)"
  kill -9 "$(cat "$RUN/kafka.pid")"
  sleep 3
  "$ROOT/infra/local/infra-up.sh" 2>/dev/null
  note "$1" "Kafka broker SIGKILLed for 3 s" "$(since "$t0")"
}
relay_leader() {
  for r in outbox-relay outbox-relay-standby; do
    curl -fsS -m 2 "http://127.0.0.1:${PORT[$r]}/metrics" 2>/dev/null | grep -q '^freshline_relay_leader 1' && { echo "$r"; return; }
  done
}
fault_relay_freeze() {
  local leader other t0
  leader="$(relay_leader)"; [ -n "$leader" ] || die "no relay leads"
  other=outbox-relay-standby; [ "$leader" = "$other" ] && other=outbox-relay
  t0="$(now)"
  kill -STOP "$(pid_of "$leader")"
  until [ "$(relay_leader)" = "$other" ]; do
    [ "$(since "$t0" | cut -d. -f1)" -lt 60 ] || die "the standby relay never took over"
    sleep 0.2
  done
  local took; took="$(since "$t0")"
  sleep 5
  kill -CONT "$(pid_of "$leader")"
  note "$1" "relay leader ($leader) SIGSTOPped 5 s past the standby's takeover" "$took"
}
fault_gateway() {
  stop card-gateway; start card-gateway FRESHLINE_GATEWAY_LATENCY_MS=3000
  note "$1" "card gateway answering in 3 s for 10 s"
  sleep 10
  local t0; t0="$(now)"
  kill -9 "$(pid_of card-gateway)"
  sleep 20
  start card-gateway
  note "$1" "card gateway down for 20 s" "$(since "$t0")"
}
fault_blob_full() {
  local t0; t0="$(now)"
  stop command-api; start command-api FRESHLINE_BLOB_MIN_FREE_BYTES=9000000000000000000
  sleep 12
  stop command-api; start command-api
  note "$1" "image store full for 12 s (command-api restarted with an impossible free-space reserve, then without)" "$(since "$t0")"
}

failed=0
# The short form (in `make test`) puts less on the stack: its checks rebuild every read model
# after each phase, and the data they replay grows with the load.
if [ "$MODE" = --short ]; then LOAD_SECS=15; CLIENTS=4; else LOAD_SECS=25; CLIENTS=6; fi
# phase <name> <fault function> [command-api replicas]
phase() {
  local name="$1" fault="$2" apis="${3:-http://127.0.0.1:28080}"
  log "phase $name"
  "$BIN/freshline" chaos load --api "$apis" --key "$FRESHLINE_SIGNING_KEY" --seconds "$LOAD_SECS" \
    --concurrency "$CLIENTS" --ledger "$CS/ledger-$name.jsonl" --run "$RUN_ID-$name" >>"$CS/log/load.log" 2>&1 &
  local load=$!
  sleep 4
  "$fault" "$name"
  wait "$load" || { log "  the load of $name failed (see $CS/log/load.log)"; failed=1; }
  "$BIN/freshline" chaos check --phase "$name" --ledger "$CS/ledger-$name.jsonl" \
    --results "$CS/results.jsonl" --maildir "$MAILDIR" --drain-secs 180 2>&1 | sed 's/^/  /' >&2 \
    || failed=1
}
no_fault() { note "$1" "none (baseline)"; }
fault_skew() { note "$1" "a second command-api replica 45 s ahead (faketime), taking half the commands"; }

if [ "$MODE" = --short ]; then
  phase kill-each fault_kill_each
  phase postgres fault_postgres
  phase kafka fault_kafka
  phase relay-freeze fault_relay_freeze
else
  phase baseline no_fault
  phase kill-each fault_kill_each
  phase postgres fault_postgres
  phase kafka fault_kafka
  phase relay-freeze fault_relay_freeze
  phase gateway fault_gateway
  start command-api-skewed
  phase clock-skew fault_skew "http://127.0.0.1:28080,http://127.0.0.1:28088"
  stop command-api-skewed
  phase blob-full fault_blob_full
fi

if [ "$MODE" = --short ]; then out="$CS/chaos.md"; else out="$ROOT/bench/results/chaos-$(date +%F).md"; fi
"$BIN/freshline" chaos report --results "$CS/results.jsonl" --faults "$CS/faults.jsonl" --out "$out" \
  --title "$(date -u +%FT%TZ), $MODE, $(nproc) cores; load: $CLIENTS clients, ${LOAD_SECS} s per phase"
cat "$out"
if [ "$failed" = 0 ]; then
  cleanup; trap - EXIT
  psql_admin -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  # Keep the report; the logs, keys and blobs of a run that held go.
  rm -rf "$CS/log" "$CS/blobs" "$CS/keys" "$CS/evidence" "$CS/run" "$CS"/ledger-*.jsonl
  log "every invariant held ($out)"
else
  log "an invariant broke or the load failed: $out; logs in $CS/log; database $DB kept"
  exit 1
fi
