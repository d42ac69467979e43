#!/usr/bin/env bash
# The benchmark harness: brings the stack up if needed and prints, in one run, each figure
# beside its anchor measured on the same machine in the same run, then writes
# bench/results/<date>.md and a PNG plot (latency percentiles against load).
#   - commands through command-api vs pgbench running the store's own SELECT + INSERT;
#   - the outbox relay vs Kafka's ProducerPerformance with the same record size;
#   - projection replay from offset 0 of 1M events;
#   - command -> visible in the query API at fixed rates;
#   - orders carried by the fulfilment saga (simulated instant riders);
#   - command latency on an aggregate with 10k events, without and with snapshots.
# FRESHLINE_BENCH_QUICK=1 runs smaller counts (a smoke run, not figures to quote).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The services run the binaries this checkout builds: any already running (an older build) are
# stopped first, and up.sh builds and starts them again (PostgreSQL and Kafka stay up).
for f in "$RUN"/*.pid; do
  [ -e "$f" ] || continue
  case "$(basename "$f" .pid)" in postgres | kafka | smtp-sink | prometheus) continue ;; esac
  kill -TERM "$(cat "$f")" 2>/dev/null || true
  rm -f "$f"
done
sleep 2
"$ROOT/infra/local/up.sh" 2>/dev/null
PGBIN="$(pg_bin)"
BIN="$ROOT/target/release"
export PGPASSWORD="$PG_PASSWORD"
export FRESHLINE_SIGNING_KEY="$STATE/keys/signing-key.pem"
export FRESHLINE_DATABASE_URL="$DATABASE_URL"
export FRESHLINE_KAFKA_BROKERS="$KAFKA_BROKERS"
quick="${FRESHLINE_BENCH_QUICK:-0}"
scale() { if [ "$quick" = 1 ]; then echo "$2"; else echo "$1"; fi; }
SECS="$(scale 15 5)"
COUNT="$(scale 20000 3000)"
RELAY_EVENTS="$(scale 200000 20000)"
REPLAY_EVENTS="$(scale 1000000 100000)"
ORDERS="$(scale 1000 100)"
if ! command -v gnuplot >/dev/null 2>&1; then
  log "installing gnuplot (for the plot)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1 \
    || { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gnuplot-nox >/dev/null 2>&1; } \
    || log "gnuplot unavailable: no plot this run"
fi
rows=()
ratio() { awk "BEGIN { if ($2 > 0) printf \"%.2f\", $1 / $2; else print \"-\" }"; }

# --- the Python eventsourcing library as a peer --------------------------------------------
VENV="$STATE/bench-venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import eventsourcing, psycopg_pool' 2>/dev/null; then
  log "installing the eventsourcing library (9.5.6) into $VENV"
  python3 -m venv "$VENV" >/dev/null
  "$VENV/bin/pip" install -q "eventsourcing==9.5.6" "psycopg[binary,pool]>=3.2" >/dev/null 2>&1 || log "could not install eventsourcing: no peer figure"
fi
# --- commands vs pgbench -------------------------------------------------------------------
# Every service but command-api (and PostgreSQL, Kafka) is paused for the isolated figures, then
# resumed: they consume what was written meanwhile while the next figures are taken.
CONSUMERS="outbox-relay query-api projector card-gateway notifier fulfilment-saga image-worker scheduler delivery-sim gateway"
signal_consumers() { for s in $CONSUMERS; do is_running "$s" && kill "-$1" "$(cat "$RUN/$s.pid")" 2>/dev/null || true; done; }
trap 'signal_consumers CONT' EXIT
# The anchor runs under the conditions of the isolated figures: consumers paused, nothing else
# working but PostgreSQL.
signal_consumers STOP
log "anchor: pgbench -M prepared, SELECT + INSERT on the event store ($SECS s, 8 clients, consumers paused)"
script="$(mktemp)"
cat > "$script" <<'SQL'
\set aid random(1, 1000000)
BEGIN;
SELECT aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata
  FROM events WHERE aggregate_type = 'BenchAnchor' AND aggregate_id = :aid::text ORDER BY sequence;
INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata)
  VALUES ('BenchAnchor', gen_random_uuid()::text, 1, 'Anchor', '1', '{"Anchor": {"n": 1}}', '{"actor_sub": "bench"}');
END;
SQL
"$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -qAt -d "$PG_DB" -c "drop database if exists bench_anchor" -c "create database bench_anchor"
FRESHLINE_DATABASE_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/bench_anchor" "$BIN/freshline" db migrate 2>/dev/null
anchor=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -n -M prepared -c 8 -j 2 -T "$SECS" -f "$script" bench_anchor 2>/dev/null \
  | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
rm -f "$script"
registrations() { # LABEL ARGS...: one `load suppliers` run as a table row
  local label="$1"; shift
  local line rate p50 p99
  line=$("$BIN/freshline" load suppliers "$@")
  echo "$line" >&2
  rate=$(echo "$line" | sed -n 's/.* = \([0-9]*\)\/s.*/\1/p')
  p50=$(echo "$line" | sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p')
  p99=$(echo "$line" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')
  LAST_RATE="$rate"
  rows+=("| $label | $rate/s, p50 $p50 ms, p99 $p99 ms | pgbench -M prepared SELECT+INSERT, 8 clients, consumers paused: ${anchor%.*}/s | $(ratio "$rate" "$anchor") |")
}
cpu_of() { ps -o cputimes= -p "$1" 2>/dev/null | tr -d ' ' || echo 0; }
pg_stat() { as_pg "$PGBIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -qAt -d "$PG_DB" -c "$1" 2>/dev/null || true; }
pg_stat "create extension if not exists pg_stat_statements" >/dev/null
pg_stat "select pg_stat_statements_reset()" >/dev/null
api_pid="$(cat "$RUN/command-api.pid")"
api_cpu0=$(cpu_of "$api_pid"); t0=$SECONDS
log "keyed registrations, only PostgreSQL and command-api working"
registrations "keyed registrations via command-api, 8 clients, consumers paused (target >= 0.8x)" --count "$COUNT" --concurrency 8
isolated="$LAST_RATE"
registrations "keyed registrations via command-api, 32 clients, consumers paused" --count "$COUNT" --concurrency 32
api_cpu1=$(cpu_of "$api_pid"); t1=$SECONDS
# What PostgreSQL spent its time on during the isolated runs (before anything else runs).
top_statements=$(pg_stat "select round(total_exec_time::numeric / greatest(calls, 1), 3) || ' ms x ' || calls || ': ' || left(regexp_replace(query, '\s+', ' ', 'g'), 90) from pg_stat_statements where dbid = (select oid from pg_database where datname = current_database()) order by total_exec_time desc limit 5")
# The peer under the same conditions: consumers paused.
if [ -x "$VENV/bin/python" ]; then
  "$PGBIN/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -qAt -d "$PG_DB" -c "drop database if exists bench_peer" -c "create database bench_peer"
  peer=$(POSTGRES_DBNAME=bench_peer POSTGRES_HOST=127.0.0.1 POSTGRES_PORT="$PG_PORT" POSTGRES_USER="$PG_USER" \
    POSTGRES_PASSWORD="$PG_PASSWORD" BENCH_COUNT="$(scale 8000 2000)" BENCH_THREADS=8 \
    "$VENV/bin/python" "$ROOT/bench/eventsourcing_peer.py" 2>/dev/null | tail -n 1)
  echo "$peer" >&2
  peer_rate=$(echo "$peer" | sed -n 's/.* = \([0-9]*\)\/s.*/\1/p')
  rows+=("| Freshline keyed registrations, consumers paused (target >= 5x the peer) | ${isolated}/s | Python eventsourcing 9.5.6, register + approve, 8 threads, no HTTP: ${peer_rate:-?}/s | $(ratio "${isolated:-0}" "${peer_rate:-0}") |")
fi
signal_consumers CONT
# The backlog of the isolated runs is worked off before the whole stack is measured.
log "waiting (at most 180 s) for the relay and projector to catch up"
for _ in $(seq 1 180); do
  lag=$(curl -fsS http://127.0.0.1:9181/metrics 2>/dev/null | sed -n 's/^freshline_relay_lag_seconds \([0-9.e+-]*\)$/\1/p' | head -n 1)
  awk "BEGIN { exit !(${lag:-1} < 0.5) }" && break
  sleep 1
done
sleep 5
cpu_note="command-api used $((api_cpu1 - api_cpu0)) CPU-s in $((t1 - t0)) s of isolated load"
log "$cpu_note"
log "keyed registrations with the whole stack consuming"
registrations "keyed registrations via command-api, 8 clients, whole stack consuming (target >= 0.4x)" --count "$COUNT" --concurrency 8
log "keyed registrations at a fixed 1000/s (latency from when each was due)"
registrations "keyed registrations at a fixed 1000/s, whole stack (target p99 < 25 ms)" --count "$((COUNT / 2))" --concurrency 256 --rate 1000
registrations "unkeyed registrations via command-api, 8 clients, whole stack (what keys cost)" --count "$COUNT" --concurrency 8 --unkeyed

# --- relay vs ProducerPerformance ----------------------------------------------------------
log "relay: $RELAY_EVENTS events backlog, then publish lag at 2000/s"
relay_out=$("$BIN/freshline" bench relay --events "$RELAY_EVENTS" --rate 2000 --seconds "$(scale 10 5)")
echo "$relay_out" >&2
relay_rate=$(echo "$relay_out" | sed -n 's/^relay backlog: .* = \([0-9]*\)\/s.*/\1/p')
record_size=$(echo "$relay_out" | sed -n 's/.*record size \([0-9]*\) B.*/\1/p')
relay_lag=$(echo "$relay_out" | sed -n 's/^relay lag at \([0-9]*\)\/s: \(.*\) (.*/\2 at \1\/s/p')
log "anchor: Kafka ProducerPerformance, $RELAY_EVENTS records of $record_size B, acks=all, idempotent, lz4"
perf_topic="bench-anchor-$(date +%s)"
# The same partition count as the relay's topic (the broker does not create topics itself).
java -Xmx256m -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand --bootstrap-server "$KAFKA_BROKERS" \
  --create --topic "$perf_topic" --partitions 6 --replication-factor 1 >/dev/null 2>&1
pp=$(java -Xmx512m -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.ProducerPerformance --topic "$perf_topic" \
  --num-records "$RELAY_EVENTS" --record-size "${record_size:-600}" --throughput -1 \
  --command-property bootstrap.servers="$KAFKA_BROKERS" acks=all enable.idempotence=true compression.type=lz4 2>/dev/null \
  | grep 'records sent' | tail -n 1)
echo "$pp" >&2
pp_rate=$(echo "$pp" | sed -n 's/^[0-9]* records sent, \([0-9.]*\) records\/sec.*/\1/p')
rows+=("| outbox relay: backlog of $RELAY_EVENTS events ($record_size B) to Kafka | ${relay_rate}/s; lag $relay_lag | ProducerPerformance, same size, acks=all, lz4 like the relay: ${pp_rate%.*}/s | $(ratio "${relay_rate:-0}" "${pp_rate:-0}") |")

# --- projection replay ---------------------------------------------------------------------
log "projection replay of $REPLAY_EVENTS events from offset 0"
replay_out=$("$BIN/freshline" bench projection --events "$REPLAY_EVENTS")
echo "$replay_out" >&2
replay=$(echo "$replay_out" | grep '^projection replay' | sed 's/^.*): //')
replay_store=$(echo "$replay_out" | grep '^projection rebuild from the event store' | sed 's/^.*): //')
rows+=("| projection rebuild (supplier directory + history) from Kafka, offset 0 | $replay | target 100,000 events/s | - |")
rows+=("| projection rebuild (supplier directory + history) from the event store | $replay_store | target 100,000 events/s | - |")

# --- visibility at fixed rates (and the plot) ----------------------------------------------
plot_data="$(mktemp)"
for r in $(scale "100 250 500 1000" "100 250"); do
  n=$((r * $(scale 10 4)))
  line=$("$BIN/freshline" load visibility --rate "$r" --count "$n")
  echo "$line" >&2
  p50=$(echo "$line" | sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p')
  p99=$(echo "$line" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')
  echo "$r ${p50:-0} ${p99:-0}" >> "$plot_data"
  rows+=("| command -> visible in the query API at $r commands/s | p50 $p50 ms, p99 $p99 ms | targets: p50 < 15 ms at 100/s, p99 < 100 ms at 1000/s | - |")
done

# --- fulfilment saga -----------------------------------------------------------------------
log "fulfilment: $ORDERS orders with instant simulated riders"
if is_running delivery-sim; then kill -TERM "$(cat "$RUN/delivery-sim.pid")" 2>/dev/null || true; rm -f "$RUN/delivery-sim.pid"; sleep 1; fi
nohup env FRESHLINE_SIM_STEP_DELAY_MS=0 "$BIN/freshline-sim" delivery-sim >>"$LOG/delivery-sim.log" 2>&1 < /dev/null &
echo $! > "$RUN/delivery-sim.pid"
fulfil=$("$BIN/freshline" load fulfilment --count "$ORDERS" --concurrency 16)
echo "$fulfil" >&2
orders_rate=$(echo "$fulfil" | sed -n 's/.* \([0-9.]*\) orders\/s placed -> delivered.*/\1/p')
fulfil_pct=$(echo "$fulfil" | sed -n 's/.*placed -> delivered \(p50 .*\)/\1/p')
rows+=("| orders placed -> delivered by the fulfilment saga (instant riders), $ORDERS orders (target >= 100 orders/s) | ${orders_rate} orders/s; $fulfil_pct | - | - |")
log "fulfilment: orders placed at a steady 10/s"
paced=$("$BIN/freshline" load fulfilment --count "$(scale 300 100)" --rate 10 --concurrency 16)
echo "$paced" >&2
rows+=("| orders placed -> delivered at a steady 10 orders/s (target p50 < 1 s) | $(echo "$paced" | sed -n 's/.*placed -> delivered \(p50 .*\)/\1/p') | - | - |")

# --- relay lag while the card gateway is slow -----------------------------------------------
# A saga step waiting on the gateway must hold no transaction open (which would hold back what
# the relay may publish, cluster-wide): the relay's lag is measured again while card orders
# wait 3 s on every gateway call.
log "relay lag while the card gateway answers in 3 s"
restart_gateway() {
  if is_running card-gateway; then kill -TERM "$(cat "$RUN/card-gateway.pid")" 2>/dev/null || true; rm -f "$RUN/card-gateway.pid"; sleep 1; fi
  nohup env FRESHLINE_GATEWAY_HTTP_ADDR=127.0.0.1:8090 FRESHLINE_GATEWAY_LATENCY_MS="$1" "$BIN/freshline-sim" card-gateway >>"$LOG/card-gateway.log" 2>&1 < /dev/null &
  echo $! > "$RUN/card-gateway.pid"
  wait_for "card-gateway" 60 curl -fsS http://127.0.0.1:8090/readyz
}
restart_gateway 3000
"$BIN/freshline" load fulfilment --count 48 --concurrency 16 > "$LOG/slow-gateway-orders.txt" 2>&1 &
slow_orders=$!
sleep 8
relay_slow=$("$BIN/freshline" bench relay --events 1000 --rate 2000 --seconds "$(scale 10 5)")
echo "$relay_slow" >&2
wait "$slow_orders" || log "the slow-gateway orders did not all end: $(tail -n 1 "$LOG/slow-gateway-orders.txt")"
restart_gateway 0
relay_slow_lag=$(echo "$relay_slow" | sed -n 's/^relay lag at \([0-9]*\)\/s: \(.*\) (.*/\2 at \1\/s/p')
rows+=("| outbox relay lag while 16 card orders at a time wait 3 s on the gateway (target: p99 as without) | $relay_slow_lag | the same measurement without them: $relay_lag | - |")

# --- the whole stack at rest ---------------------------------------------------------------
# Every process this stack started (services, PostgreSQL with its backends, Kafka), in clock
# ticks of CPU (user + system) from /proc, over 30 s with no load.
# CPU ticks of one service (its pid file) and its children: "name ticks".
service_ticks() {
  local f="$1" pid total=0
  for pid in $( { cat "$f"; pgrep -P "$(cat "$f")"; } 2>/dev/null | sort -u); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$pid/stat" 2>/dev/null || echo 0)))
  done
  echo "$(basename "$f" .pid) $total"
}
stack_ticks() { for f in "$RUN"/*.pid; do service_ticks "$f"; done; }
log "idle: the whole stack at rest for 30 s (the benchmarks' own topics deleted first)"
"$ROOT/infra/local/drop-test-topics.sh"
sleep 10
stack_ticks > "$LOG/idle0.txt"; sleep 30; stack_ticks > "$LOG/idle1.txt"
hz="$(getconf CLK_TCK)"
idle_breakdown="$(join "$LOG/idle0.txt" "$LOG/idle1.txt" | awk -v hz="$hz" '{ d = $3 - $2; if (d < 0) d = 0; printf "%s %.1f%%, ", $1, d / hz / 30 * 100 }' | sed 's/, $//')"
idle_pct=$(join "$LOG/idle0.txt" "$LOG/idle1.txt" | awk -v hz="$hz" '{ d = $3 - $2; if (d > 0) t += d } END { printf "%.1f", t / hz / 30 * 100 }')
log "idle by process: $idle_breakdown"
rows+=("| the whole stack at rest for 30 s: every service, PostgreSQL and Kafka (target < 5% of one core); by process: ${idle_breakdown} | ${idle_pct}% of one core | - | - |")

# --- snapshots -----------------------------------------------------------------------------
if "$BIN/freshline" bench --help 2>/dev/null | grep -q snapshots; then
  log "command latency on an aggregate with 10k events, without and with snapshots"
  snapshot_rows="$("$BIN/freshline" bench snapshots | grep '^|')"
fi

date_tag="$(date -u +%Y-%m-%d)"
mkdir -p "$ROOT/bench/results"
out="$ROOT/bench/results/$date_tag.md"
{
  echo "# Benchmark run $(date -u +%Y-%m-%dT%H:%MZ)"
  echo
  echo "$(nproc) cores; PostgreSQL, Kafka, the services and the load generators on one machine; release build."
  echo
  echo "| measurement | figure | anchor (same machine, same run) | ratio |"
  echo "|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Where the write path's time goes: ${cpu_note:-}; the statements that took most of PostgreSQL's time during it (mean x calls):"
  echo
  echo '```'
  echo "${top_statements:-}"
  echo '```'
  if [ -n "${snapshot_rows:-}" ]; then
    echo
    echo "Command latency on a long stream, without and with snapshots (\`freshline bench snapshots\`):"
    echo
    echo "$snapshot_rows"
  fi
  echo
  echo "![latency against load]($date_tag.png)"
} > "$out"
if command -v gnuplot >/dev/null 2>&1; then
  term="pngcairo size 900,520 noenhanced"
  gnuplot -e "set terminal pngcairo" >/dev/null 2>&1 || term="png size 900,520"
  gnuplot <<GP 2>/dev/null || true
set terminal $term
set output "$ROOT/bench/results/$date_tag.png.tmp"
set title "command -> visible in the query API"
set xlabel "commands/s"
set ylabel "ms"
set grid
set key left top
plot "$plot_data" using 1:2 with linespoints title "p50", "$plot_data" using 1:3 with linespoints title "p99"
GP
  [ -s "$ROOT/bench/results/$date_tag.png.tmp" ] && mv "$ROOT/bench/results/$date_tag.png.tmp" "$ROOT/bench/results/$date_tag.png"
fi
rm -f "$plot_data"
cat "$out"
