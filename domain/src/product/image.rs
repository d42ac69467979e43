//! Value types of product images: what an upload is (type, size, digest, where the original is
//! stored) and what processing made of it (renditions).

use crate::catalog_values::wire_enum;
use crate::values::ValueError;
use serde::{Deserialize, Serialize};
use std::fmt;

wire_enum!(
    /// The image formats the catalog accepts.
    ImageContentType {
        /// JPEG.
        Jpeg => "image/jpeg",
        /// PNG.
        Png => "image/png",
        /// WebP.
        Webp => "image/webp",
    }
);

/// The size of an uploaded original: 1 byte to [`ImageByteSize::MAX`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ImageByteSize(u64);

impl ImageByteSize {
    /// The largest original accepted: 10 MiB.
    pub const MAX: u64 = 10 * 1024 * 1024;

    /// The size in bytes.
    pub fn get(self) -> u64 {
        self.0
    }

    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(n: u64) -> Self {
        Self(n)
    }
}

impl TryFrom<u64> for ImageByteSize {
    type Error = ValueError;
    fn try_from(n: u64) -> Result<Self, ValueError> {
        if (1..=Self::MAX).contains(&n) {
            Ok(Self(n))
        } else {
            Err(ValueError::Format {
                expected: "an image of 1 byte to 10 MiB",
            })
        }
    }
}

/// A SHA-256 digest as 64 hex digits, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Sha256Digest(String);

impl Sha256Digest {
    /// The digest in lower-case hex.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(s: String) -> Self {
        Self(s)
    }
}

impl TryFrom<&str> for Sha256Digest {
    type Error = ValueError;
    fn try_from(raw: &str) -> Result<Self, ValueError> {
        let s = raw.trim();
        if s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(ValueError::Format {
                expected: "a SHA-256 digest: 64 hex digits",
            })
        }
    }
}

/// Where a file is kept in object storage: 1 to 512 of `A-Z a-z 0-9 / . _ -`, not starting
/// with `/` and without `..` segments or empty segments.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct StorageKey(String);

impl StorageKey {
    /// The key.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(s: String) -> Self {
        Self(s)
    }
}

impl TryFrom<&str> for StorageKey {
    type Error = ValueError;
    fn try_from(raw: &str) -> Result<Self, ValueError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(ValueError::Empty);
        }
        if s.len() > 512 {
            return Err(ValueError::TooLong { max: 512 });
        }
        let chars_ok = s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'));
        let segments_ok = s.split('/').all(|seg| !seg.is_empty() && seg != "..");
        if chars_ok && segments_ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(ValueError::Format {
                expected:
                    "a storage key: segments of letters, digits, '.', '_' and '-' joined by '/'",
            })
        }
    }
}

impl fmt::Display for StorageKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One stored rendition of an image: its key and pixel size (each side 1 to
/// [`Rendition::MAX_SIDE`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rendition {
    key: StorageKey,
    width: u32,
    height: u32,
}

impl Rendition {
    /// The longest side accepted, in pixels.
    pub const MAX_SIDE: u32 = 20_000;

    /// A rendition stored under `key`, `width` x `height` pixels.
    ///
    /// # Errors
    /// [`ValueError::Format`] when a side is 0 or above [`Rendition::MAX_SIDE`].
    pub fn new(key: StorageKey, width: u32, height: u32) -> Result<Self, ValueError> {
        let side = 1..=Self::MAX_SIDE;
        if side.contains(&width) && side.contains(&height) {
            Ok(Self { key, width, height })
        } else {
            Err(ValueError::Format {
                expected: "width and height of 1 to 20000 pixels",
            })
        }
    }

    /// Where it is stored.
    pub fn key(&self) -> &StorageKey {
        &self.key
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Wraps a value read back from a stored event, which was valid when recorded.
    pub(crate) fn trusted(key: String, width: u32, height: u32) -> Self {
        Self {
            key: StorageKey::trusted(key),
            width,
            height,
        }
    }
}

// --- recognising an upload -------------------------------------------------------------------

/// The largest original accepted, in bytes (as a length).
pub const MAX_IMAGE_BYTES: usize = ImageByteSize::MAX as usize;

/// An image format the catalog accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ImageFormat {
    Png,
    Jpeg,
    WebP,
}

impl ImageFormat {
    /// The MIME type of this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::WebP => "image/webp",
        }
    }

    /// A stable lower-case name, for events and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpeg",
            Self::WebP => "webp",
        }
    }
}

impl fmt::Display for ImageFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Png => "PNG",
            Self::Jpeg => "JPEG",
            Self::WebP => "WebP",
        })
    }
}

const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// The accepted format of `bytes`, judged from their magic bytes alone (the declared
/// Content-Type and file name are not trusted). `None` means the upload is answered 415.
///
/// A match says only that the file starts like such an image; the image worker finds out
/// whether the rest of it decodes.
pub fn sniff(bytes: &[u8]) -> Option<ImageFormat> {
    if bytes.starts_with(PNG_SIGNATURE) {
        Some(ImageFormat::Png)
    } else if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        Some(ImageFormat::Jpeg)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some(ImageFormat::WebP)
    } else {
        None
    }
}

/// Other image formats people upload, recognised only to give a better reason than "not an
/// image".
pub fn recognise_refused_format(bytes: &[u8]) -> Option<&'static str> {
    const ISO_BMFF_HEIF_BRANDS: [&[u8]; 6] = [b"heic", b"heix", b"hevc", b"hevx", b"mif1", b"msf1"];
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        Some("GIF")
    } else if bytes.starts_with(b"BM") && bytes.len() >= 14 {
        Some("BMP")
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Some("TIFF")
    } else if bytes.starts_with(&[0xFF, 0x0A]) || bytes.starts_with(b"\0\0\0\x0cJXL \r\n\x87\n") {
        Some("JPEG XL")
    } else if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        if brand == b"avif" || brand == b"avis" {
            Some("AVIF")
        } else if ISO_BMFF_HEIF_BRANDS.contains(&brand) {
            Some("HEIC")
        } else {
            None
        }
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniff_knows_the_three_accepted_signatures_and_nothing_else() {
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\nrest"), Some(ImageFormat::Png));
        assert_eq!(sniff(&[0xFF, 0xD8, 0xFF, 0xE0]), Some(ImageFormat::Jpeg));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WEBPVP8L"), Some(ImageFormat::WebP));
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVEfmt "), None);
        assert_eq!(sniff(b"\x89PNG"), None);
        assert_eq!(sniff(b"GIF89a"), None);
        assert_eq!(sniff(b""), None);
    }

    #[test]
    fn only_jpeg_png_and_webp_up_to_ten_mebibytes_are_accepted() {
        assert_eq!(
            ImageContentType::try_from("image/webp"),
            Ok(ImageContentType::Webp)
        );
        assert!(ImageContentType::try_from("image/gif").is_err());
        assert!(ImageByteSize::try_from(0).is_err());
        assert!(ImageByteSize::try_from(10 * 1024 * 1024).is_ok());
        assert!(ImageByteSize::try_from(10 * 1024 * 1024 + 1).is_err());
    }

    #[test]
    fn digests_are_64_hex_digits_stored_lower_case() {
        let d = Sha256Digest::try_from(
            "9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08",
        )
        .expect("valid");
        assert!(d.as_str().starts_with("9f86d0"));
        assert!(Sha256Digest::try_from("abc").is_err());
        assert!(Sha256Digest::try_from("g".repeat(64).as_str()).is_err());
    }

    #[test]
    fn storage_keys_cannot_climb_out_of_their_prefix() {
        assert!(StorageKey::try_from("products/p1/images/i1/original").is_ok());
        for bad in ["", "/abs", "a/../b", "a//b", "a b", "a/b/", "ä"] {
            assert!(StorageKey::try_from(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn renditions_have_a_real_size() {
        let key = StorageKey::try_from("t.webp").expect("valid");
        assert!(Rendition::new(key.clone(), 200, 150).is_ok());
        assert!(Rendition::new(key.clone(), 0, 150).is_err());
        assert!(Rendition::new(key, 200, 20_001).is_err());
    }
}
