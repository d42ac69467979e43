//! Product images end to end: the upload answers 202 at once, the worker (driven by the event
//! through Kafka) stores the renditions and records the outcome; bad uploads are refused
//! before anything is stored.

use crate::helpers::{eventually, kafka_brokers, product_body, TestApp};
use platform::relay::{Relay, RelayConfig, RelayMetrics};
use sagas::commands::{CommandClient, TokenSource};
use sagas::image_worker::{ImageWorker, ImageWorkerMetrics};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

fn png(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([(x % 256) as u8, (y % 256) as u8, 128])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encode png");
    out.into_inner()
}

async fn upload(
    app: &TestApp,
    product: &str,
    token: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}/v1/products/{product}/images", app.base))
        .bearer_auth(token)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .expect("send");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn product(app: &TestApp, owner: &str, number: &str) -> String {
    let supplier = app.approved_supplier(owner, number).await;
    let (s, b) = app
        .post(
            &format!("/v1/suppliers/{supplier}/products"),
            &app.supplier(owner),
            product_body("Heirloom tomatoes"),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    b["id"].as_str().expect("id").to_owned()
}

async fn outcome(app: &TestApp, product: &str, image_id: &str) -> (String, Value) {
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        for (_, event_type, payload, _) in app.db.events_of(product).await {
            let body = &payload[&event_type];
            if (event_type == "ProductImageProcessed" || event_type == "ProductImageFailed")
                && body["image_id"] == image_id
            {
                return (event_type, body.clone());
            }
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no outcome for {image_id}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_upload_is_processed_in_the_background_and_a_corrupt_one_fails() {
    let app = TestApp::spawn().await;
    let id = product(&app, "acct-1", "NL-IMG-1").await;
    let owner = app.supplier("acct-1");

    let (s, accepted) = upload(&app, &id, &owner, "image/png", png(1200, 900)).await;
    assert_eq!(s, 202, "{accepted}");
    assert_eq!(accepted["status"], "processing");
    let image = accepted["image_id"].as_str().expect("image id").to_owned();
    assert_eq!(
        accepted["status_url"],
        format!("/v1/products/{id}/images/{image}")
    );
    // The same bytes again are the same image: nothing new.
    let (s, again) = upload(&app, &id, &owner, "image/png", png(1200, 900)).await;
    assert_eq!(
        (s, &again["image_id"], &again["version"]),
        (202, &accepted["image_id"], &accepted["version"])
    );

    // A PNG signature over garbage passes the door (it looks like a PNG) and fails in the worker.
    let mut corrupt = png(10, 10)[..8].to_vec();
    corrupt.extend(std::iter::repeat_n(0xAB, 4000));
    let (s, bad) = upload(&app, &id, &owner, "image/png", corrupt).await;
    assert_eq!(s, 202, "{bad}");
    let bad_image = bad["image_id"].as_str().expect("image id").to_owned();

    // Relay and worker.
    let prefix = format!("p{}.", &uuid::Uuid::new_v4().simple().to_string()[..10]);
    platform::kafka::ensure_topics(&kafka_brokers(), &prefix, schemas::topics::ALL, 1)
        .await
        .expect("topics");
    let stop = CancellationToken::new();
    let relay = Relay::new(
        app.db.pool.clone(),
        platform::kafka::idempotent_producer(&kafka_brokers(), "images-test").expect("producer"),
        RelayConfig {
            topic_prefix: prefix.clone(),
            ..RelayConfig::default()
        },
        RelayMetrics::new(&prometheus::Registry::new()).expect("metrics"),
    );
    let t = stop.clone();
    tokio::spawn(async move { relay.run(t).await.expect("relay") });
    let worker = ImageWorker::new(
        &kafka_brokers(),
        &prefix,
        &format!("images-{prefix}"),
        Arc::new(platform::blobs::LocalDirStore::new(app.blob_dir.clone())),
        CommandClient::new(&app.base, TokenSource::Fixed(app.service("sagas"))).expect("client"),
    )
    .expect("worker");
    let worker_metrics = ImageWorkerMetrics::new(&prometheus::Registry::new()).expect("metrics");
    let worker = worker.with_metrics(worker_metrics.clone());
    let t = stop.clone();
    tokio::spawn(async move { worker.run(t).await.expect("worker") });

    let (event, body) = outcome(&app, &id, &image).await;
    assert_eq!(event, "ProductImageProcessed", "{body}");
    assert_eq!(
        (
            body["medium"]["width"].clone(),
            body["medium"]["height"].clone()
        ),
        (json!(800), json!(600))
    );
    assert_eq!(
        (
            body["thumbnail"]["width"].clone(),
            body["thumbnail"]["height"].clone()
        ),
        (json!(160), json!(120))
    );
    for r in ["thumbnail", "medium"] {
        let key = body[r]["key"].as_str().expect("key");
        let stored = std::fs::read(app.blob_dir.join(key)).expect("rendition stored");
        let decoded = image::load_from_memory(&stored).expect("rendition decodes");
        assert_eq!(
            u64::from(decoded.width()),
            body[r]["width"].as_u64().expect("w")
        );
    }
    let (event, body) = outcome(&app, &id, &bad_image).await;
    assert_eq!(event, "ProductImageFailed", "{body}");
    assert!(
        body["reason"]
            .as_str()
            .is_some_and(|r| r.starts_with("corrupt")),
        "{body}"
    );
    eventually(Duration::from_secs(10), "image outcomes counted", || {
        let m = worker_metrics.clone();
        async move { (m.images("processed") == 1 && m.images("failed") == 1).then_some(()) }
    })
    .await;
    stop.cancel();
}

#[tokio::test]
async fn bad_uploads_are_refused_before_anything_is_stored() {
    let app = TestApp::spawn().await;
    let id = product(&app, "acct-1", "NL-IMG-2").await;
    let owner = app.supplier("acct-1");
    let before = app.db.event_count().await;
    let (s, b) = upload(&app, &id, &owner, "text/plain", png(5, 5)).await;
    assert_eq!(
        (s, b["code"].clone()),
        (415, json!("unsupported_media_type")),
        "{b}"
    );
    let (s, b) = upload(
        &app,
        &id,
        &owner,
        "image/png",
        b"GIF89a not really".to_vec(),
    )
    .await;
    assert_eq!(
        (s, b["code"].clone()),
        (415, json!("unsupported_media_type")),
        "{b}"
    );
    let (s, b) = upload(&app, &id, &owner, "image/jpeg", png(5, 5)).await;
    assert_eq!(
        (s, b["code"].clone()),
        (415, json!("unsupported_media_type")),
        "{b}"
    );
    let (s, b) = upload(
        &app,
        &id,
        &owner,
        "image/png",
        vec![0; 10 * 1024 * 1024 + 1],
    )
    .await;
    assert_eq!(
        (s, b["code"].clone()),
        (413, json!("payload_too_large")),
        "{b}"
    );
    let (s, b) = upload(&app, &id, &app.supplier("acct-2"), "image/png", png(5, 5)).await;
    assert_eq!((s, b["code"].clone()), (403, json!("not_owner")), "{b}");
    let (s, _) = upload(
        &app,
        &uuid::Uuid::new_v4().to_string(),
        &owner,
        "image/png",
        png(5, 5),
    )
    .await;
    assert_eq!(s, 404);
    let (s, b) = upload(&app, &id, &app.service("delivery"), "image/png", png(5, 5)).await;
    assert_eq!(
        (s, b["code"].clone()),
        (403, json!("insufficient_scope")),
        "{b}"
    );
    assert_eq!(app.db.event_count().await, before);
    assert!(
        !app.blob_dir.exists()
            || std::fs::read_dir(&app.blob_dir)
                .expect("dir")
                .next()
                .is_none()
    );
}
