#!/usr/bin/env bash
# A first benchmark (the full harness is a later issue): supplier registrations per second
# through command-api, beside the anchor measured on the same PostgreSQL in the same run —
# pgbench running the event store's own SELECT (load the stream) + INSERT (append) transaction.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$ROOT/infra/local/up.sh" 2>/dev/null
PGBIN="$(pg_bin)"
SECS="${FRESHLINE_BENCH_SECONDS:-15}"
COUNT="${FRESHLINE_BENCH_COMMANDS:-20000}"
export PGPASSWORD="$PG_PASSWORD"

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
FRESHLINE_DATABASE_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/bench_anchor" "$ROOT/target/release/freshline" db migrate 2>/dev/null
anchor=$("$PGBIN/pgbench" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -n -c 8 -j 2 -T "$SECS" -f "$script" bench_anchor 2>/dev/null \
  | sed -n 's/^tps = \([0-9.]*\).*/\1/p')
rm -f "$script"

export FRESHLINE_SIGNING_KEY="$STATE/keys/signing-key.pem"
result=()
for c in 8 32; do
  line=$("$ROOT/target/release/freshline" load suppliers --count "$COUNT" --concurrency "$c")
  echo "$line" >&2
  rate=$(echo "$line" | sed -n 's/.* = \([0-9]*\)\/s.*/\1/p')
  p50=$(echo "$line" | sed -n 's/.*p50 \([0-9.]*\) ms.*/\1/p')
  p99=$(echo "$line" | sed -n 's/.*p99 \([0-9.]*\) ms.*/\1/p')
  result+=("| supplier registrations via command-api, $c clients | $rate/s | $p50 ms | $p99 ms | ${anchor%.*}/s | $(awk "BEGIN {printf \"%.2f\", $rate / $anchor}") |")
done
echo
echo "| measurement | throughput | p50 | p99 | anchor (pgbench SELECT+INSERT, 8 clients) | ratio |"
echo "|---|---|---|---|---|---|"
printf '%s\n' "${result[@]}"
