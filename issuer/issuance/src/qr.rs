//! QR images of certificates: PNG and SVG, rendered straight from the module matrix.
//!
//! The module matrix comes from the [`fast_qr`] crate (without its image renderer; in the
//! `qr` benchmark it encodes several times faster than the `qrcode` crate). It picks the mode
//! from the text: an `HC1:` string is Base45, whose alphabet is exactly the QR alphanumeric
//! set, so it is encoded in alphanumeric mode. A 526-character certificate needs version 17 at level Q (in byte mode it would
//! need version 22).
//!
//! The PNG is a 1-bit greyscale picture (colour type 0, bit depth 1): each pixel row is the
//! packed bits of the row, and a pixel row that repeats the one above (a module is
//! `module_px` pixels high, and the quiet zone is blank) is written with the PNG *Up* filter,
//! i.e. as zero bytes, which deflate compresses to almost nothing. That is several times
//! faster than drawing an 8-bit picture and handing it to a general PNG encoder (see the
//! `qr` benchmark of this crate).
//!
//! ```
//! use vaxpass_issuer_issuance::qr::{Ecc, QrOptions, render_png, render_svg};
//!
//! let opts = QrOptions { ecc: Ecc::Q, module_px: 4, quiet_zone: 4 };
//! let png = render_png("HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEPWK G2EP4J0B", &opts)?;
//! assert_eq!(&png[1..4], b"PNG");
//! let svg = render_svg("HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEPWK G2EP4J0B", &opts)?;
//! assert!(svg.starts_with("<svg"));
//! # Ok::<(), vaxpass_issuer_issuance::qr::QrError>(())
//! ```

use std::fmt::{self, Write as _};

/// Largest accepted module size, in pixels.
pub const MAX_MODULE_PX: u32 = 32;
/// Largest accepted quiet zone, in modules.
pub const MAX_QUIET_ZONE: u32 = 16;
/// Longest text looked at: no QR code holds more than 7,089 characters (version 40, level L,
/// numeric mode); anything longer is refused before it reaches the encoder.
pub const MAX_TEXT_BYTES: usize = 7_089;

/// QR error correction level (ISO/IEC 18004 §7.5.1): the share of the code that may be
/// damaged and still read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Ecc {
    /// About 7 %.
    L,
    /// About 15 %.
    M,
    /// About 25 % (the default: printed certificates get folded and scratched).
    #[default]
    Q,
    /// About 30 %.
    H,
}

impl Ecc {
    /// Parses `L`, `M`, `Q` or `H` (either case).
    pub fn parse(s: &str) -> Option<Ecc> {
        match s {
            "L" | "l" => Some(Ecc::L),
            "M" | "m" => Some(Ecc::M),
            "Q" | "q" => Some(Ecc::Q),
            "H" | "h" => Some(Ecc::H),
            _ => None,
        }
    }

    fn level(self) -> fast_qr::ECL {
        match self {
            Ecc::L => fast_qr::ECL::L,
            Ecc::M => fast_qr::ECL::M,
            Ecc::Q => fast_qr::ECL::Q,
            Ecc::H => fast_qr::ECL::H,
        }
    }
}

impl fmt::Display for Ecc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Ecc::L => "L",
            Ecc::M => "M",
            Ecc::Q => "Q",
            Ecc::H => "H",
        })
    }
}

/// How a QR code is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QrOptions {
    /// Error correction level (default [`Ecc::Q`]).
    pub ecc: Ecc,
    /// Pixels per module, 1 to [`MAX_MODULE_PX`] (default 4). In SVG it sets the `width` and
    /// `height` attributes; the drawing itself is in modules and scales freely.
    pub module_px: u32,
    /// Blank border, in modules, 0 to [`MAX_QUIET_ZONE`] (default 4, as ISO/IEC 18004
    /// requires for reliable scanning).
    pub quiet_zone: u32,
}

impl Default for QrOptions {
    fn default() -> Self {
        QrOptions {
            ecc: Ecc::Q,
            module_px: 4,
            quiet_zone: 4,
        }
    }
}

impl QrOptions {
    fn check(&self) -> Result<(), QrError> {
        if !(1..=MAX_MODULE_PX).contains(&self.module_px) {
            return Err(QrError::ModuleSize(self.module_px));
        }
        if self.quiet_zone > MAX_QUIET_ZONE {
            return Err(QrError::QuietZone(self.quiet_zone));
        }
        Ok(())
    }
}

/// Why a QR image could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QrError {
    /// The text does not fit in the largest QR code (version 40) at this level.
    #[error(
        "the text is {len} bytes, more than a QR code at error correction level {ecc} holds: use a lower level or a shorter text"
    )]
    TooLong {
        /// Length of the text, in bytes.
        len: usize,
        /// The level asked for.
        ecc: Ecc,
    },
    /// `module_px` is outside 1 to [`MAX_MODULE_PX`].
    #[error("the module size must be 1 to {MAX_MODULE_PX} pixels, not {0}")]
    ModuleSize(u32),
    /// `quiet_zone` is above [`MAX_QUIET_ZONE`].
    #[error("the quiet zone must be 0 to {MAX_QUIET_ZONE} modules, not {0}")]
    QuietZone(u32),
    /// The encoder refused the text for another reason.
    #[error("the QR encoder refused the text: {0}")]
    Encode(String),
}

/// The modules of one QR code, without quiet zone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QrMatrix {
    width: usize,
    version: u8,
    /// Row-major, `true` for a dark module.
    dark: Vec<bool>,
}

impl QrMatrix {
    /// Encodes `text` in the smallest QR code that holds it at level `ecc`.
    ///
    /// # Errors
    /// [`QrError::TooLong`] when no QR code holds it.
    pub fn encode(text: &str, ecc: Ecc) -> Result<QrMatrix, QrError> {
        let too_long = QrError::TooLong {
            len: text.len(),
            ecc,
        };
        if text.len() > MAX_TEXT_BYTES {
            return Err(too_long);
        }
        let code = fast_qr::QRBuilder::new(text.as_bytes())
            .ecl(ecc.level())
            .build()
            .map_err(|e| match e {
                fast_qr::qr::QRCodeError::EncodedData => too_long,
                other => QrError::Encode(other.to_string()),
            })?;
        let width = code.size;
        let dark = code
            .data
            .get(..width * width)
            .ok_or_else(|| QrError::Encode(format!("no {width}x{width} matrix")))?
            .iter()
            .map(|m| m.value())
            .collect();
        Ok(QrMatrix {
            width,
            // 17 + 4 * version modules per side.
            version: u8::try_from(width.saturating_sub(17) / 4).unwrap_or(0),
            dark,
        })
    }

    /// Modules per side (21 for version 1, 4 more per version).
    pub fn width(&self) -> usize {
        self.width
    }

    /// The QR version, 1 to 40.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Whether the module at column `x`, row `y` is dark (`false` outside the code).
    pub fn is_dark(&self, x: usize, y: usize) -> bool {
        x < self.width && self.dark.get(y * self.width + x).copied().unwrap_or(false)
    }

    /// Number of dark modules.
    pub fn dark_count(&self) -> usize {
        self.dark.iter().filter(|d| **d).count()
    }

    /// One row of modules (empty outside the code).
    fn row(&self, y: usize) -> &[bool] {
        self.dark
            .get(y * self.width..(y + 1) * self.width)
            .unwrap_or(&[])
    }
}

/// Renders `text` as a 1-bit greyscale PNG: black modules on white, `module_px` pixels per
/// module, `quiet_zone` blank modules around.
///
/// # Errors
/// [`QrError`] when the options are out of range or the text does not fit in a QR code.
pub fn render_png(text: &str, opts: &QrOptions) -> Result<Vec<u8>, QrError> {
    opts.check()?;
    Ok(matrix_to_png(&QrMatrix::encode(text, opts.ecc)?, opts))
}

/// Renders `text` as SVG: one `<path>` of horizontal runs of dark modules on a white
/// background, `viewBox` in modules (quiet zone included), `shape-rendering="crispEdges"`.
///
/// # Errors
/// [`QrError`] when the options are out of range or the text does not fit in a QR code.
pub fn render_svg(text: &str, opts: &QrOptions) -> Result<String, QrError> {
    opts.check()?;
    Ok(matrix_to_svg(&QrMatrix::encode(text, opts.ecc)?, opts))
}

/// zlib level for the image data: the repeated rows are zeros after the Up filter, so the
/// fastest level already finds them.
const DEFLATE_LEVEL: u8 = 1;

/// The PNG of a matrix; `opts` must have passed [`QrOptions::check`].
fn matrix_to_png(m: &QrMatrix, opts: &QrOptions) -> Vec<u8> {
    let scale = opts.module_px as usize;
    let quiet = opts.quiet_zone as usize;
    let side_modules = m.width + 2 * quiet;
    let side_px = side_modules * scale;
    let row_bytes = side_px.div_ceil(8);

    // Filtered image data: per pixel row a filter-type byte then the packed row (bit 1 =
    // white). A pixel row equal to the previous one is "Up"-filtered: all zero bytes.
    let mut raw = Vec::with_capacity(side_px * (row_bytes + 1));
    let mut row = vec![0u8; row_bytes];
    let mut previous: Option<Vec<u8>> = None;
    for my in 0..side_modules {
        row.fill(0xFF);
        if let Some(y) = my.checked_sub(quiet).filter(|y| *y < m.width) {
            for (x, _) in m.row(y).iter().enumerate().filter(|(_, d)| **d) {
                let start = (quiet + x) * scale;
                for px in start..start + scale {
                    if let Some(byte) = row.get_mut(px / 8) {
                        *byte &= !(0x80 >> (px % 8));
                    }
                }
            }
        }
        for _ in 0..scale {
            if previous.as_deref() == Some(row.as_slice()) {
                raw.push(2);
                raw.resize(raw.len() + row_bytes, 0);
            } else {
                raw.push(0);
                raw.extend_from_slice(&row);
                previous = Some(row.clone());
            }
        }
    }
    let idat = miniz_oxide::deflate::compress_to_vec_zlib(&raw, DEFLATE_LEVEL);

    let mut png = Vec::with_capacity(idat.len() + 64);
    png.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    // side_px <= (177 + 2 * MAX_QUIET_ZONE) * MAX_MODULE_PX, far below u32::MAX.
    let side = u32::try_from(side_px).unwrap_or(u32::MAX);
    let mut ihdr = [0u8; 13];
    ihdr[0..4].copy_from_slice(&side.to_be_bytes());
    ihdr[4..8].copy_from_slice(&side.to_be_bytes());
    // Bit depth 1, colour type 0 (greyscale), compression 0, filter method 0, no interlace.
    ihdr[8..13].copy_from_slice(&[1, 0, 0, 0, 0]);
    write_chunk(&mut png, b"IHDR", &ihdr);
    write_chunk(&mut png, b"IDAT", &idat);
    write_chunk(&mut png, b"IEND", &[]);
    png
}

/// Appends one PNG chunk: length, type, data, CRC-32 of type and data.
fn write_chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    // A chunk here is at most the deflated image, a few megabytes at the largest options.
    let len = u32::try_from(data.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
}

/// The SVG of a matrix; `opts` must have passed [`QrOptions::check`].
fn matrix_to_svg(m: &QrMatrix, opts: &QrOptions) -> String {
    let quiet = opts.quiet_zone as usize;
    let side = m.width + 2 * quiet;
    let px = side * opts.module_px as usize;
    let mut out = String::with_capacity(m.width * m.width * 3 + 300);
    // Writing into a String cannot fail.
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"{px}\" height=\"{px}\" \
         viewBox=\"0 0 {side} {side}\" shape-rendering=\"crispEdges\">\
         <rect width=\"{side}\" height=\"{side}\" fill=\"#fff\"/><path fill=\"#000\" d=\""
    );
    for y in 0..m.width {
        let row = m.row(y);
        let mut x = 0;
        while x < row.len() {
            if !row[x] {
                x += 1;
                continue;
            }
            let start = x;
            while x < row.len() && row[x] {
                x += 1;
            }
            let _ = write!(
                out,
                "M{} {}h{}v1h-{}z",
                quiet + start,
                quiet + y,
                x - start,
                x - start
            );
        }
    }
    out.push_str("\"/></svg>\n");
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    const SAMPLE: &str = "HC1:NCFOXN%TS3DH0YOJ58S S-W5HDC *M0II5XHC9B5G2+$N IOP-IA%NFQGRJPC%OQHIZC4.OI1RM8ZA.A5:S9MKN4NN3F85QNCY0O%0VZ001HOC9JU0D0HT0HB2PL/IB*09B9LW4T*8+DCMH0LDK2%K:XFE70*LP$V25$0Q:J:4MO1P0%0L0HD+9E/HY+4J6TH48S%4K.GJ2PT3QY:GQ3TE2I+-CPHN6D7LLK*2HG%89UV-0LZ 2ZJJ524-LH/CJTK96L6SR9MU9DHGZ%P WUQRENS431T1XCNCF+47AY0-IFO0500TGPN8F5G.41Q2E4T8ALW.INSV$ 07UV5SR+BNQHNML7 /KD3TU 4V*CAT3ZGLQMI/XI%ZJNSBBXK2:UG%UJMI:TU+MMPZ5$/PMX19UE:-PSR3/$NU44CBE6DQ3D7B0FBOFX0DV2DGMB$YPF62I$60/F$Z2I6IFX21XNI-LM%3/DF/U6Z9FEOJVRLVW6K$UG+BKK57:1+D10%4K83F+1VWD1NE";

    #[test]
    fn ecc_parses_and_prints() {
        for (s, e) in [("L", Ecc::L), ("m", Ecc::M), ("Q", Ecc::Q), ("h", Ecc::H)] {
            assert_eq!(Ecc::parse(s), Some(e));
            assert_eq!(Ecc::parse(&e.to_string()), Some(e));
        }
        assert_eq!(Ecc::parse("X"), None);
        assert_eq!(Ecc::parse(""), None);
        assert_eq!(Ecc::default(), Ecc::Q);
    }

    #[test]
    fn hc1_text_uses_alphanumeric_mode() {
        let m = QrMatrix::encode(SAMPLE, Ecc::Q).unwrap();
        // Lower case forces byte mode: a larger code.
        let bytes = QrMatrix::encode(&SAMPLE.to_ascii_lowercase(), Ecc::Q).unwrap();
        assert!(
            bytes.version() >= m.version() + 3,
            "{} vs {}",
            bytes.version(),
            m.version()
        );
        assert!(
            m.version() == 17,
            "version {} for {} characters",
            m.version(),
            SAMPLE.len()
        );
        assert_eq!(m.width(), 17 + 4 * m.version() as usize);
    }

    #[test]
    fn options_out_of_range_are_errors() {
        for (opts, want) in [
            (
                QrOptions {
                    module_px: 0,
                    ..QrOptions::default()
                },
                QrError::ModuleSize(0),
            ),
            (
                QrOptions {
                    module_px: MAX_MODULE_PX + 1,
                    ..QrOptions::default()
                },
                QrError::ModuleSize(MAX_MODULE_PX + 1),
            ),
            (
                QrOptions {
                    quiet_zone: MAX_QUIET_ZONE + 1,
                    ..QrOptions::default()
                },
                QrError::QuietZone(MAX_QUIET_ZONE + 1),
            ),
        ] {
            assert_eq!(render_png("HC1:", &opts).unwrap_err(), want);
            assert_eq!(render_svg("HC1:", &opts).unwrap_err(), want);
        }
    }

    #[test]
    fn too_long_is_an_error() {
        // 4,296 alphanumeric characters fit at level L, not at H; 8,000 fit nowhere.
        let text = "A".repeat(4_296);
        assert!(
            render_png(
                &text,
                &QrOptions {
                    ecc: Ecc::L,
                    ..QrOptions::default()
                }
            )
            .is_ok()
        );
        let err = render_png(
            &text,
            &QrOptions {
                ecc: Ecc::H,
                ..QrOptions::default()
            },
        )
        .unwrap_err();
        assert_eq!(
            err,
            QrError::TooLong {
                len: 4_296,
                ecc: Ecc::H
            }
        );
        assert_eq!(
            err.to_string(),
            "the text is 4296 bytes, more than a QR code at error correction level H holds: use a lower level or a shorter text"
        );
        for len in [4_297, 7_089, 7_090, 100_000] {
            let text = "A".repeat(len);
            assert!(matches!(
                render_svg(
                    &text,
                    &QrOptions {
                        ecc: Ecc::L,
                        ..QrOptions::default()
                    }
                ),
                Err(QrError::TooLong { .. })
            ));
        }
        let bytes = "\u{1F600}".repeat(1_000);
        assert!(matches!(
            render_png(&bytes, &QrOptions::default()),
            Err(QrError::TooLong { .. })
        ));
    }

    #[test]
    fn png_chunks_are_well_formed() {
        let png = render_png(SAMPLE, &QrOptions::default()).unwrap();
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let mut at = 8;
        let mut kinds = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().unwrap()) as usize;
            let kind = &png[at + 4..at + 8];
            let data = &png[at + 8..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().unwrap());
            let mut h = crc32fast::Hasher::new();
            h.update(kind);
            h.update(data);
            assert_eq!(h.finalize(), crc);
            kinds.push(String::from_utf8(kind.to_vec()).unwrap());
            at += 12 + len;
        }
        assert_eq!(kinds, ["IHDR", "IDAT", "IEND"]);
    }

    /// Decodes a PNG with the `png` crate: (width, height, one byte per pixel, 0 or 255).
    fn decode_png(png: &[u8]) -> (usize, usize, Vec<u8>) {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
        decoder.set_transformations(png::Transformations::EXPAND);
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        assert_eq!(info.color_type, png::ColorType::Grayscale);
        assert_eq!(info.bit_depth, png::BitDepth::Eight);
        buf.truncate(info.buffer_size());
        (info.width as usize, info.height as usize, buf)
    }

    fn rqrr_decode(w: usize, h: usize, pixels: &[u8]) -> String {
        let mut img = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| pixels[y * w + x]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1);
        grids[0].decode().unwrap().1
    }

    #[test]
    fn png_pixels_are_the_matrix_and_decode_back() {
        for (ecc, module_px, quiet_zone) in [
            (Ecc::Q, 4, 4),
            (Ecc::L, 2, 4),
            (Ecc::M, 3, 2),
            (Ecc::H, 5, 4),
            (Ecc::Q, 1, 4),
            (Ecc::Q, 7, 1),
            (Ecc::L, 16, 0),
        ] {
            let opts = QrOptions {
                ecc,
                module_px,
                quiet_zone,
            };
            let m = QrMatrix::encode(SAMPLE, ecc).unwrap();
            let png = render_png(SAMPLE, &opts).unwrap();
            let (w, h, pixels) = decode_png(&png);
            let side = (m.width() + 2 * quiet_zone as usize) * module_px as usize;
            assert_eq!((w, h), (side, side), "{opts:?}");
            // Every pixel is the module it belongs to (the quiet zone is white).
            for y in 0..h {
                for x in 0..w {
                    let mx = (x / module_px as usize).checked_sub(quiet_zone as usize);
                    let my = (y / module_px as usize).checked_sub(quiet_zone as usize);
                    let dark = matches!((mx, my), (Some(mx), Some(my)) if m.is_dark(mx, my));
                    assert_eq!(
                        pixels[y * w + x],
                        if dark { 0 } else { 255 },
                        "{opts:?} at {x},{y}"
                    );
                }
            }
            if quiet_zone > 0 {
                assert_eq!(rqrr_decode(w, h, &pixels), SAMPLE, "{opts:?}");
            }
        }
    }

    #[test]
    fn svg_path_draws_exactly_the_dark_modules() {
        let opts = QrOptions {
            ecc: Ecc::M,
            module_px: 3,
            quiet_zone: 4,
        };
        let m = QrMatrix::encode(SAMPLE, Ecc::M).unwrap();
        let svg = render_svg(SAMPLE, &opts).unwrap();
        let side = m.width() + 8;
        assert!(
            svg.contains(&format!("viewBox=\"0 0 {side} {side}\"")),
            "{svg}"
        );
        assert!(svg.contains(&format!("width=\"{}\"", side * 3)));
        assert!(svg.contains("shape-rendering=\"crispEdges\""));
        assert_eq!(svg.matches("<path").count(), 1);
        let d = svg
            .split(" d=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let mut drawn = vec![false; m.width() * m.width()];
        for seg in d.split('z').filter(|s| !s.is_empty()) {
            // M{x} {y}h{n}v1h-{n}
            let (xy, rest) = seg.strip_prefix('M').unwrap().split_once('h').unwrap();
            let (x, y) = xy.split_once(' ').unwrap();
            let (n, back) = rest.split_once("v1h-").unwrap();
            assert_eq!(n, back);
            let (x, y, n): (usize, usize, usize) =
                (x.parse().unwrap(), y.parse().unwrap(), n.parse().unwrap());
            for i in 0..n {
                let cell = &mut drawn[(y - 4) * m.width() + x - 4 + i];
                assert!(!*cell, "module drawn twice");
                *cell = true;
            }
        }
        assert_eq!(drawn.iter().filter(|d| **d).count(), m.dark_count());
        for y in 0..m.width() {
            for x in 0..m.width() {
                assert_eq!(drawn[y * m.width() + x], m.is_dark(x, y));
            }
        }
    }
}
