#!/usr/bin/env bash
# Brings the whole system up locally with demo data: installs what is missing, starts
# PostgreSQL and Kafka, builds the services, migrates, creates topics, makes a development
# signing key, starts command-api and the outbox relay, and loads demo suppliers through the
# command API. Idempotent: what already runs is left running. FRESHLINE_PROMETHEUS=1 also runs
# Prometheus scraping every service (infra/local/prometheus-up.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The build needs the packages (cmake, headers); PostgreSQL, Kafka and the SMTP sink start
# while it runs, on the same two cores but mostly waiting on disk and the JVM.
"$ROOT/infra/local/install.sh" --packages
log "building the services (release), while the infrastructure starts"
(cd "$ROOT" && cargo build --release --locked --bins -q) >"$LOG/build.log" 2>&1 &
build=$!
"$ROOT/infra/local/infra-up.sh"
"$ROOT/infra/local/keycloak-up.sh"
build_web
wait "$build" || { cat "$LOG/build.log" >&2; die "the build failed (log: $LOG/build.log)"; }
BIN="$ROOT/target/release"

service_env "$DATABASE_URL" "$STATE"
# People's tokens come from Keycloak; the local key stays trusted for services and the CLI.
export FRESHLINE_OIDC_ISSUER="$KEYCLOAK_ISSUER"
# Approving suppliers, refunds and forced compensation need a login with a one-time password.
export FRESHLINE_AUTH_REQUIRE_MFA=true

"$BIN/freshline" db migrate
"$BIN/freshline" topics create >/dev/null
"$BIN/freshline" token keygen --out-dir "$STATE/keys" --if-missing
# Evidence (signed history exports) has its own key, apart from the token keys.
"$BIN/freshline" audit keygen --out-dir "$STATE/evidence" --if-missing
# Events written before the hash chain existed get their links once; a no-op afterwards.
"$BIN/freshline" audit seal

# start_service NAME READY_URL COMMAND...
start_service() {
  local name="$1" ready="$2"; shift 2
  if is_running "$name"; then
    log "$name already running (pid $(cat "$RUN/$name.pid"))"
  else
    log "starting $name"
    nohup "$@" >>"$LOG/$name.log" 2>&1 < /dev/null &
    echo $! > "$RUN/$name.pid"
  fi
  wait_for "$name ($ready)" 60 curl -fsS "$ready"
}
start_service command-api http://127.0.0.1:8080/readyz \
  env FRESHLINE_HTTP_ADDR=127.0.0.1:8080 "$BIN/freshline" serve command-api
start_service outbox-relay http://127.0.0.1:9181/readyz \
  env FRESHLINE_RELAY_HTTP_ADDR=127.0.0.1:9181 "$BIN/freshline" serve outbox-relay

start_service query-api http://127.0.0.1:8081/readyz \
  env FRESHLINE_HTTP_ADDR=127.0.0.1:8081 "$BIN/freshline" serve query-api
start_service projector http://127.0.0.1:9182/readyz \
  env FRESHLINE_PROJECTOR_HTTP_ADDR=127.0.0.1:9182 "$BIN/freshline" serve projector
# The simulated card gateway (a provider's test mode) and the notifier (mail to the SMTP sink).
start_service card-gateway http://127.0.0.1:8090/readyz \
  env FRESHLINE_GATEWAY_HTTP_ADDR=127.0.0.1:8090 "$BIN/freshline-sim" card-gateway
# The simulated SMS and push providers (their test mode), then the notifier: mail to the SMTP
# sink, SMS and push to the simulated providers.
start_service messaging http://127.0.0.1:8091/readyz \
  env FRESHLINE_MESSAGING_HTTP_ADDR=127.0.0.1:8091 "$BIN/freshline-sim" messaging
start_service notifier http://127.0.0.1:9184/readyz \
  env FRESHLINE_NOTIFIER_HTTP_ADDR=127.0.0.1:9184 FRESHLINE_SMTP_PORT="$SMTP_PORT" \
  FRESHLINE_SMS_URL=http://127.0.0.1:8091/sms FRESHLINE_PUSH_URL=http://127.0.0.1:8091/push \
  "$BIN/freshline" serve notifier

# The fulfilment saga (orders through stock, payment and delivery), after the card gateway.
start_service fulfilment-saga http://127.0.0.1:9183/readyz \
  env FRESHLINE_SAGA_HTTP_ADDR=127.0.0.1:9183 FRESHLINE_SAGA_INSTANCE_ID=local-0 \
  FRESHLINE_CARD_GATEWAY_URL=http://127.0.0.1:8090 "$BIN/freshline" serve fulfilment-saga

# Background workers, each with /healthz, /readyz and /metrics on an ops port: the image
# worker, the expiry/stock scheduler and the simulated warehouse staff and riders (pack, pick
# up, ride and hand over every assigned delivery, a few seconds a step, so orders can be
# watched moving).
start_service image-worker http://127.0.0.1:9185/readyz \
  env FRESHLINE_IMAGE_WORKER_HTTP_ADDR=127.0.0.1:9185 "$BIN/freshline" serve image-worker
start_service scheduler http://127.0.0.1:9186/readyz \
  env FRESHLINE_SCHEDULER_HTTP_ADDR=127.0.0.1:9186 FRESHLINE_SCHEDULER_INTERVAL_SECS=15 \
  "$BIN/freshline" serve scheduler
start_service delivery-sim http://127.0.0.1:9187/readyz \
  env FRESHLINE_SIM_HTTP_ADDR=127.0.0.1:9187 \
  FRESHLINE_SIM_STEP_DELAY_MS="${FRESHLINE_SIM_STEP_DELAY_MS:-3000}" "$BIN/freshline-sim" delivery-sim

# Prometheus, only when asked (it is an apt install the first time): every service above,
# every 5 s, with infra/prometheus/prometheus.yml.
if [ "${FRESHLINE_PROMETHEUS:-0}" = 1 ]; then
  "$ROOT/infra/local/prometheus-up.sh"
fi

# The gateway (nginx): the single public entry on 127.0.0.1:8000, also serving the frontends.
render_gateway "$STATE" 8000 8080 8081 "$FRESHLINE_BLOB_DIR"
if is_running gateway; then
  log "gateway already running (pid $(cat "$RUN/gateway.pid")); reloading its configuration"
  /usr/sbin/nginx -c "$STATE/gateway/nginx.conf" -p "$STATE/gateway" -s reload
else
  log "starting the gateway on 127.0.0.1:8000"
  /usr/sbin/nginx -c "$STATE/gateway/nginx.conf" -p "$STATE/gateway"
fi
wait_for "gateway" 30 curl -fsS http://127.0.0.1:8000/healthz

log "loading demo data through the command API"
# Straight to command-api: the gateway limits each client address to 200 requests/s.
"$BIN/freshline" demo seed --api http://127.0.0.1:8080 --concurrency 24 \
  --suppliers "${FRESHLINE_DEMO_SUPPLIERS:-600}" \
  --products-per-supplier "${FRESHLINE_DEMO_PRODUCTS:-50}"
"$BIN/freshline" demo fulfilment --api http://127.0.0.1:8080 --query http://127.0.0.1:8081 \
  --orders "${FRESHLINE_DEMO_ORDERS:-60}"

cat >&2 <<MSG

Freshline is up.
  storefront    http://127.0.0.1:8000/        (sign up or log in through Keycloak)
  ops console   http://127.0.0.1:8000/ops/    (admin: TOTP from the secret below; auditor: read-only)
  API docs      http://127.0.0.1:8000/docs/
  gateway       http://127.0.0.1:8000   (GET /v1/... -> query API, other /v1/... -> command API)
  command API   http://127.0.0.1:8080   (OpenAPI: http://127.0.0.1:8080/openapi.json)
  query API     http://127.0.0.1:8081   (OpenAPI: http://127.0.0.1:8081/openapi.json)
  outbox relay  http://127.0.0.1:9181/metrics
  projector     http://127.0.0.1:9182/metrics   (read models in schema "read")
  card gateway  http://127.0.0.1:8090   (simulated: tok_approved, tok_declined, tok_timeout, tok_flaky)
  saga          http://127.0.0.1:9183/metrics   (order fulfilment; simulated riders in delivery-sim)
  notifier      http://127.0.0.1:9184/metrics   (mail to the SMTP sink on 127.0.0.1:$SMTP_PORT; SMS and push to the simulated providers)
  SMS and push  http://127.0.0.1:8091/sms/v1/messages   http://127.0.0.1:8091/push/v1/sent   (what the simulated providers were sent)
  image worker  http://127.0.0.1:9185/metrics   scheduler http://127.0.0.1:9186/metrics
  delivery-sim  http://127.0.0.1:9187/metrics
  Prometheus    $(if is_running prometheus; then echo "http://127.0.0.1:${FRESHLINE_PROMETHEUS_PORT:-9090}   (dashboard: infra/grafana; README, Observability)"; else echo "off (FRESHLINE_PROMETHEUS=1 make up, or make prometheus)"; fi)
  mail          $MAILDIR/new/   (one file per mail the sink accepted)
  Keycloak      $KEYCLOAK_ISSUER   (admin console: $KEYCLOAK_URL/admin, keycloak-admin / keycloak-admin)
  PostgreSQL    $DATABASE_URL
  Kafka         $KAFKA_BROKERS  (topics: $("$BIN/freshline" topics list | cut -f1 | tr '\n' ' '))
  logs          $LOG/

Demo users of the realm (log in at $KEYCLOAK_ISSUER/account):
$("$BIN/freshline" idp users)

A token to try it:
  export TOKEN=\$(target/release/freshline token mint --sub me --role admin)
  curl -H "Authorization: Bearer \$TOKEN" -H 'content-type: application/json' \\
       -d '{"legal_name":"Green Acres","registration_number":"NL-42","contact_email":"ops@green.example","phone":"+31205550101","address":{"line1":"Dijkweg 1","city":"Naaldwijk","postal_code":"2671 AA","country":"NL"},"categories":["vegetable"]}' \\
       http://127.0.0.1:8000/v1/suppliers
  curl -H "Authorization: Bearer \$TOKEN" 'http://127.0.0.1:8000/v1/suppliers?status=approved&limit=5'
Stop everything with: make down
MSG
