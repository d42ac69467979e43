#!/usr/bin/env bash
# Keycloak, the identity provider of local runs, on 127.0.0.1:$KEYCLOAK_PORT: installed from
# Maven Central (its Quarkus distribution), run by the newest Java on the machine that it
# supports (17, 21 or 25; install.sh provides OpenJDK 17), with its own PostgreSQL database,
# importing the realm in infra/keycloak/. Idempotent: a running Keycloak is left alone unless
# the realm file changed. Prints nothing on stdout.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
KC_VERSION="$(cat "$ROOT/infra/keycloak/version")"
KC_HOME="$STATE/keycloak/keycloak-$KC_VERSION"
REALM_FILE="$ROOT/infra/keycloak/freshline-realm.json"
IMPORT_DIR="$KC_HOME/data/import"
mkdir -p "$STATE/keycloak"

if [ ! -f "$KC_HOME/.complete" ]; then
  log "fetching Keycloak $KC_VERSION from Maven Central"
  rm -rf "$KC_HOME"
  (cd "$STATE/keycloak" && mvn -B -q dependency:unpack \
    -Dartifact="org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip" \
    -DoutputDirectory="$STATE/keycloak" -DmarkersDirectory="$STATE/keycloak/markers") \
    >"$LOG/keycloak-fetch.log" 2>&1 \
    || { cat "$LOG/keycloak-fetch.log" >&2; die "could not fetch Keycloak $KC_VERSION"; }
  touch "$KC_HOME/.complete"
fi

# The newest JDK under /usr/lib/jvm that Keycloak supports, else the java on the PATH.
kc_java_home() {
  local best="" best_v=0 d v
  for d in /usr/lib/jvm/*/; do
    [ -x "$d/bin/java" ] || continue
    v="$("$d/bin/java" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1)"
    case "$v" in 17|21|25) [ "$v" -gt "$best_v" ] && { best="${d%/}"; best_v="$v"; } ;; esac
  done
  [ -n "$best" ] && echo "$best"
}
JAVA_HOME="$(kc_java_home || true)"
if [ -n "$JAVA_HOME" ]; then export JAVA_HOME; fi
export JAVA_OPTS_KC_HEAP="-Xms64m -Xmx${FRESHLINE_KEYCLOAK_HEAP:-512m}"

# Its own database and role in the stack's PostgreSQL.
psql_admin() { as_pg "$(pg_bin)/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
ensure_kc_db() {
  if [ "$(psql_admin -c "select count(*) from pg_roles where rolname='keycloak'")" = 0 ]; then
    psql_admin -c "create role keycloak login password 'keycloak'"
  fi
  if [ "$(psql_admin -c "select count(*) from pg_database where datname='keycloak'")" = 0 ]; then
    psql_admin -c "create database keycloak owner keycloak"
  fi
}

# The realm file changed since it was imported: start again from an empty database, so the
# realm is exactly the file (an import never overwrites an existing realm).
realm_sum="$(sha256sum "$REALM_FILE" | cut -d' ' -f1)"
if [ "$(cat "$STATE/keycloak/realm.sha256" 2>/dev/null)" != "$realm_sum" ]; then
  if is_running keycloak; then
    log "the realm file changed: restarting Keycloak with a fresh database"
    kill -TERM "$(cat "$RUN/keycloak.pid")" 2>/dev/null || true
    for _ in $(seq 1 100); do is_running keycloak || break; sleep 0.2; done
  fi
  psql_admin -c "drop database if exists keycloak with (force)"
  rm -rf "$IMPORT_DIR"
fi
ensure_kc_db
mkdir -p "$IMPORT_DIR"
cp "$REALM_FILE" "$IMPORT_DIR/freshline-realm.json"

# Build-time options are fixed into the distribution once ("kc.sh build"), so every start is
# an optimized one.
BUILD_OPTS=(--db=postgres --health-enabled=true --metrics-enabled=true)
if [ "$(cat "$KC_HOME/.built" 2>/dev/null)" != "${BUILD_OPTS[*]}" ]; then
  log "building Keycloak for PostgreSQL (once)"
  rm -f "$KC_HOME/.built"
  "$KC_HOME/bin/kc.sh" build "${BUILD_OPTS[@]}" >"$LOG/keycloak-build.log" 2>&1 \
    || { cat "$LOG/keycloak-build.log" >&2; die "Keycloak build failed"; }
  echo "${BUILD_OPTS[*]}" > "$KC_HOME/.built"
fi

if ! is_running keycloak; then
  port_open "$KEYCLOAK_PORT" && die "port $KEYCLOAK_PORT is taken by a process this stack did not start"
  log "starting Keycloak $KC_VERSION on $KEYCLOAK_URL (Java: ${JAVA_HOME:-$(command -v java)})"
  (
    cd "$STATE/keycloak"
    KC_BOOTSTRAP_ADMIN_USERNAME=keycloak-admin KC_BOOTSTRAP_ADMIN_PASSWORD=keycloak-admin \
    KC_DB_URL="jdbc:postgresql://127.0.0.1:$PG_PORT/keycloak" KC_DB_USERNAME=keycloak KC_DB_PASSWORD=keycloak \
      nohup "$KC_HOME/bin/kc.sh" start --optimized --import-realm \
        --http-enabled=true --http-host=127.0.0.1 --http-port="$KEYCLOAK_PORT" \
        --http-management-port="$KEYCLOAK_MANAGEMENT_PORT" --cache=local \
        --hostname="$KEYCLOAK_URL" --proxy-headers=xforwarded \
        >"$LOG/keycloak.log" 2>&1 < /dev/null &
    echo $! > "$RUN/keycloak.pid"
  )
fi
wait_for "Keycloak ($KEYCLOAK_URL)" 180 curl -fsS "$KEYCLOAK_ISSUER/.well-known/openid-configuration"
echo "$realm_sum" > "$STATE/keycloak/realm.sha256"
log "Keycloak:   $KEYCLOAK_ISSUER"
