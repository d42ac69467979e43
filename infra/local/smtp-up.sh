#!/usr/bin/env bash
# Starts the local SMTP sink: aiosmtpd (Debian's python3-aiosmtpd, see install.sh) on
# 127.0.0.1:$SMTP_PORT, keeping every mail it accepts in the Maildir $MAILDIR (one file per
# mail in new/, with X-MailFrom and X-RcptTo headers added), where the notifier's tests read
# them. It relays nothing. Idempotent: a running sink is left alone. infra-up.sh calls it; it
# also runs on its own (e.g. beside a PostgreSQL and Kafka another checkout started).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The system interpreter, which Debian's package installs into (not a python3 earlier on PATH).
SINK_PYTHON=/usr/bin/python3
"$SINK_PYTHON" -c 'import aiosmtpd' >/dev/null 2>&1 \
  || die "aiosmtpd is missing for $SINK_PYTHON; run infra/local/install.sh"
mkdir -p "$MAILDIR/tmp" "$MAILDIR/new" "$MAILDIR/cur"
if ! is_running smtp-sink; then
  port_open "$SMTP_PORT" && die "port $SMTP_PORT is taken by a process this stack did not start"
  log "starting the SMTP sink on 127.0.0.1:$SMTP_PORT"
  # -n: stay the user we are (as root it would switch to `nobody`, who cannot write $MAILDIR).
  nohup "$SINK_PYTHON" -m aiosmtpd -n -l "127.0.0.1:$SMTP_PORT" \
    -c aiosmtpd.handlers.Mailbox "$MAILDIR" >>"$LOG/smtp-sink.log" 2>&1 < /dev/null &
  echo $! > "$RUN/smtp-sink.pid"
fi
wait_for "SMTP sink on $SMTP_PORT" 30 port_open "$SMTP_PORT"
