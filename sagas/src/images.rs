//! Product images: turning a stored original into the renditions the catalog shows. The
//! upload's recognition ([`sniff`]) is in `domain`, the blob store in `platform`.
//!
//! The upload route answers at once: it [`sniff`]s the bytes (415 unless they are JPEG, PNG or
//! WebP, whatever the declared Content-Type), refuses more than [`MAX_IMAGE_BYTES`], stores the
//! original under [`BlobKey::original`] and announces the image. The image worker then calls
//! [`process_and_store`], which decodes the original under hard limits, writes a thumbnail and
//! a medium rendition and reports what it wrote; a [`ProcessError::Rejected`] is the final
//! `failed` status with its [`ImageRejection::code`] and [`ImageRejection::reason`].
//!
//! Renditions are lossless WebP ([`RENDITION_CONTENT_TYPE`]): the `image` crate encodes it with
//! no extra dependency, it is smaller than PNG at a fraction of the encoding time, keeps
//! transparency, and every browser the storefront supports shows it.

use std::fmt;
use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use domain::product::{recognise_refused_format, sniff, ImageFormat, MAX_IMAGE_BYTES};
use image::codecs::webp::WebPEncoder;
use image::imageops::{self, FilterType};
use image::metadata::Orientation;
use image::{
    DynamicImage, ExtendedColorType, ImageBuffer, ImageDecoder, ImageEncoder, ImageError,
    ImageReader, Limits, Pixel, RgbImage, RgbaImage,
};
use platform::blobs::{BlobKey, BlobStore, InvalidBlobKey, StoreError};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// The largest width or height decoded, in pixels. A header claiming more is refused before
/// any pixel memory is allocated.
pub const MAX_DIMENSION: u32 = 12_000;

/// The most memory the decoded pixels of one image may take (512 MiB). A 12,000 px square RGB
/// photo fits; a 16-bit RGBA image of the same size does not. Peak memory for one image is about
/// this plus the working copies (one 8-bit copy of the image and a float buffer of
/// `width x 800` pixels), so a worker should bound how many images it processes at once.
pub const MAX_DECODE_BYTES: u64 = 512 * 1024 * 1024;

/// The box a thumbnail fits in, in pixels.
pub const THUMBNAIL_BOX: u32 = 160;

/// The box a medium rendition fits in, in pixels.
pub const MEDIUM_BOX: u32 = 800;

/// The content type of every rendition: lossless WebP.
pub const RENDITION_CONTENT_TYPE: &str = "image/webp";

/// An embedded colour profile larger than this is dropped from the renditions (they are then
/// shown as sRGB) rather than weighing down every thumbnail.
const MAX_CARRIED_ICC_BYTES: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Formats and sniffing
// ---------------------------------------------------------------------------------------------

/// Where the rendition `kind` of image `image_id` of product `product_id` is stored:
/// `products/<product_id>/<image_id>/thumb.webp` or `.../medium.webp`.
///
/// # Errors
/// Never for the two kinds there are; a file name that broke a key's rules would.
pub fn rendition_key(
    product_id: Uuid,
    image_id: Uuid,
    kind: RenditionKind,
) -> Result<BlobKey, InvalidBlobKey> {
    BlobKey::derived(product_id, image_id, kind.file_name())
}

/// The `image` crate's name for an accepted format.
fn decoder_format(format: ImageFormat) -> image::ImageFormat {
    match format {
        ImageFormat::Png => image::ImageFormat::Png,
        ImageFormat::Jpeg => image::ImageFormat::Jpeg,
        ImageFormat::WebP => image::ImageFormat::WebP,
    }
}

// ---------------------------------------------------------------------------------------------
// Rejections
// ---------------------------------------------------------------------------------------------

/// Why an uploaded image cannot be shown. Every variant is final: the same bytes are refused the
/// same way on every try.
#[derive(Debug, thiserror::Error)]
pub enum ImageRejection {
    #[error("the file is empty")]
    Empty,
    #[error("the image has no pixels ({width}x{height})")]
    NoPixels { width: u32, height: u32 },
    #[error("the file is {len} bytes; at most {MAX_IMAGE_BYTES} bytes are accepted")]
    TooLarge { len: usize },
    #[error("the file is not a JPEG, PNG or WebP image")]
    NotAnImage,
    #[error("{detected} images are not accepted; upload a JPEG, PNG or WebP image")]
    UnsupportedFormat { detected: &'static str },
    #[error("this {format} image uses a feature that is not supported: {detail}")]
    UnsupportedFeature { format: ImageFormat, detail: String },
    #[error("the {format} file is damaged or incomplete: {detail}")]
    Corrupt { format: ImageFormat, detail: String },
    #[error(
        "the image is {width}x{height} pixels, too large to process (at most {MAX_DIMENSION} \
         pixels a side and {} MiB of decoded pixels)",
        MAX_DECODE_BYTES / (1024 * 1024)
    )]
    TooLargeDimensions { width: u32, height: u32 },
    #[error("the {format} image needs more memory to decode than is allowed: {detail}")]
    DecodeLimitExceeded { format: ImageFormat, detail: String },
    #[error("the {format} decoder failed on this file")]
    DecoderPanicked { format: ImageFormat },
    #[error("the image decoded but its renditions could not be encoded: {detail}")]
    RenditionFailed { detail: String },
}

impl ImageRejection {
    /// A stable machine-readable code for the image's `failed` status.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty | Self::NoPixels { .. } => "empty",
            Self::TooLarge { .. } => "too_large",
            Self::NotAnImage => "not_an_image",
            Self::UnsupportedFormat { .. } | Self::UnsupportedFeature { .. } => {
                "unsupported_format"
            }
            Self::Corrupt { .. } | Self::DecoderPanicked { .. } | Self::RenditionFailed { .. } => {
                "corrupt"
            }
            Self::TooLargeDimensions { .. } | Self::DecodeLimitExceeded { .. } => {
                "too_large_dimensions"
            }
        }
    }

    /// A sentence for the supplier saying what is wrong with the file.
    pub fn reason(&self) -> String {
        self.to_string()
    }

    fn from_decoding(format: ImageFormat, error: ImageError, dims: Option<(u32, u32)>) -> Self {
        match (error, dims) {
            (ImageError::Limits(_), Some((width, height))) => {
                Self::TooLargeDimensions { width, height }
            }
            (ImageError::Limits(limit), None) => Self::DecodeLimitExceeded {
                format,
                detail: limit.to_string(),
            },
            (ImageError::Unsupported(unsupported), _) => Self::UnsupportedFeature {
                format,
                detail: unsupported.to_string(),
            },
            (other, _) => Self::Corrupt {
                format,
                detail: other.to_string(),
            },
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Processing
// ---------------------------------------------------------------------------------------------

/// What was learnt about an original while processing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OriginalInfo {
    pub format: ImageFormat,
    /// Width as displayed, i.e. after applying the EXIF orientation (as the renditions are).
    pub width: u32,
    /// Height as displayed, i.e. after applying the EXIF orientation.
    pub height: u32,
    /// Size of the original file in bytes.
    pub byte_len: usize,
    /// SHA-256 of the original file, lower-case hex.
    pub sha256: String,
}

/// Which rendition of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RenditionKind {
    Thumbnail,
    Medium,
}

impl RenditionKind {
    /// The square box the rendition fits in.
    pub fn max_side(self) -> u32 {
        match self {
            Self::Thumbnail => THUMBNAIL_BOX,
            Self::Medium => MEDIUM_BOX,
        }
    }

    /// The last segment of the rendition's blob key.
    pub fn file_name(self) -> &'static str {
        match self {
            Self::Thumbnail => "thumb.webp",
            Self::Medium => "medium.webp",
        }
    }
}

/// One encoded rendition ([`RENDITION_CONTENT_TYPE`]).
#[derive(Clone, PartialEq, Eq)]
pub struct Rendition {
    pub bytes: Vec<u8>,
    pub width: u32,
    pub height: u32,
}

impl fmt::Debug for Rendition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Rendition")
            .field("bytes", &format_args!("<{} bytes>", self.bytes.len()))
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

/// The result of [`process`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Processed {
    pub original: OriginalInfo,
    pub thumbnail: Rendition,
    pub medium: Rendition,
}

impl Processed {
    /// The rendition of the given kind.
    pub fn rendition(&self, kind: RenditionKind) -> &Rendition {
        match kind {
            RenditionKind::Thumbnail => &self.thumbnail,
            RenditionKind::Medium => &self.medium,
        }
    }
}

/// Decodes `original` and renders its thumbnail ([`THUMBNAIL_BOX`]) and medium
/// ([`MEDIUM_BOX`]) renditions as lossless WebP: aspect ratio kept, never upscaled, EXIF
/// orientation applied, Lanczos3 resampling on premultiplied alpha (no dark fringes around
/// transparent edges), the embedded RGB colour profile carried over. An animated PNG or WebP
/// gives its first frame. Resampling works on the stored (sRGB-encoded) values, not linear light.
///
/// CPU-bound and synchronous (up to about a second for a large photo): call it from a blocking
/// thread, as [`process_and_store`] does.
///
/// # Errors
///
/// An [`ImageRejection`] when the bytes are not an accepted, decodable image within the size
/// limits. It never panics: a panic inside a decoder is caught and reported as
/// [`ImageRejection::DecoderPanicked`] (this relies on the default `panic = "unwind"`).
pub fn process(original: &[u8]) -> Result<Processed, ImageRejection> {
    if original.is_empty() {
        return Err(ImageRejection::Empty);
    }
    if original.len() > MAX_IMAGE_BYTES {
        return Err(ImageRejection::TooLarge {
            len: original.len(),
        });
    }
    let Some(format) = sniff(original) else {
        return Err(match recognise_refused_format(original) {
            Some(detected) => ImageRejection::UnsupportedFormat { detected },
            None => ImageRejection::NotAnImage,
        });
    };
    let sha256 = hex::encode(Sha256::digest(original));
    let (width, height, thumbnail, medium) =
        without_panics(format, || decode_and_render(original, format))?;

    Ok(Processed {
        original: OriginalInfo {
            format,
            width,
            height,
            byte_len: original.len(),
            sha256,
        },
        thumbnail,
        medium,
    })
}

/// The decoders are third-party parsers fed untrusted bytes: a bug in one must cost this image,
/// not the worker.
fn without_panics<T>(
    format: ImageFormat,
    work: impl FnOnce() -> Result<T, ImageRejection>,
) -> Result<T, ImageRejection> {
    catch_unwind(AssertUnwindSafe(work)).unwrap_or_else(|_| {
        tracing::warn!(format = format.as_str(), "image decoder panicked");
        Err(ImageRejection::DecoderPanicked { format })
    })
}

fn decode_and_render(
    bytes: &[u8],
    format: ImageFormat,
) -> Result<(u32, u32, Rendition, Rendition), ImageRejection> {
    let Decoded { image, icc_profile } = decode(bytes, format)?;
    let (width, height) = (image.width(), image.height());
    let medium_size = fit_within(width, height, MEDIUM_BOX);
    let thumbnail_size = fit_within(width, height, THUMBNAIL_BOX);

    let (thumbnail, medium) = match into_working_pixels(image) {
        WorkingPixels::Opaque(rgb) => {
            let (thumb, medium) = resample(rgb, medium_size, thumbnail_size);
            (
                encode_webp(&thumb, ExtendedColorType::Rgb8, icc_profile.as_deref())?,
                encode_webp(&medium, ExtendedColorType::Rgb8, icc_profile.as_deref())?,
            )
        }
        WorkingPixels::Translucent(premultiplied) => {
            let (mut thumb, mut medium) = resample(premultiplied, medium_size, thumbnail_size);
            unpremultiply(&mut thumb);
            unpremultiply(&mut medium);
            (
                encode_webp(&thumb, ExtendedColorType::Rgba8, icc_profile.as_deref())?,
                encode_webp(&medium, ExtendedColorType::Rgba8, icc_profile.as_deref())?,
            )
        }
    };
    Ok((width, height, thumbnail, medium))
}

struct Decoded {
    image: DynamicImage,
    icc_profile: Option<Vec<u8>>,
}

fn decode_limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_DIMENSION);
    limits.max_image_height = Some(MAX_DIMENSION);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

fn check_dimensions(width: u32, height: u32) -> Result<(), ImageRejection> {
    if width == 0 || height == 0 {
        return Err(ImageRejection::NoPixels { width, height });
    }
    if width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(ImageRejection::TooLargeDimensions { width, height });
    }
    Ok(())
}

/// The dimensions a PNG's IHDR claims. The PNG decoder refuses a bad header while it is being
/// built, before it can say what the header claimed; reading them here keeps the precise
/// rejections (`empty`, `too_large_dimensions`).
fn png_header_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let ihdr = bytes.get(8..24)?;
    if &ihdr[4..8] != b"IHDR" {
        return None;
    }
    let width = u32::from_be_bytes([ihdr[8], ihdr[9], ihdr[10], ihdr[11]]);
    let height = u32::from_be_bytes([ihdr[12], ihdr[13], ihdr[14], ihdr[15]]);
    Some((width, height))
}

fn decode(bytes: &[u8], format: ImageFormat) -> Result<Decoded, ImageRejection> {
    let mut header_dims = None;
    if format == ImageFormat::Png {
        header_dims = png_header_dimensions(bytes);
        if let Some((width, height)) = header_dims {
            check_dimensions(width, height)?;
        }
    }

    let mut reader = ImageReader::with_format(Cursor::new(bytes), decoder_format(format));
    if format == ImageFormat::Png {
        // The PNG decoder takes its limits when it is built (its header is checked above).
        reader.limits(decode_limits());
    } else {
        // The JPEG and WebP decoders only parse headers when built; the limits are set below,
        // once the dimensions are known, so a refusal can say what they were.
        reader.no_limits();
    }
    let mut decoder = reader
        .into_decoder()
        .map_err(|e| ImageRejection::from_decoding(format, e, header_dims))?;
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height)?;
    decoder
        .set_limits(decode_limits())
        .map_err(|e| ImageRejection::from_decoding(format, e, Some((width, height))))?;
    // Not every decoder enforces `max_alloc`, so the output buffer is checked here.
    if decoder.total_bytes() > MAX_DECODE_BYTES {
        return Err(ImageRejection::TooLargeDimensions { width, height });
    }
    // Metadata is a nicety: a damaged EXIF block or colour profile must not cost the image.
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let icc_profile = decoder
        .icc_profile()
        .ok()
        .flatten()
        .filter(|profile| is_carriable_rgb_profile(profile));

    let mut image = DynamicImage::from_decoder(decoder)
        .map_err(|e| ImageRejection::from_decoding(format, e, Some((width, height))))?;
    image.apply_orientation(orientation);
    Ok(Decoded { image, icc_profile })
}

/// Renditions are always RGB(A): only an RGB profile of reasonable size describes them. (A CMYK
/// JPEG's profile, for one, must not be attached to the RGB pixels it was converted to.)
fn is_carriable_rgb_profile(profile: &[u8]) -> bool {
    profile.len() <= MAX_CARRIED_ICC_BYTES && profile.get(16..20) == Some(b"RGB ".as_slice())
}

/// The largest size with the same aspect ratio that fits a `max_side` square, never larger than
/// the original and never zero.
fn fit_within(width: u32, height: u32, max_side: u32) -> (u32, u32) {
    if width <= max_side && height <= max_side {
        return (width, height);
    }
    let scaled = |side: u32, long: u32| -> u32 {
        let value = (u64::from(side) * u64::from(max_side) + u64::from(long) / 2) / u64::from(long);
        u32::try_from(value).unwrap_or(max_side).clamp(1, max_side)
    };
    if width >= height {
        (max_side, scaled(height, width))
    } else {
        (scaled(width, height), max_side)
    }
}

enum WorkingPixels {
    Opaque(RgbImage),
    /// Colour channels premultiplied by alpha, so resampling does not bleed the colour of
    /// invisible pixels into visible ones.
    Translucent(RgbaImage),
}

fn into_working_pixels(image: DynamicImage) -> WorkingPixels {
    if !image.color().has_alpha() {
        return WorkingPixels::Opaque(image.into_rgb8());
    }
    let mut rgba = image.into_rgba8();
    if rgba.pixels().all(|p| p[3] == u8::MAX) {
        // An alpha channel with nothing in it: drop it, the renditions get smaller.
        return WorkingPixels::Opaque(DynamicImage::ImageRgba8(rgba).into_rgb8());
    }
    for pixel in rgba.pixels_mut() {
        let alpha = u16::from(pixel[3]);
        for channel in &mut pixel.0[..3] {
            *channel = ((u16::from(*channel) * alpha + 127) / 255) as u8;
        }
    }
    WorkingPixels::Translucent(rgba)
}

fn unpremultiply(image: &mut RgbaImage) {
    for pixel in image.pixels_mut() {
        let alpha = u16::from(pixel[3]);
        for channel in &mut pixel.0[..3] {
            // Resampling can overshoot a little (a colour above its alpha): clamp. Invisible
            // pixels get black, which also compresses best.
            *channel = (u16::from(*channel) * 255 + alpha / 2)
                .checked_div(alpha)
                .map_or(0, |value| value.min(255) as u8);
        }
    }
}

/// Resamples the source to the medium size, then the medium to the thumbnail size: the second
/// pass reads at most 800x800 pixels instead of the whole original.
fn resample<P>(
    source: ImageBuffer<P, Vec<u8>>,
    medium_size: (u32, u32),
    thumbnail_size: (u32, u32),
) -> (ImageBuffer<P, Vec<u8>>, ImageBuffer<P, Vec<u8>>)
where
    P: Pixel<Subpixel = u8> + 'static,
{
    let medium = if source.dimensions() == medium_size {
        source
    } else {
        imageops::resize(&source, medium_size.0, medium_size.1, FilterType::Lanczos3)
    };
    let thumbnail = if medium.dimensions() == thumbnail_size {
        medium.clone()
    } else {
        imageops::resize(
            &medium,
            thumbnail_size.0,
            thumbnail_size.1,
            FilterType::Lanczos3,
        )
    };
    (thumbnail, medium)
}

fn encode_webp<P>(
    image: &ImageBuffer<P, Vec<u8>>,
    color: ExtendedColorType,
    icc_profile: Option<&[u8]>,
) -> Result<Rendition, ImageRejection>
where
    P: Pixel<Subpixel = u8>,
{
    let mut bytes = Vec::new();
    let mut encoder = WebPEncoder::new_lossless(&mut bytes);
    if let Some(profile) = icc_profile {
        // The WebP encoder accepts any profile; an error here would only cost the colours.
        let _ = encoder.set_icc_profile(profile.to_vec());
    }
    encoder
        .write_image(image.as_raw(), image.width(), image.height(), color)
        .map_err(|e| ImageRejection::RenditionFailed {
            detail: e.to_string(),
        })?;
    Ok(Rendition {
        bytes,
        width: image.width(),
        height: image.height(),
    })
}

// ---------------------------------------------------------------------------------------------
// Blob keys and stores
// ---------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------
// Processing against a store
// ---------------------------------------------------------------------------------------------

/// A rendition written to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRendition {
    pub key: BlobKey,
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub byte_len: usize,
}

/// What [`process_and_store`] wrote, and what it learnt about the original.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub original: OriginalInfo,
    pub thumbnail: StoredRendition,
    pub medium: StoredRendition,
}

/// Why [`process_and_store`] did not finish. [`ProcessError::is_retryable`] tells the worker
/// which branch to take.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The image is bad: final, the image becomes `failed` with the rejection's code and reason.
    #[error("the image was rejected")]
    Rejected(#[from] ImageRejection),
    /// Nothing is stored under the original's key. Final: the upload stores the original before
    /// it announces the image, so waiting will not make it appear.
    #[error("the original {0} is not in the blob store")]
    OriginalMissing(BlobKey),
    /// The store failed: transient, try again later. Renditions are written to fixed keys, so
    /// a retry overwrites whatever a failed attempt left.
    #[error("the blob store failed")]
    Storage(#[from] StoreError),
    /// The processing task was cancelled, as when the runtime shuts down: try again.
    #[error("image processing was interrupted")]
    Interrupted(#[source] tokio::task::JoinError),
    /// A rendition's key broke the store's rules: a defect, final.
    #[error("a rendition key is invalid")]
    InvalidKey(#[from] InvalidBlobKey),
}

impl ProcessError {
    /// `true` when trying the same image again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Self::Storage(_) | Self::Interrupted(_))
    }
}

/// Reads the original stored under `original_key`, processes it on a blocking thread and
/// writes its renditions under [`rendition_key`]. Idempotent: running it again for the same
/// image writes the same renditions to the same keys.
///
/// # Errors
///
/// See [`ProcessError`]; the caller logs it.
#[tracing::instrument(skip_all, fields(%product_id, %image_id))]
pub async fn process_and_store(
    store: &dyn BlobStore,
    product_id: Uuid,
    image_id: Uuid,
    original_key: &BlobKey,
) -> Result<Stored, ProcessError> {
    let original = store
        .get(original_key)
        .await?
        .ok_or_else(|| ProcessError::OriginalMissing(original_key.clone()))?;
    let processed = tokio::task::spawn_blocking(move || process(&original))
        .await
        .map_err(ProcessError::Interrupted)??;

    let Processed {
        original,
        thumbnail,
        medium,
    } = processed;
    let medium = put_rendition(store, product_id, image_id, RenditionKind::Medium, medium).await?;
    let thumbnail = put_rendition(
        store,
        product_id,
        image_id,
        RenditionKind::Thumbnail,
        thumbnail,
    )
    .await?;
    tracing::debug!(
        format = original.format.as_str(),
        width = original.width,
        height = original.height,
        thumbnail_bytes = thumbnail.byte_len,
        medium_bytes = medium.byte_len,
        "image renditions stored"
    );
    Ok(Stored {
        original,
        thumbnail,
        medium,
    })
}

async fn put_rendition(
    store: &dyn BlobStore,
    product_id: Uuid,
    image_id: Uuid,
    kind: RenditionKind,
    rendition: Rendition,
) -> Result<StoredRendition, ProcessError> {
    let key = rendition_key(product_id, image_id, kind)?;
    let Rendition {
        bytes,
        width,
        height,
    } = rendition;
    let byte_len = bytes.len();
    store.put(&key, bytes, RENDITION_CONTENT_TYPE).await?;
    Ok(StoredRendition {
        key,
        content_type: RENDITION_CONTENT_TYPE,
        width,
        height,
        byte_len,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_while_decoding_becomes_a_rejection() {
        let outcome: Result<(), _> = without_panics(ImageFormat::Jpeg, || {
            panic!("a decoder bug on hostile bytes")
        });
        assert!(matches!(
            outcome,
            Err(ImageRejection::DecoderPanicked {
                format: ImageFormat::Jpeg
            })
        ));
    }

    #[test]
    fn fit_within_keeps_the_aspect_ratio_and_never_upscales() {
        assert_eq!(fit_within(1200, 900, 800), (800, 600));
        assert_eq!(fit_within(900, 1200, 160), (120, 160));
        assert_eq!(fit_within(50, 40, 160), (50, 40));
        assert_eq!(fit_within(800, 800, 800), (800, 800));
        assert_eq!(fit_within(12_000, 1, 160), (160, 1));
        assert_eq!(fit_within(1, 12_000, 800), (1, 800));
    }

    #[test]
    fn premultiplying_and_back_keeps_opaque_pixels_and_clears_invisible_ones() {
        let mut image = RgbaImage::from_raw(
            3,
            1,
            vec![200, 100, 50, 255, 200, 100, 50, 0, 255, 255, 255, 128],
        )
        .expect("3x1 RGBA buffer");
        let WorkingPixels::Translucent(mut premultiplied) =
            into_working_pixels(DynamicImage::ImageRgba8(image.clone()))
        else {
            panic!("an image with transparent pixels stays translucent");
        };
        unpremultiply(&mut premultiplied);
        image.get_pixel_mut(1, 0).0 = [0, 0, 0, 0];
        assert_eq!(premultiplied, image);
    }

    #[test]
    fn an_alpha_channel_that_is_all_opaque_is_dropped() {
        let image = RgbaImage::from_pixel(4, 4, image::Rgba([1, 2, 3, 255]));
        assert!(matches!(
            into_working_pixels(DynamicImage::ImageRgba8(image)),
            WorkingPixels::Opaque(_)
        ));
    }

    #[test]
    fn only_rgb_colour_profiles_are_carried() {
        let mut profile = vec![0u8; 128];
        profile[16..20].copy_from_slice(b"RGB ");
        assert!(is_carriable_rgb_profile(&profile));
        profile[16..20].copy_from_slice(b"CMYK");
        assert!(!is_carriable_rgb_profile(&profile));
        assert!(!is_carriable_rgb_profile(b"short"));
    }

    #[test]
    fn rejection_codes_are_stable() {
        let format = ImageFormat::Png;
        let cases = [
            (ImageRejection::Empty, "empty"),
            (
                ImageRejection::NoPixels {
                    width: 0,
                    height: 3,
                },
                "empty",
            ),
            (ImageRejection::TooLarge { len: 1 }, "too_large"),
            (ImageRejection::NotAnImage, "not_an_image"),
            (
                ImageRejection::UnsupportedFormat { detected: "GIF" },
                "unsupported_format",
            ),
            (
                ImageRejection::UnsupportedFeature {
                    format,
                    detail: String::new(),
                },
                "unsupported_format",
            ),
            (
                ImageRejection::Corrupt {
                    format,
                    detail: String::new(),
                },
                "corrupt",
            ),
            (ImageRejection::DecoderPanicked { format }, "corrupt"),
            (
                ImageRejection::RenditionFailed {
                    detail: String::new(),
                },
                "corrupt",
            ),
            (
                ImageRejection::TooLargeDimensions {
                    width: 1,
                    height: 1,
                },
                "too_large_dimensions",
            ),
            (
                ImageRejection::DecodeLimitExceeded {
                    format,
                    detail: String::new(),
                },
                "too_large_dimensions",
            ),
        ];
        for (rejection, code) in cases {
            assert_eq!(rejection.code(), code, "{rejection:?}");
            assert!(!rejection.reason().is_empty());
        }
    }
}
