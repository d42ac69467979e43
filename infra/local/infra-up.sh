#!/usr/bin/env bash
# Starts PostgreSQL, a single-node Apache Kafka (KRaft) and the SMTP sink on loopback, data
# under $STATE.
# Idempotent: what already runs is left alone. Prints nothing on stdout.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
"$ROOT/infra/local/install.sh"
# Again, now that the postgres user exists: where its data directory can live depends on it.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# --- PostgreSQL --------------------------------------------------------------------------
PGBIN="$(pg_bin)"
if [ ! -f "$PG_DATA/PG_VERSION" ]; then
  log "initialising PostgreSQL cluster in $PG_DATA"
  mkdir -p "$PG_DATA" "$PG_SOCK"
  [ "$(id -u)" = 0 ] && chown -R postgres:postgres "$PG_HOME"
  pwfile="$(mktemp)"; echo "postgres" > "$pwfile"; chmod 644 "$pwfile"
  as_pg "$PGBIN/initdb" -D "$PG_DATA" -U postgres --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$LOG/initdb.log" 2>&1 \
    || { rm -f "$pwfile"; cat "$LOG/initdb.log" >&2; die "initdb failed"; }
  rm -f "$pwfile"
  cat >> "$PG_DATA/postgresql.conf" <<CONF
# --- freshline local settings ---
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 300
shared_buffers = 512MB
effective_cache_size = 4GB
work_mem = 16MB
maintenance_work_mem = 256MB
wal_buffers = 16MB
max_wal_size = 4GB
checkpoint_timeout = 15min
commit_delay = 0
log_min_duration_statement = 1000
CONF
fi
# pg_stat_statements, for `make bench` to say where PostgreSQL's time goes (clusters made
# before it was added get it here, on their next start).
if ! grep -q "^shared_preload_libraries = 'pg_stat_statements'" "$PG_DATA/postgresql.conf"; then
  echo "shared_preload_libraries = 'pg_stat_statements'" >> "$PG_DATA/postgresql.conf"
  as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1 \
    && as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -w -t 60 -m fast restart -l "$PG_HOME/postgres.log" >/dev/null
fi
[ "$PG_HOME" = "$STATE/pg" ] || log "PostgreSQL data in $PG_HOME (the postgres user cannot reach $STATE)"
if ! as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1; then
  log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
  mkdir -p "$PG_SOCK"; [ "$(id -u)" = 0 ] && chown postgres:postgres "$PG_SOCK"
  as_pg "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$PG_HOME/postgres.log" -w -t 60 start >/dev/null
fi
head -n 1 "$PG_DATA/postmaster.pid" > "$RUN/postgres.pid"
psql_admin() { as_pg "$PGBIN/psql" -h "$PG_SOCK" -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"; }
wait_for "PostgreSQL" 60 psql_admin -c 'select 1'
if [ "$(psql_admin -c "select count(*) from pg_roles where rolname='$PG_USER'")" = 0 ]; then
  psql_admin -c "create role $PG_USER login createdb password '$PG_PASSWORD'"
fi
if [ "$(psql_admin -c "select count(*) from pg_database where datname='$PG_DB'")" = 0 ]; then
  psql_admin -c "create database $PG_DB owner $PG_USER"
fi

# --- Apache Kafka ------------------------------------------------------------------------
KCONF="$STATE/kafka/config"
mkdir -p "$KCONF" "$STATE/kafka/data"
sed "s#@STATE@#$STATE#g" "$ROOT/infra/kafka/server.properties" > "$KCONF/server.properties"
JAVA_OPTS=(-Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$ROOT/infra/kafka/log4j2.properties")
if [ ! -f "$STATE/kafka/data/meta.properties" ]; then
  cluster_id="$(java "${JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null)"
  log "formatting Kafka storage (cluster $cluster_id)"
  java "${JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.tools.StorageTool format \
    -t "$cluster_id" -c "$KCONF/server.properties" --ignore-formatted >"$LOG/kafka-format.log" 2>&1 \
    || { cat "$LOG/kafka-format.log" >&2; die "Kafka storage format failed"; }
fi
if ! is_running kafka; then
  port_open 9092 && die "port 9092 is taken by a process this stack did not start"
  log "starting Apache Kafka $KAFKA_VERSION on $KAFKA_BROKERS"
  nohup java "${JAVA_OPTS[@]}" -cp "$KAFKA_LIBS/*" kafka.Kafka "$KCONF/server.properties" \
    >"$LOG/kafka.log" 2>&1 < /dev/null &
  echo $! > "$RUN/kafka.pid"
fi
wait_for "Kafka on 9092" 90 port_open 9092

# --- SMTP sink ---------------------------------------------------------------------------
"$ROOT/infra/local/smtp-up.sh"
log "PostgreSQL: $DATABASE_URL"
log "Kafka:      $KAFKA_BROKERS"
log "SMTP sink:  127.0.0.1:$SMTP_PORT (mail in $MAILDIR)"
