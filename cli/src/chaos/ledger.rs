//! The chaos load's ledger: one JSON line per answer (or failure to get one), read back by
//! the invariant checks.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

/// What happened to one attempt of a command.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    /// `answered`, `server_error`, `unreachable` or `gave_up`.
    pub kind: String,
    /// The operation (`place_order`, ...).
    pub op: String,
    /// The request path.
    pub path: String,
    /// Its `Idempotency-Key` (`-` for uploads, idempotent by content).
    pub key: String,
    /// The replica it went to.
    #[serde(default)]
    pub api: String,
    /// The HTTP status (0: none).
    #[serde(default)]
    pub status: u16,
    /// The problem's `code`, if any.
    #[serde(default)]
    pub code: String,
    /// Whether a 5xx carried `Retry-After`.
    #[serde(default)]
    pub retry_after: bool,
    /// The aggregate an accepted command touched, and its version after.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub version: Option<i64>,
    /// Milliseconds since the epoch.
    pub at_ms: i64,
}

impl Entry {
    fn new(kind: &str, op: &str, path: &str, key: &str) -> Self {
        Self {
            kind: kind.into(),
            op: op.into(),
            path: path.into(),
            key: key.into(),
            api: String::new(),
            status: 0,
            code: String::new(),
            retry_after: false,
            id: None,
            version: None,
            at_ms: chrono::Utc::now().timestamp_millis(),
        }
    }

    pub fn gave_up(op: &str, path: &str, key: &str) -> Self {
        Self::new("gave_up", op, path, key)
    }

    pub fn unreachable(op: &str, path: &str, key: &str, api: &str, error: &str) -> Self {
        Self {
            api: api.into(),
            code: error.chars().take(200).collect(),
            ..Self::new("unreachable", op, path, key)
        }
    }

    pub fn server_error(
        op: &str,
        path: &str,
        key: &str,
        api: &str,
        status: u16,
        code: &str,
        retry_after: bool,
    ) -> Self {
        Self {
            api: api.into(),
            status,
            code: code.into(),
            retry_after,
            ..Self::new("server_error", op, path, key)
        }
    }

    pub fn answered(
        op: &str,
        path: &str,
        key: &str,
        api: &str,
        status: u16,
        code: &str,
        body: &Value,
    ) -> Self {
        Self {
            api: api.into(),
            status,
            code: code.into(),
            id: body["id"].as_str().map(str::to_owned),
            version: body["version"].as_i64(),
            ..Self::new("answered", op, path, key)
        }
    }

    /// A command the system took (2xx).
    pub fn accepted(&self) -> bool {
        self.kind == "answered" && (200..300).contains(&self.status)
    }
}

/// Appends entries to a file, from any task.
#[derive(Clone)]
pub struct Ledger {
    file: Arc<Mutex<std::io::BufWriter<std::fs::File>>>,
}

impl Ledger {
    /// Appends to `path` (created if missing).
    ///
    /// # Errors
    /// When the file cannot be opened.
    pub fn append_to(path: &Path) -> std::io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Self {
            file: Arc::new(Mutex::new(std::io::BufWriter::new(file))),
        })
    }

    pub fn write(&self, e: &Entry) {
        if let (Ok(mut f), Ok(line)) = (self.file.lock(), serde_json::to_string(e)) {
            let _ = writeln!(f, "{line}");
        }
    }

    /// Writes what is buffered.
    pub fn flush(&self) {
        if let Ok(mut f) = self.file.lock() {
            let _ = f.flush();
        }
    }
}

/// Every entry of the ledger at `path`.
///
/// # Errors
/// When it cannot be read or a line is not an entry.
pub fn read(path: &Path) -> anyhow::Result<Vec<Entry>> {
    let text = std::fs::read_to_string(path)?;
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Ok(serde_json::from_str(l)?))
        .collect()
}
