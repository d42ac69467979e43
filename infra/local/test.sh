#!/usr/bin/env bash
# The full test suite: starts PostgreSQL, Kafka and Keycloak (if not already running), checks formatting
# and lints, runs every test against the real services, then the frontends' unit and browser
# tests, and stops what it started.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
started=0
if ! is_running kafka || ! is_running postgres || ! is_running keycloak; then started=1; fi
cleanup() { if [ "$started" = 1 ] && [ "${FRESHLINE_KEEP_STACK:-0}" != 1 ]; then "$ROOT/infra/local/down.sh"; fi; }
trap cleanup EXIT
"$ROOT/infra/local/infra-up.sh"
"$ROOT/infra/local/keycloak-up.sh"

cd "$ROOT"
# Test databases are per test; drop what earlier runs left behind.
PGPASSWORD="$PG_PASSWORD" "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -qAt \
  -c "select datname from pg_database where datname ~ '^t_[0-9a-f]{32}$'" | while read -r db; do
  PGPASSWORD="$PG_PASSWORD" "$(pg_bin)/psql" -h 127.0.0.1 -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -qAt \
    -c "drop database if exists $db" >/dev/null 2>&1 || true
done
export FRESHLINE_TEST_DATABASE_URL="$DATABASE_URL"
export FRESHLINE_TEST_KAFKA_BROKERS="$KAFKA_BROKERS"
export FRESHLINE_TEST_SMTP_PORT="$SMTP_PORT"
export FRESHLINE_TEST_MAILDIR="$MAILDIR"
export FRESHLINE_TEST_KEYCLOAK_URL="$KEYCLOAK_URL"
# The OpenAPI conformance test drives both services with schemathesis.
FRESHLINE_SCHEMATHESIS="$("$ROOT/infra/local/schemathesis-install.sh")"
export FRESHLINE_SCHEMATHESIS
t0=$SECONDS
log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -q -- -D warnings
# The chaos test runs the services as processes: the binaries first (dev profile, as the tests).
log "cargo build --bins"
cargo build --locked --bins -q
log "cargo test (against PostgreSQL on :$PG_PORT and Kafka on $KAFKA_BROKERS)"
set +e
# Bounded: a hung test fails the run in minutes, not at CI's limit.
timeout --kill-after=30 "${FRESHLINE_TEST_TIMEOUT_SECS:-1500}" \
  cargo test --locked --workspace --no-fail-fast 2>&1 | tee "$LOG/test.log"
status=${PIPESTATUS[0]}
set -e
# Each test made its own topics; thousands of partitions left behind keep the broker busy.
"$ROOT/infra/local/drop-test-topics.sh"
# Only cargo's own summary lines count (a failing tool's report may also say "N failed").
count() { awk -v what="$1" '/^test result:/ { for (i = 1; i < NF; i++) if ($(i + 1) ~ "^" what) s += $i } END { print s + 0 }' "$LOG/test.log"; }
passed=$(count passed)
failed=$(count failed)

# The frontends: their unit tests (vitest), then the browser tests (Playwright driving Chromium
# against a whole stack of their own, from the binaries just built).
set +e
build_web
log "frontends: unit tests (vitest)"
(cd "$ROOT/web" && NO_COLOR=1 npx vitest run) 2>&1 | tee "$LOG/web-unit.log"
web_status=${PIPESTATUS[0]}
tests_line="$(grep -E '^ +Tests ' "$LOG/web-unit.log" | tail -1)"
web_passed=$(grep -Eo '[0-9]+ passed' <<<"$tests_line" | grep -Eo '[0-9]+' || echo 0)
web_failed=$(grep -Eo '[0-9]+ failed' <<<"$tests_line" | grep -Eo '[0-9]+' || echo 0)
[ "$web_status" = 0 ] || [ "$web_failed" -gt 0 ] || web_failed=1
log "frontends: browser tests (Playwright, Chromium)"
FRESHLINE_BIN_DIR="$ROOT/target/debug" "$ROOT/infra/local/ui-test.sh" 2>&1 | tee "$LOG/ui-test.log"
ui_status=${PIPESTATUS[0]}
ui_passed=$(grep -Eo '^ℹ pass [0-9]+' "$LOG/ui-test.log" | grep -Eo '[0-9]+' || echo 0)
ui_failed=$(grep -Eo '^ℹ fail [0-9]+' "$LOG/ui-test.log" | grep -Eo '[0-9]+' || echo 0)
[ "$ui_status" = 0 ] || [ "$ui_failed" -gt 0 ] || ui_failed=1
set -e
passed=$((passed + web_passed + ui_passed))
failed=$((failed + web_failed + ui_failed))
[ "$web_status" = 0 ] && [ "$ui_status" = 0 ] || [ "$status" != 0 ] || status=1
log "suite finished in $((SECONDS - t0))s"
echo "total: $passed passed, $failed failed"
[ "$passed" -gt 0 ] || { echo "no test ran" >&2; exit 1; }
exit "$status"
