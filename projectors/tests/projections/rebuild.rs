//! Rebuild without downtime equals the live read model; dead events can be applied again.

use crate::{database, lifecycle, runner, snapshot, start, until_count, Stream};
use projectors::rebuild::Source;
use projectors::suppliers::SupplierProjection;
use std::sync::Arc;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuilt_read_model_equals_the_live_one_and_takes_over() {
    let pool = database().await;
    let stream = Stream::new().await;
    let ids: Vec<String> = (0..200).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    for (n, id) in ids.iter().enumerate() {
        for e in lifecycle(id, n) {
            stream.send(&e).await;
        }
    }
    let live_runner = runner(&pool, &stream, "read");
    let cfg = live_runner_cfg(&stream);
    let (stop, handle) = start(live_runner);
    until_count(&pool, "SELECT count(*) FROM read.supplier_history", 800).await;
    let live = snapshot(&pool, "read").await;

    // Readers keep being served during the rebuild.
    let reader = {
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut reads = 0;
            for _ in 0..200 {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM read.suppliers")
                    .fetch_one(&pool)
                    .await
                    .expect("read during rebuild");
                assert_eq!(n, 200);
                reads += 1;
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            }
            reads
        })
    };
    let mut reports = 0;
    let done = projectors::rebuild::rebuild(
        &pool,
        Arc::new(SupplierProjection),
        &cfg,
        Source::Kafka,
        |_| reports += 1,
    )
    .await
    .expect("rebuild");
    assert_eq!(
        (done.from_generation, done.to_generation, done.consumed),
        (1, 2, 800)
    );
    assert!(reports > 0);
    assert_eq!(reader.await.expect("reader"), 200);
    assert_eq!(
        snapshot(&pool, "read").await,
        live,
        "the rebuilt model equals the live one"
    );
    let old: Option<String> = sqlx::query_scalar(
        "SELECT nspname::text FROM pg_namespace WHERE nspname = 'read_suppliers_g1'",
    )
    .fetch_optional(&pool)
    .await
    .expect("schemas");
    assert_eq!(old, None, "the old generation is dropped");

    // The live projector follows the swap: new events land in the new generation.
    let id = uuid::Uuid::now_v7().to_string();
    for e in lifecycle(&id, 9999) {
        stream.send(&e).await;
    }
    until_count(&pool, "SELECT count(*) FROM read.supplier_history", 804).await;
    stop.cancel();
    let _ = handle.await;
}

/// A projector restarting in a loop while a rebuild swaps generations: every start re-checks
/// its live generation and views under the lock the swap takes, so readers never see a view
/// pointing at the generation the rebuild then drops, and a restart does not lock them out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projector_restarting_in_a_loop_during_a_rebuild_never_fails_a_reader() {
    let pool = database().await;
    let stream = Stream::new().await;
    let ids: Vec<String> = (0..200).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    for (n, id) in ids.iter().enumerate() {
        for e in lifecycle(id, n) {
            stream.send(&e).await;
        }
    }
    let (stop, handle) = start(runner(&pool, &stream, "read"));
    until_count(&pool, "SELECT count(*) FROM read.supplier_history", 800).await;
    stop.cancel();
    let _ = handle.await;

    let done = tokio_util::sync::CancellationToken::new();
    // What a projector does first on every (re)start, as fast as it can.
    let restarts = {
        let (pool, done) = (pool.clone(), done.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !done.is_cancelled() {
                projectors::runtime::prepare_live(&pool, &SupplierProjection, "read")
                    .await
                    .expect("a start");
                n += 1;
            }
            n
        })
    };
    let reader = {
        let (pool, done) = (pool.clone(), done.clone());
        tokio::spawn(async move {
            let mut reads = 0;
            while !done.is_cancelled() {
                let n: i64 = sqlx::query_scalar("SELECT count(*) FROM read.suppliers")
                    .fetch_one(&pool)
                    .await
                    .expect("every read is served");
                assert_eq!(n, 200);
                reads += 1;
            }
            reads
        })
    };
    let cfg = live_runner_cfg(&stream);
    let rebuilt = projectors::rebuild::rebuild(
        &pool,
        Arc::new(SupplierProjection),
        &cfg,
        Source::Kafka,
        |_| {},
    )
    .await
    .expect("rebuild");
    assert_eq!((rebuilt.from_generation, rebuilt.to_generation), (1, 2));
    // A few more starts after the swap, then stop.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    done.cancel();
    assert!(restarts.await.expect("restarts") > 0);
    assert!(reader.await.expect("reader") > 0);
    let live: i32 = sqlx::query_scalar(
        "SELECT live FROM read.projection_generations WHERE projection = 'suppliers'",
    )
    .fetch_one(&pool)
    .await
    .expect("live");
    assert_eq!(live, 2);
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM read.suppliers")
        .fetch_one(&pool)
        .await
        .expect("the views read the new generation");
    assert_eq!(n, 200);
}

fn live_runner_cfg(stream: &Stream) -> projectors::runtime::RunnerConfig {
    let mut cfg = projectors::runtime::RunnerConfig::new(&crate::brokers());
    cfg.topic_prefix = stream.prefix.clone();
    cfg
}

/// A gap parks the stream: the event after it waits behind it (not dead), the events that fill
/// the gap apply, and `retry-dead` then applies the parked event and the one waiting behind it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dead_events_apply_once_their_cause_is_fixed() {
    let pool = database().await;
    let stream = Stream::new().await;
    let id = uuid::Uuid::now_v7().to_string();
    let events = lifecycle(&id, 1);
    // Approval and suspension arrive before the registration (a gap): dead, and waiting.
    stream.send(&events[2]).await;
    stream.send(&events[3]).await;
    let (stop, handle) = start(runner(&pool, &stream, "read"));
    until_count(
        &pool,
        "SELECT count(*) FROM read_suppliers_g1.dead_events",
        2,
    )
    .await;
    let states: Vec<String> =
        sqlx::query_scalar("SELECT state FROM read_suppliers_g1.dead_events ORDER BY sequence")
            .fetch_all(&pool)
            .await
            .expect("states");
    assert_eq!(states, ["dead", "waiting"]);
    stream.send(&events[0]).await;
    stream.send(&events[1]).await;
    until_count(
        &pool,
        "SELECT coalesce(max(version), 0) FROM read.suppliers",
        2,
    )
    .await;
    let retried = projectors::rebuild::retry_dead(&pool, &SupplierProjection, "read")
        .await
        .expect("retry");
    assert_eq!((retried.applied, retried.still_dead), (2, 0));
    let (status, version): (String, i64) =
        sqlx::query_as("SELECT status, version FROM read.suppliers")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!((status.as_str(), version), ("suspended", 4));
    stream.send(&events[2]).await; // redelivered: a duplicate now
    stream.send(&events[3]).await;
    let id2 = uuid::Uuid::now_v7().to_string();
    for e in lifecycle(&id2, 2) {
        stream.send(&e).await;
    }
    until_count(&pool, "SELECT count(*) FROM read.supplier_history", 8).await;
    let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM read_suppliers_g1.dead_events")
        .fetch_one(&pool)
        .await
        .expect("dead");
    assert_eq!(dead, 0);
    stop.cancel();
    let _ = handle.await;
}
