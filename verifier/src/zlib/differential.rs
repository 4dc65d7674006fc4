//! The inflater against miniz_oxide (the previous implementation) and against hand-built
//! streams for each rule of RFC 1950/1951.

use super::*;
use proptest::prelude::*;

/// The previous `Inflater::inflate`, on miniz_oxide, as the reference; also how many bytes
/// miniz_oxide wrote.
fn reference_written(input: &[u8], limit: usize) -> (Result<Vec<u8>, ZlibError>, usize) {
    use miniz_oxide::inflate::TINFLStatus;
    use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};
    let cap = limit.saturating_add(1);
    let mut buf = vec![0; cap];
    let mut state = Box::<DecompressorOxide>::default();
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
        | inflate_flags::TINFL_FLAG_COMPUTE_ADLER32;
    let (status, read, written) = decompress(&mut state, input, &mut buf, 0, flags);
    let result = match status {
        TINFLStatus::Done if written > limit => Err(ZlibError::TooLarge { limit }),
        TINFLStatus::Done if read < input.len() => Err(ZlibError::TrailingBytes {
            count: input.len() - read,
        }),
        TINFLStatus::Done => Ok(buf[..written].to_vec()),
        TINFLStatus::HasMoreOutput => Err(ZlibError::TooLarge { limit }),
        TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress => {
            Err(ZlibError::Truncated)
        }
        TINFLStatus::Adler32Mismatch => Err(ZlibError::Corrupt {
            reason: "Adler-32 checksum mismatch",
        }),
        _ => Err(ZlibError::Corrupt {
            reason: "bad zlib header or deflate block",
        }),
    };
    (result, written)
}

/// Where the two may differ (both refuse the stream, for different stated reasons): miniz_oxide
/// stops at `limit + 1` output bytes and only calls the stream too large when it needs to
/// write beyond that, so a stream whose output reaches exactly `limit + 1` bytes and then
/// breaks (bad code, bad Adler-32, truncation inside the checksum) is `Corrupt` or `Truncated`
/// there; we say `TooLarge` as soon as byte `limit + 1` is due.
fn documented_difference(
    ours: &Result<Vec<u8>, ZlibError>,
    theirs: &Result<Vec<u8>, ZlibError>,
    theirs_written: usize,
    limit: usize,
) -> bool {
    matches!(ours, Err(ZlibError::TooLarge { .. }))
        && matches!(
            theirs,
            Err(ZlibError::Corrupt { .. } | ZlibError::Truncated)
        )
        && theirs_written == limit + 1
}

/// Ours, with a fresh and with a reused inflater (same answer).
fn ours(input: &[u8], limit: usize, reused: &mut Inflater) -> Result<Vec<u8>, ZlibError> {
    let fresh = inflate(input, limit);
    let again = reused.inflate(input, limit).map(<[u8]>::to_vec);
    assert_eq!(fresh, again, "fresh and reused inflaters disagree");
    fresh
}

/// Asserts that we agree with miniz_oxide, returning whether it was exactly.
fn agree(input: &[u8], limit: usize, reused: &mut Inflater) -> bool {
    let ours = ours(input, limit, reused);
    let (theirs, theirs_written) = reference_written(input, limit);
    if ours == theirs {
        return true;
    }
    assert!(
        documented_difference(&ours, &theirs, theirs_written, limit),
        "input {} limit {limit}: ours {:?}, miniz_oxide {:?}",
        hex::encode(input),
        ours.as_ref().map(Vec::len),
        theirs.as_ref().map(Vec::len),
    );
    false
}

/// Test data of several kinds: random, text-like (short alphabet), runs, mixed.
fn data() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..2000),
        proptest::collection::vec(prop::sample::select(b"abcde fghij\n".to_vec()), 0..3000),
        (any::<u8>(), 0usize..5000).prop_map(|(b, n)| vec![b; n]),
        proptest::collection::vec(
            (proptest::collection::vec(any::<u8>(), 1..20), 1usize..30),
            0..40
        )
        .prop_map(|parts| { parts.into_iter().flat_map(|(p, n)| p.repeat(n)).collect() }),
    ]
}

fn compress(data: &[u8], level: u8) -> Vec<u8> {
    miniz_oxide::deflate::compress_to_vec_zlib(data, level)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn inflates_what_miniz_oxide_deflates(data in data(), level in 0u8..=10) {
        let z = compress(&data, level);
        let mut inflater = Inflater::new();
        prop_assert_eq!(inflater.inflate(&z, data.len()).unwrap(), &data[..]);
        prop_assert_eq!(inflater.inflate(&z, 1 << 20).unwrap(), &data[..]);
        prop_assert!(agree(&z, data.len(), &mut inflater));
    }

    #[test]
    fn same_verdict_at_any_limit(data in data(), level in 0u8..=10, cut in 0usize..3000) {
        let z = compress(&data, level);
        let limit = cut.min(data.len() + 2);
        let mut inflater = Inflater::new();
        agree(&z, limit, &mut inflater);
        let ours = inflater.inflate(&z, limit);
        if limit < data.len() {
            prop_assert_eq!(ours, Err(ZlibError::TooLarge { limit }));
        } else {
            prop_assert_eq!(ours.unwrap(), &data[..]);
        }
    }

    #[test]
    fn mutated_streams_agree(
        data in data(),
        level in 0u8..=10,
        edits in proptest::collection::vec((any::<u8>(), any::<prop::sample::Index>(), any::<u8>()), 1..6),
        limit in prop_oneof![Just(1usize << 16), 0usize..4000],
    ) {
        let mut z = compress(&data, level);
        for (kind, at, byte) in edits {
            if z.is_empty() {
                break;
            }
            let i = at.index(z.len());
            match kind % 6 {
                0 | 1 => z[i] ^= 1 << (byte % 8),
                2 => z[i] = byte,
                3 => z.truncate(i),
                4 => z.insert(i, byte),
                _ => { z.remove(i); }
            }
        }
        let mut inflater = Inflater::new();
        agree(&z, limit, &mut inflater);
    }

    #[test]
    fn arbitrary_bytes_after_a_header_agree(
        body in proptest::collection::vec(any::<u8>(), 0..400),
        limit in 0usize..2000,
    ) {
        let mut inflater = Inflater::new();
        for header in [[0x78, 0x9c], [0x78, 0xda], [0x08, 0x1d]] {
            let z = [&header[..], &body].concat();
            agree(&z, limit, &mut inflater);
        }
    }
}

/// Many mutations of one realistic stream per level (deterministic), counting the documented
/// differences: they must stay rare corner cases.
#[test]
fn mutation_sweep() {
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let text: Vec<u8> = (0..700)
        .map(|i| {
            b"{\"v\":[{\"ci\":\"URN:UVCI:01:VN:2021\",\"dn\":2,\"sd\":2}]}"[i % 48] ^ (i / 97) as u8
        })
        .collect();
    let mut inflater = Inflater::new();
    let (mut total, mut exact) = (0, 0);
    for level in 0..=10 {
        let z = compress(&text, level);
        for _ in 0..1500 {
            let mut m = z.clone();
            for _ in 0..=(next() % 3) {
                let i = (next() as usize) % m.len();
                m[i] ^= 1 << (next() % 8);
            }
            let limit = if next() % 4 == 0 {
                (next() as usize) % 800
            } else {
                4096
            };
            total += 1;
            exact += usize::from(agree(&m, limit, &mut inflater));
        }
    }
    eprintln!("mutation sweep: {exact} of {total} results exactly equal to miniz_oxide's");
    assert!(
        exact * 1000 >= total * 999,
        "{exact} of {total} exactly equal"
    );
}

#[test]
fn multi_block_streams_up_to_the_cap() {
    // Over 64 KiB: several blocks of each kind; cut by the limit too.
    let mut data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    data[60_000..120_000].fill(b'x');
    for (i, b) in data[150_000..].iter_mut().enumerate() {
        *b = b"the quick brown fox "[i % 20];
    }
    let mut inflater = Inflater::new();
    for level in [0, 1, 6, 9, 10] {
        let z = compress(&data, level);
        assert_eq!(inflater.inflate(&z, data.len()).unwrap(), &data[..]);
        for limit in [0, 1, 65_535, 65_536, 65_537, 150_000, data.len() - 1] {
            assert!(agree(&z, limit, &mut inflater));
            assert_eq!(
                inflater.inflate(&z, limit),
                Err(ZlibError::TooLarge { limit })
            );
        }
    }
}

/// Every `COMPRESSED` of the dgc-testdata 2D-code cases: inflates to `COSE` where
/// `EXPECTEDCOMPRESSION` is true, fails where false (Z1, Z2), agrees with miniz_oxide always.
#[test]
fn dgc_testdata_compressed() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/conformance/dgc-testdata");
    let root = std::env::var_os("VAXPASS_DGC_TESTDATA")
        .map(std::path::PathBuf::from)
        .unwrap_or(root);
    if !root.is_dir() {
        eprintln!(
            "skipped: no dgc-testdata at {} (set VAXPASS_DGC_TESTDATA)",
            root.display()
        );
        return;
    }
    // Every `…/2DCode/raw/*.json`, at any depth.
    let mut files = Vec::new();
    let mut dirs = vec![root];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "json") && dir.ends_with("2DCode/raw") {
                files.push(path);
            }
        }
    }
    let mut inflater = Inflater::new();
    let (mut good, mut bad) = (0, 0);
    for path in files {
        let case: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let Some(compressed) = case.get("COMPRESSED").and_then(|v| v.as_str()) else {
            continue;
        };
        let z = hex::decode(compressed).unwrap();
        let limit = crate::Limits::default().max_inflated;
        assert!(agree(&z, limit, &mut inflater), "{}", path.display());
        let got = inflater.inflate(&z, limit);
        let expected = case
            .pointer("/EXPECTEDRESULTS/EXPECTEDCOMPRESSION")
            .and_then(|v| v.as_bool());
        let cose = case.get("COSE").and_then(|v| v.as_str());
        match (expected, cose) {
            (Some(false), _) => {
                assert!(got.is_err(), "{}", path.display());
                bad += 1;
            }
            (Some(true), Some(cose)) => {
                assert_eq!(
                    got.map(hex::encode),
                    Ok(cose.to_ascii_lowercase()),
                    "{}",
                    path.display()
                );
                good += 1;
            }
            (Some(true), None) => panic!("{}: no COSE", path.display()),
            (None, _) => {}
        }
    }
    eprintln!("dgc-testdata: {good} inflate to COSE, {bad} refused");
    assert!(good >= 376 && bad >= 2, "{good} good, {bad} bad");
}

/// Builds raw DEFLATE bits (LSB first) for the hand-made streams below.
#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    n: u32,
}

impl BitWriter {
    /// Appends `len` bits of `v`, least significant first (header fields, extra bits).
    fn bits(&mut self, v: u32, len: u32) -> &mut Self {
        for i in 0..len {
            if self.n % 8 == 0 {
                self.bytes.push(0);
            }
            let bit = ((u64::from(v) >> i) & 1) as u8;
            *self.bytes.last_mut().unwrap() |= bit << (self.n % 8);
            self.n += 1;
        }
        self
    }

    /// Appends a Huffman code of `len` bits, most significant first.
    fn code(&mut self, code: u32, len: u32) -> &mut Self {
        for i in (0..len).rev() {
            self.bits((code >> i) & 1, 1);
        }
        self
    }

    /// Fixed lit/len code of `sym` (RFC 1951 §3.2.6).
    fn fixed(&mut self, sym: u32) -> &mut Self {
        match sym {
            0..=143 => self.code(0x30 + sym, 8),
            144..=255 => self.code(0x190 + sym - 144, 9),
            256..=279 => self.code(sym - 256, 7),
            _ => self.code(0xC0 + sym - 280, 8),
        }
    }

    /// A zlib stream around the DEFLATE bits, with the Adler-32 of `data`.
    fn zlib(&self, data: &[u8]) -> Vec<u8> {
        let mut z = vec![0x78, 0x9c];
        z.extend_from_slice(&self.bytes);
        z.extend_from_slice(&adler::adler32(data).to_be_bytes());
        z
    }
}

/// A dynamic block header for the given lengths, written as plain code-length symbols 0–15
/// with the complete code-length code of 4 bits each (16–18 unused).
fn dynamic_header(w: &mut BitWriter, last: bool, lit: &[u8], dist: &[u8]) {
    w.bits(u32::from(last), 1).bits(2, 2);
    w.bits((lit.len() - 257) as u32, 5)
        .bits((dist.len() - 1) as u32, 5)
        .bits(19 - 4, 4);
    const ORDER: [usize; 19] = [
        16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
    ];
    for sym in ORDER {
        w.bits(if sym < 16 { 4 } else { 0 }, 3);
    }
    for &len in lit.iter().chain(dist) {
        w.code(u32::from(len), 4);
    }
}

fn corrupt(r: Result<Vec<u8>, ZlibError>) -> bool {
    matches!(r, Err(ZlibError::Corrupt { .. }))
}

#[test]
fn hand_made_streams() {
    let mut inflater = Inflater::new();
    let mut check = |z: &[u8], expected: Result<&[u8], &str>| {
        agree(z, 1000, &mut inflater);
        let got = inflate(z, 1000);
        match expected {
            Ok(data) => assert_eq!(got.as_deref(), Ok(data), "{}", hex::encode(z)),
            Err("corrupt") => assert!(corrupt(got.clone()), "{}: {got:?}", hex::encode(z)),
            Err("truncated") => assert_eq!(got, Err(ZlibError::Truncated), "{}", hex::encode(z)),
            Err(other) => unreachable!("{other}"),
        }
    };

    // Empty final fixed block.
    let mut w = BitWriter::default();
    w.bits(1, 1).bits(1, 2).fixed(256);
    check(&w.zlib(b""), Ok(b""));
    // Missing end of block: the data just ends.
    let mut w = BitWriter::default();
    w.bits(1, 1).bits(1, 2).fixed(u32::from(b'a'));
    let z = w.zlib(b"a");
    check(&z[..z.len() - 4], Err("truncated"));
    // Block type 3.
    let mut w = BitWriter::default();
    w.bits(1, 1).bits(3, 2).bits(0, 16);
    check(&w.zlib(b""), Err("corrupt"));
    // Lit/len 286 and 287, distance codes 30 and 31 in a fixed block.
    for sym in [286, 287] {
        let mut w = BitWriter::default();
        w.bits(1, 1)
            .bits(1, 2)
            .fixed(u32::from(b'a'))
            .fixed(sym)
            .bits(0, 16);
        check(&w.zlib(b"a"), Err("corrupt"));
    }
    for d in [30, 31] {
        let mut w = BitWriter::default();
        w.bits(1, 1)
            .bits(1, 2)
            .fixed(u32::from(b'a'))
            .fixed(257)
            .code(d, 5)
            .bits(0, 16);
        check(&w.zlib(b"aaaa"), Err("corrupt"));
    }
    // Distance 1 after one byte: fine; distance 2: before the start.
    for (d, ok) in [(0u32, true), (1, false)] {
        let mut w = BitWriter::default();
        w.bits(1, 1)
            .bits(1, 2)
            .fixed(u32::from(b'a'))
            .fixed(258)
            .code(d, 5)
            .fixed(256);
        let z = w.zlib(b"aaaaa");
        check(&z, if ok { Ok(b"aaaaa") } else { Err("corrupt") });
    }
    // Length 258 two ways: code 285, and code 284 with extra bits 31.
    for (sym, extra) in [(285, None), (284, Some(31))] {
        let mut w = BitWriter::default();
        w.bits(1, 1).bits(1, 2).fixed(u32::from(b'z')).fixed(sym);
        if let Some(e) = extra {
            w.bits(e, 5);
        }
        w.code(0, 5).fixed(256);
        let data = vec![b'z'; 259];
        check(&w.zlib(&data), Ok(&data));
    }
    // Largest distance, 32768 (code 29 + 8191), exactly reaching the start.
    // A stored (non-final) block of 32768 bytes, then a final fixed block copying 3 bytes from
    // 32768 back.
    let mut data: Vec<u8> = (0..32_768u32).map(|i| (i % 251) as u8).collect();
    let mut w = BitWriter::default();
    let mut stored = vec![0x78, 0x01, 0x00];
    stored.extend_from_slice(&0x8000u16.to_le_bytes());
    stored.extend_from_slice(&(!0x8000u16).to_le_bytes());
    stored.extend_from_slice(&data);
    w.bits(1, 1)
        .bits(1, 2)
        .fixed(257)
        .code(29, 5)
        .bits(8191, 13)
        .fixed(256);
    stored.extend_from_slice(&w.bytes);
    data.extend_from_slice(&[0, 1, 2]);
    stored.extend_from_slice(&adler::adler32(&data).to_be_bytes());
    assert_eq!(inflate(&stored, 40_000).unwrap(), data);
    assert!(agree(&stored, 40_000, &mut Inflater::new()));

    // Stored block: LEN/NLEN mismatch; LEN beyond the input.
    let mut w = BitWriter::default();
    w.bits(1, 1)
        .bits(0, 2)
        .bits(0, 5)
        .bits(3, 16)
        .bits(!3 & 0xFFFF, 16);
    let mut z = w.zlib(b"");
    z.splice(2 + 5..2 + 5, *b"abc");
    let adler = adler::adler32(b"abc").to_be_bytes();
    let n = z.len();
    z[n - 4..].copy_from_slice(&adler);
    check(&z, Ok(b"abc"));
    let mut bad = z.clone();
    bad[5] ^= 1; // NLEN
    check(&bad, Err("corrupt"));
    check(&z[..8], Err("truncated"));

    // Dynamic blocks.
    let mut lit = vec![0u8; 257];
    lit[usize::from(b'a')] = 1;
    lit[256] = 1;
    // A valid one: 'a' = 0, EOB = 1; one distance code of one bit (allowed), unused.
    let mut w = BitWriter::default();
    dynamic_header(&mut w, true, &lit, &[1]);
    w.code(0, 1).code(0, 1).code(1, 1);
    check(&w.zlib(b"aa"), Ok(b"aa"));
    // No distance code at all: fine while unused.
    let mut w = BitWriter::default();
    dynamic_header(&mut w, true, &lit, &[0]);
    w.code(0, 1).code(1, 1);
    check(&w.zlib(b"a"), Ok(b"a"));
    // Incomplete lit/len code with longer codes: corrupt.
    let mut lit2 = lit.clone();
    lit2[256] = 2;
    let mut w = BitWriter::default();
    dynamic_header(&mut w, true, &lit2, &[1]);
    w.code(0, 1).bits(0, 16);
    check(&w.zlib(b"a"), Err("corrupt"));
    // Over-subscribed lit/len code.
    let mut lit3 = lit.clone();
    lit3[usize::from(b'b')] = 1;
    let mut w = BitWriter::default();
    dynamic_header(&mut w, true, &lit3, &[1]);
    w.bits(0, 16);
    check(&w.zlib(b""), Err("corrupt"));
    // Incomplete distance code of two lengths: corrupt.
    let mut w = BitWriter::default();
    dynamic_header(&mut w, true, &lit, &[1, 2]);
    w.bits(0, 16);
    check(&w.zlib(b""), Err("corrupt"));
    // Using the unused half of a single 1-bit distance code.
    let mut lit4 = lit.clone();
    lit4.push(0);
    lit4[usize::from(b'a')] = 2;
    lit4[257] = 2;
    let mut w = BitWriter::default();
    dynamic_header(&mut w, true, &lit4, &[1]);
    // 'a' = 10, EOB = 0, 257 = 11; distance code 0 = "0", "1" unused.
    w.code(0b10, 2).code(0b11, 2).code(1, 1).bits(0, 16);
    check(&w.zlib(b""), Err("corrupt"));
    let mut w = BitWriter::default();
    dynamic_header(&mut w, true, &lit4, &[1]);
    w.code(0b10, 2).code(0b11, 2).code(0, 1).code(0, 1);
    check(&w.zlib(b"aaaa"), Ok(b"aaaa"));
    // HLIT 287, HDIST 31 (beyond the 286 / 30 codes that exist).
    let mut w = BitWriter::default();
    w.bits(1, 1)
        .bits(2, 2)
        .bits(30, 5)
        .bits(0, 5)
        .bits(15, 4)
        .bits(0, 64);
    check(&w.zlib(b""), Err("corrupt"));
    let mut w = BitWriter::default();
    w.bits(1, 1)
        .bits(2, 2)
        .bits(0, 5)
        .bits(30, 5)
        .bits(15, 4)
        .bits(0, 64);
    check(&w.zlib(b""), Err("corrupt"));

    // Code-length repeats (HLIT 257, HDIST 1: 258 lengths).
    let repeats = |first: &[(u32, u32, u32)]| {
        let mut w = BitWriter::default();
        w.bits(1, 1).bits(2, 2).bits(0, 5).bits(0, 5).bits(0, 4); // HLIT 257, HDIST 1, HCLEN 4
        // In the order 16, 17, 18, 0: lengths 2, 3, 3, 1.
        w.bits(2, 3).bits(3, 3).bits(3, 3).bits(1, 3);
        // Canonical: 0 = "0" (1 bit), 16 = "10", 17 = "110", 18 = "111".
        for &(sym, extra, n) in first {
            match sym {
                0 => w.code(0, 1),
                16 => w.code(0b10, 2).bits(extra, n),
                17 => w.code(0b110, 3).bits(extra, n),
                _ => w.code(0b111, 3).bits(extra, n),
            };
        }
        w.bits(0, 32);
        w.zlib(b"")
    };
    // 16 first: no previous length.
    assert!(corrupt(inflate(&repeats(&[(16, 0, 2)]), 100)));
    agree(&repeats(&[(16, 0, 2)]), 100, &mut Inflater::new());
    // 18 × 138 + 18 × 138 = 276 > 258 lengths: overflows.
    let z = repeats(&[(18, 127, 7), (18, 127, 7)]);
    assert!(corrupt(inflate(&z, 100)));
    agree(&z, 100, &mut Inflater::new());
    // Exactly 258 zero lengths: an empty code everywhere, then any lit/len symbol fails.
    let z = repeats(&[(18, 127, 7), (18, 109, 7)]);
    assert!(inflate(&z, 100).is_err());
    agree(&z, 100, &mut Inflater::new());

    // zlib header: CINFO 8, preset dictionary, FCHECK, method 7.
    for header in [[0x88u8, 0x1c], [0x78, 0xbb], [0x78, 0x9d], [0x77, 0x9c]] {
        let mut z = compress(b"x", 6);
        z[..2].copy_from_slice(&header);
        assert!(corrupt(inflate(&z, 10)), "{header:02x?}");
        agree(&z, 10, &mut Inflater::new());
    }
    // Smallest window (CINFO 0) is accepted, as by miniz_oxide and zlib (distances are not
    // checked against the window).
    let mut z = compress(b"xyzxyzxyz", 6);
    z[..2].copy_from_slice(&[0x08, 0x1d]);
    assert_eq!(inflate(&z, 100).unwrap(), b"xyzxyzxyz");
    // Truncated anywhere: Truncated (or TooLarge/Corrupt exactly as miniz_oxide says).
    let z = compress(b"truncate me, truncate me, truncate me", 9);
    for n in 0..z.len() {
        assert_eq!(inflate(&z[..n], 100), Err(ZlibError::Truncated), "{n}");
        agree(&z[..n], 100, &mut Inflater::new());
    }
}
