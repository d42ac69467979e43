//! Test inputs made on the spot: real images encoded with the `image` crate, and hand-built
//! PNG files whose headers say whatever a test needs.

use std::io::Cursor;

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, ExtendedColorType, ImageEncoder, RgbImage, RgbaImage};

/// A smooth RGB gradient: red grows left to right, green top to bottom.
pub fn gradient(width: u32, height: u32) -> RgbImage {
    let ramp = |at: u32, len: u32| (at * 255 / len.saturating_sub(1).max(1)) as u8;
    RgbImage::from_fn(width, height, |x, y| {
        image::Rgb([ramp(x, width), ramp(y, height), 96])
    })
}

pub fn png_of(image: &DynamicImage) -> Vec<u8> {
    let mut out = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut out), image::ImageFormat::Png)
        .expect("encode PNG");
    out
}

pub fn gradient_png(width: u32, height: u32) -> Vec<u8> {
    png_of(&DynamicImage::ImageRgb8(gradient(width, height)))
}

pub fn gradient_jpeg(width: u32, height: u32) -> Vec<u8> {
    let image = gradient(width, height);
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 85)
        .write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8)
        .expect("encode JPEG");
    out
}

pub fn gradient_webp(width: u32, height: u32) -> Vec<u8> {
    let image = gradient(width, height);
    let mut out = Vec::new();
    WebPEncoder::new_lossless(&mut out)
        .write_image(image.as_raw(), width, height, ExtendedColorType::Rgb8)
        .expect("encode WebP");
    out
}

/// A PNG whose encoder was given extra metadata.
pub fn png_with(image: &RgbImage, exif: Option<Vec<u8>>, icc: Option<Vec<u8>>) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = PngEncoder::new(&mut out);
    if let Some(exif) = exif {
        encoder.set_exif_metadata(exif).expect("PNG takes EXIF");
    }
    if let Some(icc) = icc {
        encoder.set_icc_profile(icc).expect("PNG takes ICC");
    }
    encoder
        .write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
        .expect("encode PNG");
    out
}

pub fn rgba_png(image: &RgbaImage) -> Vec<u8> {
    png_of(&DynamicImage::ImageRgba8(image.clone()))
}

/// A big-endian TIFF block with one entry: Orientation = `value`.
pub fn exif_orientation(value: u16) -> Vec<u8> {
    let mut exif = b"MM\0*".to_vec();
    exif.extend_from_slice(&8u32.to_be_bytes()); // first IFD right after the header
    exif.extend_from_slice(&1u16.to_be_bytes()); // one entry
    exif.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    exif.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    exif.extend_from_slice(&1u32.to_be_bytes()); // one value
    exif.extend_from_slice(&value.to_be_bytes());
    exif.extend_from_slice(&[0, 0]); // value padding
    exif.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    exif
}

/// A made-up ICC profile that declares RGB data, enough for a decoder to hand it back.
pub fn fake_rgb_icc_profile() -> Vec<u8> {
    let mut profile = vec![0u8; 132];
    profile[0..4].copy_from_slice(&132u32.to_be_bytes());
    profile[12..16].copy_from_slice(b"mntr");
    profile[16..20].copy_from_slice(b"RGB ");
    profile[20..24].copy_from_slice(b"XYZ ");
    profile[36..40].copy_from_slice(b"acsp");
    profile
}

pub const PNG_SIGNATURE: &[u8] = b"\x89PNG\r\n\x1a\n";

/// CRC-32 (ISO-HDLC, as PNG uses), bit by bit: slow and obviously right.
pub fn crc32(parts: &[&[u8]]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for byte in parts.iter().flat_map(|part| part.iter()) {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

pub fn png_chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut chunk = u32::try_from(data.len())
        .expect("chunk fits")
        .to_be_bytes()
        .to_vec();
    chunk.extend_from_slice(kind);
    chunk.extend_from_slice(data);
    chunk.extend_from_slice(&crc32(&[kind, data]).to_be_bytes());
    chunk
}

/// A PNG with a valid IHDR claiming `width` x `height`, then `idat` as its only (checksummed)
/// IDAT chunk, then IEND.
pub fn crafted_png(width: u32, height: u32, bit_depth: u8, color_type: u8, idat: &[u8]) -> Vec<u8> {
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[bit_depth, color_type, 0, 0, 0]);
    let mut png = PNG_SIGNATURE.to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(b"IDAT", idat));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// Deterministic noise (xorshift64*), so a failing test fails the same way every time.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            (state.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Decodes a rendition, checking that it is the WebP it claims to be.
pub fn decode_webp(bytes: &[u8]) -> DynamicImage {
    assert_eq!(
        image::guess_format(bytes).expect("a known format"),
        image::ImageFormat::WebP
    );
    image::load_from_memory_with_format(bytes, image::ImageFormat::WebP).expect("decodes")
}
