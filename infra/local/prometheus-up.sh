#!/usr/bin/env bash
# Starts Prometheus on 127.0.0.1:$FRESHLINE_PROMETHEUS_PORT (default 9090), scraping every
# service of the local stack every 5 s with infra/prometheus/prometheus.yml, its data under
# $STATE/prometheus (retention $FRESHLINE_PROMETHEUS_RETENTION, default 7d). Prometheus comes
# from Debian's package, installed when missing (only here: `make up` installs it only when
# asked with FRESHLINE_PROMETHEUS=1). Idempotent: a running one is left alone; `make down`
# stops it. Runs on its own too, beside a stack that is already up.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
PROM_PORT="${FRESHLINE_PROMETHEUS_PORT:-9090}"
PROM_BIN=/usr/bin/prometheus
if [ ! -x "$PROM_BIN" ]; then
  log "installing Prometheus from Debian's packages"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
if ! is_running prometheus; then
  # Debian's package may start a system-wide Prometheus of its own (where services may start
  # on install); ours is a separate process with its own data.
  port_open "$PROM_PORT" && die "port $PROM_PORT is taken by a process this stack did not start (a system Prometheus? stop it, or set FRESHLINE_PROMETHEUS_PORT)"
  mkdir -p "$STATE/prometheus"
  log "starting Prometheus on 127.0.0.1:$PROM_PORT (scraping the local stack every 5 s)"
  nohup "$PROM_BIN" \
    --config.file="$ROOT/infra/prometheus/prometheus.yml" \
    --storage.tsdb.path="$STATE/prometheus" \
    --storage.tsdb.retention.time="${FRESHLINE_PROMETHEUS_RETENTION:-7d}" \
    --web.listen-address="127.0.0.1:$PROM_PORT" \
    >>"$LOG/prometheus.log" 2>&1 < /dev/null &
  echo $! > "$RUN/prometheus.pid"
fi
wait_for "Prometheus on $PROM_PORT" 60 curl -fsS "http://127.0.0.1:$PROM_PORT/-/ready"
log "Prometheus:  http://127.0.0.1:$PROM_PORT (targets: http://127.0.0.1:$PROM_PORT/targets)"
