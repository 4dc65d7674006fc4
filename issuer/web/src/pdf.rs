//! The paper certificate as a PDF: one A4 page, Vietnamese first and English second, with the
//! holder, the vaccination, the UVCI, the issuer and the QR code drawn as vectors (one filled
//! path of module rectangles, error correction level Q, 60 mm wide).
//!
//! Written with [`pdf_writer`] (the PDF objects, nothing else), with the text in DejaVu Sans
//! (`fonts/`, compiled in): each PDF embeds a subset of the regular and bold faces holding only
//! the glyphs it uses ([`subsetter`]), as CID fonts with a `ToUnicode` map, so that the text can
//! be searched and copied, Vietnamese diacritics included. Names arrive in NFC (precomposed
//! letters, as the domain stores them), so each character is one glyph and no shaping is
//! needed. Streams are deflated ([`miniz_oxide`]). The output depends only on the input (no
//! date or random id in it): the same certificate gives the same bytes.
//!
//! ```
//! use vaxpass_issuer_web::pdf::{PaperCertificate, render};
//! let pdf = render(&PaperCertificate {
//!     holder: "Nguyễn Thị Lan",
//!     transliterated: "NGUYEN THI LAN",
//!     date_of_birth: "27/03/1985",
//!     vaccine: "Comirnaty",
//!     dose: (2, 2),
//!     vaccination_date: "01/09/2021",
//!     country: "VN",
//!     issuer: "Bộ Y tế",
//!     valid_until: "01/09/2022",
//!     uvci: "URN:UVCI:01:VN:EXAMPLE",
//!     hc1: "HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEPWK G2EP4J0B",
//! })?;
//! assert!(pdf.starts_with(b"%PDF-"));
//! # Ok::<(), vaxpass_issuer_web::pdf::PdfError>(())
//! ```

use std::collections::BTreeMap;
use std::sync::LazyLock;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo, UnicodeCmap};
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use subsetter::GlyphRemapper;
use vaxpass_issuer_issuance::qr::{Ecc, QrError, QrMatrix};

use crate::i18n::{EN, Texts, VI, fill};

/// DejaVu Sans (see `fonts/README.md`).
static REGULAR_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
/// DejaVu Sans Bold.
static BOLD_TTF: &[u8] = include_bytes!("../fonts/DejaVuSans-Bold.ttf");

/// Points per millimetre.
const MM: f32 = 72.0 / 25.4;
/// A4, in points.
const PAGE_W: f32 = 210.0 * MM;
const PAGE_H: f32 = 297.0 * MM;
const MARGIN: f32 = 20.0 * MM;
/// The QR code's width without its quiet zone (ISO/IEC 18004 asks for 4 modules of quiet
/// zone, drawn as the white around it). The brief asks for at least 35 mm.
pub const QR_MM: f32 = 60.0;
/// The quiet zone, in modules, left blank around the code.
const QUIET_MODULES: f32 = 4.0;
/// Longest text taken for one field (characters); a longer one is cut with `…`. The domain
/// bounds names well below this already.
const MAX_FIELD_CHARS: usize = 400;

/// What the paper certificate shows, already written for people (dates as `dd/mm/yyyy`).
#[derive(Debug, Clone, Copy)]
pub struct PaperCertificate<'a> {
    /// The holder's name as registered (with diacritics).
    pub holder: &'a str,
    /// The name transliterated for machine reading (ICAO 9303, without the `<`).
    pub transliterated: &'a str,
    /// Date of birth.
    pub date_of_birth: &'a str,
    /// The vaccine's product name.
    pub vaccine: &'a str,
    /// Dose number and doses in the series.
    pub dose: (u64, u64),
    /// Date of vaccination.
    pub vaccination_date: &'a str,
    /// Country of vaccination (ISO 3166-1 alpha-2).
    pub country: &'a str,
    /// The certificate issuer.
    pub issuer: &'a str,
    /// End of validity of the certificate.
    pub valid_until: &'a str,
    /// The unique vaccination certificate identifier.
    pub uvci: &'a str,
    /// The QR code's content (`HC1:…`).
    pub hc1: &'a str,
}

/// Why no PDF could be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PdfError {
    /// The HC1 text does not fit in a QR code at level Q.
    #[error("the QR code could not be made: {0}")]
    Qr(#[from] QrError),
    /// The compiled-in font could not be read or subset (a build defect, not an input one).
    #[error("the certificate font could not be embedded: {0}")]
    Font(String),
}

/// A face of the compiled-in font, parsed once.
struct FontData {
    data: &'static [u8],
    face: ttf_parser::Face<'static>,
    /// The PostScript name of the embedded subset (a subset carries a six-letter tag).
    base_name: &'static [u8],
}

static FONTS: LazyLock<Result<[FontData; 2], String>> = LazyLock::new(|| {
    let parse = |data: &'static [u8], base_name: &'static [u8]| {
        ttf_parser::Face::parse(data, 0)
            .map(|face| FontData {
                data,
                face,
                base_name,
            })
            .map_err(|e| e.to_string())
    };
    Ok([
        parse(REGULAR_TTF, b"VXPASS+DejaVuSans")?,
        parse(BOLD_TTF, b"VXPASS+DejaVuSans-Bold")?,
    ])
});

/// The regular or bold face.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Face {
    Regular = 0,
    Bold = 1,
}

/// A face as used by one document: the glyphs it needs, and what each stands for.
struct Used {
    remapper: GlyphRemapper,
    /// New glyph id → the character it shows (for `ToUnicode`).
    chars: BTreeMap<u16, char>,
}

/// The page being written: its content stream and the glyphs used so far.
struct Writer<'f> {
    fonts: &'f [FontData; 2],
    used: [Used; 2],
    content: Content,
}

/// A colour of the page.
#[derive(Clone, Copy)]
struct Rgb(f32, f32, f32);

const INK: Rgb = Rgb(0.1, 0.12, 0.14);
const MUTED: Rgb = Rgb(0.33, 0.36, 0.4);
const ACCENT: Rgb = Rgb(0.0, 0.37, 0.42);

impl<'f> Writer<'f> {
    /// A blank page.
    fn new(fonts: &'f [FontData; 2]) -> Writer<'f> {
        let used = || Used {
            remapper: GlyphRemapper::new(),
            chars: BTreeMap::new(),
        };
        Writer {
            fonts,
            used: [used(), used()],
            content: Content::new(),
        }
    }

    fn font(&self, face: Face) -> &FontData {
        &self.fonts[face as usize]
    }

    /// The width of `text` at `size` points.
    fn width(&self, face: Face, size: f32, text: &str) -> f32 {
        let f = &self.font(face).face;
        let units: u32 = text
            .chars()
            .map(|c| {
                let g = f.glyph_index(c).unwrap_or(ttf_parser::GlyphId(0));
                u32::from(f.glyph_hor_advance(g).unwrap_or(0))
            })
            .sum();
        units as f32 * size / f32::from(f.units_per_em())
    }

    /// `text` at (x, y) (its baseline).
    fn text(&mut self, face: Face, size: f32, colour: Rgb, x: f32, y: f32, text: &str) {
        let mut encoded = Vec::with_capacity(text.len() * 2);
        for c in text.chars() {
            let font = &self.fonts[face as usize].face;
            let old = font.glyph_index(c).map_or(0, |g| g.0);
            let used = &mut self.used[face as usize];
            let new = used.remapper.remap(old);
            if old != 0 {
                used.chars.entry(new).or_insert(c);
            }
            encoded.extend_from_slice(&new.to_be_bytes());
        }
        let name = font_name(face);
        self.content
            .set_fill_rgb(colour.0, colour.1, colour.2)
            .begin_text()
            .set_font(name, size)
            .next_line(x, y)
            .show(Str(&encoded))
            .end_text();
    }

    /// `text` cut into lines of at most `max_width` points (at spaces, or anywhere in a word
    /// longer than a line).
    fn wrap(&self, face: Face, size: f32, max_width: f32, text: &str) -> Vec<String> {
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split_whitespace() {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if self.width(face, size, &candidate) <= max_width {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The word alone: split it where it overflows.
            for c in word.chars() {
                line.push(c);
                if self.width(face, size, &line) > max_width {
                    line.pop();
                    lines.push(std::mem::take(&mut line));
                    line.push(c);
                }
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// A filled rectangle.
    fn fill_rect(&mut self, colour: Rgb, x: f32, y: f32, w: f32, h: f32) {
        self.content
            .set_fill_rgb(colour.0, colour.1, colour.2)
            .rect(x, y, w, h)
            .fill_nonzero();
    }
}

fn font_name(face: Face) -> Name<'static> {
    match face {
        Face::Regular => Name(b"F1"),
        Face::Bold => Name(b"F2"),
    }
}

/// At most [`MAX_FIELD_CHARS`] characters of `s`, control characters as spaces.
fn clean(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_FIELD_CHARS)
        .collect();
    if s.chars().count() > MAX_FIELD_CHARS {
        out.push('…');
    }
    out
}

/// The name of a country of vaccination, in both languages where it is Viet Nam.
fn country_name(code: &str) -> String {
    match code {
        "VN" => "Việt Nam / Viet Nam (VN)".to_owned(),
        other => other.to_owned(),
    }
}

/// The PDF of the paper certificate.
///
/// # Errors
/// [`PdfError::Qr`] when the HC1 text does not fit in a QR code at level Q;
/// [`PdfError::Font`] when the compiled-in font cannot be embedded.
pub fn render(c: &PaperCertificate<'_>) -> Result<Vec<u8>, PdfError> {
    let fonts = FONTS.as_ref().map_err(|e| PdfError::Font(e.clone()))?;
    let qr = QrMatrix::encode(c.hc1, Ecc::Q)?;
    let mut w = Writer::new(fonts);
    draw_page(&mut w, c, &qr);
    finish(w)
}

/// A row of the data: the label in Vietnamese and in English, the value's lines.
type Row<'a> = (&'a str, &'a str, Vec<(Face, String)>);

/// Everything on the page.
fn draw_page(w: &mut Writer<'_>, c: &PaperCertificate<'_>, qr: &QrMatrix) {
    let (vi, en): (&Texts, &Texts) = (&VI, &EN);
    let left = MARGIN;
    let right = PAGE_W - MARGIN;
    let mut y = PAGE_H - MARGIN;

    // The head: the ministry, the document's name in both languages, a rule.
    w.fill_rect(ACCENT, left, y - 3.0, right - left, 3.0);
    y -= 18.0;
    w.text(
        Face::Bold,
        10.0,
        ACCENT,
        left,
        y,
        &format!(
            "{} · {}",
            vi.ministry.to_uppercase(),
            en.ministry.to_uppercase()
        ),
    );
    y -= 26.0;
    w.text(Face::Bold, 22.0, INK, left, y, vi.pdf_title);
    y -= 18.0;
    w.text(Face::Regular, 13.0, MUTED, left, y, en.pdf_title);
    y -= 14.0;
    w.fill_rect(MUTED, left, y, right - left, 0.6);

    // The QR code, centred: one path of module rectangles (runs of a row merged).
    let qr_side = QR_MM * MM;
    let modules = qr.width();
    let module = qr_side / modules as f32;
    let quiet = QUIET_MODULES * module;
    y -= 10.0 + quiet;
    let qr_left = (PAGE_W - qr_side) / 2.0;
    let qr_top = y;
    w.content.set_fill_rgb(0.0, 0.0, 0.0);
    for row in 0..modules {
        let mut col = 0;
        while col < modules {
            if !qr.is_dark(col, row) {
                col += 1;
                continue;
            }
            let start = col;
            while col < modules && qr.is_dark(col, row) {
                col += 1;
            }
            w.content.rect(
                qr_left + start as f32 * module,
                qr_top - (row + 1) as f32 * module,
                (col - start) as f32 * module,
                module,
            );
        }
    }
    w.content.fill_nonzero();
    // The caption below the quiet zone, not in it.
    y = qr_top - qr_side - quiet - 11.0;
    let caption = format!("{} · {}", vi.pdf_scan, en.pdf_scan);
    let caption_w = w.width(Face::Regular, 9.0, &caption);
    w.text(
        Face::Regular,
        9.0,
        MUTED,
        (PAGE_W - caption_w) / 2.0,
        y,
        &caption,
    );
    y -= 22.0;

    // The data: label in Vietnamese (bold) over English (muted), the value beside them.
    let label_w = 62.0 * MM;
    let value_x = left + label_w + 4.0 * MM;
    let value_w = right - value_x;
    let dose_vi = fill(
        vi.dose_of,
        &[
            ("n", &c.dose.0.to_string()),
            ("total", &c.dose.1.to_string()),
        ],
    );
    let dose_en = fill(
        en.dose_of,
        &[
            ("n", &c.dose.0.to_string()),
            ("total", &c.dose.1.to_string()),
        ],
    );
    let rows: [Row<'_>; 9] = [
        (
            vi.cert_holder,
            en.cert_holder,
            vec![
                (Face::Bold, clean(c.holder)),
                (Face::Regular, clean(c.transliterated)),
            ],
        ),
        (
            vi.date_of_birth,
            en.date_of_birth,
            vec![(Face::Regular, clean(c.date_of_birth))],
        ),
        (
            vi.vaccine,
            en.vaccine,
            vec![(Face::Regular, clean(c.vaccine))],
        ),
        (
            vi.dose_number,
            en.dose_number,
            vec![(Face::Regular, format!("{dose_vi} · {dose_en}"))],
        ),
        (
            vi.vaccination_date,
            en.vaccination_date,
            vec![(Face::Regular, clean(c.vaccination_date))],
        ),
        (
            vi.pdf_country,
            en.pdf_country,
            vec![(Face::Regular, country_name(&clean(c.country)))],
        ),
        (
            vi.cert_issuer,
            en.cert_issuer,
            vec![(Face::Regular, clean(c.issuer))],
        ),
        (
            vi.cert_valid_until,
            en.cert_valid_until,
            vec![(Face::Regular, clean(c.valid_until))],
        ),
        (
            vi.cert_uvci,
            en.cert_uvci,
            vec![(Face::Regular, clean(c.uvci))],
        ),
    ];
    for (label_vi, label_en, values) in rows {
        let top = y;
        let mut ly = top;
        for line in w.wrap(Face::Bold, 9.5, label_w, label_vi) {
            w.text(Face::Bold, 9.5, INK, left, ly, &line);
            ly -= 11.5;
        }
        for line in w.wrap(Face::Regular, 8.5, label_w, label_en) {
            w.text(Face::Regular, 8.5, MUTED, left, ly, &line);
            ly -= 10.5;
        }
        let mut vy = top;
        for (face, value) in values {
            for line in w.wrap(face, 11.0, value_w, &value) {
                w.text(face, 11.0, INK, value_x, vy, &line);
                vy -= 14.0;
            }
        }
        y = ly.min(vy) - 5.0;
        w.fill_rect(Rgb(0.82, 0.84, 0.86), left, y + 1.0, right - left, 0.4);
        y -= 11.0;
    }

    // The note at the foot, in both languages.
    y -= 4.0;
    for (text, face, colour) in [
        (vi.pdf_note, Face::Regular, INK),
        (en.pdf_note, Face::Regular, MUTED),
    ] {
        for line in w.wrap(face, 8.5, right - left, text) {
            w.text(face, 8.5, colour, left, y, &line);
            y -= 11.0;
        }
        y -= 3.0;
    }
}

/// The document around the page: catalogue, page, fonts (subset), info.
fn finish(w: Writer<'_>) -> Result<Vec<u8>, PdfError> {
    let Writer {
        fonts,
        used,
        content,
    } = w;
    let mut pdf = Pdf::new();
    let catalog = Ref::new(1);
    let pages = Ref::new(2);
    let page = Ref::new(3);
    let content_id = Ref::new(4);
    let info = Ref::new(5);
    let mut next = 6;
    let mut alloc = || {
        let r = Ref::new(next);
        next += 1;
        r
    };
    let font_refs: Vec<[Ref; 5]> = (0..2)
        .map(|_| [alloc(), alloc(), alloc(), alloc(), alloc()])
        .collect();

    pdf.catalog(catalog).pages(pages).lang(TextStr("vi"));
    pdf.pages(pages).kids([page]).count(1);
    let title = format!("{} / {}", VI.pdf_title, EN.pdf_title);
    pdf.document_info(info)
        .title(TextStr(&title))
        .producer(TextStr("vaxpass"));
    {
        let mut p = pdf.page(page);
        p.media_box(Rect::new(0.0, 0.0, PAGE_W, PAGE_H))
            .parent(pages)
            .contents(content_id);
        let mut resources = p.resources();
        let mut f = resources.fonts();
        f.pair(font_name(Face::Regular), font_refs[0][0]);
        f.pair(font_name(Face::Bold), font_refs[1][0]);
    }
    let stream = deflate(&content.finish());
    pdf.stream(content_id, &stream).filter(Filter::FlateDecode);

    let system_info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };
    for (i, (font, used)) in fonts.iter().zip(used.iter()).enumerate() {
        let [type0, cid, descriptor, file, cmap] = font_refs[i];
        let subset = subsetter::subset(font.data, 0, &used.remapper)
            .map_err(|e| PdfError::Font(e.to_string()))?;
        let face = &font.face;
        let scale = 1000.0 / f32::from(face.units_per_em());
        let base = Name(font.base_name);

        pdf.type0_font(type0)
            .base_font(base)
            .encoding_predefined(Name(b"Identity-H"))
            .descendant_font(cid)
            .to_unicode(cmap);

        let widths: Vec<f32> = used
            .remapper
            .remapped_gids()
            .map(|old| {
                f32::from(
                    face.glyph_hor_advance(ttf_parser::GlyphId(old))
                        .unwrap_or(0),
                ) * scale
            })
            .collect();
        let mut cid_font = pdf.cid_font(cid);
        cid_font
            .subtype(CidFontType::Type2)
            .base_font(base)
            .system_info(system_info)
            .font_descriptor(descriptor)
            .cid_to_gid_map_predefined(Name(b"Identity"));
        cid_font.widths().consecutive(0, widths);
        cid_font.finish();

        let bbox = face.global_bounding_box();
        let mut flags = FontFlags::NON_SYMBOLIC;
        if i == 1 {
            flags |= FontFlags::FORCE_BOLD;
        }
        pdf.font_descriptor(descriptor)
            .name(base)
            .flags(flags)
            .bbox(Rect::new(
                f32::from(bbox.x_min) * scale,
                f32::from(bbox.y_min) * scale,
                f32::from(bbox.x_max) * scale,
                f32::from(bbox.y_max) * scale,
            ))
            .italic_angle(0.0)
            .ascent(f32::from(face.ascender()) * scale)
            .descent(f32::from(face.descender()) * scale)
            .cap_height(f32::from(face.capital_height().unwrap_or(face.ascender())) * scale)
            .stem_v(if i == 1 { 140.0 } else { 80.0 })
            .font_file2(file);

        let compressed = deflate(&subset);
        pdf.stream(file, &compressed)
            .filter(Filter::FlateDecode)
            .pair(Name(b"Length1"), subset.len() as i32);

        let mut unicode = UnicodeCmap::new(Name(b"Custom"), system_info);
        for (&gid, &ch) in &used.chars {
            unicode.pair(gid, ch);
        }
        pdf.cmap(cmap, &unicode.finish());
    }
    Ok(pdf.finish())
}

/// Zlib (the PDF `FlateDecode` filter), at a level that stays fast.
fn deflate(bytes: &[u8]) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(bytes, 6)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(holder: &str) -> PaperCertificate<'_> {
        PaperCertificate {
            holder,
            transliterated: "NGUYEN THI LAN",
            date_of_birth: "27/03/1985",
            vaccine: "Comirnaty",
            dose: (2, 2),
            vaccination_date: "01/09/2021",
            country: "VN",
            issuer: "Bộ Y tế",
            valid_until: "01/09/2022",
            uvci: "URN:UVCI:01:VN:ABCDEF#X",
            hc1: "HC1:6BFOXN*TS0BI$ZD4N9:9S6RCVN5+O30K3/XIV0W23NTDEPWK G2EP4J0B",
        }
    }

    #[test]
    fn a_pdf_with_both_fonts_embedded() {
        let pdf = render(&sample("Nguyễn Thị Lan")).unwrap();
        assert!(pdf.starts_with(b"%PDF-1."));
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("/FontFile2"));
        assert!(text.contains("VXPASS+DejaVuSans-Bold"));
        assert!(text.contains("/ToUnicode"));
        // Deterministic.
        assert_eq!(pdf, render(&sample("Nguyễn Thị Lan")).unwrap());
    }

    #[test]
    fn hostile_fields_do_not_break_it() {
        let long = "Ư".repeat(5000);
        let odd = "a\u{0}b\r\n\u{202e}c \u{1F600} 漢字";
        for holder in [long.as_str(), odd, "", "x"] {
            let pdf = render(&sample(holder)).unwrap();
            assert!(pdf.ends_with(b"%%EOF") || pdf.ends_with(b"%%EOF\n"));
        }
    }

    #[test]
    fn too_long_for_a_qr_code() {
        let hc1 = "A".repeat(5000);
        let c = PaperCertificate {
            hc1: &hc1,
            ..sample("x")
        };
        assert!(matches!(render(&c), Err(PdfError::Qr(_))));
    }

    #[test]
    fn lines_wrap_within_the_width() {
        let fonts = FONTS.as_ref().unwrap();
        let w = Writer::new(fonts);
        let lines = w.wrap(
            Face::Regular,
            11.0,
            100.0,
            "Trung tâm Kiểm soát bệnh tật Thành phố Hồ Chí Minh",
        );
        assert!(lines.len() > 1);
        for l in &lines {
            assert!(w.width(Face::Regular, 11.0, l) <= 100.0, "{l}");
        }
        assert_eq!(
            lines.join(" "),
            "Trung tâm Kiểm soát bệnh tật Thành phố Hồ Chí Minh"
        );
        let word = w.wrap(Face::Regular, 11.0, 50.0, &"W".repeat(40));
        assert!(word.len() > 2);
    }
}
