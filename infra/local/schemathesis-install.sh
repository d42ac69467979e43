#!/usr/bin/env bash
# Installs schemathesis (the OpenAPI client tester `make test` runs against both services) into
# a git-ignored virtual environment under .local, once per version, and prints its executable.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
SCHEMATHESIS_VERSION=4.32.5
venv="$STATE/schemathesis-venv"
bin="$venv/bin/schemathesis"
if ! [ -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -qF "$SCHEMATHESIS_VERSION"; then
  log "installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi
echo "$bin"
