//! The blob store: originals and renditions of product images, kept outside the database
//! under validated keys. [`LocalDirStore`] serves local runs and tests; an object store
//! implements the same [`BlobStore`] trait.

use async_trait::async_trait;
use std::fmt;
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;
use uuid::Uuid;

/// A key in a [`BlobStore`]: `/`-separated segments of ASCII letters, digits, `-`, `_` and `.`,
/// none empty, none starting with `.` (so no `.` or `..` segment, and no clash with a store's
/// temporary files), no `..` anywhere, at most 1,024 bytes. Such a key is a safe relative path
/// on any file system and a valid S3 object key.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobKey(String);

/// Why a string is not a [`BlobKey`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidBlobKey {
    #[error("a blob key cannot be empty")]
    Empty,
    #[error("a blob key is at most {max} bytes, this one is {len}")]
    TooLong { len: usize, max: usize },
    #[error("a blob key is relative: it cannot start with '/'")]
    Absolute,
    #[error("a blob key cannot contain '..'")]
    ParentReference,
    #[error("a blob key cannot contain a backslash")]
    Backslash,
    #[error("a blob key cannot have an empty segment ('//' or a trailing '/')")]
    EmptySegment,
    #[error("a blob key segment cannot start with '.'")]
    HiddenSegment,
    #[error("a blob key cannot contain {0:?}")]
    ForbiddenCharacter(char),
}

impl BlobKey {
    const MAX_LEN: usize = 1024;

    /// Validates `key`.
    ///
    /// # Errors
    ///
    /// [`InvalidBlobKey`] says which rule the key breaks.
    pub fn parse(key: impl Into<String>) -> Result<Self, InvalidBlobKey> {
        let key = key.into();
        if key.is_empty() {
            return Err(InvalidBlobKey::Empty);
        }
        if key.len() > Self::MAX_LEN {
            return Err(InvalidBlobKey::TooLong {
                len: key.len(),
                max: Self::MAX_LEN,
            });
        }
        if key.starts_with('/') {
            return Err(InvalidBlobKey::Absolute);
        }
        if key.contains("..") {
            return Err(InvalidBlobKey::ParentReference);
        }
        if key.contains('\\') {
            return Err(InvalidBlobKey::Backslash);
        }
        if let Some(c) = key
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/')))
        {
            return Err(InvalidBlobKey::ForbiddenCharacter(c));
        }
        for segment in key.split('/') {
            if segment.is_empty() {
                return Err(InvalidBlobKey::EmptySegment);
            }
            if segment.starts_with('.') {
                return Err(InvalidBlobKey::HiddenSegment);
            }
        }
        Ok(Self(key))
    }

    /// `products/<product_id>/<image_id>/original`: where the upload stores the file as sent.
    pub fn original(product_id: Uuid, image_id: Uuid) -> Self {
        Self(format!("products/{product_id}/{image_id}/original"))
    }

    /// `products/<product_id>/<image_id>/<file>`: a file made from that upload (`file` is a
    /// fixed name such as `thumb.webp`).
    ///
    /// # Errors
    /// [`InvalidBlobKey`] if `file` breaks a key's rules.
    pub fn derived(product_id: Uuid, image_id: Uuid, file: &str) -> Result<Self, InvalidBlobKey> {
        Self::parse(format!("products/{product_id}/{image_id}/{file}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for BlobKey {
    type Error = InvalidBlobKey;

    fn try_from(key: String) -> Result<Self, Self::Error> {
        Self::parse(key)
    }
}

impl TryFrom<&str> for BlobKey {
    type Error = InvalidBlobKey;

    fn try_from(key: &str) -> Result<Self, Self::Error> {
        Self::parse(key)
    }
}

impl AsRef<str> for BlobKey {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A store failure. Always worth retrying: the bytes were fine, the store was not.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store has no room for the bytes (its disk's free-space reserve, or the disk or its
    /// quota is full). Worth retrying later; answered `507`.
    #[error("the blob store at {root} is full (writing {key})")]
    Full { key: BlobKey, root: PathBuf },
    #[error("could not {op} blob {key} in {root}")]
    Io {
        op: &'static str,
        key: BlobKey,
        root: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the blob store failed on {key}")]
    Backend {
        key: BlobKey,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

/// Where originals and renditions are kept. [`LocalDirStore`] serves local runs and tests; an
/// S3-style object store implements the same two calls (`PutObject` with the content type,
/// `GetObject` with "no such key" as `Ok(None)`), reporting its failures as
/// [`StoreError::Backend`].
#[async_trait]
pub trait BlobStore: Send + Sync {
    /// Stores `bytes` under `key`, replacing what was there. Readers see the old bytes or the
    /// new ones, never a partial write.
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Vec<u8>,
        content_type: &str,
    ) -> Result<(), StoreError>;

    /// The bytes under `key`, or `None` if nothing is stored there.
    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, StoreError>;

    /// Removes what is under `key` (nothing stored there is not an error).
    async fn delete(&self, key: &BlobKey) -> Result<(), StoreError>;
}

impl StoreError {
    /// Whether the store is out of room (rather than failing).
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full { .. })
    }
}

/// A [`BlobStore`] in a directory: the key is the path below `root`. Writes go to a temporary
/// file next to the target, are flushed to disk, then renamed over it. The content type is not
/// kept: it follows from the key (an original's format is sniffed again when it is read).
///
/// A write that would leave less than [`LocalDirStore::with_min_free`] bytes free on the
/// store's file system is refused as [`StoreError::Full`], as is one the disk or its quota
/// refuses (`ENOSPC`, `EDQUOT`): uploads never take the room PostgreSQL's WAL needs when they
/// share a disk.
#[derive(Debug, Clone)]
pub struct LocalDirStore {
    root: PathBuf,
    min_free_bytes: u64,
}

/// Where a service keeps blobs, from `FRESHLINE_*` variables.
#[derive(Debug, Clone)]
pub struct BlobSettings {
    /// `FRESHLINE_BLOB_DIR`: where originals and renditions are stored.
    pub dir: String,
    /// `FRESHLINE_BLOB_MIN_FREE_BYTES`: free space a write must leave on the store's disk.
    pub min_free_bytes: u64,
    /// `FRESHLINE_IMAGE_KEEP_ORIGINALS`: keep an upload's original once it is processed
    /// (by default it is deleted: the renditions are what the catalog serves).
    pub keep_originals: bool,
}

impl BlobSettings {
    /// Reads the environment.
    ///
    /// # Errors
    /// When a variable is set to something invalid.
    pub fn from_env() -> Result<Self, crate::config::ConfigError> {
        use crate::config;
        Ok(Self {
            dir: config::string("FRESHLINE_BLOB_DIR", config::defaults::BLOB_DIR),
            min_free_bytes: config::parse("FRESHLINE_BLOB_MIN_FREE_BYTES", DEFAULT_MIN_FREE_BYTES)?,
            keep_originals: config::parse("FRESHLINE_IMAGE_KEEP_ORIGINALS", false)?,
        })
    }

    /// The store these settings name.
    pub fn store(&self) -> LocalDirStore {
        LocalDirStore::new(&self.dir).with_min_free(self.min_free_bytes)
    }
}

/// [`LocalDirStore::with_min_free`] by default: 1 GiB.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 1 << 30;

impl LocalDirStore {
    /// A store rooted at `root`, created on the first write if missing.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            min_free_bytes: DEFAULT_MIN_FREE_BYTES,
        }
    }

    /// The same store keeping at least `bytes` free on its file system.
    #[must_use]
    pub fn with_min_free(mut self, bytes: u64) -> Self {
        self.min_free_bytes = bytes;
        self
    }

    /// Bytes an unprivileged writer may still use on the store's file system (of `root`, or
    /// of its nearest existing parent before the first write).
    fn available(&self) -> std::io::Result<u64> {
        let mut dir = self.root.as_path();
        loop {
            match rustix::fs::statvfs(dir) {
                Ok(s) => return Ok(s.f_bavail.saturating_mul(s.f_frsize)),
                Err(rustix::io::Errno::NOENT) => match dir.parent() {
                    Some(parent) if !parent.as_os_str().is_empty() => dir = parent,
                    _ => {
                        return rustix::fs::statvfs(".")
                            .map(|s| s.f_bavail.saturating_mul(s.f_frsize))
                            .map_err(Into::into)
                    }
                },
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn full(&self, key: &BlobKey) -> StoreError {
        StoreError::Full {
            key: key.clone(),
            root: self.root.clone(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The file holding `key`. [`BlobKey`]'s rules keep it inside `root`.
    pub fn path_of(&self, key: &BlobKey) -> PathBuf {
        key.as_str()
            .split('/')
            .fold(self.root.clone(), |path, segment| path.join(segment))
    }

    fn io_error(&self, op: &'static str, key: &BlobKey, source: std::io::Error) -> StoreError {
        StoreError::Io {
            op,
            key: key.clone(),
            root: self.root.clone(),
            source,
        }
    }

    async fn write_atomically(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a blob path has a parent directory and a file name",
            ));
        };
        tokio::fs::create_dir_all(dir).await?;
        let mut temp_name = std::ffi::OsString::from(".");
        temp_name.push(name);
        temp_name.push(format!(".{}.tmp", Uuid::new_v4().simple()));
        let temp = dir.join(temp_name);

        let written = async {
            let mut file = tokio::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&temp)
                .await?;
            file.write_all(bytes).await?;
            file.sync_all().await?;
            drop(file);
            tokio::fs::rename(&temp, path).await
        }
        .await;
        if let Err(error) = written {
            // Best effort: the write already failed, a leftover temp file is only clutter.
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(error);
        }
        sync_dir(dir).await
    }
}

/// Makes the rename itself durable.
#[cfg(unix)]
async fn sync_dir(dir: &Path) -> std::io::Result<()> {
    tokio::fs::File::open(dir).await?.sync_all().await
}

#[cfg(not(unix))]
async fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    Ok(())
}

#[async_trait]
impl BlobStore for LocalDirStore {
    async fn put(
        &self,
        key: &BlobKey,
        bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        let available = self
            .available()
            .map_err(|e| self.io_error("measure free space for", key, e))?;
        if available < self.min_free_bytes.saturating_add(bytes.len() as u64) {
            return Err(self.full(key));
        }
        self.write_atomically(&self.path_of(key), &bytes)
            .await
            .map_err(|e| {
                // ENOSPC, EDQUOT: the disk or the directory's quota is full.
                if matches!(e.raw_os_error(), Some(28 | 122))
                    || e.kind() == std::io::ErrorKind::StorageFull
                {
                    self.full(key)
                } else {
                    self.io_error("write", key, e)
                }
            })
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        match tokio::fs::remove_file(self.path_of(key)).await {
            Ok(()) => Ok(()),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(())
            }
            Err(e) => Err(self.io_error("delete", key, e)),
        }
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, StoreError> {
        match tokio::fs::read(self.path_of(key)).await {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory
                ) =>
            {
                Ok(None)
            }
            Err(e) => Err(self.io_error("read", key, e)),
        }
    }
}
