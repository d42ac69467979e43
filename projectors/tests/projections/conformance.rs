//! Both OpenAPI documents against an independent client tester: schemathesis, with all its
//! checks (status codes, content types, schema-valid requests accepted, schema-violating ones
//! refused, no 5xx, authentication), against the whole stack (commands projected, so its
//! stateful phase reads back what it wrote). The rules no schema can state are listed, with
//! their reasons, in `infra/schemathesis/*.toml`.
//!
//! Each run's report is kept in `target/tmp/schemathesis/<service>.txt`.
//!
//! `make test` installs schemathesis into a git-ignored virtual environment and names its
//! executable in `FRESHLINE_SCHEMATHESIS`; `FRESHLINE_SCHEMATHESIS_EXAMPLES` (default 10) and
//! `FRESHLINE_SCHEMATHESIS_SEED` (default fixed, so a run is repeatable) bound the run.

use crate::end_to_end::Stack;
use platform::auth::Role;
use std::path::PathBuf;
use std::time::Duration;

fn schemathesis() -> PathBuf {
    std::env::var_os("FRESHLINE_SCHEMATHESIS")
        .map(PathBuf::from)
        .expect("FRESHLINE_SCHEMATHESIS names the schemathesis executable (make test installs it)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_openapi_documents_hold_under_schemathesis_with_all_checks() {
    let bin = schemathesis();
    let stack = Stack::start().await;
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../infra/schemathesis");
    let examples = std::env::var("FRESHLINE_SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| "10".into());
    let seed = std::env::var("FRESHLINE_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261202".into());
    let mut failed = Vec::new();
    for (service, base) in [
        ("command-api", &stack.commands),
        ("query-api", &stack.queries),
    ] {
        let run = tokio::process::Command::new(&bin)
            .arg("--config-file")
            .arg(config.join(format!("{service}.toml")))
            .args(["run", &format!("{base}/openapi.json"), "--checks", "all"])
            .args(["--max-examples", &examples, "--seed", &seed, "--no-color"])
            .env("FRESHLINE_ST_TOKEN", stack.token("st-admin", Role::Admin))
            .env("SCHEMATHESIS_HOOKS", "hooks")
            .env("PYTHONPATH", &config)
            .kill_on_drop(true)
            .output();
        let out = tokio::time::timeout(Duration::from_secs(480), run)
            .await
            .unwrap_or_else(|_| panic!("schemathesis against {service} took over 8 minutes"))
            .expect("schemathesis runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The whole report (every failure with its reproduction) stays beside the build.
        let reports = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("schemathesis");
        std::fs::create_dir_all(&reports).expect("report dir");
        std::fs::write(
            reports.join(format!("{service}.txt")),
            format!("{stdout}\n{stderr}"),
        )
        .expect("report");
        assert!(
            stdout.contains("SUMMARY"),
            "{service}: schemathesis printed no summary:\n{stdout}\n{stderr}"
        );
        if !out.status.success() {
            let report: Vec<&str> = stdout.lines().rev().take(300).collect();
            let report: Vec<&str> = report.into_iter().rev().collect();
            failed.push(format!("{service}:\n{}", report.join("\n")));
        }
    }
    stack.stop.cancel();
    assert!(
        failed.is_empty(),
        "schemathesis found failures:\n{}",
        failed.join("\n\n")
    );
}

/// The frontends' typed client is generated from this document (web/openapi/query.json).
#[test]
fn the_frontends_build_against_the_served_openapi_document() {
    use utoipa::OpenApi;
    let doc = serde_json::to_value(projectors::query::QueryDoc::openapi()).expect("document");
    test_support::committed_document("web/openapi/query.json", &doc);
}
