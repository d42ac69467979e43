#!/usr/bin/env bash
# Installs what the local stack and the build need, when missing. Idempotent; safe to re-run.
#  - Debian packages: PostgreSQL, nginx, and the build dependencies of rdkafka's bundled
#    librdkafka (cmake, libcurl headers, libssl, zlib, pkg-config), JDK 17 + Maven for Kafka,
#    and aiosmtpd (python3-aiosmtpd) for the local SMTP sink: Debian's build of the PyPI
#    server, security-patched with the distribution and run by the system python3, so there is
#    no virtualenv to create or keep in step.
#  - Apache Kafka broker jars from Maven Central through infra/kafka/pom.xml (not with
#    `--packages`, which installs only what the build needs first).
#  - `--browser`: only Debian's Chromium (and a font), which the browser tests drive headless
#    through playwright-core (its own browser download is not used).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

need_pkgs=()
have_cmd() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
apt_install() {
  log "installing Debian packages: $*"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

if [ "${1:-}" = "--browser" ]; then
  for p in chromium fonts-dejavu-core; do have_pkg "$p" || need_pkgs+=("$p"); done
  [ ${#need_pkgs[@]} -eq 0 ] || apt_install "${need_pkgs[@]}"
  exit 0
fi

for p in postgresql postgresql-contrib nginx-light python3-aiosmtpd python3-venv faketime cmake libcurl4-openssl-dev libssl-dev zlib1g-dev pkg-config build-essential; do
  have_pkg "$p" || need_pkgs+=("$p")
done
have_cmd java || need_pkgs+=(openjdk-17-jre-headless)
have_cmd mvn || need_pkgs+=(maven)
have_cmd curl || need_pkgs+=(curl)

[ ${#need_pkgs[@]} -eq 0 ] || apt_install "${need_pkgs[@]}"
# Debian's postgresql package may start its own cluster on 5432; ours runs on $PG_PORT with its
# own data directory, so the two never meet.
[ "${1:-}" = "--packages" ] && exit 0

if [ ! -f "$KAFKA_LIBS/.complete" ]; then
  log "fetching Apache Kafka $KAFKA_VERSION broker jars from Maven Central"
  rm -rf "$KAFKA_LIBS"; mkdir -p "$KAFKA_LIBS"
  mvn -B -q -f "$ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS"
  touch "$KAFKA_LIBS/.complete"
fi
log "dependencies present (PostgreSQL $(ls /usr/lib/postgresql | sort -n | tail -n1), Kafka $KAFKA_VERSION)"
