//! `freshline token ...`.

use anyhow::{bail, Context};
use clap::Subcommand;
use platform::auth::{self, Actor, Role};
use platform::config::defaults;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Generate an Ed25519 key pair: writes `signing-key.pem` (+ `.kid`) and adds the public
    /// key to `jwks.json` in the directory (old keys stay, so tokens they signed keep working
    /// until removed).
    Keygen {
        /// Where to write the files.
        #[arg(long, default_value = ".local/keys")]
        out_dir: PathBuf,
        /// Key id (default: `dev-<random>`).
        #[arg(long)]
        kid: Option<String>,
        /// Keep an existing signing key instead of failing.
        #[arg(long)]
        if_missing: bool,
    },
    /// Print a signed token for a person (`--role`) or a service (`--svc`).
    Mint {
        /// Subject (`sub`).
        #[arg(long)]
        sub: String,
        /// A person's role: admin, supplier, customer, rider.
        #[arg(long, conflicts_with = "svc", required_unless_present = "svc")]
        role: Option<Role>,
        /// A service identity: vendor, delivery, payment, sagas, notifier, ops, ...
        #[arg(long)]
        svc: Option<String>,
        /// Space-separated scopes (default: the role's or service's default scopes).
        #[arg(long)]
        scope: Option<String>,
        /// Lifetime: `90s`, `15m`, `12h`, `1d` (at most a day).
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: i64,
        /// The signing key.
        #[arg(long, env = "FRESHLINE_SIGNING_KEY", default_value = defaults::SIGNING_KEY_PATH)]
        key: PathBuf,
        /// Issuer (`iss`).
        #[arg(long, env = "FRESHLINE_AUTH_ISSUER", default_value = defaults::ISSUER)]
        issuer: String,
        /// Show a second factor (`acr`, `amr: ["pwd", "otp"]`), as after a login with a
        /// one-time password: what sensitive operations need.
        #[arg(long)]
        mfa: bool,
    },
    /// Print the JWKS (public keys) of the key directory.
    Jwks {
        /// The key directory.
        #[arg(long, default_value = ".local/keys")]
        dir: PathBuf,
    },
}

fn parse_ttl(s: &str) -> Result<i64, String> {
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: i64 = n
        .parse()
        .map_err(|_| format!("{s:?}: expected e.g. 90s, 15m, 12h, 1d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("{s:?}: unit must be s, m, h or d")),
    };
    // The services refuse longer-lived tokens (FRESHLINE_AUTH_MAX_TOKEN_LIFETIME_SECS).
    let max = platform::auth::DEFAULT_MAX_TOKEN_LIFETIME_SECS;
    if secs <= 0 || secs > max {
        return Err(format!(
            "ttl must be between 1 second and {} h (the longest a token is accepted)",
            max / 3600
        ));
    }
    Ok(secs)
}

fn kid_path(key: &Path) -> PathBuf {
    key.with_extension("kid")
}

pub fn run(cmd: TokenCommand) -> anyhow::Result<()> {
    match cmd {
        TokenCommand::Keygen {
            out_dir,
            kid,
            if_missing,
        } => {
            let key_path = out_dir.join("signing-key.pem");
            if key_path.exists() {
                if if_missing {
                    eprintln!("keeping existing key {}", key_path.display());
                    return Ok(());
                }
                bail!("{} exists; move it away to rotate", key_path.display());
            }
            std::fs::create_dir_all(&out_dir)?;
            let kid = kid.unwrap_or_else(|| {
                format!("dev-{}", &uuid::Uuid::new_v4().simple().to_string()[..8])
            });
            let generated = auth::generate_key(&kid)?;
            write_private(&key_path, &generated.private_pem)?;
            std::fs::write(kid_path(&key_path), &kid)?;
            let jwks_path = out_dir.join("jwks.json");
            let mut jwks = match std::fs::read_to_string(&jwks_path) {
                Ok(t) => serde_json::from_str::<serde_json::Value>(&t)
                    .with_context(|| format!("{} is not JSON", jwks_path.display()))?,
                Err(_) => serde_json::json!({"keys": []}),
            };
            jwks["keys"]
                .as_array_mut()
                .context("jwks.json has no keys array")?
                .push(generated.public_jwk);
            std::fs::write(&jwks_path, serde_json::to_string_pretty(&jwks)?)?;
            eprintln!(
                "wrote {} (kid {kid}) and added its public key to {}",
                key_path.display(),
                jwks_path.display()
            );
            Ok(())
        }
        TokenCommand::Mint {
            sub,
            role,
            svc,
            scope,
            ttl,
            key,
            issuer,
            mfa,
        } => {
            let pem = std::fs::read_to_string(&key).with_context(|| {
                format!("reading {} (run `freshline token keygen`)", key.display())
            })?;
            let kid = std::fs::read_to_string(kid_path(&key))
                .with_context(|| format!("reading {}", kid_path(&key).display()))?;
            let signer = auth::Signer::from_pem(kid.trim(), &pem)?;
            let actor = match (role, svc) {
                (Some(r), None) => Actor::Person(r),
                (None, Some(s)) if !s.trim().is_empty() => Actor::Service(s.trim().to_owned()),
                _ => bail!("give exactly one of --role and --svc"),
            };
            let defaults: Vec<&str> = match &actor {
                Actor::Person(r) => r.default_scopes().to_vec(),
                Actor::Service(s) => auth::service_default_scopes(s).to_vec(),
            };
            let scopes: Vec<&str> = match &scope {
                Some(s) => s.split_whitespace().collect(),
                None => defaults,
            };
            let mut claims = auth::claims(&sub, &actor, &scopes, ttl, &issuer);
            if mfa {
                claims = claims.with_second_factor();
            }
            println!("{}", signer.sign(&claims)?);
            Ok(())
        }
        TokenCommand::Jwks { dir } => {
            let text = std::fs::read_to_string(dir.join("jwks.json"))
                .with_context(|| format!("reading {}/jwks.json", dir.display()))?;
            let v: serde_json::Value = serde_json::from_str(&text)?;
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(())
        }
    }
}

pub fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(contents.as_bytes())?;
        Ok(())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, contents)?;
        Ok(())
    }
}
