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
    // Once its outcome is recorded, the original goes (the renditions are what is served).
    let original = app.blob_dir.join(format!("products/{id}/{image}/original"));
    eventually(
        Duration::from_secs(10),
        "the original to be deleted",
        || {
            let gone = !original.exists();
            async move { gone.then_some(()) }
        },
    )
    .await;
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

fn originals_on_disk(app: &TestApp) -> usize {
    fn walk(dir: &std::path::Path, n: &mut usize) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(&path, n);
            } else if path.file_name().is_some_and(|f| f == "original") {
                *n += 1;
            }
        }
    }
    let mut n = 0;
    walk(&app.blob_dir, &mut n);
    n
}

async fn fail_image(app: &TestApp, product: &str, image: &Value) {
    let image = image["image_id"].as_str().expect("image id");
    let (s, b) = app
        .post(
            &format!("/v1/products/{product}/images/{image}/failed"),
            &app.service("sagas"),
            json!({"reason": "corrupt: test"}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
}

#[tokio::test]
async fn a_suppliers_image_quota_and_pending_cap_are_answered_before_anything_is_stored() {
    let (a, b, c, big) = (png(10, 10), png(11, 11), png(12, 12), png(300, 300));
    let limits = command_api::image_quota::ImageLimits {
        quota_bytes: i64::try_from(a.len() + b.len() + c.len()).expect("size"),
        max_pending: 2,
    };
    let app = TestApp::spawn_with_images(limits, platform::blobs::DEFAULT_MIN_FREE_BYTES).await;
    let owner = app.supplier("acct-q");
    let id = product(&app, "acct-q", "NL-QUOTA-1").await;

    let (s, first) = upload(&app, &id, &owner, "image/png", a.clone()).await;
    assert_eq!(s, 202, "{first}");
    // The same bytes again are the same image: counted once.
    let (s, again) = upload(&app, &id, &owner, "image/png", a).await;
    assert_eq!(
        (s, &again["image_id"]),
        (202, &first["image_id"]),
        "{again}"
    );
    let (s, second) = upload(&app, &id, &owner, "image/png", b).await;
    assert_eq!(s, 202, "{second}");

    // Two originals wait for the worker: a third waits its turn.
    let r = app
        .client
        .post(format!("{}/v1/products/{id}/images", app.base))
        .bearer_auth(&owner)
        .header("content-type", "image/png")
        .body(c.clone())
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let problem: Value = r.json().await.expect("problem");
    assert_eq!(problem["code"], "too_many_pending_images", "{problem}");
    assert_eq!(
        originals_on_disk(&app),
        2,
        "nothing stored for the refused upload"
    );

    // The first one failed: it no longer waits, nor counts against the quota.
    fail_image(&app, &id, &first).await;
    let (s, third) = upload(&app, &id, &owner, "image/png", c).await;
    assert_eq!(s, 202, "{third}");
    fail_image(&app, &id, &second).await;
    // One waiting, and the quota nearly used: a large image is over it.
    let (s, over) = upload(&app, &id, &owner, "image/png", big).await;
    assert_eq!(s, 409, "{over}");
    assert_eq!(over["code"], "image_quota_exceeded", "{over}");
    assert_eq!(originals_on_disk(&app), 3);
}

#[tokio::test]
async fn a_full_image_store_answers_507_and_harms_nothing_else() {
    // A store that must keep more free space than any disk has: every write is refused.
    let app = TestApp::spawn_with_images(
        command_api::image_quota::ImageLimits::default(),
        u64::MAX / 2,
    )
    .await;
    let owner = app.supplier("acct-full");
    let id = product(&app, "acct-full", "NL-FULL-1").await;
    let r = app
        .client
        .post(format!("{}/v1/products/{id}/images", app.base))
        .bearer_auth(&owner)
        .header("content-type", "image/png")
        .body(png(20, 20))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status().as_u16(), 507);
    assert!(r.headers().contains_key("retry-after"));
    let problem: Value = r.json().await.expect("problem");
    assert_eq!(problem["code"], "storage_full", "{problem}");
    assert_eq!(originals_on_disk(&app), 0);
    let reserved: i64 = sqlx::query_scalar("SELECT count(*) FROM image_uploads")
        .fetch_one(&app.db.pool)
        .await
        .expect("count");
    assert_eq!(reserved, 0, "the reservation was given back");
    assert!(
        app.db.events_of(&id).await.len() == 1,
        "no image event was appended"
    );
    // The rest of the catalog goes on.
    let (s, b) = app
        .patch(
            &format!("/v1/products/{id}"),
            &owner,
            json!({"name": "Heirloom tomatoes, large"}),
        )
        .await;
    assert_eq!(s, 202, "{b}");
}
