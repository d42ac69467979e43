#!/usr/bin/env bash
# Shared settings and helpers for infra/local scripts. Everything the local stack writes lives
# under $STATE (default: <repo>/.local, git-ignored); every process it starts has a pid file in
# $STATE/run so down.sh stops exactly what was started.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
STATE="${FRESHLINE_STATE_DIR:-$ROOT/.local}"
RUN="$STATE/run"
LOG="$STATE/log"
KAFKA_VERSION="$(sed -n 's#.*<kafka.version>\(.*\)</kafka.version>.*#\1#p' "$ROOT/infra/kafka/pom.xml")"
KAFKA_LIBS="$STATE/kafka/libs-$KAFKA_VERSION"

PG_PORT="${FRESHLINE_PG_PORT:-55432}"
# PostgreSQL refuses to run as root, so as root it runs as the `postgres` user, which must be
# able to reach its data directory. When the checkout sits where it cannot (a clone under
# /root, mode 700), the cluster lives in a per-checkout folder under /var/tmp instead.
PG_HOME="$STATE/pg"
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
  mkdir -p "$STATE"
  if ! runuser -u postgres -- test -x "$STATE" 2>/dev/null; then
    PG_HOME="/var/tmp/freshline-pg-$(printf '%s' "$STATE" | sha256sum | cut -c1-12)"
  fi
fi
PG_DATA="$PG_HOME/data"
PG_SOCK="$PG_HOME/run"
PG_USER=freshline
PG_PASSWORD=freshline
PG_DB=freshline
DATABASE_URL="postgres://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
KAFKA_BROKERS="127.0.0.1:9092"
# The SMTP sink (aiosmtpd): every mail it accepts is a file in the Maildir $MAILDIR/new.
SMTP_PORT="${FRESHLINE_SMTP_PORT:-2525}"
MAILDIR="$STATE/mail"
# Keycloak, the identity provider (infra/local/keycloak-up.sh).
KEYCLOAK_PORT="${FRESHLINE_KEYCLOAK_PORT:-8180}"
KEYCLOAK_MANAGEMENT_PORT="${FRESHLINE_KEYCLOAK_MANAGEMENT_PORT:-9188}"
KEYCLOAK_URL="http://127.0.0.1:$KEYCLOAK_PORT"
KEYCLOAK_ISSUER="$KEYCLOAK_URL/realms/freshline"

mkdir -p "$RUN" "$LOG"

log() { printf '\033[1;34m[freshline]\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31m[freshline]\033[0m %s\n' "$*" >&2; exit 1; }

# Run as the postgres OS user when we are root: PostgreSQL refuses to run as root.
# (From /, so a working directory the postgres user cannot enter is no matter.)
as_pg() {
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

pg_bin() {
  local v
  v="$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)"
  [ -n "$v" ] || die "PostgreSQL binaries not found; run infra/local/install.sh"
  echo "/usr/lib/postgresql/$v/bin"
}

# is_running NAME: the pid file exists and the process is alive.
is_running() {
  local f="$RUN/$1.pid"
  [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_for DESCRIPTION SECONDS COMMAND...: poll until the command succeeds.
wait_for() {
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${secs}s waiting for $what"
    sleep 0.3
  done
}

# service_env <database url> <state dir>: what every service of a stack reads: its database, the
# brokers, its token keys and evidence key, its blob store (all under <state dir>), JSON logs.
service_env() {
  export FRESHLINE_DATABASE_URL="$1"
  export FRESHLINE_KAFKA_BROKERS="$KAFKA_BROKERS"
  export FRESHLINE_JWKS_PATH="$2/keys/jwks.json"
  export FRESHLINE_SIGNING_KEY="$2/keys/signing-key.pem"
  export FRESHLINE_EVIDENCE_KEY="$2/evidence/evidence-key.pem"
  export FRESHLINE_BLOB_DIR="$2/blobs"
  export FRESHLINE_LOG_FORMAT="${FRESHLINE_LOG_FORMAT:-json}"
}

# build_web: the frontends (web/dist), installed from the lockfile and built when their
# sources changed since the last build (node_modules when the lockfile did).
build_web() {
  local web="$ROOT/web" stamp
  command -v npm >/dev/null || die "npm is missing (Node 20.19 or newer)"
  stamp="$(cd "$web" && cat package-lock.json | sha256sum | cut -c1-16)"
  if [ ! -f "$web/node_modules/.freshline-$stamp" ]; then
    log "installing the frontends' packages (npm ci, from the lockfile)"
    (cd "$web" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || die "npm ci failed in $web"
    touch "$web/node_modules/.freshline-$stamp"
  fi
  stamp=""
  if [ -f "$web/dist/.built" ]; then
    stamp="$(cd "$web" && find index.html ops src scripts openapi package-lock.json vite.config.ts tsconfig.json -type f -newer dist/.built | head -1)"
  fi
  if [ ! -f "$web/dist/.built" ] || [ -n "$stamp" ]; then
    log "building the frontends (typed client from the OpenAPI documents, type check, bundle)"
    (cd "$web" && npm run build --silent >"$LOG/web-build.log" 2>&1) || { cat "$LOG/web-build.log" >&2; die "the frontends' build failed"; }
    touch "$web/dist/.built"
  fi
}

# render_gateway <state dir> <gateway port> <command-api port> <query-api port> <blob dir>:
# the gateway's nginx.conf for one stack, written to <state dir>/gateway/nginx.conf.
render_gateway() {
  local dir="$1" gw="$2" cmd="$3" qry="$4" blobs="$5" tmp
  tmp="/var/tmp/freshline-nginx-$(printf '%s' "$dir" | sha256sum | cut -c1-12)"
  mkdir -p "$tmp" "$dir/gateway" "$dir/run" "$dir/log" && chmod 777 "$tmp"
  # Its workers read web/dist and the renditions from the checkout, which may be private to
  # whoever runs the stack (a mktemp clone is 0700): they run as that user, not nobody.
  local user_line=""
  [ "$(id -u)" != 0 ] || user_line="user $(id -un) $(id -gn);"
  sed -e "1i $user_line" \
      -e "s#@RUN@#$dir/run#g" -e "s#@LOG@#$dir/log#g" -e "s#@TMP@#$tmp#g" \
      -e "s#@WEB@#$ROOT/web/dist#g" -e "s#@BLOBS@#$blobs#g" \
      -e "s#@ISSUER@#$KEYCLOAK_ISSUER#g" -e "s#@IDP_ORIGIN@#$KEYCLOAK_URL#g" \
      -e "s#127.0.0.1:8000;#127.0.0.1:$gw;#" -e "s#127.0.0.1:8080;#127.0.0.1:$cmd;#" \
      -e "s#127.0.0.1:8081;#127.0.0.1:$qry;#" \
      "$ROOT/infra/gateway/nginx.conf" > "$dir/gateway/nginx.conf"
  /usr/sbin/nginx -t -q -c "$dir/gateway/nginx.conf" -p "$dir/gateway" || die "the gateway's configuration is invalid"
}
