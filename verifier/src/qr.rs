//! Reading the QR or Aztec code of a certificate from a picture (feature `qr-image`).
//!
//! Accepted: PNG (grey, RGB, palette, with or without transparency, 8 or 16 bit), JPEG and WebP,
//! and raw greyscale frames ([`decode_luma`], for camera frames in a browser).
//!
//! # How a picture is read
//! 1. **Bounds first.** The file must be at most [`MAX_IMAGE_BYTES`]; the size the header
//!    declares is read before any pixel is decoded and refused past [`MAX_IMAGE_SIDE`] or
//!    [`MAX_IMAGE_PIXELS`]; the pixel decoder runs with an allocation cap of
//!    [`MAX_DECODE_ALLOC`]. A hostile picture (a huge declared size in a tiny file) is thus
//!    refused before any large buffer exists.
//! 2. **Greyscale.** A JPEG is decoded straight to its luma plane (zune-jpeg, the decoder
//!    `image` itself uses: no chroma upsampling or colour conversion, one byte a pixel); other
//!    pictures are converted after decoding. Transparent pixels are laid on white (and, if
//!    nothing is found, on black, for light codes drawn on a transparent background).
//! 3. **Bounded search.** The detector (ZXing's QR and Aztec readers, through the `rxing` port)
//!    first works on a copy scaled down by box filtering to at most [`WORK_PIXELS`] pixels, then,
//!    if that finds nothing and the picture was larger, on one of at most [`FINE_PIXELS`]
//!    pixels. Small pictures are padded with a white quiet zone and enlarged, since codes
//!    exported without a quiet zone or at one pixel per module defeat finder-pattern detection.
//!    The number of passes is fixed, so the work per picture is bounded by its (capped) size.
//!    Small pictures are also tried with their grey levels inverted (light codes without a
//!    quiet zone). A large picture whose working copy is noise (more than
//!    `NOISE_EDGE_PERCENT` % of neighbouring pixels differ by a strong edge, which no code at
//!    two pixels a module or more reaches) gets no fine pass and only the cheaper readers:
//!    hostile noise pictures are where the detector's work grows the most. A small picture
//!    (not a camera frame, not noise) in which nothing was found is tried once more turned by
//!    45°: some perspective, noisy and photographed codes are read that way.
//! 4. **Several codes.** When a picture holds several codes, the one whose text starts with
//!    `HC1:` wins; otherwise the first code found is returned.
//!
//! Everything the detector does is behind `catch_unwind` as well: a panic inside the third-party
//! detector on some unforeseen picture becomes [`QrError::Unreadable`], never a crash (where the
//! target unwinds).

use std::borrow::Cow;
use std::io::Cursor;

/// Largest picture file accepted (a 12 MP phone photo as JPEG is well below this).
pub const MAX_IMAGE_BYTES: usize = 16 * 1024 * 1024;
/// Largest width or height accepted, in pixels.
pub const MAX_IMAGE_SIDE: u32 = 8_000;
/// Largest number of pixels accepted (width × height), checked on the header before decoding:
/// 16.7 MP, more than any phone camera's default picture (12 MP).
pub const MAX_IMAGE_PIXELS: u64 = 4096 * 4096;
/// Allocation cap for the pixel decoder: a 16 MP RGB picture needs 48 MiB.
pub const MAX_DECODE_ALLOC: u64 = 56 * 1024 * 1024;
/// Largest picture the first detector pass works on (larger ones are scaled down).
pub const WORK_PIXELS: usize = 1_100_000;
/// Largest picture the second pass works on, when the first found nothing.
pub const FINE_PIXELS: usize = 4_200_000;
/// Pictures whose shorter side is below this many pixels are enlarged (nearest neighbour).
const SMALL_SIDE: usize = 360;
/// White border added around every picture before detection, in pixels of the working copy.
const PAD: usize = 8;

/// Why no certificate text could be read from a picture.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The file is larger than [`MAX_IMAGE_BYTES`].
    #[error("picture is {size} bytes, more than the {max} accepted")]
    TooLarge {
        /// Size of the input.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The header declares a picture larger than [`MAX_IMAGE_SIDE`] or [`MAX_IMAGE_PIXELS`].
    #[error(
        "picture declares {width}×{height} pixels; at most {max_side} per side and {max_pixels} \
         in all are accepted (scale the picture down)"
    )]
    TooManyPixels {
        /// Declared width.
        width: u32,
        /// Declared height.
        height: u32,
        /// [`MAX_IMAGE_SIDE`].
        max_side: u32,
        /// [`MAX_IMAGE_PIXELS`].
        max_pixels: u64,
    },
    /// The bytes are not a PNG, JPEG or WebP picture that could be decoded within the limits.
    #[error("not a readable PNG, JPEG or WebP picture: {0}")]
    Image(String),
    /// The picture holds no QR or Aztec code that could be found.
    #[error("no QR or Aztec code found in the picture")]
    NoCode,
    /// A code was found but could not be decoded (damaged, or not a text code).
    #[error("a QR or Aztec code was found but could not be read: {0}")]
    Unreadable(String),
}

/// Decodes the certificate's code in a PNG, JPEG or WebP picture.
///
/// # Errors
/// [`QrError`] when the picture is too large, is not a picture, or holds no readable code.
pub fn decode_image(bytes: &[u8]) -> Result<String, QrError> {
    let luma = load_luma(bytes)?;
    decode_grey(&luma, true)
}

/// A decoded picture in greyscale, ready for detection.
struct Grey {
    width: usize,
    height: usize,
    /// Laid on white.
    pixels: Vec<u8>,
    /// Laid on black, for pictures with transparency only.
    on_black: Option<Vec<u8>>,
}

fn image_error(e: impl std::fmt::Display) -> QrError {
    QrError::Image(e.to_string())
}

/// Checks the declared size of a picture without decoding its pixels.
///
/// # Errors
/// [`QrError::TooLarge`], [`QrError::TooManyPixels`], or [`QrError::Image`] when the header
/// cannot be read.
pub fn check_declared_size(bytes: &[u8]) -> Result<(u32, u32), QrError> {
    if bytes.len() > MAX_IMAGE_BYTES {
        return Err(QrError::TooLarge {
            size: bytes.len(),
            max: MAX_IMAGE_BYTES,
        });
    }
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(image_error)?;
    if reader.format().is_none() {
        return Err(QrError::Image(
            "the bytes are not a PNG, JPEG or WebP file".into(),
        ));
    }
    let (width, height) = reader.into_dimensions().map_err(image_error)?;
    if width > MAX_IMAGE_SIDE
        || height > MAX_IMAGE_SIDE
        || u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS
    {
        return Err(QrError::TooManyPixels {
            width,
            height,
            max_side: MAX_IMAGE_SIDE,
            max_pixels: MAX_IMAGE_PIXELS,
        });
    }
    if width == 0 || height == 0 {
        return Err(QrError::Image("the picture has no pixels".into()));
    }
    Ok((width, height))
}

fn load_luma(bytes: &[u8]) -> Result<Grey, QrError> {
    check_declared_size(bytes)?;
    if let Some(grey) = jpeg_luma(bytes) {
        return Ok(grey);
    }
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(image_error)?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(MAX_DECODE_ALLOC);
    reader.limits(limits);
    let picture = reader.decode().map_err(image_error)?;
    let (width, height) = (picture.width() as usize, picture.height() as usize);
    if width == 0 || height == 0 {
        return Err(QrError::Image("the picture has no pixels".into()));
    }
    use image::DynamicImage as D;
    let grey = match picture {
        D::ImageLuma8(img) => Grey {
            width,
            height,
            pixels: img.into_raw(),
            on_black: None,
        },
        D::ImageLumaA8(img) => {
            let raw = img.into_raw();
            let (white, black) = raw.chunks_exact(2).map(|p| composite(p[0], p[1])).unzip();
            Grey {
                width,
                height,
                pixels: white,
                on_black: Some(black),
            }
        }
        D::ImageRgb8(img) => Grey {
            width,
            height,
            pixels: rgb_to_luma_in_place(img.into_raw()),
            on_black: None,
        },
        D::ImageRgba8(img) => rgba_grey(width, height, &img.into_raw()),
        other if other.color().has_alpha() => {
            let raw = other.to_rgba8().into_raw();
            drop(other);
            rgba_grey(width, height, &raw)
        }
        other => Grey {
            width,
            height,
            pixels: other.to_luma8().into_raw(),
            on_black: None,
        },
    };
    Ok(grey)
}

/// A JPEG decoded straight to its luma plane (no chroma upsampling, no colour conversion, one
/// byte a pixel: a 12 MP photo needs 12 MB instead of 36). `None` when the bytes are not a JPEG
/// this path takes (then the general decoder runs and reports the error, if any).
fn jpeg_luma(bytes: &[u8]) -> Option<Grey> {
    use zune_core::{bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions};
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return None;
    }
    let side = MAX_IMAGE_SIDE as usize;
    let options = DecoderOptions::default()
        .set_max_width(side)
        .set_max_height(side)
        .jpeg_set_out_colorspace(ColorSpace::Luma);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    decoder.decode_headers().ok()?;
    let (width, height) = decoder.dimensions()?;
    if width == 0
        || height == 0
        || (width as u64) * (height as u64) > MAX_IMAGE_PIXELS
        || decoder.output_colorspace() != Some(ColorSpace::Luma)
    {
        return None;
    }
    let pixels = decoder.decode().ok()?;
    (pixels.len() == width * height).then_some(Grey {
        width,
        height,
        pixels,
        on_black: None,
    })
}

fn rgba_grey(width: usize, height: usize, raw: &[u8]) -> Grey {
    let (white, black) = raw
        .chunks_exact(4)
        .map(|p| composite(rgb_luma(p[0], p[1], p[2]), p[3]))
        .unzip();
    Grey {
        width,
        height,
        pixels: white,
        on_black: Some(black),
    }
}

/// Turns packed RGB into luma in the same buffer (a 12 MP photo needs no second 12 MB buffer,
/// and the pages are already mapped).
fn rgb_to_luma_in_place(mut raw: Vec<u8>) -> Vec<u8> {
    let n = raw.len() / 3;
    for i in 0..n {
        let p = 3 * i;
        // Pixel i is written at i ≤ 3i, after its own bytes were read and over bytes of
        // pixels already converted.
        raw[i] = rgb_luma(raw[p], raw[p + 1], raw[p + 2]);
    }
    raw.truncate(n);
    raw.shrink_to_fit();
    raw
}

/// ITU-R BT.601 luma, in integers.
fn rgb_luma(r: u8, g: u8, b: u8) -> u8 {
    // The weights add up to 256, so the result is at most 255.
    ((u32::from(r) * 77 + u32::from(g) * 150 + u32::from(b) * 29) >> 8) as u8
}

/// A grey value with opacity `a`, laid on white and on black.
fn composite(l: u8, a: u8) -> (u8, u8) {
    let (l, a) = (u32::from(l), u32::from(a));
    let on_black = l * a / 255;
    let on_white = on_black + (255 - a);
    // Both are at most 255 (l, a ≤ 255).
    (on_white as u8, on_black as u8)
}

/// Decodes the certificate's code in a greyscale frame (one byte per pixel, row by row), e.g. a
/// camera frame's Y plane.
///
/// # Errors
/// [`QrError::Image`] when `pixels` does not hold `width × height` bytes, [`QrError::TooManyPixels`]
/// past the limits, [`QrError::NoCode`] or [`QrError::Unreadable`] otherwise.
pub fn decode_luma(pixels: &[u8], width: u32, height: u32) -> Result<String, QrError> {
    if width > MAX_IMAGE_SIDE
        || height > MAX_IMAGE_SIDE
        || u64::from(width) * u64::from(height) > MAX_IMAGE_PIXELS
    {
        return Err(QrError::TooManyPixels {
            width,
            height,
            max_side: MAX_IMAGE_SIDE,
            max_pixels: MAX_IMAGE_PIXELS,
        });
    }
    let (w, h) = (width as usize, height as usize);
    if w == 0 || h == 0 || pixels.len() != w * h {
        return Err(QrError::Image(format!(
            "a {width}×{height} grey frame needs {} bytes, got {}",
            w * h,
            pixels.len()
        )));
    }
    decode_grey(
        &Grey {
            width: w,
            height: h,
            pixels: pixels.to_vec(),
            on_black: None,
        },
        false,
    )
}

/// The plan of detector passes for a picture of `width × height`: each entry is the size of the
/// working copy (before padding). Exposed for the bounds tests.
#[doc(hidden)]
pub fn pass_sizes(width: usize, height: usize) -> Vec<(usize, usize)> {
    let mut sizes = Vec::new();
    let first = fit(width, height, WORK_PIXELS);
    sizes.push(first);
    if first != (width, height) {
        let fine = fit(width, height, FINE_PIXELS);
        if fine != first {
            sizes.push(fine);
        }
    }
    sizes
}

/// The size of `width × height` shrunk by an integer factor (or enlarged, for small pictures)
/// so that it has at most `budget` pixels.
fn fit(width: usize, height: usize, budget: usize) -> (usize, usize) {
    let mut factor = 1;
    while (width / factor) * (height / factor) > budget {
        factor += 1;
    }
    if factor == 1 {
        let up = upscale_factor(width, height);
        return (width * up, height * up);
    }
    (width / factor, height / factor)
}

fn upscale_factor(width: usize, height: usize) -> usize {
    let short = width.min(height);
    if short >= SMALL_SIDE {
        return 1;
    }
    // At most ×4, and never past the first pass's budget.
    let mut up = SMALL_SIDE.div_ceil(short.max(1)).min(4);
    while up > 1 && width * up * height * up > WORK_PIXELS {
        up -= 1;
    }
    up
}

/// Resamples `src` (`w` pixels a row) to `tw × th` (an integer shrink by box filter or an integer
/// enlargement by repetition), with a white border of [`PAD`] pixels.
fn resample(src: &[u8], w: usize, tw: usize, th: usize) -> (Vec<u8>, usize, usize) {
    let (pw, ph) = (tw + 2 * PAD, th + 2 * PAD);
    let mut out = vec![255u8; pw * ph];
    if tw >= w {
        let up = tw / w.max(1);
        for y in 0..th {
            let row = &src[(y / up) * w..(y / up) * w + w];
            let dst = &mut out[(y + PAD) * pw + PAD..(y + PAD) * pw + PAD + tw];
            for (x, d) in dst.iter_mut().enumerate() {
                *d = row[x / up];
            }
        }
    } else {
        let f = w / tw.max(1);
        let area = (f * f) as u32;
        let mut sums = vec![0u32; tw];
        for y in 0..th {
            sums.iter_mut().for_each(|s| *s = 0);
            for row in src[y * f * w..(y * f + f) * w].chunks_exact(w) {
                for (s, cell) in sums.iter_mut().zip(row.chunks_exact(f)) {
                    *s += cell.iter().map(|&p| u32::from(p)).sum::<u32>();
                }
            }
            let dst = &mut out[(y + PAD) * pw + PAD..(y + PAD) * pw + PAD + tw];
            for (d, s) in dst.iter_mut().zip(&sums) {
                // A mean of bytes fits a byte.
                *d = (s / area) as u8;
            }
        }
    }
    (out, pw, ph)
}

/// `src` (`w × h`) turned by 45° about its centre (bilinear), on a white canvas that holds it
/// all: at most twice the pixels.
fn rotate_45(src: &[u8], w: usize, h: usize) -> (Vec<u8>, usize, usize) {
    let half = std::f32::consts::FRAC_1_SQRT_2;
    let side = ((w + h) as f32 * half).ceil() as usize + 2;
    let mut out = vec![255u8; side * side];
    let (cx, cy) = (side as f32 / 2.0, side as f32 / 2.0);
    let (sx, sy) = (w as f32 / 2.0, h as f32 / 2.0);
    for y in 0..side {
        let v = y as f32 + 0.5 - cy;
        for x in 0..side {
            let u = x as f32 + 0.5 - cx;
            let fx = half * (u + v) + sx - 0.5;
            let fy = half * (v - u) + sy - 0.5;
            if fx < 0.0 || fy < 0.0 {
                continue;
            }
            let (x0, y0) = (fx as usize, fy as usize);
            if x0 + 1 >= w || y0 + 1 >= h {
                continue;
            }
            let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
            let p = |xx: usize, yy: usize| f32::from(src[yy * w + xx]);
            let top = p(x0, y0) * (1.0 - ax) + p(x0 + 1, y0) * ax;
            let bottom = p(x0, y0 + 1) * (1.0 - ax) + p(x0 + 1, y0 + 1) * ax;
            // A weighted mean of bytes stays within 0..=255.
            out[y * side + x] = (top * (1.0 - ay) + bottom * ay + 0.5) as u8;
        }
    }
    (out, side, side)
}

/// What one detector pass found.
enum Found {
    Text(String),
    Other(String),
    Nothing,
    Broken(String),
}

/// `turn`: whether a small picture in which nothing was found is tried once more turned by 45°
/// (pictures yes; camera frames no, since the next frame comes anyway and a frame without a code
/// must stay cheap).
fn decode_grey(grey: &Grey, turn: bool) -> Result<String, QrError> {
    let mut fallback: Option<String> = None;
    let mut broken: Option<String> = None;
    let mut sources = vec![Cow::Borrowed(&grey.pixels)];
    if let Some(black) = &grey.on_black {
        sources.push(Cow::Borrowed(black));
    }
    // A light-on-dark code exported without a quiet zone: the white border added for detection
    // touches its light finder patterns, so the detector's own inversion cannot find it. Small
    // pictures (one pass, cheap) are tried inverted too, before the border is added.
    if grey.width * grey.height <= WORK_PIXELS {
        sources.push(Cow::Owned(grey.pixels.iter().map(|p| 255 - p).collect()));
    }
    for pixels in sources {
        let pixels: &[u8] = &pixels;
        let passes = pass_sizes(grey.width, grey.height);
        let large = passes.len() > 1;
        for (pass, (tw, th)) in passes.into_iter().enumerate() {
            let (work, pw, ph) = resample(pixels, grey.width, tw, th);
            // A large picture that is noise at the working scale (a hostile picture, where the
            // detector spends the most) gets the cheaper readers and no fine pass. The fine pass
            // is for a code too small to read at the first scale, i.e. a small code in a calm
            // picture: a picture that is noise at the fine scale holds none either.
            let noisy = large && noise_like(&work, pw);
            if pass > 0 && noisy {
                continue;
            }
            let readers = if pass > 0 || noisy {
                Readers::Fine
            } else {
                Readers::All
            };
            match detect(work, pw, ph, readers) {
                Found::Text(text) => return Ok(text),
                Found::Other(text) => {
                    fallback.get_or_insert(text);
                }
                Found::Broken(why) => {
                    broken.get_or_insert(why);
                }
                Found::Nothing => {}
            }
            if noisy {
                break;
            }
        }
        if let Some(text) = fallback {
            return Ok(text);
        }
    }
    // Some codes the readers miss (perspective, noise, photos) they read turned by 45°: small
    // pictures in which nothing was found are tried once more that way — unless the picture is
    // noise, where it would double a hostile picture's cost.
    if turn && grey.width * grey.height <= WORK_PIXELS && !noise_like(&grey.pixels, grey.width) {
        let (turned, tw, th) = rotate_45(&grey.pixels, grey.width, grey.height);
        let (work, pw, ph) = resample(&turned, tw, tw, th);
        match detect(work, pw, ph, Readers::All) {
            Found::Text(text) => return Ok(text),
            Found::Other(text) => return Ok(fallback.unwrap_or(text)),
            _ => {}
        }
    }
    match broken {
        Some(why) => Err(QrError::Unreadable(why)),
        None => Err(QrError::NoCode),
    }
}

/// Which of ZXing's readers a pass runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Readers {
    /// The zxing-cpp port's QR reader, then ZXing Java's (it reads some noisy codes the first
    /// misses), then the Aztec reader; each on the picture and on its inversion.
    All,
    /// The fine pass on a large picture: the Java QR reader (the most expensive, and the one that
    /// matters only on small noisy pictures) is left out.
    Fine,
}

/// Share of neighbouring pixel pairs (in percent) past which a working copy counts as noise.
/// A code at 2 pixels a module changes colour between at most about a quarter of the pairs
/// (a half for 1-bit random noise, three quarters for it after a 2 × 2 box filter).
const NOISE_EDGE_PERCENT: usize = 30;
/// A step of more grey levels than this between two neighbours counts as an edge.
const EDGE_STEP: u8 = 48;

/// Whether the working copy (`width` pixels a row) changes colour between more than
/// [`NOISE_EDGE_PERCENT`] of horizontally neighbouring pixels, on every other row.
fn noise_like(pixels: &[u8], width: usize) -> bool {
    let (mut pairs, mut edges) = (0usize, 0usize);
    for row in pixels.chunks_exact(width.max(1)).step_by(2) {
        pairs += row.len().saturating_sub(1);
        edges += row
            .windows(2)
            .filter(|p| p[0].abs_diff(p[1]) > EDGE_STEP)
            .count();
    }
    edges * 100 > pairs * NOISE_EDGE_PERCENT
}

fn detect(pixels: Vec<u8>, width: usize, height: usize, readers: Readers) -> Found {
    let run =
        std::panic::AssertUnwindSafe(move || detect_unguarded(pixels, width, height, readers));
    std::panic::catch_unwind(run)
        .unwrap_or_else(|_| Found::Broken("the detector failed on this picture".into()))
}

fn detect_unguarded(pixels: Vec<u8>, width: usize, height: usize, readers: Readers) -> Found {
    use rxing::aztec::AztecReader;
    use rxing::common::HybridBinarizer;
    use rxing::multi::{GenericMultipleBarcodeReader, MultipleBarcodeReader};
    use rxing::qrcode::QRCodeReader;
    use rxing::qrcode::cpp_port::QrReader;
    use rxing::{
        BarcodeFormat, BinaryBitmap, DecodeHints, Luma8LuminanceSource, MultiUseMultiFormatReader,
        RXingResult, Reader,
    };
    use std::collections::HashSet;

    let (Ok(w), Ok(h)) = (u32::try_from(width), u32::try_from(height)) else {
        return Found::Nothing;
    };
    let Ok(source) = Luma8LuminanceSource::new(pixels, w, h) else {
        return Found::Nothing;
    };
    let mut bitmap = BinaryBitmap::new(HybridBinarizer::new(source));
    let hints = DecodeHints {
        TryHarder: Some(true),
        PossibleFormats: Some(HashSet::from([
            BarcodeFormat::QR_CODE,
            BarcodeFormat::AZTEC,
        ])),
        ..DecodeHints::default()
    };
    let mut first: Option<RXingResult> = None;
    // As in ZXing's MultiFormatReader, a reader's failure (not found, a checksum or format
    // error on what looked like a code) only means that the next one is tried.
    'outer: for inverted in [false, true] {
        if inverted {
            bitmap.invert();
        }
        for stage in 0..3 {
            if stage == 1 && readers == Readers::Fine {
                continue;
            }
            let r = match stage {
                0 => QrReader.decode_with_hints(&mut bitmap, &hints),
                1 => QRCodeReader.decode_with_hints(&mut bitmap, &hints),
                _ => AztecReader.decode_with_hints(&mut bitmap, &hints),
            };
            if let Ok(r) = r {
                first = Some(r);
                break 'outer;
            }
        }
        if inverted {
            bitmap.invert();
        }
    }
    let Some(first) = first else {
        return Found::Nothing;
    };
    let first = first.getText().to_owned();
    if first.starts_with("HC1:") {
        return Found::Text(first);
    }
    // Another code came first (a link, a logo's code): look for an HCERT among all codes.
    let hints = DecodeHints {
        AlsoInverted: Some(true),
        ..hints
    };
    let mut multi = GenericMultipleBarcodeReader::new(MultiUseMultiFormatReader::default());
    if let Ok(all) = multi.decode_multiple_with_hints(&mut bitmap, &hints) {
        if let Some(hc1) = all.iter().find(|r| r.getText().starts_with("HC1:")) {
            return Found::Text(hc1.getText().to_owned());
        }
    }
    Found::Other(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_non_pictures_and_oversized_input() {
        assert!(matches!(
            decode_image(b"HC1:NCFOXN"),
            Err(QrError::Image(_))
        ));
        let big = vec![0u8; MAX_IMAGE_BYTES + 1];
        assert!(matches!(decode_image(&big), Err(QrError::TooLarge { .. })));
    }

    #[test]
    fn blank_picture_has_no_code() {
        let blank = image::GrayImage::from_pixel(64, 64, image::Luma([255]));
        let mut png = Vec::new();
        blank
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        assert!(matches!(decode_image(&png), Err(QrError::NoCode)));
    }

    /// A real JPEG whose frame header is patched to declare `width × height × 3`, cut short
    /// after the start of its scan: under 1 KB.
    fn truncated_jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut jpeg = Vec::new();
        image::RgbImage::from_pixel(16, 16, image::Rgb([200, 10, 10]))
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        let sof = jpeg.windows(2).position(|m| m == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
        jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
        let sos = jpeg.windows(2).position(|m| m == [0xFF, 0xDA]).unwrap();
        jpeg.truncate(sos + 20);
        jpeg
    }

    #[test]
    fn a_declared_huge_picture_is_refused_before_decoding() {
        let jpeg = truncated_jpeg(8000, 8000);
        assert!(jpeg.len() < 1024);
        let err = check_declared_size(&jpeg).unwrap_err();
        assert!(matches!(
            err,
            QrError::TooManyPixels {
                width: 8000,
                height: 8000,
                ..
            }
        ));
        assert!(matches!(
            decode_image(&jpeg),
            Err(QrError::TooManyPixels { .. })
        ));
        assert_eq!(
            err.to_string(),
            "picture declares 8000×8000 pixels; at most 8000 per side and 16777216 in all are \
             accepted (scale the picture down)"
        );
        // A PNG header declaring 5000 × 4000 (20 MP): refused as well.
        let mut png = Vec::new();
        image::GrayImage::from_pixel(1, 1, image::Luma([0]))
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        png[16..20].copy_from_slice(&5000u32.to_be_bytes());
        png[20..24].copy_from_slice(&4000u32.to_be_bytes());
        assert!(matches!(
            decode_image(&png),
            Err(QrError::TooManyPixels { .. } | QrError::Image(_))
        ));
    }

    #[test]
    fn a_truncated_picture_within_the_limits_is_refused() {
        // The JPEG decoder either refuses the cut stream or fills the missing part with grey.
        assert!(matches!(
            decode_image(&truncated_jpeg(2000, 2000)),
            Err(QrError::Image(_) | QrError::NoCode)
        ));
    }

    #[test]
    fn detector_work_is_bounded_by_counting_pixels() {
        // Every pass works on at most FINE_PIXELS pixels (plus the border), whatever the size.
        for (w, h) in [
            (4096, 4096),
            (8000, 2097),
            (4000, 3000),
            (3000, 3000),
            (1000, 1000),
            (640, 480),
            (37, 37),
            (1, 8000),
        ] {
            let passes = pass_sizes(w, h);
            assert!(
                !passes.is_empty() && passes.len() <= 2,
                "{w}×{h}: {passes:?}"
            );
            assert!(
                passes[0].0 * passes[0].1 <= WORK_PIXELS.max(w * h),
                "{w}×{h}"
            );
            for (pw, ph) in &passes {
                assert!(pw * ph <= FINE_PIXELS, "{w}×{h}: {passes:?}");
            }
        }
        // Small pictures are enlarged, at most ×4.
        assert_eq!(pass_sizes(37, 37), vec![(148, 148)]);
        assert_eq!(pass_sizes(640, 480), vec![(640, 480)]);
    }

    #[test]
    fn resampling_keeps_the_mean_and_pads_white() {
        let src: Vec<u8> = (0..16).map(|i| if i % 2 == 0 { 0 } else { 200 }).collect();
        let (out, pw, ph) = resample(&src, 4, 2, 2);
        assert_eq!((pw, ph), (2 + 2 * PAD, 2 + 2 * PAD));
        assert_eq!(out[PAD * pw + PAD], 100);
        assert_eq!(out[0], 255);
        let (up, uw, _) = resample(&[0, 255], 2, 4, 2);
        assert_eq!(&up[PAD * uw + PAD..PAD * uw + PAD + 4], &[0, 0, 255, 255]);
    }

    #[test]
    fn noise_is_told_from_a_code() {
        // 1-bit noise from a fixed xorshift; a checkerboard of 4-pixel squares (an edge every 4).
        let mut state = 0x9E37_79B9_u32;
        let noise: Vec<u8> = (0..200 * 200)
            .map(|_| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                if state & 1 == 0 { 0 } else { 255 }
            })
            .collect();
        assert!(noise_like(&noise, 200));
        let blocks: Vec<u8> = (0..200 * 200)
            .map(|i| {
                if ((i % 200) / 4 + (i / 200) / 4) % 2 == 0 {
                    0
                } else {
                    255
                }
            })
            .collect();
        assert!(!noise_like(&blocks, 200));
        assert!(!noise_like(&[255; 64 * 64], 64));
    }

    #[test]
    fn a_jpeg_is_decoded_to_its_luma_plane() {
        let mut jpeg = Vec::new();
        image::RgbImage::from_pixel(40, 30, image::Rgb([200, 40, 40]))
            .write_to(&mut Cursor::new(&mut jpeg), image::ImageFormat::Jpeg)
            .unwrap();
        let grey = jpeg_luma(&jpeg).unwrap();
        assert_eq!((grey.width, grey.height, grey.pixels.len()), (40, 30, 1200));
        // The same grey level as the general decoder's RGB → luma, within JPEG rounding.
        let want = i32::from(rgb_luma(200, 40, 40));
        assert!(
            grey.pixels
                .iter()
                .all(|&p| (i32::from(p) - want).abs() <= 4)
        );
        // Not a JPEG, or a JPEG cut inside its header: left to the general decoder.
        assert!(jpeg_luma(b"\x89PNG").is_none());
        assert!(jpeg_luma(&jpeg[..20]).is_none());
    }

    #[test]
    fn turning_by_45_degrees_keeps_the_picture_on_a_white_canvas() {
        // A black 20 × 10 picture: its centre stays black, the canvas corners are white.
        let (out, w, h) = rotate_45(&[0; 200], 20, 10);
        assert_eq!((w, h), (24, 24));
        assert_eq!(out[(h / 2) * w + w / 2], 0);
        assert_eq!(out[0], 255);
        assert_eq!(out[w * h - 1], 255);
        // Both diagonals of the canvas run along the picture's sides: the middle row is dark
        // only near the centre (the turned 10-pixel side spans about 7 pixels each way).
        let row = &out[(h / 2) * w..(h / 2 + 1) * w];
        assert!(row.iter().filter(|&&p| p < 128).count() <= 16);
    }

    #[test]
    fn rgb_becomes_luma_in_place() {
        let rgb = vec![255, 255, 255, 0, 0, 0, 255, 0, 0, 0, 0, 255];
        assert_eq!(
            rgb_to_luma_in_place(rgb),
            vec![255, 0, rgb_luma(255, 0, 0), rgb_luma(0, 0, 255)]
        );
    }

    #[test]
    fn transparency_is_laid_on_white_and_black() {
        assert_eq!(composite(0, 255), (0, 0));
        assert_eq!(composite(0, 0), (255, 0));
        assert_eq!(composite(255, 0), (255, 0));
        assert_eq!(rgb_luma(255, 255, 255), 255);
    }

    #[test]
    fn raw_frames_are_checked() {
        assert!(matches!(
            decode_luma(&[0; 10], 4, 4),
            Err(QrError::Image(_))
        ));
        assert!(matches!(
            decode_luma(&[], 9000, 1),
            Err(QrError::TooManyPixels { .. })
        ));
        assert!(matches!(
            decode_luma(&[255; 64 * 48], 64, 48),
            Err(QrError::NoCode)
        ));
    }

    #[test]
    fn reads_a_public_test_picture() {
        use base64::Engine as _;
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/conformance/dgc-testdata/AT/2DCode/raw/1.json"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            eprintln!("skipped: public conformance data not found at {path}");
            return;
        };
        let case: serde_json::Value = serde_json::from_str(&text).unwrap();
        let png = base64::engine::general_purpose::STANDARD
            .decode(case["2DCODE"].as_str().unwrap())
            .unwrap();
        assert_eq!(
            decode_image(&png).unwrap(),
            case["PREFIX"].as_str().unwrap()
        );
    }
}
