# A whole Freshline stack of its own, beside whatever else runs on the local PostgreSQL and
# Kafka: its own database, topic prefix, consumer groups, keys and ports. Sourced by the fault
# harness (chaos.sh) and the browser tests (ui-test.sh) after lib.sh:
#   stack_init <name> <port offset>   create the database, migrate, make topics and keys
#   start <service> [VAR=value ...]   start one service with extra settings; wait until ready
#   stop <service>, pid_of <service>, ready <service>, wait_ready <service> <seconds>
#   stack_cleanup                     stop every service it started
# Binaries come from $BIN. Services: command-api, command-api-skewed (45 s ahead, faketime),
# outbox-relay, outbox-relay-standby, query-api, projector, card-gateway, messaging, notifier,
# fulfilment-saga, image-worker, scheduler, delivery-sim.

# stack_init <name> <port offset>: sets RUN_ID, CS (its directory), DB, PORT and the services'
# environment.
stack_init() {
  local name="$1" off="$2"
  RUN_ID="$(date +%Y%m%d%H%M%S)$$"
  CS="$STATE/$name/$RUN_ID"
  mkdir -p "$CS/keys" "$CS/evidence" "$CS/blobs" "$CS/log" "$CS/run"
  DB="freshline_${name}_$RUN_ID"
  PGBIN="$(pg_bin)"
  psql_admin -c "create database $DB owner $PG_USER" >/dev/null
  declare -gA PORT=([command-api]=$((28080 + off)) [command-api-skewed]=$((28088 + off))
    [query-api]=$((28081 + off)) [outbox-relay]=$((28181 + off)) [outbox-relay-standby]=$((28191 + off))
    [projector]=$((28182 + off)) [fulfilment-saga]=$((28183 + off)) [notifier]=$((28184 + off))
    [image-worker]=$((28185 + off)) [scheduler]=$((28186 + off)) [delivery-sim]=$((28187 + off))
    [card-gateway]=$((28090 + off)) [messaging]=$((28091 + off)))
  service_env "postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$DB" "$CS"
  export FRESHLINE_LOG_FORMAT=json
  export FRESHLINE_TOPIC_PREFIX="$name$RUN_ID."
  export FRESHLINE_SMTP_PORT="$SMTP_PORT"
  export FRESHLINE_SAGA_GROUP="$name-$RUN_ID-saga"
  export FRESHLINE_IMAGE_WORKER_GROUP="$name-$RUN_ID-images"
  export FRESHLINE_NOTIFIER_GROUP="$name-$RUN_ID-notifier"
  export FRESHLINE_COMMAND_API_URL="http://127.0.0.1:${PORT[command-api]}"
  export FRESHLINE_CARD_GATEWAY_URL="http://127.0.0.1:${PORT[card-gateway]}"
  export FRESHLINE_SMS_URL="http://127.0.0.1:${PORT[messaging]}/sms"
  export FRESHLINE_PUSH_URL="http://127.0.0.1:${PORT[messaging]}/push"
  STACK_INSTANCE="$name-$RUN_ID"
  "$BIN/freshline" db migrate 2>/dev/null
  "$BIN/freshline" topics create >/dev/null
  "$BIN/freshline" token keygen --out-dir "$CS/keys" >/dev/null
  "$BIN/freshline" audit keygen --out-dir "$CS/evidence" >/dev/null
  STARTED=()
}

psql_admin() { as_pg "$PGBIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }

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
    fulfilment-saga) cmd=(env FRESHLINE_SAGA_HTTP_ADDR="$addr" FRESHLINE_SAGA_INSTANCE_ID="$STACK_INSTANCE" "$@" "$BIN/freshline" serve fulfilment-saga) ;;
    notifier) cmd=(env FRESHLINE_NOTIFIER_HTTP_ADDR="$addr" "$@" "$BIN/freshline" serve notifier) ;;
    image-worker) cmd=(env FRESHLINE_IMAGE_WORKER_HTTP_ADDR="$addr" "$@" "$BIN/freshline" serve image-worker) ;;
    scheduler) cmd=(env FRESHLINE_SCHEDULER_HTTP_ADDR="$addr" FRESHLINE_SCHEDULER_INTERVAL_SECS=5 "$@" "$BIN/freshline" serve scheduler) ;;
    delivery-sim) cmd=(env FRESHLINE_SIM_HTTP_ADDR="$addr" FRESHLINE_SIM_STEP_DELAY_MS=20 "$@" "$BIN/freshline-sim" delivery-sim) ;;
    card-gateway) cmd=(env FRESHLINE_GATEWAY_HTTP_ADDR="$addr" "$@" "$BIN/freshline-sim" card-gateway) ;;
    messaging) cmd=(env FRESHLINE_MESSAGING_HTTP_ADDR="$addr" "$@" "$BIN/freshline-sim" messaging) ;;
    *) die "unknown service $name" ;;
  esac
  # In a subshell: the harness's own shell then has no job to report when one is killed.
  (nohup "${cmd[@]}" >>"$CS/log/$name.log" 2>&1 </dev/null & echo $! >"$CS/run/$name.pid")
  STARTED+=("$name")
  wait_ready "$name" 90
}
ready() { curl -fsS -m 2 "http://127.0.0.1:${PORT[$1]}/readyz" >/dev/null 2>&1; }
# wait_ready <service> <seconds>
wait_ready() {
  local t0=$SECONDS
  until ready "$1"; do
    [ $((SECONDS - t0)) -lt "$2" ] || die "$1 not ready after $2 s (log: $CS/log/$1.log)"
    sleep 0.2
  done
}
pid_of() { cat "$CS/run/$1.pid" 2>/dev/null || true; }
stop() { local p; p="$(pid_of "$1")"; [ -n "$p" ] && kill "$p" 2>/dev/null; rm -f "$CS/run/$1.pid"; }
stack_cleanup() {
  local s
  for s in "${STARTED[@]}"; do stop "$s"; done
}
