//! `freshline audit verify | seal | check | keygen`: the tamper-evident history.

use anyhow::{bail, Context};
use clap::Subcommand;
use platform::config::defaults;
use platform::store::StreamFilter;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Recompute the hash chains from the stored events and name each broken stream's first
    /// broken link. Exits with status 1 when any chain is broken.
    Verify {
        /// Only this supplier's stream.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        supplier: Option<uuid::Uuid>,
        /// Every stream of every aggregate type.
        #[arg(long)]
        all: bool,
        /// PostgreSQL URL.
        #[arg(long, env = "FRESHLINE_DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
        database_url: String,
    },
    /// Chain the events written before the chain existed (a one-off after upgrading; a no-op
    /// afterwards).
    Seal {
        /// PostgreSQL URL.
        #[arg(long, env = "FRESHLINE_DATABASE_URL", default_value = defaults::DATABASE_URL, hide_env_values = true)]
        database_url: String,
    },
    /// Check a signed history export offline: signature, hash chain and head. Exits with
    /// status 1 when it does not hold.
    Check {
        /// The exported document.
        file: PathBuf,
        /// The JWKS of the evidence keys you trust (a file, or an http(s) URL).
        #[arg(long)]
        jwks: String,
    },
    /// Generate the evidence signing key (Ed25519) and its JWKS, kept apart from token keys.
    Keygen {
        /// Where to write `evidence-key.pem` (+ `.kid`) and `jwks.json`.
        #[arg(long, default_value = ".local/evidence")]
        out_dir: PathBuf,
        /// Keep an existing key instead of failing.
        #[arg(long)]
        if_missing: bool,
    },
}

pub async fn run(cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify {
            supplier,
            all,
            database_url,
        } => {
            let pool = platform::db::pool(&secrecy::SecretString::from(database_url), 2)?;
            let filter = match (supplier, all) {
                (Some(id), _) => StreamFilter {
                    aggregate_type: Some(schemas::aggregate_types::SUPPLIER.to_owned()),
                    aggregate_id: Some(id.to_string()),
                },
                (None, true) => StreamFilter::default(),
                (None, false) => bail!("give --supplier ID or --all"),
            };
            let started = Instant::now();
            let tty = std::io::stderr().is_terminal();
            let report = platform::store::verify_chains(&pool, &filter, |n| {
                if tty {
                    eprint!("\rverified {n} events");
                }
            })
            .await?;
            if tty {
                eprintln!();
            }
            let secs = started.elapsed().as_secs_f64();
            if report.streams == 0 {
                bail!("no events match");
            }
            for b in &report.broken {
                println!("BROKEN {} {}: {}", b.aggregate_type, b.aggregate_id, b.link);
            }
            println!(
                "{} streams, {} events verified in {secs:.2} s ({:.0} events/s): {}",
                report.streams,
                report.events,
                report.events as f64 / secs.max(1e-9),
                if report.broken.is_empty() {
                    "every chain holds".to_owned()
                } else {
                    format!("{} broken", report.broken.len())
                }
            );
            if !report.broken.is_empty() {
                std::process::exit(1);
            }
            Ok(())
        }
        AuditCommand::Seal { database_url } => {
            let pool = platform::db::pool(&secrecy::SecretString::from(database_url), 2)?;
            let n = platform::store::seal_unsealed(&pool).await?;
            eprintln!("sealed {n} events written before the hash chain");
            Ok(())
        }
        AuditCommand::Check { file, jwks } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            let document: serde_json::Value =
                serde_json::from_str(&text).context("the export is not JSON")?;
            let keys: serde_json::Value = if jwks.starts_with("http://")
                || jwks.starts_with("https://")
            {
                reqwest::get(&jwks)
                    .await?
                    .error_for_status()?
                    .json()
                    .await?
            } else {
                serde_json::from_str(
                    &std::fs::read_to_string(&jwks).with_context(|| format!("reading {jwks}"))?,
                )
                .context("the JWKS is not JSON")?
            };
            match platform::evidence::check(&document, &keys) {
                Ok(c) => {
                    println!(
                        "OK {}: {} events, head {}, signed by key {}",
                        c.aggregate_id,
                        c.events,
                        c.head.as_deref().unwrap_or("-"),
                        c.kid
                    );
                    Ok(())
                }
                Err(e) => {
                    println!("FAILED {}: {e}", file.display());
                    std::process::exit(1);
                }
            }
        }
        AuditCommand::Keygen {
            out_dir,
            if_missing,
        } => {
            let key_path = out_dir.join("evidence-key.pem");
            if key_path.exists() {
                if if_missing {
                    eprintln!("keeping existing key {}", key_path.display());
                    return Ok(());
                }
                bail!("{} exists; move it away to rotate", key_path.display());
            }
            std::fs::create_dir_all(&out_dir)?;
            let kid = format!(
                "evidence-{}",
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            );
            let generated = platform::auth::generate_key(&kid)?;
            crate::token::write_private(&key_path, &generated.private_pem)?;
            std::fs::write(key_path.with_extension("kid"), &kid)?;
            let jwks = serde_json::json!({"keys": [generated.public_jwk]});
            std::fs::write(
                out_dir.join("jwks.json"),
                serde_json::to_string_pretty(&jwks)?,
            )?;
            eprintln!("wrote {} (kid {kid})", key_path.display());
            Ok(())
        }
    }
}
