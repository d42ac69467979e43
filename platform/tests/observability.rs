//! Observability: the Grafana dashboard and the Prometheus scrape configuration agree with the
//! metrics and service addresses the code defines; request logs carry the correlation id; spans
//! are exported over OTLP only when an endpoint is set.

use axum::routing::get;
use platform::telemetry::{self, LogFormat, TelemetryConfig};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace holds platform/")
        .to_path_buf()
}

fn read(relative: &str) -> String {
    std::fs::read_to_string(workspace().join(relative))
        .unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

/// Every `*.rs` file under a `src/` folder of the workspace (the code, not its tests), with its
/// path relative to the workspace.
fn sources() -> Vec<(String, String)> {
    fn walk(dir: &Path, in_src: bool, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path.is_dir() {
                if !name.starts_with('.') && name != "target" && name != "tests" {
                    walk(&path, in_src || name == "src", out);
                }
            } else if in_src && name.ends_with(".rs") {
                out.push(path);
            }
        }
    }
    let root = workspace();
    let mut files = Vec::new();
    walk(&root, false, &mut files);
    files.sort();
    assert!(files.len() > 20, "found only {} source files", files.len());
    files
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).expect("read source");
            let rel = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
            (rel, text)
        })
        .collect()
}

/// The `freshline_*` metric names in `text` (identifier characters after the prefix).
fn metric_names(text: &str, quoted: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut rest = text;
    while let Some(at) = rest.find("freshline_") {
        let before = rest[..at].chars().last();
        let tail = &rest[at..];
        let len = tail
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
            .unwrap_or(tail.len());
        let after = tail[len..].chars().next();
        let word_start = !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
        if word_start && (!quoted || (before == Some('"') && after == Some('"'))) {
            out.insert(tail[..len].to_owned());
        }
        rest = &tail[len..];
    }
    out
}

/// The metric names defined as constants in the `names` (or `metric_names`) modules.
fn names_module_constants(sources: &[(String, String)]) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (path, text) in sources {
        let mut inside: Option<String> = None;
        for line in text.lines() {
            match &inside {
                None => {
                    let trimmed = line.trim_start();
                    if trimmed.starts_with("pub mod ") && trimmed.ends_with("names {") {
                        inside = Some(line[..line.len() - trimmed.len()].to_owned());
                    }
                }
                Some(indent) if line == format!("{indent}}}") => inside = None,
                Some(_) => {
                    if line.trim_start().starts_with("pub const ") {
                        for name in metric_names(line, true) {
                            out.insert(name, path.clone());
                        }
                    }
                }
            }
        }
    }
    out
}

fn dashboard() -> Value {
    serde_json::from_str(&read("infra/grafana/dashboards/freshline.json"))
        .expect("the dashboard is JSON")
}

/// Every panel of the dashboard, those inside collapsed rows too.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn collect<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            collect(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    collect(&dashboard["panels"], &mut out);
    out
}

fn dashboard_queries(dashboard: &Value) -> Vec<String> {
    panels(dashboard)
        .iter()
        .flat_map(|p| p["targets"].as_array().into_iter().flatten())
        .filter_map(|t| t["expr"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn every_metric_the_dashboard_queries_is_defined_in_the_code() {
    let defined: BTreeSet<String> = sources()
        .iter()
        .flat_map(|(_, text)| metric_names(text, true))
        .collect();
    let queries = dashboard_queries(&dashboard());
    assert!(queries.len() > 30, "only {} queries", queries.len());
    let mut unknown = BTreeSet::new();
    for name in queries.iter().flat_map(|q| metric_names(q, false)) {
        let base = ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .filter(|b| defined.contains(*b));
        if !defined.contains(&name) && base.is_none() {
            unknown.insert(name);
        }
    }
    assert!(
        unknown.is_empty(),
        "the dashboard queries metrics no code defines: {unknown:?}"
    );
}

#[test]
fn every_metric_a_names_module_defines_is_on_the_dashboard() {
    let constants = names_module_constants(&sources());
    for expected in [
        "freshline_http_requests_total",
        "freshline_commands_total",
        "freshline_relay_lag_seconds",
        "freshline_consumer_lag",
        "freshline_saga_steps_total",
        "freshline_notifier_sent_total",
        "freshline_image_worker_images_total",
        "freshline_scheduler_ticks_total",
    ] {
        assert!(
            constants.contains_key(expected),
            "{expected} not found in a names module: {constants:?}"
        );
    }
    let used: BTreeSet<String> = dashboard_queries(&dashboard())
        .iter()
        .flat_map(|q| metric_names(q, false))
        .map(|n| {
            ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| n.strip_suffix(s))
                .filter(|b| constants.contains_key(*b))
                .map_or(n.clone(), str::to_owned)
        })
        .collect();
    let missing: Vec<String> = constants
        .iter()
        .filter(|(name, _)| !used.contains(*name))
        .map(|(name, path)| format!("{name} ({path})"))
        .collect();
    assert!(
        missing.is_empty(),
        "metrics missing from the dashboard: {missing:?}"
    );
}

#[test]
fn every_dashboard_panel_reads_the_datasource_variable() {
    let d = dashboard();
    let variables = d["templating"]["list"].as_array().expect("variables");
    let ds = variables
        .iter()
        .find(|v| v["type"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["query"], "prometheus");
    let provisioned: Value = serde_norway::from_str(&read(
        "infra/grafana/provisioning/datasources/prometheus.yaml",
    ))
    .expect("datasource provisioning is YAML");
    let uid = &provisioned["datasources"][0]["uid"];
    assert_eq!(
        &ds["current"]["value"], uid,
        "the variable defaults to the provisioned data source"
    );
    for p in panels(&d) {
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(
            p["datasource"]["uid"], "${datasource}",
            "panel {:?} picks its own data source",
            p["title"]
        );
        for t in p["targets"].as_array().expect("targets") {
            assert_eq!(t["datasource"]["uid"], "${datasource}");
        }
    }
    let providers: Value = serde_norway::from_str(&read(
        "infra/grafana/provisioning/dashboards/freshline.yaml",
    ))
    .expect("dashboard provisioning is YAML");
    assert_eq!(providers["providers"][0]["type"], "file");
    assert!(providers["providers"][0]["options"]["path"].is_string());
    let titles: BTreeSet<&str> = panels(&d)
        .iter()
        .filter(|p| p["type"] == "row")
        .filter_map(|p| p["title"].as_str())
        .collect();
    for row in [
        "Write path",
        "Outbox relay",
        "Projections",
        "Fulfilment saga",
        "Notifier",
        "HTTP",
    ] {
        assert!(
            titles.iter().any(|t| t.starts_with(row)),
            "no {row} row in {titles:?}"
        );
    }
}

/// The default of every `FRESHLINE_*_ADDR` setting in the code: variable -> addresses.
fn address_defaults(sources: &[(String, String)]) -> BTreeMap<String, BTreeSet<String>> {
    let compact = |t: &str| t.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let config = compact(&read("platform/src/config.rs"));
    // `defaults::X` -> its value.
    let constant = |name: &str| {
        let key = format!("pubconst{name}:&str=\"");
        config.find(&key).map(|at| {
            let rest = &config[at + key.len()..];
            rest[..rest.find('"').unwrap_or(0)].to_owned()
        })
    };
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, text) in sources {
        let text = compact(text);
        let mut rest = text.as_str();
        while let Some(at) = rest.find("config::string(\"FRESHLINE_") {
            rest = &rest[at + "config::string(\"".len()..];
            let Some(end) = rest.find('"') else { break };
            let var = rest[..end].to_owned();
            let args = &rest[end + 2..];
            let expr = args[..args.find(')').unwrap_or(0)].trim_end_matches(',');
            if !var.ends_with("_ADDR") {
                continue;
            }
            let value = match expr.strip_prefix("defaults::") {
                Some(name) => constant(name),
                None => Some(expr.trim_matches('"').to_owned()),
            };
            let value = value.unwrap_or_else(|| panic!("cannot resolve {var}'s default {expr}"));
            out.entry(var).or_default().insert(value);
        }
    }
    out
}

#[test]
fn prometheus_scrapes_every_service_at_its_default_address_every_5s() {
    let config: Value = serde_norway::from_str(&read("infra/prometheus/prometheus.yml"))
        .expect("prometheus.yml is YAML");
    assert_eq!(config["global"]["scrape_interval"], "5s");
    let defaults = address_defaults(&sources());
    for var in [
        "FRESHLINE_HTTP_ADDR",
        "FRESHLINE_RELAY_HTTP_ADDR",
        "FRESHLINE_PROJECTOR_HTTP_ADDR",
        "FRESHLINE_SAGA_HTTP_ADDR",
        "FRESHLINE_NOTIFIER_HTTP_ADDR",
        "FRESHLINE_GATEWAY_HTTP_ADDR",
        "FRESHLINE_IMAGE_WORKER_HTTP_ADDR",
        "FRESHLINE_SCHEDULER_HTTP_ADDR",
        "FRESHLINE_SIM_HTTP_ADDR",
    ] {
        assert!(defaults.contains_key(var), "{var} not found: {defaults:?}");
    }
    let known: BTreeSet<&String> = defaults.values().flatten().collect();
    let mut jobs = BTreeSet::new();
    let mut scraped = BTreeSet::new();
    for job in config["scrape_configs"].as_array().expect("scrape_configs") {
        let name = job["job_name"].as_str().expect("job_name");
        assert!(jobs.insert(name), "job {name} twice");
        if let Some(interval) = job["scrape_interval"].as_str() {
            assert_eq!(interval, "5s", "{name}");
        }
        for target in job["static_configs"]
            .as_array()
            .expect("static_configs")
            .iter()
            .flat_map(|c| c["targets"].as_array().expect("targets"))
        {
            let target = target.as_str().expect("target").to_owned();
            assert!(
                target.starts_with("127.0.0.1:"),
                "{name}: {target} is not on loopback"
            );
            assert!(
                known.contains(&target),
                "{name}: {target} is no service's default address ({defaults:?})"
            );
            assert!(scraped.insert(target.clone()), "{target} scraped twice");
        }
    }
    let unscraped: Vec<&&String> = known.iter().filter(|a| !scraped.contains(**a)).collect();
    assert!(unscraped.is_empty(), "services not scraped: {unscraped:?}");
}

/// A `MakeWriter` keeping what is written.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Self;
    fn make_writer(&'a self) -> Self {
        self.clone()
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

fn config(format: LogFormat, endpoint: Option<String>) -> TelemetryConfig {
    TelemetryConfig {
        format,
        filter: "info".to_owned(),
        otlp_endpoint: endpoint,
        service_name: "observability-test".to_owned(),
    }
}

#[tokio::test]
async fn a_request_logs_with_its_correlation_id_and_route_template_but_not_its_path() {
    let logs = Captured::default();
    let (subscriber, provider) =
        telemetry::subscriber_with_writer(&config(LogFormat::Json, None), logs.clone());
    assert!(matches!(provider, Ok(None)));
    let _guard = tracing::subscriber::set_default(subscriber);
    let app = axum::Router::new()
        .route(
            "/v1/things/{id}",
            get(|| async {
                tracing::info!("handling");
                "ok"
            }),
        )
        .layer(axum::middleware::from_fn(platform::http::correlate));
    let response = app
        .oneshot(
            http::Request::get("/v1/things/secret-id-42")
                .header("x-correlation-id", "corr-log-1")
                .body(axum::body::Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    assert_eq!(response.headers()["x-correlation-id"], "corr-log-1");
    let text = logs.text();
    let line: Value = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|l| l["message"] == "handling")
        .unwrap_or_else(|| panic!("no log line from the handler in {text}"));
    assert_eq!(line["span"]["correlation_id"], "corr-log-1", "{line}");
    assert_eq!(line["span"]["route"], "/v1/things/{id}", "{line}");
    assert_eq!(line["span"]["method"], "GET", "{line}");
    assert!(
        !text.contains("secret-id-42"),
        "the raw path was logged: {text}"
    );
}

#[test]
fn without_an_otlp_endpoint_no_exporter_is_built() {
    if std::env::var("FRESHLINE_OTLP_ENDPOINT").map_or(true, |v| v.trim().is_empty()) {
        let from_env = TelemetryConfig::from_env(LogFormat::Pretty, "info");
        assert_eq!(from_env.otlp_endpoint, None);
    }
    let (_, provider) = telemetry::subscriber(&config(LogFormat::Pretty, None));
    assert!(matches!(provider, Ok(None)));
    // Outside a tokio runtime an endpoint cannot be served: logs go on without export.
    let (_, provider) = telemetry::subscriber(&config(
        LogFormat::Pretty,
        Some("http://127.0.0.1:1".to_owned()),
    ));
    assert!(provider.is_err());
}

/// A stand-in OTLP/HTTP collector on 127.0.0.1:0 keeping every request body it gets.
async fn collector() -> (String, Arc<Mutex<Vec<Vec<u8>>>>) {
    let bodies: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let kept = bodies.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                kept.lock().expect("lock").push(body.to_vec());
                ([(http::header::CONTENT_TYPE, "application/x-protobuf")], "")
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (base, bodies)
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_are_exported_to_the_otlp_endpoint_when_one_is_set() {
    let (base, bodies) = collector().await;
    let (subscriber, provider) = telemetry::subscriber_with_writer(
        &config(LogFormat::Pretty, Some(base)),
        Captured::default(),
    );
    let provider = provider.expect("exporter").expect("an endpoint is set");
    tracing::subscriber::with_default(subscriber, || {
        let span = tracing::info_span!("checkout_step", correlation_id = "corr-otlp-7");
        let _entered = span.enter();
        tracing::info!("inside the step");
    });
    // The batch processor exports from its own thread; flushing waits for it.
    let flush = provider.clone();
    tokio::task::spawn_blocking(move || flush.force_flush())
        .await
        .expect("join")
        .expect("flushed");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let got = bodies.lock().expect("lock").clone();
        if got.iter().any(|b| {
            contains(b, "checkout_step")
                && contains(b, "corr-otlp-7")
                && contains(b, "observability-test")
        }) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no exported span reached the collector ({} requests)",
            got.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::task::spawn_blocking(move || telemetry::otlp::shutdown(&provider))
        .await
        .expect("join");
}

#[test]
fn the_traces_url_is_the_base_url_with_v1_traces() {
    assert_eq!(
        telemetry::otlp::traces_url("http://127.0.0.1:4318"),
        "http://127.0.0.1:4318/v1/traces"
    );
    assert_eq!(
        telemetry::otlp::traces_url("http://collector:4318/"),
        "http://collector:4318/v1/traces"
    );
    assert_eq!(
        telemetry::otlp::traces_url("https://otel.example/v1/traces"),
        "https://otel.example/v1/traces"
    );
}
