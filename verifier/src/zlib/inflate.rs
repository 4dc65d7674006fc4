//! The inflater proper: one zlib stream (RFC 1950) of DEFLATE blocks (RFC 1951) from a complete
//! input slice into a fixed output slice.
//!
//! Bounds: output is written only inside `out` (whose length is the limit), the input is only
//! read through checked slices, and past its end the bit reader supplies zero bits while
//! counting them; an error (or the end of the stream) reached after consuming such a bit is
//! reported as [`ZlibError::Truncated`], which is what a decoder that stops at the end of the
//! input reports. At most 8 such bytes are supplied, so a truncated stream fails fast.

use super::ZlibError;
use super::adler::adler32;
use super::huffman::{
    BASE, BadCode, CODELEN_META, DIST_META, END, INVALID, KIND_MASK, LEN_MASK, LITERAL,
    LITLEN_META, Table, extra_bits, fixed, value,
};

const BAD_STREAM: &str = "bad zlib header or deflate block";
const BAD_ADLER: &str = "Adler-32 checksum mismatch";

/// Lit/len codes: 2^10-entry primary table, 288 symbols.
pub(super) type LitLen = Table<1024, 288>;
/// Distance codes: 2^8-entry primary table, 32 symbols.
pub(super) type Dist = Table<256, 32>;
/// Code-length codes: 2^7 entries (the longest such code), 19 symbols.
type CodeLen = Table<128, 19>;

/// Reusable per-inflater state: the tables of the current dynamic block.
#[derive(Clone)]
pub(super) struct Tables {
    lit: LitLen,
    dist: Dist,
    codelen: CodeLen,
    /// Code lengths of a dynamic block: HLIT lit/len then HDIST distance lengths.
    lengths: [u8; 286 + 30],
}

impl Tables {
    pub(super) fn new() -> Self {
        Tables {
            lit: Table::new(),
            dist: Table::new(),
            codelen: Table::new(),
            lengths: [0; 286 + 30],
        }
    }
}

/// An error inside the DEFLATE data (before the truncation check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fail {
    Corrupt,
    TooLarge,
    Truncated,
}

/// LSB-first bit reader over the input, refilled 8 bytes at a time.
///
/// `Copy`, and the cold paths take it by value: a hot loop works on a local copy that never
/// has its address taken, so the compiler keeps it in registers.
#[derive(Clone, Copy)]
struct Bits<'a> {
    input: &'a [u8],
    /// Next byte to load (may pass the end by up to 8: zero bytes supplied for a lookahead).
    pos: usize,
    /// Loaded bits not yet consumed, in bits 0..n (higher bits: zero or the next input bits).
    buf: u64,
    n: u32,
}

impl<'a> Bits<'a> {
    fn new(input: &'a [u8], pos: usize) -> Self {
        Bits {
            input,
            pos,
            buf: 0,
            n: 0,
        }
    }

    /// Loads bits until at least 56 are available.
    #[inline(always)]
    fn refill(&mut self) -> Result<(), Fail> {
        if let Some(chunk) = self
            .input
            .get(self.pos..)
            .and_then(|rest| rest.first_chunk::<8>())
        {
            self.buf |= u64::from_le_bytes(*chunk) << self.n;
            self.pos += ((63 - self.n) >> 3) as usize;
            self.n |= 56;
            Ok(())
        } else {
            self.refill_slow()
        }
    }

    /// Near the end of the input: one byte at a time, zeros past the end.
    #[inline(always)]
    fn refill_slow(&mut self) -> Result<(), Fail> {
        *self = self.refilled_slowly()?;
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn refilled_slowly(mut self) -> Result<Self, Fail> {
        while self.n < 56 {
            if self.pos >= self.input.len() + 8 {
                // 8 zero bytes supplied and the buffer holds fewer than 8 bytes: at least one
                // bit past the end was consumed.
                return Err(Fail::Truncated);
            }
            let byte = self.input.get(self.pos).copied().unwrap_or(0);
            self.buf |= u64::from(byte) << self.n;
            self.pos += 1;
            self.n += 8;
        }
        Ok(self)
    }

    /// Drops `len` bits (at most `n`).
    #[inline(always)]
    fn consume(&mut self, len: u32) {
        debug_assert!(len <= self.n);
        self.buf >>= len;
        self.n -= len;
    }

    /// Takes the next `len` (at most 32, at most `n`) bits as a number.
    #[inline(always)]
    fn take(&mut self, len: u32) -> u32 {
        let v = (self.buf & ((1u64 << len) - 1)) as u32;
        self.consume(len);
        v
    }

    /// Whether any bit past the end of the input has been consumed.
    fn overrun(&self) -> bool {
        self.pos > self.input.len() && (self.pos - self.input.len()) * 8 > self.n as usize
    }

    /// `fail`, or `Truncated` if the stream ran out before the failure was reached.
    #[cold]
    #[inline(never)]
    fn fail(self, fail: Fail) -> Fail {
        if self.overrun() {
            Fail::Truncated
        } else {
            fail
        }
    }

    /// Skips to the next byte boundary and returns the byte offset there, emptying the buffer.
    fn align(&mut self) -> Result<usize, Fail> {
        if self.overrun() {
            return Err(Fail::Truncated);
        }
        let at = self.pos - (self.n / 8) as usize;
        self.pos = at;
        self.buf = 0;
        self.n = 0;
        Ok(at)
    }

    /// The bits match no code (incomplete codes only): as in zlib and miniz, the unused pattern
    /// counts as one bit, so a stream that ends there is truncated rather than corrupt.
    #[cold]
    #[inline(never)]
    fn no_code(mut self) -> Fail {
        self.consume(1);
        self.fail(Fail::Corrupt)
    }
}

/// Inflates one complete zlib stream from `input` into `out` (whose length is the limit).
pub(super) fn inflate(
    tables: &mut Tables,
    input: &[u8],
    out: &mut [u8],
) -> Result<usize, ZlibError> {
    let limit = out.len();
    let map = |fail: Fail| match fail {
        Fail::Corrupt => ZlibError::Corrupt { reason: BAD_STREAM },
        Fail::TooLarge => ZlibError::TooLarge { limit },
        Fail::Truncated => ZlibError::Truncated,
    };
    // RFC 1950 §2.2: CMF, FLG.
    let Some(&[cmf, flg]) = input.first_chunk::<2>() else {
        return Err(ZlibError::Truncated);
    };
    let method = cmf & 0x0F;
    let window_bits = (cmf >> 4) + 8;
    let has_dict = flg & 0x20 != 0;
    if method != 8
        || window_bits > 15
        || has_dict
        || (u16::from(cmf) << 8 | u16::from(flg)) % 31 != 0
    {
        return Err(ZlibError::Corrupt { reason: BAD_STREAM });
    }
    let mut bits = Bits::new(input, 2);
    let written = blocks(tables, &mut bits, out).map_err(map)?;
    let end = bits.align().map_err(map)?;
    let Some(trailer) = input.get(end..).and_then(|rest| rest.first_chunk::<4>()) else {
        return Err(ZlibError::Truncated);
    };
    if u32::from_be_bytes(*trailer) != adler32(&out[..written]) {
        return Err(ZlibError::Corrupt { reason: BAD_ADLER });
    }
    match input.len() - end - 4 {
        0 => Ok(written),
        count => Err(ZlibError::TrailingBytes { count }),
    }
}

/// The DEFLATE blocks, up to and including the final one; returns the output length.
fn blocks(tables: &mut Tables, bits: &mut Bits<'_>, out: &mut [u8]) -> Result<usize, Fail> {
    let mut written = 0;
    loop {
        bits.refill()?;
        let header = bits.take(3);
        let last = header & 1 != 0;
        match header >> 1 {
            0 => written = stored(bits, out, written)?,
            1 => {
                let (lit, dist) = fixed();
                written = codes(bits, lit, dist, out, written)?;
            }
            2 => {
                dynamic_tables(tables, bits)?;
                written = codes(bits, &tables.lit, &tables.dist, out, written)?;
            }
            _ => return Err(bits.fail(Fail::Corrupt)),
        }
        if last {
            return Ok(written);
        }
    }
}

/// A stored block (RFC 1951 §3.2.4): LEN, NLEN, LEN bytes.
fn stored(bits: &mut Bits<'_>, out: &mut [u8], written: usize) -> Result<usize, Fail> {
    let at = bits.align()?;
    let input = bits.input;
    let Some(&[l0, l1, n0, n1]) = input.get(at..).and_then(|rest| rest.first_chunk::<4>()) else {
        return Err(Fail::Truncated);
    };
    let len = u16::from_le_bytes([l0, l1]);
    if len != !u16::from_le_bytes([n0, n1]) {
        return Err(Fail::Corrupt);
    }
    let start = at + 4;
    let data = &input[start.min(input.len())..];
    let len = usize::from(len);
    // What the input holds of the block; the output check comes first, as it would for a
    // decoder copying as far as both allow.
    let n = len.min(data.len());
    let Some(dest) = out.get_mut(written..written + n) else {
        return Err(Fail::TooLarge);
    };
    dest.copy_from_slice(&data[..n]);
    if n < len {
        return Err(Fail::Truncated);
    }
    bits.pos = start + len;
    Ok(written + n)
}

/// Reads a dynamic block's code descriptions (RFC 1951 §3.2.7) into `tables`.
fn dynamic_tables(tables: &mut Tables, bits: &mut Bits<'_>) -> Result<(), Fail> {
    /// The order in which code-length code lengths are stored.
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    bits.refill()?;
    let hlit = bits.take(5) as usize + 257;
    let hdist = bits.take(5) as usize + 1;
    let hclen = bits.take(4) as usize + 4;
    if hlit > 286 || hdist > 30 {
        return Err(bits.fail(Fail::Corrupt));
    }
    let mut cl_lengths = [0u8; 19];
    for &sym in &ORDER[..hclen] {
        if bits.n < 3 {
            bits.refill()?;
        }
        cl_lengths[sym] = bits.take(3) as u8;
    }
    if tables
        .codelen
        .build(&cl_lengths, &CODELEN_META, true)
        .is_err()
    {
        return Err(bits.fail(Fail::Corrupt));
    }
    let total = hlit + hdist;
    let lengths = &mut tables.lengths[..total];
    let codelen = &tables.codelen;
    // The reader's state in locals, as in `codes`.
    let input = bits.input;
    let (mut buf, mut n, mut pos) = (bits.buf, bits.n, bits.pos);
    macro_rules! state {
        () => {
            Bits { input, pos, buf, n }
        };
    }
    macro_rules! take {
        ($len:expr) => {{
            let len = $len;
            let v = (buf & ((1u64 << len) - 1)) as usize;
            buf >>= len;
            n -= len;
            v
        }};
    }
    let mut i = 0;
    while i < total {
        // A code (≤ 7 bits) and its extra bits (≤ 7).
        if n < 14 {
            if let Some(chunk) = input.get(pos..).and_then(|rest| rest.first_chunk::<8>()) {
                buf |= u64::from_le_bytes(*chunk) << n;
                pos += ((63 - n) >> 3) as usize;
                n |= 56;
            } else {
                let b = state!().refilled_slowly()?;
                (buf, n, pos) = (b.buf, b.n, b.pos);
            }
        }
        let mut e = codelen.entry(buf);
        if e & LEN_MASK == 0 {
            e = match codelen.lookup_slow(buf) {
                Some(e) => e,
                None => return Err(state!().no_code()),
            };
        }
        let len = e & LEN_MASK;
        buf >>= len;
        n -= len;
        let sym = value(e) as u8;
        if sym < 16 {
            if let Some(slot) = lengths.get_mut(i) {
                *slot = sym;
            }
            i += 1;
            continue;
        }
        let (fill, repeat) = match sym {
            16 => {
                let Some(&prev) = i.checked_sub(1).and_then(|p| lengths.get(p)) else {
                    return Err(state!().fail(Fail::Corrupt));
                };
                (prev, 3 + take!(2))
            }
            17 => (0, 3 + take!(3)),
            _ => (0, 11 + take!(7)),
        };
        let Some(run) = lengths.get_mut(i..i + repeat) else {
            return Err(state!().fail(Fail::Corrupt));
        };
        run.fill(fill);
        i += repeat;
    }
    *bits = state!();
    let (lit_lengths, dist_lengths) = tables.lengths[..total].split_at(hlit);
    let built = tables
        .lit
        .build(lit_lengths, &LITLEN_META, false)
        .and_then(|()| tables.dist.build(dist_lengths, &DIST_META, false));
    match built {
        Ok(()) => Ok(()),
        Err(BadCode::OverSubscribed | BadCode::Incomplete) => Err(bits.fail(Fail::Corrupt)),
    }
}

/// Huffman-coded data up to end of block (RFC 1951 §3.2.5).
///
/// The hot loop: the reader's state lives in locals (registers); the cold paths get a copy.
fn codes(
    bits: &mut Bits<'_>,
    lit: &LitLen,
    dist: &Dist,
    out: &mut [u8],
    mut written: usize,
) -> Result<usize, Fail> {
    let input = bits.input;
    let (mut buf, mut n, mut pos) = (bits.buf, bits.n, bits.pos);
    macro_rules! state {
        () => {
            Bits { input, pos, buf, n }
        };
    }
    macro_rules! fail {
        ($fail:expr) => {
            return Err(state!().fail($fail))
        };
    }
    macro_rules! refill {
        () => {
            if let Some(chunk) = input.get(pos..).and_then(|rest| rest.first_chunk::<8>()) {
                buf |= u64::from_le_bytes(*chunk) << n;
                pos += ((63 - n) >> 3) as usize;
                n |= 56;
            } else {
                let b = state!().refilled_slowly()?;
                (buf, n, pos) = (b.buf, b.n, b.pos);
            }
        };
    }
    macro_rules! decode {
        ($table:expr) => {{
            let mut e = $table.entry(buf);
            if e & LEN_MASK == 0 {
                e = match $table.lookup_slow(buf) {
                    Some(e) => e,
                    None => return Err(state!().no_code()),
                };
            }
            let len = e & LEN_MASK;
            buf >>= len;
            n -= len;
            e
        }};
    }
    macro_rules! take {
        ($len:expr) => {{
            let len = $len;
            let v = (buf & ((1u64 << len) - 1)) as u32;
            buf >>= len;
            n -= len;
            v
        }};
    }
    loop {
        // Runs of literals found in the primary table: the common case, kept tight.
        let mut e = loop {
            if n < 15 {
                refill!();
            }
            let e = lit.entry(buf);
            if e & LITERAL == 0 {
                break e;
            }
            let len = e & LEN_MASK;
            buf >>= len;
            n -= len;
            if written >= out.len() {
                fail!(Fail::TooLarge);
            }
            out[written] = value(e) as u8;
            written += 1;
        };
        if e & LEN_MASK == 0 {
            e = match lit.lookup_slow(buf) {
                Some(e) => e,
                None => return Err(state!().no_code()),
            };
        }
        let len = e & LEN_MASK;
        buf >>= len;
        n -= len;
        match e & KIND_MASK {
            LITERAL => {
                if written >= out.len() {
                    fail!(Fail::TooLarge);
                }
                out[written] = value(e) as u8;
                written += 1;
                continue;
            }
            BASE => {}
            END => {
                *bits = state!();
                return Ok(written);
            }
            _ => fail!(Fail::Corrupt),
        }
        // Extra length bits (≤ 5), distance code (≤ 15), extra distance bits (≤ 13).
        if n < 33 {
            refill!();
        }
        let len = (value(e) + take!(extra_bits(e))) as usize;
        let d = decode!(dist);
        if d & KIND_MASK == INVALID {
            fail!(Fail::Corrupt);
        }
        let distance = (value(d) + take!(extra_bits(d))) as usize;
        if distance > written {
            fail!(Fail::Corrupt);
        }
        if len > out.len() - written {
            fail!(Fail::TooLarge);
        }
        copy_match(out, written, distance, len);
        written += len;
    }
}

/// Copies `len` bytes from `distance` back to `at` (1 ≤ distance ≤ at, at + len ≤ out.len()),
/// byte by byte in effect: an overlapping source repeats the last `distance` bytes.
#[inline(always)]
fn copy_match(out: &mut [u8], at: usize, distance: usize, len: usize) {
    let from = at - distance;
    if distance >= len {
        out.copy_within(from..from + len, at);
    } else if distance == 1 {
        let byte = out[from];
        out[at..at + len].fill(byte);
    } else {
        // Periodic with period `distance`: copy whole periods, doubling what is available.
        let mut done = 0;
        while done < len {
            let n = (distance + done).min(len - done);
            out.copy_within(from..from + n, at + done);
            done += n;
        }
    }
}
