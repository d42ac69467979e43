#!/usr/bin/env bash
# Deletes the topics tests and benchmarks made (every topic but the stack's `freshline.*` and
# Kafka's own `__*`): thousands of leftover partitions keep the broker busy at rest.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
is_running kafka || exit 0
java -Xmx256m -cp "$KAFKA_LIBS/*" org.apache.kafka.tools.TopicCommand \
  --bootstrap-server "$KAFKA_BROKERS" --delete --if-exists --topic '^(?!freshline\.|__).*' >/dev/null 2>&1 || true
