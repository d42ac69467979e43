#!/usr/bin/env bash
# The browser tests: the whole stack of its own (database, topics, ports 29xxx; the gateway on
# 127.0.0.1:28400, serving web/dist), a little demo data, Keycloak's real login pages, and
# Playwright (playwright-core) driving Debian's Chromium headless through web/browser/*.test.mjs.
# Screenshots go to bench/results/ui/. Prints node's test summary; exits non-zero on a failure.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
BIN="${FRESHLINE_BIN_DIR:-$ROOT/target/debug}"
[ -x "$BIN/freshline" ] && [ -x "$BIN/freshline-sim" ] || die "no binaries in $BIN (cargo build --bins)"
"$ROOT/infra/local/install.sh" --browser
CHROMIUM="$(command -v chromium || true)"
[ -n "$CHROMIUM" ] || die "chromium is missing"
"$ROOT/infra/local/infra-up.sh"
"$ROOT/infra/local/keycloak-up.sh"
build_web

source "$ROOT/infra/local/stack.sh"
stack_init ui 1000
GATEWAY_PORT=28400
export FRESHLINE_OIDC_ISSUER="$KEYCLOAK_ISSUER"
export FRESHLINE_AUTH_REQUIRE_MFA=true
# A frozen card gateway makes a payment step fail fast: a stuck saga within seconds.
export FRESHLINE_CARD_GATEWAY_TIMEOUT_MS=1500
cleanup() {
  [ -f "$CS/run/gateway.pid" ] && /usr/sbin/nginx -c "$CS/gateway/nginx.conf" -p "$CS/gateway" -s stop 2>/dev/null
  kill -CONT "$(pid_of card-gateway)" 2>/dev/null || true
  stack_cleanup
}
trap cleanup EXIT
trap "exit 130" INT TERM HUP PIPE
# A stack left by a run that was killed outright would answer instead of this one's.
for port in "$GATEWAY_PORT" "${PORT[@]}"; do
  ! curl -s -o /dev/null -m 1 "http://127.0.0.1:$port/" || die "127.0.0.1:$port is taken (a browser-test stack left running?)"
done
log "browser tests $RUN_ID: database $DB, logs $CS/log, gateway http://127.0.0.1:$GATEWAY_PORT"
for s in command-api outbox-relay query-api projector card-gateway messaging notifier fulfilment-saga image-worker scheduler; do
  start "$s"
done
# Deliveries move visibly: a step every 1.5 s.
start delivery-sim FRESHLINE_SIM_STEP_DELAY_MS=1500
render_gateway "$CS" "$GATEWAY_PORT" "${PORT[command-api]}" "${PORT[query-api]}" "$FRESHLINE_BLOB_DIR"
/usr/sbin/nginx -c "$CS/gateway/nginx.conf" -p "$CS/gateway"
wait_for "gateway" 30 curl -fsS "http://127.0.0.1:$GATEWAY_PORT/healthz"

log "demo data"
"$BIN/freshline" demo seed --api "http://127.0.0.1:${PORT[command-api]}" --concurrency 4 \
  --suppliers 6 --products-per-supplier 8 >>"$CS/log/demo.log" 2>&1
"$BIN/freshline" demo fulfilment --api "http://127.0.0.1:${PORT[command-api]}" \
  --query "http://127.0.0.1:${PORT[query-api]}" --orders 2 >>"$CS/log/demo.log" 2>&1

export FRESHLINE_UI_URL="http://127.0.0.1:$GATEWAY_PORT"
export FRESHLINE_UI_KEYCLOAK_URL="$KEYCLOAK_URL"
export FRESHLINE_UI_CHROMIUM="$CHROMIUM"
export FRESHLINE_UI_SCREENSHOTS="$ROOT/bench/results/ui"
export FRESHLINE_UI_CARD_GATEWAY_PID="$(pid_of card-gateway)"
# Tokens the tests use to set the scene through the API (people log in through Keycloak).
FRESHLINE_UI_ADMIN_TOKEN="$("$BIN/freshline" token mint --sub ui-setup-admin --role admin --mfa --ttl 1h)"
FRESHLINE_UI_CUSTOMER_TOKEN="$("$BIN/freshline" token mint --sub ui-setup-customer --role customer --ttl 1h)"
FRESHLINE_UI_SUPPLIER_TOKEN="$("$BIN/freshline" token mint --sub ui-setup-supplier --role supplier --ttl 1h)"
FRESHLINE_UI_WAREHOUSE_TOKEN="$("$BIN/freshline" token mint --sub ui-setup-warehouse --role warehouse --ttl 1h)"
export FRESHLINE_UI_ADMIN_TOKEN FRESHLINE_UI_CUSTOMER_TOKEN FRESHLINE_UI_SUPPLIER_TOKEN FRESHLINE_UI_WAREHOUSE_TOKEN
export FRESHLINE_UI_API="http://127.0.0.1:${PORT[command-api]}" FRESHLINE_UI_QUERY="http://127.0.0.1:${PORT[query-api]}"
mkdir -p "$FRESHLINE_UI_SCREENSHOTS"
log "Playwright (Chromium $("$CHROMIUM" --version 2>/dev/null | awk '{print $2}'))"
set +e
(cd "$ROOT/web" && npm run --silent browser) 2>&1 | tee "$CS/log/browser.log"
status=${PIPESTATUS[0]}
set -e
if [ "$status" = 0 ]; then
  # Stopped before their pid files go with the run's directory.
  cleanup; trap - EXIT
  psql_admin -c "drop database if exists $DB with (force)" >/dev/null 2>&1 || true
  rm -rf "$CS"
else
  log "browser tests failed: logs in $CS/log, screenshots in $FRESHLINE_UI_SCREENSHOTS"
fi
exit "$status"
