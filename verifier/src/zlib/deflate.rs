//! zlib deflate (RFC 1950/1951) sized for certificate payloads.
//!
//! An HCERT COSE_Sign1 is a few hundred bytes. General-purpose compressors prepare for
//! megabytes: miniz_oxide resets about 300 KiB of hash tables and buffers per stream and
//! builds its Huffman tables for 288 symbols with machinery meant for long blocks, which cost
//! more than the matching itself at this size. This one keeps level-9-like parsing (hash
//! chains searched to the end, lazy matching) but sizes its hash table to the input, and
//! writes one block: dynamic Huffman, fixed Huffman or stored, whichever is smallest.
//!
//! Output is a valid zlib stream of any input (one block, however long); it is checked in the
//! tests against our inflater and miniz_oxide's, and for size against miniz_oxide's level 9.

use super::adler::adler32;

/// The LZ77 window (RFC 1951: distances up to 32,768).
const WINDOW: usize = 32_768;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
/// Chain links followed per position at most (zlib level 9 follows 4,096).
const MAX_CHAIN: usize = 4_096;
/// A match this long is taken without looking further (zlib level 9: 258).
const NICE_MATCH: usize = 258;
/// No lazy evaluation after a match this long (zlib level 9: 258).
const MAX_LAZY: usize = 258;

/// RFC 1951 §3.2.5: base lengths of codes 257..=285 and their extra bits.
const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
/// Base distances of codes 0..=29 and their extra bits.
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
/// The order in which code-length code lengths are stored (§3.2.7).
const CL_ORDER: [usize; 19] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// A literal (`dist == 0`, `len` the byte) or a match.
#[derive(Clone, Copy)]
struct Token {
    len: u16,
    dist: u16,
}

/// Buffers kept between calls by [`super::Deflater`].
#[derive(Default)]
pub(super) struct Scratch {
    head: Vec<u32>,
    prev: Vec<u32>,
    tokens: Vec<Token>,
}

/// Appends the zlib stream of `data` to `out`.
pub(super) fn deflate_into(data: &[u8], out: &mut Vec<u8>, s: &mut Scratch) {
    // CMF 0x78: deflate, 32 KiB window; FLG 0xDA: maximum compression, check bits.
    out.extend_from_slice(&[0x78, 0xDA]);
    tokenize(data, s);
    let mut w = BitWriter { out, acc: 0, n: 0 };
    write_block(&mut w, data, &s.tokens);
    w.flush();
    out.extend_from_slice(&adler32(data).to_be_bytes());
}

fn hash_bits(len: usize) -> u32 {
    // About one slot per input byte, 2^8 to 2^15.
    (usize::BITS - len.max(1).leading_zeros()).clamp(8, 15)
}

fn hash3(data: &[u8], i: usize, bits: u32) -> usize {
    let v = u32::from(data[i]) | u32::from(data[i + 1]) << 8 | u32::from(data[i + 2]) << 16;
    (v.wrapping_mul(0x9E37_79B1) >> (32 - bits)) as usize
}

/// LZ77 with hash chains and lazy matching into `s.tokens`.
fn tokenize(data: &[u8], s: &mut Scratch) {
    let bits = hash_bits(data.len());
    s.head.clear();
    // Positions are stored + 1; 0 is "none".
    s.head.resize(1 << bits, 0);
    s.prev.clear();
    s.prev.resize(data.len().min(WINDOW), 0);
    s.tokens.clear();
    let n = data.len();
    let mut inserted = 0; // positions below this are in the chains
    let mut insert_to = |upto: usize, head: &mut Vec<u32>, prev: &mut Vec<u32>| {
        while inserted < upto && inserted + MIN_MATCH <= n {
            let h = hash3(data, inserted, bits);
            prev[inserted % WINDOW] = head[h];
            head[h] = inserted as u32 + 1;
            inserted += 1;
        }
    };
    let find = |i: usize, head: &[u32], prev: &[u32], better_than: usize| -> (usize, usize) {
        let (mut best_len, mut best_dist) = (better_than, 0);
        if i + MIN_MATCH > n {
            return (0, 0);
        }
        let max = (n - i).min(MAX_MATCH);
        let mut cand = head[hash3(data, i, bits)];
        let mut chain = MAX_CHAIN;
        while cand != 0 && chain > 0 {
            let c = cand as usize - 1;
            if c >= i || i - c > WINDOW {
                break;
            }
            // Cheap reject: the byte that would make this match longer than the best.
            if best_len < max && data[c + best_len] == data[i + best_len] {
                let l = data[c..c + max]
                    .iter()
                    .zip(&data[i..i + max])
                    .take_while(|(a, b)| a == b)
                    .count();
                if l > best_len {
                    best_len = l;
                    best_dist = i - c;
                    if l >= NICE_MATCH.min(max) {
                        break;
                    }
                }
            }
            let next = prev[c % WINDOW];
            // Links point back; anything else is a slot overwritten by a later position.
            if next as usize > c {
                break;
            }
            cand = next;
            chain -= 1;
        }
        if best_dist == 0 || best_len < MIN_MATCH || (best_len == MIN_MATCH && best_dist > 4096) {
            (0, 0)
        } else {
            (best_len, best_dist)
        }
    };
    let mut i = 0;
    // A match found at i - 1, waiting to see whether i gives a longer one (lazy matching).
    let mut pending: Option<(usize, usize)> = None;
    while i < n {
        insert_to(i, &mut s.head, &mut s.prev);
        let (len, dist) = match pending {
            Some((plen, _)) if plen >= MAX_LAZY => (0, 0),
            Some((plen, _)) => find(i, &s.head, &s.prev, plen),
            None => find(i, &s.head, &s.prev, MIN_MATCH - 1),
        };
        match pending.take() {
            Some((plen, pdist)) if len <= plen => {
                // The match at i - 1 stands: it covers i - 1 .. i - 1 + plen.
                s.tokens.push(Token {
                    len: plen as u16,
                    dist: pdist as u16,
                });
                i = i - 1 + plen;
            }
            Some(_) => {
                // A longer match here: i - 1 becomes a literal.
                s.tokens.push(Token {
                    len: u16::from(data[i - 1]),
                    dist: 0,
                });
                pending = Some((len, dist));
                i += 1;
            }
            None if len >= MIN_MATCH => {
                pending = Some((len, dist));
                i += 1;
            }
            None => {
                s.tokens.push(Token {
                    len: u16::from(data[i]),
                    dist: 0,
                });
                i += 1;
            }
        }
    }
    if let Some((plen, pdist)) = pending {
        s.tokens.push(Token {
            len: plen as u16,
            dist: pdist as u16,
        });
    }
}

fn len_code(len: usize) -> usize {
    // The last code whose base is <= len (258 has a code of its own).
    LEN_BASE.partition_point(|&b| usize::from(b) <= len) - 1
}

fn dist_code(dist: usize) -> usize {
    DIST_BASE.partition_point(|&b| usize::from(b) <= dist) - 1
}

struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter<'_> {
    /// Writes the low `n` bits of `v`, least significant first.
    fn put(&mut self, v: u32, n: u32) {
        self.acc |= u64::from(v) << self.n;
        self.n += n;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    fn flush(&mut self) {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.acc = 0;
        self.n = 0;
    }
}

/// A Huffman code: lengths and the codes, bit-reversed for the LSB-first writer.
struct Code<const N: usize> {
    len: [u8; N],
    code: [u16; N],
}

impl<const N: usize> Code<N> {
    fn new(len: [u8; N]) -> Self {
        let mut count = [0u16; 16];
        for &l in &len {
            count[usize::from(l)] += 1;
        }
        count[0] = 0;
        let mut next = [0u16; 16];
        let mut c = 0u16;
        for bits in 1..16 {
            c = (c + count[bits - 1]) << 1;
            next[bits] = c;
        }
        let mut code = [0u16; N];
        for (s, &l) in len.iter().enumerate() {
            if l > 0 {
                let v = next[usize::from(l)];
                next[usize::from(l)] += 1;
                code[s] = v.reverse_bits() >> (16 - u32::from(l));
            }
        }
        Code { len, code }
    }

    fn put(&self, w: &mut BitWriter<'_>, sym: usize) {
        w.put(u32::from(self.code[sym]), u32::from(self.len[sym]));
    }

    fn cost(&self, freq: &[u32; N]) -> u64 {
        freq.iter()
            .zip(&self.len)
            .map(|(&f, &l)| u64::from(f) * u64::from(l))
            .sum()
    }
}

/// Code lengths of at most `limit` bits for `freq`: a Huffman code, rebuilt on halved counts
/// while it is deeper than `limit` (a Huffman tree is always complete; halving converges to
/// near-equal counts, whose tree is about log2(symbols) deep). At least two symbols get a
/// length, so even a one-symbol alphabet is a complete code.
fn lengths<const N: usize>(freq: &[u32; N], limit: u32) -> [u8; N] {
    let mut f = *freq;
    let mut used = f.iter().filter(|&&x| x > 0).count();
    for x in f.iter_mut() {
        if used >= 2 {
            break;
        }
        if *x == 0 {
            *x = 1;
            used += 1;
        }
    }
    loop {
        let (len, depth) = huffman(&f);
        if depth <= limit {
            return len;
        }
        for x in f.iter_mut().filter(|x| **x > 0) {
            *x = x.div_ceil(2);
        }
    }
}

/// Huffman code lengths of the symbols with a count (at least two), and the deepest.
fn huffman<const N: usize>(freq: &[u32; N]) -> ([u8; N], u32) {
    let mut leaves: Vec<(u32, usize)> = freq
        .iter()
        .enumerate()
        .filter(|(_, f)| **f > 0)
        .map(|(s, &f)| (f, s))
        .collect();
    leaves.sort_unstable();
    let n = leaves.len();
    // Nodes 0..n are the leaves in ascending weight, then the internal nodes in order of
    // creation, whose weights never decrease: the two lightest are always at the fronts of
    // these two queues.
    let mut weight: Vec<u64> = leaves.iter().map(|&(f, _)| u64::from(f)).collect();
    let mut parent = vec![0usize; 2 * n - 1];
    let (mut next_leaf, mut next_inner) = (0, n);
    for _ in 0..n - 1 {
        let mut pick = || {
            let leaf_first = next_leaf < n
                && (next_inner >= weight.len() || weight[next_leaf] <= weight[next_inner]);
            if leaf_first {
                next_leaf += 1;
                next_leaf - 1
            } else {
                next_inner += 1;
                next_inner - 1
            }
        };
        let a = pick();
        let b = pick();
        let k = weight.len();
        weight.push(weight[a] + weight[b]);
        parent[a] = k;
        parent[b] = k;
    }
    // The root is the last node; every other node's parent comes after it.
    let mut depth = vec![0u32; 2 * n - 1];
    for k in (0..2 * n - 2).rev() {
        depth[k] = depth[parent[k]] + 1;
    }
    let mut len = [0u8; N];
    let mut deepest = 0;
    for (k, &(_, sym)) in leaves.iter().enumerate() {
        len[sym] = depth[k].min(255) as u8;
        deepest = deepest.max(depth[k]);
    }
    (len, deepest)
}

/// The fixed literal/length and distance codes (§3.2.6), built once.
fn fixed() -> &'static (Code<288>, Code<30>) {
    static FIXED: std::sync::OnceLock<(Code<288>, Code<30>)> = std::sync::OnceLock::new();
    FIXED.get_or_init(|| {
        let mut len = [8u8; 288];
        len[144..256].fill(9);
        len[256..280].fill(7);
        (Code::new(len), Code::new([5u8; 30]))
    })
}

/// Extra bits of a code-length symbol (16: repeat 3-6, 17: zeros 3-10, 18: zeros 11-138).
fn cl_extra_bits(sym: u8) -> u32 {
    match sym {
        16 => 2,
        17 => 3,
        18 => 7,
        _ => 0,
    }
}

/// Run-length encodes code lengths into (symbol, extra value) pairs.
fn rle(lengths: &[u8]) -> Vec<(u8, u8)> {
    let mut out = Vec::with_capacity(lengths.len());
    let mut i = 0;
    while i < lengths.len() {
        let l = lengths[i];
        let run = lengths[i..].iter().take_while(|&&x| x == l).count();
        if l == 0 && run >= 3 {
            let r = run.min(138);
            if r >= 11 {
                out.push((18, (r - 11) as u8));
            } else {
                out.push((17, (r - 3) as u8));
            }
            i += r;
        } else if l != 0 && run >= 4 {
            // The length once, then repeats of 3 to 6.
            out.push((l, 0));
            let r = (run - 1).min(6);
            out.push((16, (r - 3) as u8));
            i += 1 + r;
        } else {
            out.push((l, 0));
            i += 1;
        }
    }
    out
}

/// Writes `tokens` (of `data`) as one final block: dynamic, fixed or stored, the smallest.
fn write_block(w: &mut BitWriter<'_>, data: &[u8], tokens: &[Token]) {
    let mut lit_freq = [0u32; 288];
    let mut dist_freq = [0u32; 30];
    let mut extra_bits: u64 = 0;
    for t in tokens {
        if t.dist == 0 {
            lit_freq[usize::from(t.len)] += 1;
        } else {
            let lc = len_code(usize::from(t.len));
            let dc = dist_code(usize::from(t.dist));
            lit_freq[257 + lc] += 1;
            dist_freq[dc] += 1;
            extra_bits += u64::from(LEN_EXTRA[lc]) + u64::from(DIST_EXTRA[dc]);
        }
    }
    lit_freq[256] = 1;

    let lit = Code::new(lengths(&lit_freq, 15));
    let dist = Code::new(lengths(&dist_freq, 15));
    let hlit = lit.len[..286]
        .iter()
        .rposition(|&l| l > 0)
        .map_or(257, |p| (p + 1).max(257));
    let hdist = dist.len.iter().rposition(|&l| l > 0).map_or(1, |p| p + 1);
    let mut all = Vec::with_capacity(hlit + hdist);
    all.extend_from_slice(&lit.len[..hlit]);
    all.extend_from_slice(&dist.len[..hdist]);
    let cl_syms = rle(&all);
    let mut cl_freq = [0u32; 19];
    for &(sym, _) in &cl_syms {
        cl_freq[usize::from(sym)] += 1;
    }
    let cl = Code::new(lengths(&cl_freq, 7));
    let hclen = CL_ORDER
        .iter()
        .rposition(|&s| cl.len[s] > 0)
        .map_or(4, |p| (p + 1).max(4));
    let cl_bits: u64 = cl_syms
        .iter()
        .map(|&(sym, _)| u64::from(cl.len[usize::from(sym)]) + u64::from(cl_extra_bits(sym)))
        .sum();
    let dynamic = 3
        + 14
        + 3 * hclen as u64
        + cl_bits
        + lit.cost(&lit_freq)
        + dist.cost(&dist_freq)
        + extra_bits;

    let (fixed_lit, fixed_dist) = fixed();
    let fixed = 3 + fixed_lit.cost(&lit_freq) + fixed_dist.cost(&dist_freq) + extra_bits;

    // Stored: blocks of at most 65,535 bytes, each 3 header bits padded to a byte, then
    // LEN and NLEN.
    let blocks = data.len().div_ceil(65_535).max(1) as u64;
    let stored = blocks * (8 + 32) + 8 * data.len() as u64;

    if stored <= dynamic.min(fixed) {
        let mut chunks = data.chunks(65_535).peekable();
        if chunks.peek().is_none() {
            write_stored(w, &[], true);
        }
        while let Some(chunk) = chunks.next() {
            write_stored(w, chunk, chunks.peek().is_none());
        }
    } else if fixed <= dynamic {
        w.put(1, 1); // BFINAL
        w.put(1, 2); // BTYPE 01: fixed
        write_tokens(w, tokens, fixed_lit, fixed_dist);
    } else {
        w.put(1, 1);
        w.put(2, 2); // BTYPE 10: dynamic
        w.put((hlit - 257) as u32, 5);
        w.put((hdist - 1) as u32, 5);
        w.put((hclen - 4) as u32, 4);
        for &s in &CL_ORDER[..hclen] {
            w.put(u32::from(cl.len[s]), 3);
        }
        for &(sym, extra) in &cl_syms {
            cl.put(w, usize::from(sym));
            w.put(u32::from(extra), cl_extra_bits(sym));
        }
        write_tokens(w, tokens, &lit, &dist);
    }
}

fn write_stored(w: &mut BitWriter<'_>, chunk: &[u8], last: bool) {
    w.put(u32::from(last), 1);
    w.put(0, 2); // BTYPE 00: stored
    w.flush();
    let len = chunk.len() as u16;
    w.out.extend_from_slice(&len.to_le_bytes());
    w.out.extend_from_slice(&(!len).to_le_bytes());
    w.out.extend_from_slice(chunk);
}

fn write_tokens(w: &mut BitWriter<'_>, tokens: &[Token], lit: &Code<288>, dist: &Code<30>) {
    for t in tokens {
        if t.dist == 0 {
            lit.put(w, usize::from(t.len));
        } else {
            let (len, d) = (usize::from(t.len), usize::from(t.dist));
            let lc = len_code(len);
            lit.put(w, 257 + lc);
            w.put(
                (len - usize::from(LEN_BASE[lc])) as u32,
                u32::from(LEN_EXTRA[lc]),
            );
            let dc = dist_code(d);
            dist.put(w, dc);
            w.put(
                (d - usize::from(DIST_BASE[dc])) as u32,
                u32::from(DIST_EXTRA[dc]),
            );
        }
    }
    lit.put(w, 256);
}
