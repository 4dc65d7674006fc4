//! The registry extract as CSV: a streaming reader and a synthetic generator.
//!
//! # Format
//!
//! UTF-8 (a leading byte-order mark is ignored), one person per line, `\n` or `\r\n`:
//!
//! ```text
//! id_number,full_name,date_of_birth,sex
//! 079085012345,Nguyễn Thị Lan,1985-04-12,F
//! 012345678,Trần Văn Hùng,1962-11-03,M
//! ```
//!
//! - `id_number`: 12-digit CCCD or 9-digit CMND (separators allowed, as [`IdNumber::parse_national`]).
//! - `full_name`: family name first, with diacritics; 1–[`MAX_NAME_CHARS`] characters.
//! - `date_of_birth`: a full date, `yyyy-mm-dd` (or `dd/mm/yyyy`).
//! - `sex`: `M` or `F` (also `male`/`female`, `nam`/`nữ`).
//!
//! Fields may be quoted (`"…"`, with `""` for a quote); a record never spans lines. Fields are
//! split by [`csv_core`] (the `csv` crate's reader), after a strict check of the quoting (an
//! unclosed quote or a quote inside an unquoted field is [`RowReason::Quote`], where `csv_core`
//! alone would accept it silently). Blank
//! lines are skipped. Lines longer than [`MAX_LINE_BYTES`] are reported and skipped without
//! being held in memory.

use std::fmt;
use std::io::{self, BufRead, BufWriter, Write};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use vaxpass_issuer_domain::dates::{Date, DateError, days_in_month};
use vaxpass_issuer_domain::identity::{Cccd, Cmnd, IdError, IdNumber, PROVINCES, Sex};
use vaxpass_issuer_domain::matching::RegistryPerson;

/// The header line.
pub const HEADER: &str = "id_number,full_name,date_of_birth,sex";
/// Longest line accepted, in bytes.
pub const MAX_LINE_BYTES: usize = 1024;
/// Longest name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// What is wrong with a line. Never contains the line's content (safe to log).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RowReason {
    /// The first line is not [`HEADER`]; reading stops.
    #[error("the first line must be the header `{HEADER}`")]
    Header,
    /// Longer than [`MAX_LINE_BYTES`].
    #[error("the line is longer than {max} bytes")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// Not UTF-8.
    #[error("the line is not valid UTF-8")]
    NotUtf8,
    /// A quoted field is not closed, or a quote stands inside an unquoted field.
    #[error("a quoted field is not closed properly")]
    Quote,
    /// Not 4 fields.
    #[error("expected 4 fields, found {found}")]
    FieldCount {
        /// Fields found.
        found: usize,
    },
    /// Bad `id_number`.
    #[error("id_number: {0}")]
    Id(IdError),
    /// Empty or overlong `full_name`.
    #[error("full_name: must be 1 to {MAX_NAME_CHARS} characters")]
    Name,
    /// Bad `date_of_birth`.
    #[error("date_of_birth: {0}")]
    Date(DateError),
    /// Bad `sex`.
    #[error("sex: must be M or F")]
    Sex,
    /// Reading failed; reading stops.
    #[error("reading failed: {0}")]
    Io(io::ErrorKind),
}

/// A line that could not be read as a person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RowError {
    /// 1-based line number (the header is line 1).
    pub line: u64,
    /// What is wrong.
    pub reason: RowReason,
}

enum Line {
    Eof,
    Ok,
    TooLong,
}

#[derive(PartialEq, Eq)]
enum State {
    Header,
    Rows,
    Done,
}

/// Streaming reader of a registry CSV: an iterator of persons and row errors. Holds at most one
/// line in memory; after a bad row it goes on with the next line. Only a missing header and an
/// I/O error end the iteration.
pub struct RegistryReader<R> {
    inner: R,
    line: u64,
    buf: Vec<u8>,
    state: State,
    csv: csv_core::Reader,
}

/// Reads a registry CSV (see the module documentation for the format).
pub fn read_registry<R: BufRead>(reader: R) -> RegistryReader<R> {
    RegistryReader {
        inner: reader,
        line: 0,
        buf: Vec::with_capacity(256),
        state: State::Header,
        csv: csv_core::Reader::new(),
    }
}

impl<R> fmt::Debug for RegistryReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RegistryReader")
            .field("line", &self.line)
            .finish_non_exhaustive()
    }
}

impl<R: BufRead> RegistryReader<R> {
    /// The number of the last line read.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// Reads one line into `buf` (without the terminator), never more than `MAX_LINE_BYTES`.
    fn next_line(&mut self) -> io::Result<Line> {
        self.buf.clear();
        let mut too_long = false;
        let mut any = false;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(b) => b,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                return Ok(match (any, too_long) {
                    (false, _) => Line::Eof,
                    (true, true) => Line::TooLong,
                    (true, false) => Line::Ok,
                });
            }
            any = true;
            let (chunk, used, end) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (&avail[..i], i + 1, true),
                None => (avail, avail.len(), false),
            };
            if !too_long {
                if self.buf.len() + chunk.len() > MAX_LINE_BYTES + 1 {
                    too_long = true;
                    self.buf.clear();
                } else {
                    self.buf.extend_from_slice(chunk);
                }
            }
            self.inner.consume(used);
            if end {
                if self.buf.last() == Some(&b'\r') {
                    self.buf.pop();
                }
                if self.buf.len() > MAX_LINE_BYTES {
                    too_long = true;
                }
                return Ok(if too_long { Line::TooLong } else { Line::Ok });
            }
        }
    }
}

/// A strict RFC 4180 check of CSV text, byte by byte, beside [`csv_core`] (which never reports an
/// error: it prefers *a* parse to none, so `a"b` and an unclosed quote parse silently). It keeps
/// no text, only its state, so it can follow a record across any number of chunks in one pass;
/// it also counts the record's fields and the line breaks it has seen.
#[derive(Debug, Clone, Default)]
pub struct QuoteCheck {
    state: QuoteState,
    /// Fields of the current record so far (0 before its first byte).
    pub fields: usize,
    /// `\n` seen since the check was created.
    pub newlines: u64,
    /// `newlines` when the current record's first byte was seen.
    pub record_start: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum QuoteState {
    /// Before a record (line breaks between records are skipped).
    #[default]
    RecordStart,
    /// At the start of a field.
    FieldStart,
    /// Inside an unquoted field.
    Unquoted,
    /// Inside a quoted field.
    Quoted,
    /// A quote inside a quoted field: the closing quote, or the first of `""`.
    QuoteSeen,
    /// After the end of a record (its line break).
    RecordEnd,
    /// A quote inside an unquoted field, or text after a closing quote.
    Bad,
}

impl QuoteCheck {
    /// Follows `bytes` (the next bytes of the input, in order).
    pub fn feed(&mut self, bytes: &[u8]) {
        use QuoteState::*;
        for &b in bytes {
            if b == b'\n' {
                self.newlines += 1;
            }
            let term = b == b'\n' || b == b'\r';
            self.state = match (self.state, b) {
                (RecordStart | RecordEnd, _) if term => self.state,
                (RecordStart | RecordEnd, _) => {
                    self.record_start = self.newlines;
                    self.fields = 1;
                    match b {
                        b'"' => Quoted,
                        b',' => {
                            self.fields += 1;
                            FieldStart
                        }
                        _ => Unquoted,
                    }
                }
                (Quoted, b'"') => QuoteSeen,
                (Quoted, _) => Quoted,
                (FieldStart | Unquoted | QuoteSeen, _) if term => RecordEnd,
                (FieldStart | Unquoted | QuoteSeen, b',') => {
                    self.fields += 1;
                    FieldStart
                }
                (FieldStart, b'"') | (QuoteSeen, b'"') => Quoted,
                (FieldStart | Unquoted, _) => Unquoted,
                (QuoteSeen, _) | (Bad, _) => Bad,
            };
            if self.state == Unquoted && b == b'"' {
                self.state = Bad;
            }
        }
    }

    /// Whether the record so far broke a quoting rule.
    pub fn bad(&self) -> bool {
        self.state == QuoteState::Bad
    }

    /// Whether a quoted field is still open.
    pub fn open(&self) -> bool {
        self.state == QuoteState::Quoted
    }

    /// Ready for the next record (the line count goes on).
    pub fn next_record(&mut self) {
        self.state = QuoteState::RecordStart;
        self.fields = 0;
    }
}

/// Splits one CSV line into fields with [`csv_core`] (quotes as in RFC 4180, within one line),
/// after [`QuoteCheck`] has found its quoting correct.
fn split_fields(csv: &mut csv_core::Reader, line: &str) -> Result<Vec<String>, RowReason> {
    let mut check = QuoteCheck::default();
    check.feed(line.as_bytes());
    if check.bad() || check.open() {
        return Err(RowReason::Quote);
    }
    if check.fields != 4 {
        return Err(RowReason::FieldCount {
            found: check.fields.max(1),
        });
    }
    csv.reset();
    // Unquoting never lengthens a field: the line's length is enough room.
    let mut out = vec![0u8; line.len()];
    let mut ends = [0usize; 4];
    let (mut input, mut nout, mut nends) = (line.as_bytes(), 0, 0);
    loop {
        let (res, nin, o, e) = csv.read_record(
            input,
            out.get_mut(nout..).unwrap_or_default(),
            ends.get_mut(nends..).unwrap_or_default(),
        );
        input = input.get(nin..).unwrap_or_default();
        nout += o;
        nends += e;
        match res {
            csv_core::ReadRecordResult::InputEmpty => {}
            csv_core::ReadRecordResult::Record | csv_core::ReadRecordResult::End => break,
            // Cannot happen (room for the whole line and 4 fields, checked above); reported as
            // a quoting error rather than trusted.
            csv_core::ReadRecordResult::OutputFull | csv_core::ReadRecordResult::OutputEndsFull => {
                return Err(RowReason::Quote);
            }
        }
    }
    let mut fields = Vec::with_capacity(4);
    let mut from = 0;
    for &end in ends.get(..nends).unwrap_or_default() {
        let bytes = out.get(from..end).ok_or(RowReason::Quote)?;
        // Fields of a UTF-8 line split at ASCII bytes are UTF-8.
        fields.push(String::from_utf8(bytes.to_vec()).map_err(|_| RowReason::NotUtf8)?);
        from = end;
    }
    Ok(fields)
}

/// Parses one data line into a person.
fn parse_row(csv: &mut csv_core::Reader, line: &str) -> Result<RegistryPerson, RowReason> {
    let fields = split_fields(csv, line)?;
    let [id, name, dob, sex] = fields.as_slice() else {
        return Err(RowReason::FieldCount {
            found: fields.len(),
        });
    };
    let id = IdNumber::parse_national(id).map_err(RowReason::Id)?;
    let full_name = vaxpass_issuer_domain::names::normalise_spacing(name);
    let n = full_name.chars().count();
    if n == 0 || n > MAX_NAME_CHARS {
        return Err(RowReason::Name);
    }
    let date_of_birth = Date::parse(dob).map_err(RowReason::Date)?;
    let sex = Sex::parse(sex).ok_or(RowReason::Sex)?;
    Ok(RegistryPerson {
        id,
        full_name,
        date_of_birth,
        sex,
    })
}

impl<R: BufRead> Iterator for RegistryReader<R> {
    type Item = Result<RegistryPerson, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.state == State::Done {
                return None;
            }
            let read = self.next_line();
            self.line += 1;
            let line = self.line;
            let err = |reason| Some(Err(RowError { line, reason }));
            match read {
                Err(e) => {
                    self.state = State::Done;
                    return err(RowReason::Io(e.kind()));
                }
                Ok(Line::Eof) => {
                    self.state = State::Done;
                    return None;
                }
                Ok(Line::TooLong) => {
                    if self.state == State::Header {
                        self.state = State::Done;
                        return err(RowReason::Header);
                    }
                    return err(RowReason::TooLong {
                        max: MAX_LINE_BYTES,
                    });
                }
                Ok(Line::Ok) => {}
            }
            let Ok(text) = std::str::from_utf8(&self.buf) else {
                if self.state == State::Header {
                    self.state = State::Done;
                    return err(RowReason::Header);
                }
                return err(RowReason::NotUtf8);
            };
            if self.state == State::Header {
                let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
                let header: String = text.chars().filter(|c| !c.is_whitespace()).collect();
                if header.eq_ignore_ascii_case(HEADER) {
                    self.state = State::Rows;
                    continue;
                }
                self.state = State::Done;
                return err(RowReason::Header);
            }
            if text.trim().is_empty() {
                continue;
            }
            return Some(
                parse_row(&mut self.csv, text).map_err(|reason| RowError { line, reason }),
            );
        }
    }
}

fn write_field<W: Write>(w: &mut W, s: &str) -> io::Result<()> {
    if s.contains([',', '"', '\n', '\r']) {
        write!(w, "\"{}\"", s.replace('"', "\"\""))
    } else {
        w.write_all(s.as_bytes())
    }
}

/// Writes [`HEADER`] and a line break.
///
/// # Errors
/// The writer's.
pub fn write_header<W: Write>(w: &mut W) -> io::Result<()> {
    writeln!(w, "{HEADER}")
}

/// Writes one person as a CSV line.
///
/// # Errors
/// The writer's.
pub fn write_person<W: Write>(w: &mut W, p: &RegistryPerson) -> io::Result<()> {
    write!(w, "{},", p.id)?;
    write_field(w, &p.full_name)?;
    writeln!(w, ",{},{}", p.date_of_birth, p.sex.code())
}

// ---------------------------------------------------------------------------------------------
// Synthetic registry

/// Family names with their approximate share of the population, in per mille (commonly cited
/// estimates: Nguyễn ~38 %, Trần ~11 %, Lê ~9.5 %, Phạm ~7 %, Hoàng/Huỳnh ~5 %, Phan ~4.5 %,
/// Vũ/Võ ~3.9 %, Đặng ~2.1 %, Bùi ~2 %, Đỗ ~1.4 %, Hồ ~1.3 %, Ngô ~1.3 %, Dương ~1 %, Lý ~0.5 %;
/// the remaining ~11 % spread over less common names).
const FAMILY_NAMES: &[(&str, u32)] = &[
    ("Nguyễn", 384),
    ("Trần", 110),
    ("Lê", 95),
    ("Phạm", 70),
    ("Hoàng", 30),
    ("Huỳnh", 21),
    ("Phan", 45),
    ("Vũ", 20),
    ("Võ", 19),
    ("Đặng", 21),
    ("Bùi", 20),
    ("Đỗ", 14),
    ("Hồ", 13),
    ("Ngô", 13),
    ("Dương", 10),
    ("Lý", 5),
    ("Trương", 8),
    ("Đinh", 7),
    ("Lâm", 6),
    ("Mai", 6),
    ("Lương", 6),
    ("Đoàn", 6),
    ("Trịnh", 6),
    ("Cao", 5),
    ("Hà", 5),
    ("Tô", 5),
    ("Lưu", 5),
    ("Tạ", 5),
    ("Châu", 5),
    ("Quách", 5),
    ("Thái", 5),
    ("Kiều", 5),
    ("Triệu", 5),
    ("Phùng", 5),
    ("La", 4),
    ("Từ", 4),
    ("Chu", 4),
    ("Khổng", 4),
];

const MALE_MIDDLE: &[(&str, u32)] = &[
    ("Văn", 40),
    ("Hữu", 8),
    ("Đức", 8),
    ("Minh", 8),
    ("Quốc", 6),
    ("Công", 6),
    ("Thành", 5),
    ("Xuân", 4),
    ("Quang", 5),
    ("Gia", 4),
    ("Ngọc", 3),
    ("Trọng", 3),
];

const FEMALE_MIDDLE: &[(&str, u32)] = &[
    ("Thị", 45),
    ("Ngọc", 10),
    ("Thu", 6),
    ("Thanh", 6),
    ("Kim", 5),
    ("Mỹ", 4),
    ("Bích", 4),
    ("Hồng", 4),
    ("Phương", 4),
    ("Minh", 4),
    ("Khánh", 3),
    ("Bảo", 3),
];

const MALE_GIVEN: &[&str] = &[
    "An", "Anh", "Bảo", "Bình", "Cường", "Dũng", "Duy", "Đạt", "Hải", "Hiếu", "Hòa", "Hoà", "Hùng",
    "Huy", "Khang", "Khánh", "Kiên", "Long", "Nam", "Nghĩa", "Phong", "Phúc", "Quân", "Sơn", "Tài",
    "Thắng", "Thịnh", "Toàn", "Trung", "Tùng", "Tuấn", "Việt", "Vinh", "Lộc", "Đông", "Khoa",
    "Tâm", "Hưng", "Thuận", "Ưng",
];

const FEMALE_GIVEN: &[&str] = &[
    "Anh", "Châu", "Chi", "Diệp", "Dung", "Giang", "Hà", "Hạnh", "Hằng", "Hiền", "Hoa", "Hương",
    "Huyền", "Lan", "Linh", "Loan", "Mai", "My", "Nga", "Ngân", "Nhung", "Oanh", "Phương", "Quỳnh",
    "Tâm", "Thảo", "Thủy", "Thuỷ", "Trang", "Trinh", "Tuyết", "Uyên", "Vân", "Yến", "Ánh", "Ngọc",
    "Nhi", "Thư", "Xuân", "Đào",
];

/// First and last birth year of generated persons.
pub const GENERATED_YEARS: (u16, u16) = (1930, 2015);
/// Largest `count` [`generate`] accepts: with at most this many persons no (province, sex,
/// year) group can run out of its 10⁶ CCCD serials.
pub const MAX_GENERATE: u64 = 1_000_000_000;

/// A stride coprime with 10⁶ (odd, not a multiple of 5): `offset + k·stride mod 10⁶` visits every
/// serial once, so CCCD numbers are unique without remembering them.
const SERIAL_STRIDE: u64 = 387_403;
/// 3¹⁸, coprime with 10⁹: the same for CMND numbers.
const CMND_STRIDE: u64 = 387_420_489;

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

fn pick_weighted<'a, R: Rng>(rng: &mut R, table: &'a [(&'a str, u32)], total: u32) -> &'a str {
    let mut x = rng.gen_range(0..total);
    for &(s, w) in table {
        if x < w {
            return s;
        }
        x -= w;
    }
    table.last().map_or("", |&(s, _)| s)
}

fn pick<'a, R: Rng>(rng: &mut R, list: &'a [&'a str]) -> &'a str {
    list.get(rng.gen_range(0..list.len()))
        .copied()
        .unwrap_or("")
}

fn total(table: &[(&str, u32)]) -> u32 {
    table.iter().map(|&(_, w)| w).sum()
}

/// An endless, reproducible stream of synthetic registry persons (see [`generate`]).
pub struct PersonGenerator {
    rng: SmallRng,
    seed: u64,
    /// Next serial index per (province, sex, birth year) group.
    counters: Vec<u32>,
    cmnd_count: u64,
    totals: (u32, u32, u32),
}

impl fmt::Debug for PersonGenerator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersonGenerator")
            .field("seed", &self.seed)
            .finish_non_exhaustive()
    }
}

const YEARS: usize = (GENERATED_YEARS.1 - GENERATED_YEARS.0 + 1) as usize;

impl PersonGenerator {
    /// A generator seeded with `seed`: the same seed gives the same persons (for a given `rand`
    /// version and platform word size, as `SmallRng` promises no more).
    pub fn new(seed: u64) -> Self {
        PersonGenerator {
            rng: SmallRng::seed_from_u64(seed),
            seed,
            counters: vec![0; PROVINCES.len() * 2 * YEARS],
            cmnd_count: 0,
            totals: (
                total(FAMILY_NAMES),
                total(MALE_MIDDLE),
                total(FEMALE_MIDDLE),
            ),
        }
    }

    fn name(&mut self, sex: Sex) -> String {
        let family = pick_weighted(&mut self.rng, FAMILY_NAMES, self.totals.0);
        let (middle_table, middle_total, given_list) = match sex {
            Sex::Male => (MALE_MIDDLE, self.totals.1, MALE_GIVEN),
            Sex::Female => (FEMALE_MIDDLE, self.totals.2, FEMALE_GIVEN),
        };
        let mut name = String::with_capacity(32);
        name.push_str(family);
        // ~3 % no middle name, ~15 % two middle names ("Nguyễn Thị Thu Hà").
        let middles = match self.rng.gen_range(0..100) {
            0..=2 => 0,
            3..=17 => 2,
            _ => 1,
        };
        let mut last = "";
        for _ in 0..middles {
            let m = pick_weighted(&mut self.rng, middle_table, middle_total);
            if m != last {
                name.push(' ');
                name.push_str(m);
                last = m;
            }
        }
        name.push(' ');
        name.push_str(pick(&mut self.rng, given_list));
        name
    }

    fn province(&mut self) -> (usize, u16) {
        // Hà Nội and TP. Hồ Chí Minh register far more births than an average province.
        let extra = 16u32;
        let x = self.rng.gen_range(0..PROVINCES.len() as u32 + extra);
        let idx = match x as usize {
            i if i < PROVINCES.len() => i,
            i if i < PROVINCES.len() + 7 => 0,
            _ => PROVINCES.iter().position(|&(c, _)| c == 79).unwrap_or(0),
        };
        (idx, PROVINCES.get(idx).map_or(1, |&(c, _)| c))
    }

    /// The next person. `None` only if every CCCD group ran out of serials, which cannot happen
    /// within [`MAX_GENERATE`] persons.
    pub fn next_person(&mut self) -> Option<RegistryPerson> {
        let sex = if self.rng.gen_bool(0.5) {
            Sex::Male
        } else {
            Sex::Female
        };
        let year = self.rng.gen_range(GENERATED_YEARS.0..=GENERATED_YEARS.1);
        let month = self.rng.gen_range(1..=12u8);
        let day = self.rng.gen_range(1..=days_in_month(year, month));
        let date_of_birth = Date::new(year, month, day).ok()?;
        let full_name = self.name(sex);
        // ~10 % still use the old 9-digit CMND; it was issued from age 14 and is no longer
        // issued since 2021, so only to persons born up to 2006.
        // 11.2 % of the eligible ~89.5 % (born 1930–2006 of 1930–2015) gives ~10 % overall.
        if year <= 2006 && self.rng.gen_range(0..1000) < 112 {
            let offset = splitmix64(self.seed ^ 0xC3ED) % 1_000_000_000;
            let value = (offset + self.cmnd_count.wrapping_mul(CMND_STRIDE)) % 1_000_000_000;
            self.cmnd_count += 1;
            let id = IdNumber::Cmnd(Cmnd::new(u32::try_from(value).ok()?)?);
            return Some(RegistryPerson {
                id,
                full_name,
                date_of_birth,
                sex,
            });
        }
        for _ in 0..1000 {
            let (pidx, province) = self.province();
            let group = (pidx * 2 + usize::from(sex == Sex::Female)) * YEARS
                + usize::from(year - GENERATED_YEARS.0);
            let Some(counter) = self.counters.get_mut(group) else {
                continue;
            };
            if *counter >= 1_000_000 {
                continue;
            }
            let k = u64::from(*counter);
            *counter += 1;
            let offset = splitmix64(self.seed ^ ((group as u64) << 20)) % 1_000_000;
            let serial = (offset + k * SERIAL_STRIDE) % 1_000_000;
            let cccd = Cccd::new(province, sex, year, u32::try_from(serial).ok()?)?;
            return Some(RegistryPerson {
                id: IdNumber::Cccd(cccd),
                full_name,
                date_of_birth,
                sex,
            });
        }
        None
    }
}

impl Iterator for PersonGenerator {
    type Item = RegistryPerson;
    fn next(&mut self) -> Option<RegistryPerson> {
        self.next_person()
    }
}

/// `count` synthetic persons from `seed` (see [`generate`]).
pub fn generate_persons(count: u64, seed: u64) -> impl Iterator<Item = RegistryPerson> {
    PersonGenerator::new(seed).take(usize::try_from(count.min(MAX_GENERATE)).unwrap_or(usize::MAX))
}

/// Why [`generate`] failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GenerateError {
    /// More than [`MAX_GENERATE`] persons asked for.
    #[error("at most {MAX_GENERATE} persons can be generated")]
    TooMany,
    /// Writing failed.
    #[error("writing the registry failed: {0}")]
    Io(#[from] io::Error),
}

/// What [`generate`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GenerateSummary {
    /// Persons written.
    pub persons: u64,
    /// Of which with a CCCD.
    pub cccd: u64,
    /// Of which with a CMND.
    pub cmnd: u64,
}

/// Writes a synthetic but realistic registry CSV of `count` persons, reproducible from `seed`:
/// Vietnamese names with diacritics (family names weighted by their real frequency, middle
/// names by sex, some with two middle names, both tone-mark placements in use), sexes 50/50,
/// birth dates uniform over 1930–2015, unique CCCD numbers consistent with a province code
/// (Hà Nội and TP. Hồ Chí Minh weighted up), the century/sex digit and the birth year, and ~10 %
/// unique 9-digit CMND numbers instead (persons born up to 2006).
///
/// # Errors
/// [`GenerateError::TooMany`] above [`MAX_GENERATE`]; [`GenerateError::Io`] from the writer.
pub fn generate<W: Write>(
    count: u64,
    seed: u64,
    writer: W,
) -> Result<GenerateSummary, GenerateError> {
    if count > MAX_GENERATE {
        return Err(GenerateError::TooMany);
    }
    let mut w = BufWriter::with_capacity(1 << 16, writer);
    write_header(&mut w)?;
    let mut summary = GenerateSummary::default();
    for p in generate_persons(count, seed) {
        write_person(&mut w, &p)?;
        summary.persons += 1;
        match p.id {
            IdNumber::Cmnd(_) => summary.cmnd += 1,
            _ => summary.cccd += 1,
        }
    }
    w.flush()?;
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::io::Cursor;

    #[test]
    fn reader_reports_bad_rows_by_line_and_keeps_good_ones() {
        let long = format!("079085012345,{},1985-04-12,F", "A".repeat(2000));
        let input = format!(
            "\u{FEFF}id_number,full_name,date_of_birth,sex\r\n\
             079085012345,Nguyễn Thị Lan,1985-04-12,F\r\n\
             07908501234,Trần Văn Hùng,1962-11-03,M\n\
             012345678,\"Lê, Văn \"\"Tám\"\"\",1962-11-03,M\n\
             \n\
             001185000001,Phạm Thị Mai,1985-02-30,F\n\
             001185000002,Phạm Thị Mai,1985-02-03,X\n\
             001185000003,Phạm Thị Mai,1985-02-03\n\
             {long}\n\
             003185000004,Phạm Thị Mai,1985-02-03,F\n\
             001185000005,\"Phạm Thị Mai,1985-02-03,F\n\
             001185000006,,1985-02-03,F\n\
             C1234567,Bad Passport,1985-02-03,F\n\
             001185000007,  Phạm   Thị Mai ,03/02/1985,nữ"
        );
        let rows: Vec<_> = read_registry(Cursor::new(input.into_bytes())).collect();
        let errors: Vec<(u64, RowReason)> = rows
            .iter()
            .filter_map(|r| r.as_ref().err())
            .map(|e| (e.line, e.reason.clone()))
            .collect();
        assert_eq!(
            errors,
            vec![
                (3, RowReason::Id(IdError::WrongLength { digits: 11 })),
                (6, RowReason::Date(DateError::Day)),
                (7, RowReason::Sex),
                (8, RowReason::FieldCount { found: 3 }),
                (
                    9,
                    RowReason::TooLong {
                        max: MAX_LINE_BYTES
                    }
                ),
                (10, RowReason::Id(IdError::UnknownProvince { code: 3 })),
                (11, RowReason::Quote),
                (12, RowReason::Name),
                (
                    13,
                    RowReason::Id(IdError::NotDigits {
                        position: 1,
                        lookalike: false
                    })
                ),
            ]
        );
        let good: Vec<&RegistryPerson> = rows.iter().filter_map(|r| r.as_ref().ok()).collect();
        assert_eq!(good.len(), 3);
        assert_eq!(good[0].full_name, "Nguyễn Thị Lan");
        assert_eq!(good[1].full_name, "Lê, Văn \"Tám\"");
        assert_eq!(good[1].id.to_string(), "012345678");
        assert_eq!(good[2].full_name, "Phạm Thị Mai");
        assert_eq!(good[2].sex, Sex::Female);
        assert_eq!(good[2].date_of_birth.to_string(), "1985-02-03");
        // Error text names the line, never the content.
        let e = rows[1].as_ref().unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 3: id_number: the ID number has 11 digits; a CCCD has 12 and a CMND 9"
        );
    }

    #[test]
    fn reader_stops_on_a_bad_header() {
        let rows: Vec<_> = read_registry(Cursor::new(
            b"id,name\n079085012345,A,1985-04-12,F\n".to_vec(),
        ))
        .collect();
        assert_eq!(
            rows,
            vec![Err(RowError {
                line: 1,
                reason: RowReason::Header
            })]
        );
        let rows: Vec<_> = read_registry(Cursor::new(Vec::new())).collect();
        assert!(rows.is_empty());
    }

    #[test]
    fn reader_handles_tiny_buffers() {
        let mut csv = Vec::new();
        generate(200, 7, &mut csv).unwrap();
        let big: Vec<_> = read_registry(Cursor::new(csv.clone())).collect();
        let tiny: Vec<_> =
            read_registry(io::BufReader::with_capacity(3, Cursor::new(csv))).collect();
        assert_eq!(big.len(), 200);
        assert_eq!(big, tiny);
        assert!(big.iter().all(Result::is_ok));
    }

    #[test]
    fn generator_round_trips_and_is_reproducible() {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        let summary = generate(5000, 42, &mut a).unwrap();
        generate(5000, 42, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(summary.persons, 5000);
        assert_eq!(summary.cccd + summary.cmnd, 5000);
        assert!(
            (300..=700).contains(&summary.cmnd),
            "~10 % CMND: {}",
            summary.cmnd
        );
        let persons: Vec<RegistryPerson> = read_registry(Cursor::new(a))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(persons, generate_persons(5000, 42).collect::<Vec<_>>());
        let ids: HashSet<_> = persons.iter().map(|p| p.id.clone()).collect();
        assert_eq!(ids.len(), 5000, "unique ID numbers");
        let nguyen = persons
            .iter()
            .filter(|p| p.full_name.starts_with("Nguyễn "))
            .count();
        assert!((1700..=2150).contains(&nguyen), "Nguyễn ~38 %: {nguyen}");
        let male = persons.iter().filter(|p| p.sex == Sex::Male).count();
        assert!((2300..=2700).contains(&male), "~50 % male: {male}");
        assert!(
            persons
                .iter()
                .all(|p| (1930..=2015).contains(&p.date_of_birth.year()))
        );
        assert!(generate(MAX_GENERATE + 1, 0, io::sink()).is_err());
    }
}
