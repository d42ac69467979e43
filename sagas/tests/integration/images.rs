//! The image library: renditions from real images, rejections of bad ones, the local blob store
//! and the whole read-process-write path.

use std::path::Path;

use async_trait::async_trait;
use domain::product::{sniff, ImageFormat, MAX_IMAGE_BYTES};
use image::{GenericImageView, ImageDecoder, Rgba, RgbaImage};
use platform::blobs::{BlobKey, BlobStore, InvalidBlobKey, LocalDirStore, StoreError};
use proptest::prelude::*;
use sagas::images::{
    process, process_and_store, rendition_key, ImageRejection, ProcessError, Processed,
    RenditionKind, MAX_DIMENSION, MEDIUM_BOX, RENDITION_CONTENT_TYPE, THUMBNAIL_BOX,
};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::helpers::*;

fn rejection_code(bytes: &[u8]) -> &'static str {
    match process(bytes) {
        Ok(processed) => panic!("expected a rejection, got {processed:?}"),
        Err(rejection) => rejection.code(),
    }
}

/// Both renditions decode as WebP, have the sizes reported, fit their boxes, and keep the
/// original's aspect ratio to within rounding to whole pixels.
fn assert_renditions_fit(processed: &Processed) {
    let (width, height) = (processed.original.width, processed.original.height);
    for kind in [RenditionKind::Thumbnail, RenditionKind::Medium] {
        let rendition = processed.rendition(kind);
        let decoded = decode_webp(&rendition.bytes);
        assert_eq!(
            decoded.dimensions(),
            (rendition.width, rendition.height),
            "{kind:?}"
        );
        assert!(rendition.width <= kind.max_side() && rendition.height <= kind.max_side());
        assert!(
            rendition.width <= width && rendition.height <= height,
            "never upscaled"
        );
        assert!(
            rendition.width == kind.max_side()
                || rendition.height == kind.max_side()
                || (rendition.width, rendition.height) == (width, height),
            "{kind:?} uses its box"
        );
        // |w/h - W/H| within what rounding one side to a whole pixel can cost.
        let skew = (f64::from(rendition.width) * f64::from(height)
            - f64::from(rendition.height) * f64::from(width))
        .abs();
        let slack = f64::from(width.max(height));
        assert!(skew <= slack, "{kind:?} keeps the aspect ratio");
    }
}

#[test]
fn a_large_png_gets_a_thumbnail_and_a_medium_rendition_with_its_aspect_ratio() {
    let original = gradient_png(1200, 900);

    let processed = process(&original).expect("a good PNG");

    assert_eq!(processed.original.format, ImageFormat::Png);
    assert_eq!(
        (processed.original.width, processed.original.height),
        (1200, 900)
    );
    assert_eq!(processed.original.byte_len, original.len());
    assert_eq!(
        processed.original.sha256,
        hex::encode(Sha256::digest(&original))
    );
    assert_eq!(
        (processed.medium.width, processed.medium.height),
        (800, 600)
    );
    assert_eq!(
        (processed.thumbnail.width, processed.thumbnail.height),
        (160, 120)
    );
    assert_renditions_fit(&processed);

    // The picture is the same picture: red still grows to the right, green downwards.
    let medium = decode_webp(&processed.medium.bytes).into_rgb8();
    let (left, right) = (medium.get_pixel(10, 300), medium.get_pixel(790, 300));
    let (top, bottom) = (medium.get_pixel(400, 10), medium.get_pixel(400, 590));
    assert!(left[0] < 20 && right[0] > 235, "{left:?} {right:?}");
    assert!(top[1] < 20 && bottom[1] > 235, "{top:?} {bottom:?}");
}

#[test]
fn a_portrait_jpeg_gets_portrait_renditions() {
    let original = gradient_jpeg(900, 1200);

    let processed = process(&original).expect("a good JPEG");

    assert_eq!(processed.original.format, ImageFormat::Jpeg);
    assert_eq!(
        (processed.original.width, processed.original.height),
        (900, 1200)
    );
    assert_eq!(
        (processed.medium.width, processed.medium.height),
        (600, 800)
    );
    assert_eq!(
        (processed.thumbnail.width, processed.thumbnail.height),
        (120, 160)
    );
    assert_renditions_fit(&processed);
}

#[test]
fn a_webp_smaller_than_the_medium_box_keeps_its_size_there() {
    let original = gradient_webp(300, 200);

    let processed = process(&original).expect("a good WebP");

    assert_eq!(processed.original.format, ImageFormat::WebP);
    assert_eq!(
        (processed.medium.width, processed.medium.height),
        (300, 200)
    );
    assert_eq!(
        (processed.thumbnail.width, processed.thumbnail.height),
        (160, 107)
    );
    assert_renditions_fit(&processed);
}

#[test]
fn a_small_image_is_not_upscaled() {
    let original = gradient_png(50, 40);

    let processed = process(&original).expect("a good small PNG");

    assert_eq!((processed.medium.width, processed.medium.height), (50, 40));
    assert_eq!(
        (processed.thumbnail.width, processed.thumbnail.height),
        (50, 40)
    );
    assert_renditions_fit(&processed);
}

#[test]
fn a_one_pixel_line_stays_at_least_one_pixel_high() {
    let processed = process(&gradient_png(2000, 1)).expect("a 2000x1 PNG");

    assert_eq!((processed.medium.width, processed.medium.height), (800, 1));
    assert_eq!(
        (processed.thumbnail.width, processed.thumbnail.height),
        (160, 1)
    );
}

#[test]
fn transparency_is_kept_without_fringes_from_hidden_colours() {
    // A blue product on a transparent background whose invisible pixels happen to be magenta:
    // resampling must not let that magenta bleed into the product's edge.
    let blue = [40, 120, 200];
    let original = rgba_png(&RgbaImage::from_fn(1000, 400, |x, _| {
        if x < 500 {
            Rgba([255, 0, 255, 0])
        } else {
            Rgba([blue[0], blue[1], blue[2], 255])
        }
    }));

    let processed = process(&original).expect("a good RGBA PNG");

    for rendition in [&processed.thumbnail, &processed.medium] {
        let decoded = decode_webp(&rendition.bytes).into_rgba8();
        assert_eq!(decoded.get_pixel(0, 0)[3], 0, "the left stays transparent");
        assert_eq!(
            decoded.get_pixel(decoded.width() - 1, 0)[3],
            255,
            "the right stays opaque"
        );
        let edge = decoded
            .pixels()
            .filter(|p| (32..255).contains(&p[3]))
            .count();
        assert!(edge > 0, "the edge is soft");
        // Below alpha 32 a colour is too faint to matter and rounding dominates it.
        for pixel in decoded.pixels().filter(|p| p[3] >= 32) {
            for (channel, expected) in pixel.0[..3].iter().zip(blue) {
                assert!(
                    channel.abs_diff(expected) <= 8,
                    "a visible pixel took the hidden colour: {pixel:?}"
                );
            }
        }
    }
}

#[test]
fn the_exif_orientation_is_applied_to_the_renditions() {
    // 300x200 stored, "rotate 90 degrees clockwise" to show: the red left column goes on top.
    let mut stored = gradient(300, 200);
    for y in 0..200 {
        for x in 0..10 {
            stored.put_pixel(x, y, image::Rgb([255, 0, 0]));
        }
    }
    let original = png_with(&stored, Some(exif_orientation(6)), None);

    let processed = process(&original).expect("a PNG with EXIF orientation");

    assert_eq!(
        (processed.original.width, processed.original.height),
        (200, 300)
    );
    assert_eq!(
        (processed.medium.width, processed.medium.height),
        (200, 300)
    );
    assert_eq!(
        (processed.thumbnail.width, processed.thumbnail.height),
        (107, 160)
    );
    let medium = decode_webp(&processed.medium.bytes).into_rgb8();
    assert_eq!(medium.get_pixel(100, 2).0, [255, 0, 0]);
}

#[test]
fn an_rgb_colour_profile_is_carried_into_the_renditions() {
    let profile = fake_rgb_icc_profile();
    let original = png_with(&gradient(400, 300), None, Some(profile.clone()));

    let processed = process(&original).expect("a PNG with a colour profile");

    let mut decoder =
        image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&processed.medium.bytes))
            .expect("a WebP");
    assert_eq!(decoder.icc_profile().expect("readable"), Some(profile));
}

#[test]
fn an_empty_file_is_rejected_as_empty() {
    assert_eq!(rejection_code(b""), "empty");
}

#[test]
fn random_bytes_and_text_are_not_an_image() {
    assert_eq!(rejection_code(&noise(4096, 7)), "not_an_image");
    assert_eq!(
        rejection_code(b"<html><body>hello</body></html>"),
        "not_an_image"
    );
    assert_eq!(sniff(&noise(4096, 7)), None);
}

#[test]
fn gif_and_bmp_files_are_an_unsupported_format() {
    let mut gif = b"GIF89a".to_vec();
    gif.extend(noise(64, 1));
    let mut bmp = b"BM".to_vec();
    bmp.extend(noise(64, 2));

    for (bytes, name) in [(gif, "GIF"), (bmp, "BMP")] {
        assert_eq!(sniff(&bytes), None);
        let rejection = process(&bytes).expect_err("refused");
        assert_eq!(rejection.code(), "unsupported_format");
        assert!(rejection.reason().contains(name), "{}", rejection.reason());
    }
}

#[test]
fn a_png_header_followed_by_garbage_is_corrupt() {
    let mut bytes = PNG_SIGNATURE.to_vec();
    bytes.extend(noise(2048, 3));

    assert_eq!(sniff(&bytes), Some(ImageFormat::Png));
    assert_eq!(rejection_code(&bytes), "corrupt");
}

#[test]
fn a_truncated_png_is_corrupt() {
    let whole = gradient_png(400, 300);

    assert_eq!(rejection_code(&whole[..whole.len() / 2]), "corrupt");
    assert_eq!(rejection_code(&whole[..40]), "corrupt");
}

#[test]
fn a_png_with_valid_chunks_but_garbage_pixels_is_corrupt() {
    assert_eq!(
        rejection_code(&crafted_png(64, 64, 8, 2, &noise(500, 4))),
        "corrupt"
    );
}

#[test]
fn a_png_claiming_100000_pixels_a_side_is_refused_before_decoding() {
    let bomb = crafted_png(100_000, 100_000, 8, 6, &noise(64, 5));

    let rejection = process(&bomb).expect_err("a decompression bomb");

    assert_eq!(rejection.code(), "too_large_dimensions");
    assert!(matches!(
        rejection,
        ImageRejection::TooLargeDimensions {
            width: 100_000,
            height: 100_000
        }
    ));
}

#[test]
fn a_png_within_the_side_limit_but_too_many_bytes_to_decode_is_refused() {
    // 11,000 x 11,000 at 16-bit RGBA is 968 MB of pixels.
    let bomb = crafted_png(11_000, 11_000, 16, 6, &noise(64, 6));

    assert_eq!(rejection_code(&bomb), "too_large_dimensions");
}

#[test]
fn a_jpeg_claiming_65000_pixels_a_side_is_refused_before_decoding() {
    let mut jpeg = gradient_jpeg(16, 16);
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline JPEG has SOF0");
    // SOF0: marker, length (2), precision (1), height (2), width (2).
    jpeg[sof + 5..sof + 7].copy_from_slice(&65_000u16.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&65_000u16.to_be_bytes());

    let rejection = process(&jpeg).expect_err("a decompression bomb");

    assert_eq!(rejection.code(), "too_large_dimensions");
    assert!(matches!(
        rejection,
        ImageRejection::TooLargeDimensions {
            width: 65_000,
            height: 65_000
        }
    ));
}

#[test]
fn a_webp_claiming_16000_pixels_a_side_is_refused_before_decoding() {
    let mut webp = gradient_webp(16, 16);
    assert_eq!(&webp[12..16], b"VP8L", "a simple lossless WebP");
    // VP8L header after its 0x2f signature byte: 14 bits width - 1, 14 bits height - 1, then
    // alpha and version bits, little-endian.
    let header = u32::from_le_bytes([webp[21], webp[22], webp[23], webp[24]]);
    let patched = (header & !((1 << 28) - 1)) | (16_000 - 1) | ((16_000 - 1) << 14);
    webp[21..25].copy_from_slice(&patched.to_le_bytes());

    let rejection = process(&webp).expect_err("a decompression bomb");

    assert!(matches!(
        rejection,
        ImageRejection::TooLargeDimensions {
            width: 16_000,
            height: 16_000
        }
    ));
}

#[test]
fn a_png_with_zero_width_is_empty() {
    assert_eq!(rejection_code(&crafted_png(0, 10, 8, 2, &[])), "empty");
}

#[test]
fn a_file_over_10_mib_is_refused_without_decoding() {
    let mut bytes = PNG_SIGNATURE.to_vec();
    bytes.resize(MAX_IMAGE_BYTES + 1, 0);

    assert_eq!(rejection_code(&bytes), "too_large");
}

#[test]
fn the_dimension_limit_is_the_documented_one() {
    assert_eq!(MAX_DIMENSION, 12_000);
    assert_eq!(MAX_IMAGE_BYTES, 10 * 1024 * 1024);
    assert_eq!((THUMBNAIL_BOX, MEDIUM_BOX), (160, 800));
}

const KNOWN_CODES: [&str; 6] = [
    "empty",
    "too_large",
    "not_an_image",
    "unsupported_format",
    "corrupt",
    "too_large_dimensions",
];

/// Whatever the bytes: an answer, never a panic; a rejection with a known code, or renditions
/// that fit.
fn check_any_input(bytes: &[u8]) -> Result<(), TestCaseError> {
    match process(bytes) {
        Ok(processed) => {
            prop_assert!(processed.thumbnail.width <= THUMBNAIL_BOX);
            prop_assert!(processed.thumbnail.height <= THUMBNAIL_BOX);
            prop_assert!(processed.medium.width <= MEDIUM_BOX);
            prop_assert!(processed.medium.height <= MEDIUM_BOX);
        }
        Err(rejection) => {
            prop_assert!(KNOWN_CODES.contains(&rejection.code()), "{rejection:?}");
            prop_assert!(!rejection.reason().is_empty());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        check_any_input(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_behind_an_image_signature_never_panic(
        signature in prop_oneof![
            Just(PNG_SIGNATURE.to_vec()),
            Just(vec![0xFF, 0xD8, 0xFF]),
            Just(b"RIFF\0\0\0\0WEBPVP8L".to_vec()),
            Just(b"RIFF\0\0\0\0WEBPVP8 ".to_vec()),
        ],
        rest in proptest::collection::vec(any::<u8>(), 0..4096),
    ) {
        let mut bytes = signature;
        bytes.extend(rest);
        check_any_input(&bytes)?;
    }

    #[test]
    fn a_valid_png_header_over_arbitrary_pixel_data_never_panics(
        width in 0u32..3000,
        height in 0u32..3000,
        (bit_depth, color_type) in prop_oneof![
            Just((1u8, 0u8)), Just((8, 0)), Just((16, 0)), Just((8, 2)), Just((16, 2)),
            Just((4, 3)), Just((8, 3)), Just((8, 4)), Just((8, 6)), Just((16, 6)),
            (any::<u8>(), any::<u8>()),
        ],
        idat in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        check_any_input(&crafted_png(width, height, bit_depth, color_type, &idat))?;
    }

    #[test]
    fn a_real_image_cut_anywhere_never_panics(cut in 0usize..20_000, which in 0usize..3) {
        let whole = match which {
            0 => gradient_png(120, 90),
            1 => gradient_jpeg(120, 90),
            _ => gradient_webp(120, 90),
        };
        check_any_input(&whole[..cut.min(whole.len())])?;
    }
}

// ---------------------------------------------------------------------------------------------
// LocalDirStore
// ---------------------------------------------------------------------------------------------

fn files_under(root: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("readable dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap_or(&path);
                found.push(relative.display().to_string());
            }
        }
    }
    found.sort();
    found
}

#[tokio::test]
async fn local_dir_store_returns_what_was_put_and_none_for_unknown_keys() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalDirStore::new(dir.path().join("blobs"));
    let key = BlobKey::parse("products/p/i/original").expect("valid key");

    assert_eq!(store.get(&key).await.expect("readable"), None);
    store
        .put(&key, b"first".to_vec(), "image/png")
        .await
        .expect("written");
    assert_eq!(
        store.get(&key).await.expect("readable").as_deref(),
        Some(b"first".as_slice())
    );
    store
        .put(&key, b"second".to_vec(), "image/png")
        .await
        .expect("overwritten");
    assert_eq!(
        store.get(&key).await.expect("readable").as_deref(),
        Some(b"second".as_slice())
    );

    assert_eq!(
        store.path_of(&key),
        dir.path().join("blobs/products/p/i/original")
    );
    let files = files_under(dir.path());
    assert_eq!(
        files.len(),
        1,
        "no temporary file is left behind: {files:?}"
    );
    let missing = BlobKey::parse("products/p/i/original/deeper").expect("valid key");
    assert_eq!(store.get(&missing).await.expect("readable"), None);
}

#[tokio::test]
async fn local_dir_store_reports_a_write_it_cannot_make() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalDirStore::new(dir.path());
    let file = BlobKey::parse("products/p").expect("valid key");
    store
        .put(&file, b"a file".to_vec(), "text/plain")
        .await
        .expect("written");

    // "products/p" is a file, so nothing can go below it.
    let below = BlobKey::parse("products/p/original").expect("valid key");
    let error = store
        .put(&below, b"x".to_vec(), "image/png")
        .await
        .expect_err("cannot write under a file");

    assert!(
        matches!(error, StoreError::Io { op: "write", .. }),
        "{error:?}"
    );
}

#[test]
fn traversal_and_odd_keys_are_refused() {
    let refused = [
        ("", InvalidBlobKey::Empty),
        ("../etc/passwd", InvalidBlobKey::ParentReference),
        ("products/../../etc/passwd", InvalidBlobKey::ParentReference),
        ("products/..", InvalidBlobKey::ParentReference),
        ("/etc/passwd", InvalidBlobKey::Absolute),
        ("products\\p\\original", InvalidBlobKey::Backslash),
        ("..\\windows", InvalidBlobKey::ParentReference),
        ("products//original", InvalidBlobKey::EmptySegment),
        ("products/p/", InvalidBlobKey::EmptySegment),
        ("products/./original", InvalidBlobKey::HiddenSegment),
        ("products/.original.tmp", InvalidBlobKey::HiddenSegment),
        ("C:/windows", InvalidBlobKey::ForbiddenCharacter(':')),
        (
            "products/p i/original",
            InvalidBlobKey::ForbiddenCharacter(' '),
        ),
        (
            "products/p\0/original",
            InvalidBlobKey::ForbiddenCharacter('\0'),
        ),
        ("products/é", InvalidBlobKey::ForbiddenCharacter('é')),
    ];
    for (key, expected) in refused {
        assert_eq!(BlobKey::parse(key), Err(expected), "{key:?}");
    }
    assert!(matches!(
        BlobKey::parse("a/".repeat(600)),
        Err(InvalidBlobKey::TooLong { .. })
    ));

    let product_id = Uuid::new_v4();
    let image_id = Uuid::new_v4();
    for key in [
        BlobKey::original(product_id, image_id),
        rendition_key(product_id, image_id, RenditionKind::Thumbnail).expect("a valid key"),
        rendition_key(product_id, image_id, RenditionKind::Medium).expect("a valid key"),
    ] {
        assert_eq!(BlobKey::parse(key.as_str()), Ok(key.clone()), "{key}");
    }
    assert_eq!(
        rendition_key(product_id, image_id, RenditionKind::Thumbnail)
            .expect("a valid key")
            .as_str(),
        format!("products/{product_id}/{image_id}/thumb.webp")
    );
}

// ---------------------------------------------------------------------------------------------
// process_and_store
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn process_and_store_writes_both_renditions_next_to_the_original() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalDirStore::new(dir.path());
    let (product_id, image_id) = (Uuid::new_v4(), Uuid::new_v4());
    let original_key = BlobKey::original(product_id, image_id);
    let original = gradient_jpeg(1600, 1200);
    store
        .put(&original_key, original.clone(), "image/jpeg")
        .await
        .expect("original stored");

    let stored = process_and_store(&store, product_id, image_id, &original_key)
        .await
        .expect("processed and stored");

    assert_eq!(stored.original.format, ImageFormat::Jpeg);
    assert_eq!(
        (stored.original.width, stored.original.height),
        (1600, 1200)
    );
    assert_eq!(
        stored.original.sha256,
        hex::encode(Sha256::digest(&original))
    );
    for (rendition, kind, size) in [
        (&stored.thumbnail, RenditionKind::Thumbnail, (160, 120)),
        (&stored.medium, RenditionKind::Medium, (800, 600)),
    ] {
        assert_eq!(
            rendition.key,
            rendition_key(product_id, image_id, kind).expect("a valid key")
        );
        assert_eq!(rendition.content_type, RENDITION_CONTENT_TYPE);
        assert_eq!((rendition.width, rendition.height), size);
        let on_disk = std::fs::read(
            dir.path()
                .join("products")
                .join(product_id.to_string())
                .join(image_id.to_string())
                .join(kind.file_name()),
        )
        .expect("rendition file");
        assert_eq!(on_disk.len(), rendition.byte_len);
        assert_eq!(decode_webp(&on_disk).dimensions(), size);
    }

    // Again, as a retrying worker would: same keys, same result.
    let again = process_and_store(&store, product_id, image_id, &original_key)
        .await
        .expect("idempotent");
    assert_eq!(again, stored);
    assert_eq!(files_under(dir.path()).len(), 3);
}

#[tokio::test]
async fn a_bad_original_is_rejected_for_good_and_leaves_no_renditions() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalDirStore::new(dir.path());
    let (product_id, image_id) = (Uuid::new_v4(), Uuid::new_v4());
    let original_key = BlobKey::original(product_id, image_id);
    let truncated = gradient_png(400, 300)[..200].to_vec();
    store
        .put(&original_key, truncated, "image/png")
        .await
        .expect("original stored");

    let error = process_and_store(&store, product_id, image_id, &original_key)
        .await
        .expect_err("a truncated PNG");

    let ProcessError::Rejected(rejection) = &error else {
        panic!("expected a rejection, got {error:?}");
    };
    assert_eq!(rejection.code(), "corrupt");
    assert!(!error.is_retryable());
    assert_eq!(files_under(dir.path()).len(), 1, "only the original");
}

#[tokio::test]
async fn a_missing_original_is_reported_as_such() {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = LocalDirStore::new(dir.path());
    let (product_id, image_id) = (Uuid::new_v4(), Uuid::new_v4());
    let original_key = BlobKey::original(product_id, image_id);

    let error = process_and_store(&store, product_id, image_id, &original_key)
        .await
        .expect_err("nothing stored");

    assert!(matches!(&error, ProcessError::OriginalMissing(key) if *key == original_key));
    assert!(!error.is_retryable());
}

/// Reads from a real store, refuses every write.
#[derive(Debug)]
struct ReadOnlyStore(LocalDirStore);

#[async_trait]
impl BlobStore for ReadOnlyStore {
    async fn put(
        &self,
        key: &BlobKey,
        _bytes: Vec<u8>,
        _content_type: &str,
    ) -> Result<(), StoreError> {
        Err(StoreError::Backend {
            key: key.clone(),
            source: "the bucket is read-only today".into(),
        })
    }

    async fn get(&self, key: &BlobKey) -> Result<Option<Vec<u8>>, StoreError> {
        self.0.get(key).await
    }

    async fn delete(&self, key: &BlobKey) -> Result<(), StoreError> {
        Err(StoreError::Backend {
            key: key.clone(),
            source: "the bucket is read-only today".into(),
        })
    }
}

#[tokio::test]
async fn a_store_that_fails_to_write_is_a_retryable_storage_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let local = LocalDirStore::new(dir.path());
    let (product_id, image_id) = (Uuid::new_v4(), Uuid::new_v4());
    let original_key = BlobKey::original(product_id, image_id);
    local
        .put(&original_key, gradient_png(200, 100), "image/png")
        .await
        .expect("original stored");

    let error = process_and_store(&ReadOnlyStore(local), product_id, image_id, &original_key)
        .await
        .expect_err("writes fail");

    assert!(matches!(
        error,
        ProcessError::Storage(StoreError::Backend { .. })
    ));
    assert!(error.is_retryable());
}
