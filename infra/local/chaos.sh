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
PGBIN="$(pg_bin)"

RUN_ID="$(date +%Y%m%d%H%M%S)$$"
CS="$STATE/chaos/$RUN_ID"
mkdir -p "$CS/keys" "$CS/evidence" "$CS/blobs" "$CS/log" "$CS/run"
DB="freshline_chaos_$RUN_ID"
psql_admin() { as_pg "$PGBIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
psql_admin -c "create database $DB owner $PG_USER" >/dev/null

export FRESHLINE_DATABASE_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$DB"
export FRESHLINE_KAFKA_BROKERS="$KAFKA_BROKERS"
export FRESHLINE_TOPIC_PREFIX="chaos$RUN_ID."
export FRESHLINE_JWKS_PATH="$CS/keys/jwks.json"
export FRESHLINE_SIGNING_KEY="$CS/keys/signing-key.pem"
export FRESHLINE_EVIDENCE_KEY="$CS/evidence/evidence-key.pem"
export FRESHLINE_BLOB_DIR="$CS/blobs"
export FRESHLINE_LOG_FORMAT=json
export FRESHLINE_SMTP_PORT="$SMTP_PORT"
export FRESHLINE_RELAY_LEASE_SECS=4
export FRESHLINE_SAGA_GROUP="chaos-$RUN_ID-saga"
export FRESHLINE_IMAGE_WORKER_GROUP="chaos-$RUN_ID-images"
export FRESHLINE_NOTIFIER_GROUP="chaos-$RUN_ID-notifier"
export FRESHLINE_NOTIFIER_LEASE_SECS=20
export FRESHLINE_COMMAND_API_URL="http://127.0.0.1:28080"
export FRESHLINE_CARD_GATEWAY_URL="http://127.0.0.1:28090"
"$BIN/freshline" db migrate 2>/dev/null
"$BIN/freshline" topics create >/dev/null
"$BIN/freshline" token keygen --out-dir "$CS/keys" >/dev/null
"$BIN/freshline" audit keygen --out-dir "$CS/evidence" >/dev/null

# --- the stack ---------------------------------------------------------------------------
declare -A PORT=([command-api]=28080 [command-api-skewed]=28088 [query-api]=28081
  [outbox-relay]=28181 [outbox-relay-standby]=28191 [projector]=28182 [fulfilment-saga]=28183
  [notifier]=28184 [image-worker]=28185 [scheduler]=28186 [delivery-sim]=28187 [card-gateway]=28090)
SERVICES=(command-api outbox-relay outbox-relay-standby query-api projector card-gateway notifier
  fulfilment-saga image-worker scheduler delivery-sim)

# start <service> [VAR=value ...]: starts it with extra settings; waits until it is ready.
start() {
  local name="$1"; shift
  local addr="127.0.0.1:${PORT[$name]}" cmd
  case "$name" in
    command-api) cmd=(env FRESHLINE_HTTP_ADDR="$addr" "$@" "$BIN/freshline" serve command-api) ;;
    command-api-skewed) cmd=(env FRESHLINE_HTTP_ADDR="$addr" "$@" faketime -f +45s "$BIN/freshline" serve command-api) ;;
    outbox-relay|outbox-relay-standby) cmd=(env FRESHLINE_RELAY_HTTP_ADDR="$addr" "$@" "$BIN/freshline" serve outbox-relay) ;;
    query-api) cmd=(env FRESHLINE_HTTP_ADDR="$addr" "$@" "$BIN/freshline" serve query-api) ;;
    projector) cmd=(env FRESHLINE_PROJECTOR_HTTP_ADDR="$addr" "$@" "$BIN/freshline" serve projector) ;;
    fulfilment-saga) cmd=(env FRESHLINE_SAGA_HTTP_ADDR="$addr" FRESHLINE_SAGA_INSTANCE_ID="chaos-$RUN_ID" "$@" "$BIN/freshline" serve fulfilment-saga) ;;
    notifier) cmd=(env FRESHLINE_NOTIFIER_HTTP_ADDR="$addr" "$@" "$BIN/freshline" serve notifier) ;;
    image-worker) cmd=(env FRESHLINE_IMAGE_WORKER_HTTP_ADDR="$addr" "$@" "$BIN/freshline" serve image-worker) ;;
    scheduler) cmd=(env FRESHLINE_SCHEDULER_HTTP_ADDR="$addr" FRESHLINE_SCHEDULER_INTERVAL_SECS=5 "$@" "$BIN/freshline" serve scheduler) ;;
    delivery-sim) cmd=(env FRESHLINE_SIM_HTTP_ADDR="$addr" FRESHLINE_SIM_STEP_DELAY_MS=20 "$@" "$BIN/freshline-sim" delivery-sim) ;;
    card-gateway) cmd=(env FRESHLINE_GATEWAY_HTTP_ADDR="$addr" "$@" "$BIN/freshline-sim" card-gateway) ;;
    *) die "unknown service $name" ;;
  esac
  # In a subshell: the harness's own shell then has no job to report when one is killed.
  (nohup "${cmd[@]}" >>"$CS/log/$name.log" 2>&1 </dev/null & echo $! >"$CS/run/$name.pid")
  wait_ready "$name" 90
}
ready() { curl -fsS -m 2 "http://127.0.0.1:${PORT[$1]}/readyz" >/dev/null 2>&1; }
# wait_ready <service> <seconds>: prints how long it took.
wait_ready() {
  local t0=$SECONDS
  until ready "$1"; do
    [ $((SECONDS - t0)) -lt "$2" ] || die "$1 not ready after $2 s (log: $CS/log/$1.log)"
    sleep 0.2
  done
}
pid_of() { cat "$CS/run/$1.pid" 2>/dev/null || true; }
stop() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && kill "$p" 2>/dev/null; rm -f "$CS/run/$1.pid"; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
# note <phase> <fault> [recovery seconds]
note() {
  printf '{"phase":"%s","fault":"%s","recovery_secs":%s}\n' "$1" "$2" "${3:-null}" >>"$CS/faults.jsonl"
  log "  $2${3:+: recovered in $3 s}"
}

cleanup() {
  for s in "${SERVICES[@]}" command-api-skewed; do stop "$s"; done
}
trap cleanup EXIT
trap "exit 130" INT TERM
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
