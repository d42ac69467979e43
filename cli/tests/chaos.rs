//! The short form of the fault harness (`infra/local/chaos.sh --short`; `make chaos` runs every
//! fault): the whole stack under load while each service is SIGKILLed in turn, PostgreSQL is
//! stopped in immediate mode, the Kafka broker is SIGKILLed and the relay leader is frozen;
//! after each, every invariant must hold. Its own test binary, so no other test shares the
//! PostgreSQL and Kafka it restarts.

use std::path::Path;
use std::process::Command;

#[test]
fn the_short_chaos_schedule_holds_every_invariant() {
    let bin_dir = Path::new(env!("CARGO_BIN_EXE_freshline"))
        .parent()
        .expect("the binaries' directory");
    assert!(
        bin_dir.join("freshline-sim").exists(),
        "freshline-sim is not built in {} (infra/local/test.sh builds the binaries first: cargo build --bins)",
        bin_dir.display()
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace");
    let status = Command::new(root.join("infra/local/chaos.sh"))
        .arg("--short")
        .env("FRESHLINE_BIN_DIR", bin_dir)
        .status()
        .expect("run infra/local/chaos.sh");
    assert!(
        status.success(),
        "an invariant broke under the short chaos schedule (the report and logs are under .local/chaos/)"
    );
}
