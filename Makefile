# Freshline developer loop. See README.md.
.PHONY: up down test lint bench chaos fmt prometheus

up:    ## the whole system locally, with demo data
	./infra/local/up.sh

prometheus: ## Prometheus on 127.0.0.1:9090 scraping the local stack (also: FRESHLINE_PROMETHEUS=1 make up)
	./infra/local/prometheus-up.sh

down:  ## stop everything `up` started
	./infra/local/down.sh

test:  ## the full suite against real PostgreSQL and Kafka (fmt, clippy, tests)
	./infra/local/test.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --all-targets -- -D warnings

fmt:
	cargo fmt --all

chaos: ## every fault in turn under load; every invariant checked; report in bench/results/
	cargo build --release --locked --bins
	./infra/local/chaos.sh

bench: ## throughput and latency against the anchors, on the local stack
	./infra/local/bench.sh
