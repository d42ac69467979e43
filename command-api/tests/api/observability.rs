//! What an operator sees of one command: its counters and latency on `/metrics`, its
//! correlation id on the answer and on the stored event.

use crate::helpers::{supplier_body, TestApp};

/// The value of the series `name{labels}` in a text exposition (labels in exposition order).
fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        line.strip_prefix(series)
            .and_then(|rest| rest.strip_prefix(' '))
            .and_then(|v| v.trim().parse().ok())
    })
}

#[tokio::test]
async fn one_command_shows_on_metrics_with_its_route_result_latency_and_events() {
    let app = TestApp::spawn().await;
    let before = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    assert!(sample(&before, "freshline_commands_total").is_none());

    let (status, body) = app
        .post_with(
            "/v1/suppliers",
            &app.supplier("acct-obs"),
            supplier_body("NL-OBS-1"),
            &[("x-correlation-id", "corr-obs-1")],
        )
        .await;
    assert_eq!(status, 201, "{body}");
    let id = body["id"].as_str().expect("id").to_owned();

    let metrics = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("send")
        .text()
        .await
        .expect("text");
    let labels = r#"{aggregate="Supplier",command="register""#;
    assert_eq!(
        sample(
            &metrics,
            &format!(r#"freshline_commands_total{labels},result="accepted"}}"#)
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            &format!("freshline_command_duration_seconds_count{labels}}}")
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        sample(
            &metrics,
            &format!("freshline_command_duration_seconds_sum{labels}}}")
        )
        .is_some_and(|s| s > 0.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"freshline_events_appended_total{aggregate="Supplier"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    // By route template, never the raw path.
    assert_eq!(
        sample(
            &metrics,
            r#"freshline_http_requests_total{method="POST",route="/v1/suppliers",status="201"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        sample(
            &metrics,
            r#"freshline_http_request_duration_seconds_count{method="POST",route="/v1/suppliers"}"#
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(metrics
        .contains(r#"freshline_http_requests_total{method="GET",route="/metrics",status="200"}"#));
    assert!(!metrics.contains(&id), "an id in a label: {metrics}");

    let events = app.db.events_of(&id).await;
    assert_eq!(events[0].3["correlation_id"], "corr-obs-1");
}

/// The frontends' typed client is generated from this document (web/openapi/command.json).
#[test]
fn the_frontends_build_against_the_served_openapi_document() {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(command_api::ApiDoc::openapi()).expect("document");
    test_support::committed_document("web/openapi/command.json", &doc);
}
