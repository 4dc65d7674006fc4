//! Canonical Huffman codes (RFC 1951 §3.2.2): a primary lookup table indexed by the next
//! `P` input bits, and a bit-by-bit canonical decode for the rare codes longer than `P` bits.
//!
//! An entry (`u32`) carries everything the decoder needs after one lookup:
//! bits 0–3 the code length (0: not in the primary table, use the slow path), bits 4–7 the
//! number of extra bits, bits 8–11 the kind, bits 16–31 the value (literal byte, length or
//! distance base, or code-length symbol).

/// Mask of the code length in an entry.
pub(super) const LEN_MASK: u32 = 0xF;
/// Mask of the kind in an entry.
pub(super) const KIND_MASK: u32 = 0xF00;
/// A literal byte (also used for code-length symbols); the only kind with this bit, so one
/// test tells a literal in the primary table from everything else.
pub(super) const LITERAL: u32 = 0x800;
/// A length (lit/len code) or a distance (distance code): base value plus extra bits.
pub(super) const BASE: u32 = 0x100;
/// End of block (lit/len code 256).
pub(super) const END: u32 = 0x200;
/// A symbol with a code but no meaning: lit/len 286–287, distance 30–31 (fixed codes only).
pub(super) const INVALID: u32 = 0x300;

/// Number of extra bits of an entry.
#[inline(always)]
pub(super) const fn extra_bits(entry: u32) -> u32 {
    (entry >> 4) & 0xF
}

/// Value of an entry.
#[inline(always)]
pub(super) const fn value(entry: u32) -> u32 {
    entry >> 16
}

const fn entry(value: u32, extra: u32, kind: u32) -> u32 {
    (value << 16) | (extra << 4) | kind
}

/// Lit/len symbols 0–287 without their code length.
pub(super) static LITLEN_META: [u32; 288] = litlen_meta();
/// Distance symbols 0–31 without their code length.
pub(super) static DIST_META: [u32; 32] = dist_meta();
/// Code-length symbols 0–18 without their code length.
pub(super) static CODELEN_META: [u32; 19] = codelen_meta();

const fn litlen_meta() -> [u32; 288] {
    let mut m = [0u32; 288];
    let mut s = 0;
    while s < 256 {
        m[s] = entry(s as u32, 0, LITERAL);
        s += 1;
    }
    m[256] = entry(0, 0, END);
    // RFC 1951 §3.2.5: codes 257–264 have no extra bits, then four codes per extra bit up to
    // 5 (codes 265–284); code 285 is length 258 without extra bits.
    let mut base = 3u32;
    let mut i = 0u32;
    while i < 28 {
        let extra = if i < 8 { 0 } else { (i - 4) / 4 };
        m[257 + i as usize] = entry(base, extra, BASE);
        base += 1 << extra;
        i += 1;
    }
    m[285] = entry(258, 0, BASE);
    m[286] = entry(0, 0, INVALID);
    m[287] = entry(0, 0, INVALID);
    m
}

const fn dist_meta() -> [u32; 32] {
    let mut m = [0u32; 32];
    // RFC 1951 §3.2.5: codes 0–3 have no extra bits, then two codes per extra bit up to 13.
    let mut base = 1u32;
    let mut i = 0u32;
    while i < 30 {
        let extra = if i < 4 { 0 } else { i / 2 - 1 };
        m[i as usize] = entry(base, extra, BASE);
        base += 1 << extra;
        i += 1;
    }
    m[30] = entry(0, 0, INVALID);
    m[31] = entry(0, 0, INVALID);
    m
}

const fn codelen_meta() -> [u32; 19] {
    let mut m = [0u32; 19];
    let mut s = 0;
    while s < 19 {
        m[s] = entry(s as u32, 0, LITERAL);
        s += 1;
    }
    m
}

/// Bits reversed within 10 bits (canonical codes are stored MSB first, read LSB first).
static REV10: [u16; 1024] = rev10();

const fn rev10() -> [u16; 1024] {
    let mut t = [0u16; 1024];
    let mut i = 0;
    while i < 1024 {
        let mut r = 0u16;
        let mut b = 0;
        while b < 10 {
            if i & (1 << b) != 0 {
                r |= 1 << (9 - b);
            }
            b += 1;
        }
        t[i] = r;
        i += 1;
    }
    t
}

/// Why a set of code lengths does not describe a usable code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BadCode {
    /// More codes of some length than the lengths before leave room for.
    OverSubscribed,
    /// Unused bit patterns, beyond the one allowed single 1-bit code.
    Incomplete,
}

/// A canonical Huffman code over at most `N` symbols, with a `SIZE = 2^P`-entry primary table.
#[derive(Clone)]
pub(super) struct Table<const SIZE: usize, const N: usize> {
    /// Indexed by the next `P` bits (LSB first): the entry of the code they start with, or
    /// 0 when that code is longer than `P` bits (or there is none).
    fast: [u32; SIZE],
    /// Longest code length in use (0 when no symbol has a code).
    max_len: u32,
    /// Number of codes of each length 0–15 (`count[0]` unused).
    count: [u16; 16],
    /// Entries (without length) of the symbols in canonical order: by length, then symbol.
    sorted: [u32; N],
}

impl<const SIZE: usize, const N: usize> Table<SIZE, N> {
    /// Bits indexing the primary table.
    const P: usize = SIZE.trailing_zeros() as usize;

    /// An empty table (every lookup fails until [`Table::build`]).
    pub(super) fn new() -> Self {
        const { assert!(SIZE.is_power_of_two() && SIZE >= 2 && SIZE <= 1024) };
        Table {
            fast: [0; SIZE],
            max_len: 0,
            count: [0; 16],
            sorted: [0; N],
        }
    }

    /// Builds the code for `lengths` (at most `N`, each 0–15; 0: no code); `meta` gives each
    /// symbol's entry. A code must be complete, except (unless `complete_only`) for the forms
    /// RFC 1951 §3.2.7 allows for a single distance code and zlib/miniz allow for any lit/len
    /// or distance code: no code at all, or one code of one bit.
    pub(super) fn build(
        &mut self,
        lengths: &[u8],
        meta: &[u32; N],
        complete_only: bool,
    ) -> Result<(), BadCode> {
        let mut count = [0u16; 16];
        for &len in lengths {
            count[usize::from(len & 15)] += 1;
        }
        count[0] = 0;
        // Kraft: `left` counts the unused patterns at each length.
        let mut left: i32 = 1;
        let mut max_len = 0;
        for (len, &c) in count.iter().enumerate().skip(1) {
            left = (left << 1) - i32::from(c);
            if left < 0 {
                return Err(BadCode::OverSubscribed);
            }
            if c != 0 {
                max_len = len as u32;
            }
        }
        if left > 0 && (complete_only || max_len > 1) {
            return Err(BadCode::Incomplete);
        }
        // Canonical order: a counting sort by length.
        let mut next = [0u16; 16];
        for len in 1..15 {
            next[len + 1] = next[len] + count[len];
        }
        for (&len, &meta) in lengths.iter().zip(meta) {
            if len != 0 {
                let slot = &mut next[usize::from(len & 15)];
                if let Some(to) = self.sorted.get_mut(usize::from(*slot)) {
                    *to = meta;
                }
                *slot += 1;
            }
        }
        // Primary table, built up one code length at a time: a table for the codes of at most
        // `len - 1` bits, doubled, is one for codes of at most `len` bits in which each code of
        // exactly `len` bits has one slot, its bit-reversed code.
        debug_assert!(lengths.len() <= N);
        let fast = &mut self.fast;
        fast[0] = 0;
        let mut size = 1;
        let mut code = 0usize;
        let mut index = 0usize;
        for (len, &n) in count.iter().enumerate().take(Self::P + 1).skip(1) {
            fast.copy_within(..size, size);
            size <<= 1;
            let n = usize::from(n);
            for (i, &meta) in self.sorted[index..index + n].iter().enumerate() {
                let rev = usize::from(REV10[(code + i) & 1023] >> (10 - len));
                fast[rev & (SIZE - 1)] = meta | len as u32;
            }
            index += n;
            code = (code + n) << 1;
        }
        self.max_len = max_len;
        self.count = count;
        Ok(())
    }

    /// The primary-table entry for `bits`: 0 (no length) when the code is longer than `P`
    /// bits or there is none; then [`Table::lookup_slow`] decides.
    #[inline(always)]
    pub(super) fn entry(&self, bits: u64) -> u32 {
        self.fast[bits as usize & (SIZE - 1)]
    }

    /// The entry for the code at the start of `bits` (LSB first), with its length set; `None`
    /// when `bits` starts with no code (possible only for the incomplete codes allowed).
    #[cfg(test)]
    pub(super) fn lookup(&self, bits: u64) -> Option<u32> {
        let e = self.fast[bits as usize & (SIZE - 1)];
        if e & LEN_MASK != 0 {
            Some(e)
        } else {
            self.lookup_slow(bits)
        }
    }

    /// Canonical decode one bit at a time (codes longer than `P` bits, or none).
    #[cold]
    #[inline(never)]
    pub(super) fn lookup_slow(&self, mut bits: u64) -> Option<u32> {
        let mut code = 0u32; // the code's first `len` bits, MSB first
        let mut first = 0u32; // the first code of length `len`
        let mut index = 0u32; // index in `sorted` of that first code
        for len in 1..=self.max_len {
            code |= (bits & 1) as u32;
            bits >>= 1;
            let c = u32::from(self.count[len as usize]);
            if code < first + c {
                let i = (index + code - first) as usize;
                return self.sorted.get(i).map(|&m| m | len);
            }
            index += c;
            first = (first + c) << 1;
            code <<= 1;
        }
        None
    }
}

/// The fixed codes of RFC 1951 §3.2.6 (lit/len, distance), built once.
pub(super) fn fixed() -> &'static (Table<1024, 288>, Table<256, 32>) {
    static FIXED: std::sync::LazyLock<(Table<1024, 288>, Table<256, 32>)> =
        std::sync::LazyLock::new(|| {
            let mut lengths = [0u8; 288];
            lengths[..144].fill(8);
            lengths[144..256].fill(9);
            lengths[256..280].fill(7);
            lengths[280..].fill(8);
            let mut lit = Table::new();
            let mut dist = Table::new();
            // Both are complete codes.
            let ok = lit.build(&lengths, &LITLEN_META, true).is_ok()
                && dist.build(&[5; 32], &DIST_META, true).is_ok();
            debug_assert!(ok);
            (lit, dist)
        });
    &FIXED
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 1951 §3.2.2's example: lengths (3, 3, 3, 3, 3, 2, 4, 4) for A–H give
    /// F=00, A=010 … E=110, G=1110, H=1111.
    #[test]
    fn rfc_example() {
        let mut t: Table<4, 8> = Table::new();
        let meta: [u32; 8] = std::array::from_fn(|s| entry(s as u32, 0, LITERAL));
        t.build(&[3, 3, 3, 3, 3, 2, 4, 4], &meta, true).unwrap();
        // (MSB-first code, length, symbol); the reader sees the code's bits in that order.
        let codes = [
            (0b00u32, 2u32, 5u32),
            (0b010, 3, 0),
            (0b011, 3, 1),
            (0b100, 3, 2),
            (0b101, 3, 3),
            (0b110, 3, 4),
            (0b1110, 4, 6),
            (0b1111, 4, 7),
        ];
        for (code, len, sym) in codes {
            let mut bits = 0u64;
            for i in 0..len {
                bits |= u64::from((code >> (len - 1 - i)) & 1) << i;
            }
            for pad in [0u64, 0xFFF0] {
                let e = t.lookup(bits | pad << len).unwrap();
                assert_eq!((value(e), e & LEN_MASK), (sym, len), "code {code:b}");
            }
        }
    }

    #[test]
    fn kraft() {
        let mut t: Table<128, 19> = Table::new();
        let m = &CODELEN_META;
        assert_eq!(t.build(&[1, 1, 1], m, false), Err(BadCode::OverSubscribed));
        assert_eq!(t.build(&[1, 2], m, false), Err(BadCode::Incomplete));
        assert_eq!(t.build(&[1, 2, 2], m, true), Ok(()));
        // One 1-bit code, or none: only when incomplete codes are allowed.
        assert_eq!(t.build(&[0, 1], m, false), Ok(()));
        assert_eq!(t.lookup(0).map(value), Some(1));
        assert_eq!(t.lookup(1), None);
        assert_eq!(t.build(&[0, 1], m, true), Err(BadCode::Incomplete));
        assert_eq!(t.build(&[0, 0], m, false), Ok(()));
        assert_eq!(t.lookup(0), None);
        assert_eq!(t.build(&[], m, true), Err(BadCode::Incomplete));
    }

    #[test]
    fn long_codes_use_the_slow_path() {
        // Lengths 1, 2, …, 14, 15, 15: complete, with codes far longer than the table.
        let mut lengths: Vec<u8> = (1..=15).collect();
        lengths.push(15);
        let meta: [u32; 16] = std::array::from_fn(|s| entry(s as u32, 0, LITERAL));
        let mut t: Table<8, 16> = Table::new();
        t.build(&lengths, &meta, true).unwrap();
        // Symbol s < 15 is s ones then a zero; 14 and 15 are 14 ones then 0 / 1.
        for s in 0..16u32 {
            let ones = s.min(15);
            let mut bits: u64 = (1u64 << ones) - 1;
            if s == 15 {
                bits = (1 << 15) - 1;
            }
            let e = t.lookup(bits).unwrap();
            assert_eq!(value(e), s);
            assert_eq!(e & LEN_MASK, u32::from(lengths[s as usize]));
        }
    }

    #[test]
    fn fixed_codes() {
        let (lit, dist) = fixed();
        // Lit/len 0 is 00110000 (8 bits), 256 is 0000000 (7 bits), 144 is 110010000 (9 bits).
        let read = |code: u32, len: u32| -> u64 {
            (0..len)
                .map(|i| u64::from((code >> (len - 1 - i)) & 1) << i)
                .sum()
        };
        let e = lit.lookup(read(0b0011_0000, 8)).unwrap();
        assert_eq!((e & KIND_MASK, value(e), e & LEN_MASK), (LITERAL, 0, 8));
        let e = lit.lookup(read(0, 7)).unwrap();
        assert_eq!((e & KIND_MASK, e & LEN_MASK), (END, 7));
        let e = lit.lookup(read(0b1_1001_0000, 9)).unwrap();
        assert_eq!((value(e), e & LEN_MASK), (144, 9));
        let e = lit.lookup(read(0b1100_0101, 8)).unwrap(); // 285
        assert_eq!((e & KIND_MASK, value(e), extra_bits(e)), (BASE, 258, 0));
        let e = dist.lookup(read(29, 5)).unwrap();
        assert_eq!((value(e), extra_bits(e)), (24577, 13));
        let e = dist.lookup(read(30, 5)).unwrap();
        assert_eq!(e & KIND_MASK, INVALID);
    }

    #[test]
    fn base_tables() {
        let l = |s: usize| (value(LITLEN_META[s]), extra_bits(LITLEN_META[s]));
        assert_eq!(l(257), (3, 0));
        assert_eq!(l(264), (10, 0));
        assert_eq!(l(265), (11, 1));
        assert_eq!(l(269), (19, 2));
        assert_eq!(l(284), (227, 5));
        assert_eq!(l(285), (258, 0));
        let d = |s: usize| (value(DIST_META[s]), extra_bits(DIST_META[s]));
        assert_eq!(d(0), (1, 0));
        assert_eq!(d(4), (5, 1));
        assert_eq!(d(6), (9, 2));
        assert_eq!(d(28), (16385, 13));
    }
}
