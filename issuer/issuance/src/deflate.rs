//! zlib (RFC 1950) for issuing: [`Deflater`], miniz_oxide's compressor at level 9, kept between
//! certificates.
//!
//! Until issue 13 the verifier crate carried a hand-written deflater sized for certificate
//! payloads (2.2× faster than miniz_oxide on one COSE_Sign1 in isolation, 1 % smaller). The
//! issue's rule was to keep it only if the end-to-end batch figure showed it worth at least
//! 5 %: side by side in one session (200,000 certificates on SQLite, three rounds each) the
//! build with this compressor issued as fast or faster than the one with the hand-written
//! deflater (issuer README, "Batch issuance"), so the library compressor stays and the
//! hand-written one is gone. The output is valid zlib for every inflater (the verifier's and
//! miniz_oxide's are checked in the tests) and about 1 % larger on certificates.

use miniz_oxide::deflate::core::{
    CompressorOxide, TDEFLFlush, TDEFLStatus, compress_to_output, create_comp_flags_from_zip_params,
};

/// The compression level: the smallest output (so the smallest QR code).
const LEVEL: u8 = 9;

/// A reusable zlib compressor (level 9, zlib header and Adler-32): it keeps miniz_oxide's
/// compressor (about 300 KiB of tables) between calls, so that issuing many certificates on
/// one thread allocates it once. The output is byte for byte that of [`deflate`] (and of
/// `miniz_oxide::deflate::compress_to_vec_zlib` at level 9).
pub struct Deflater {
    compressor: Box<CompressorOxide>,
}

impl Default for Deflater {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Deflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Deflater").finish_non_exhaustive()
    }
}

impl Deflater {
    /// A new compressor.
    pub fn new() -> Self {
        // window_bits > 0: a zlib stream (header and Adler-32), not raw deflate.
        let flags = create_comp_flags_from_zip_params(LEVEL.into(), 1, 0);
        Deflater {
            compressor: Box::new(CompressorOxide::new(flags)),
        }
    }

    /// Appends the zlib stream of `data` to `out`.
    pub fn deflate_into(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        self.compressor.reset();
        let (status, _) =
            compress_to_output(&mut self.compressor, data, TDEFLFlush::Finish, |chunk| {
                out.extend_from_slice(chunk);
                true
            });
        if status != TDEFLStatus::Done {
            // Not reached: a reset compressor finishes any input in one call (and the output
            // callback never refuses). Should it ever happen, a fresh compressor's stream
            // replaces the partial one.
            out.truncate(start);
            out.extend_from_slice(&miniz_oxide::deflate::compress_to_vec_zlib(data, LEVEL));
        }
    }

    /// The zlib stream of `data`.
    pub fn deflate(&mut self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        self.deflate_into(data, &mut out);
        out
    }
}

/// Compresses to a zlib stream (see [`Deflater`]). To compress many inputs on one
/// thread, reuse a [`Deflater`].
pub fn deflate(data: &[u8]) -> Vec<u8> {
    Deflater::new().deflate(data)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use proptest::prelude::*;
    use vaxpass_verifier::conformance::{Flag, TestCase, discover};
    use vaxpass_verifier::zlib::{Inflater, inflate};

    /// The output of `data`, checked to inflate back to `data` by the verifier's inflater and
    /// by miniz_oxide's.
    fn round_trip(data: &[u8]) -> Vec<u8> {
        let z = deflate(data);
        let mut inflater = Inflater::new();
        assert_eq!(
            inflater.inflate(&z, data.len()).map(<[u8]>::to_vec),
            Ok(data.to_vec()),
            "the verifier's inflater, {} bytes",
            data.len()
        );
        assert_eq!(
            miniz_oxide::inflate::decompress_to_vec_zlib(&z).map_err(|e| e.status),
            Ok(data.to_vec()),
            "miniz_oxide, {} bytes",
            data.len()
        );
        z
    }

    /// Edges: empty and tiny inputs, runs longer than a match, inputs around and beyond a
    /// stored block and the window, incompressible data.
    #[test]
    fn edges() {
        for n in [0usize, 1, 2, 3, 4, 5, 258, 259, 65_535, 65_536, 70_000] {
            round_trip(&vec![b'a'; n]);
            let pattern: Vec<u8> = (0..n).map(|i| (i * i + i / 3) as u8).collect();
            round_trip(&pattern);
        }
        // xorshift64: incompressible.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let noise: Vec<u8> = (0..200_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        let z = round_trip(&noise);
        // Incompressible: hardly longer than the input.
        assert!(z.len() <= noise.len() + noise.len() / 100, "{}", z.len());
        // Distances across the whole window.
        let far: Vec<u8> = (0..100_000u32).map(|i| (i % 32_768 % 251) as u8).collect();
        round_trip(&far);
    }

    #[test]
    fn deflater_matches_deflate_and_reuses() {
        let mut deflater = Deflater::new();
        let mut out = b"prefix".to_vec();
        for n in [0usize, 1, 100, 400, 5000, 70_000, 300_000, 7] {
            let data: Vec<u8> = (0..n).map(|i| ((i * i + i / 3) % 251) as u8).collect();
            let expected = deflate(&data);
            assert_eq!(deflater.deflate(&data), expected, "n = {n}");
            out.truncate(6);
            deflater.deflate_into(&data, &mut out);
            assert_eq!(&out[..6], b"prefix");
            assert_eq!(&out[6..], &expected[..], "n = {n}");
            assert_eq!(inflate(&out[6..], 300_000).unwrap(), data);
        }
        // Incompressible data (stored blocks) of several output-buffer sizes.
        let noise: Vec<u8> = (0u32..200_000)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        assert_eq!(deflater.deflate(&noise), deflate(&noise));
    }

    /// Certificate-like inputs: random bytes, runs, repeated phrases.
    fn data() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..2000),
            proptest::collection::vec(
                (proptest::collection::vec(any::<u8>(), 1..20), 1usize..30),
                0..40
            )
            .prop_map(|parts| { parts.into_iter().flat_map(|(p, n)| p.repeat(n)).collect() }),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn round_trips(data in data()) {
            round_trip(&data);
        }
    }

    /// Every `COSE` of the dgc-testdata 2D-code cases that compress: round trips through one
    /// reused compressor, each the same bytes as a fresh one's (no state leaks from one
    /// certificate into the next).
    #[test]
    fn dgc_testdata_cose_with_one_compressor() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../../shared/conformance/dgc-testdata");
        let root = std::env::var_os("VAXPASS_DGC_TESTDATA")
            .map(std::path::PathBuf::from)
            .unwrap_or(root);
        if !root.is_dir() {
            eprintln!(
                "SKIPPED: no dgc-testdata at {} (set VAXPASS_DGC_TESTDATA)",
                root.display()
            );
            return;
        }
        let mut reused = Deflater::new();
        let (mut good, mut bytes) = (0, 0usize);
        for path in discover(&root).unwrap() {
            let case = TestCase::from_json(&std::fs::read(&path).unwrap()).unwrap();
            let compresses = case
                .flags()
                .any(|(flag, expected)| flag == Flag::Compression && expected);
            let Some(cose) = case.cose.filter(|_| compresses) else {
                continue;
            };
            let z = round_trip(&cose);
            assert_eq!(reused.deflate(&cose), z, "{}", path.display());
            bytes += z.len();
            good += 1;
        }
        assert!(good >= 376, "{good} COSE_Sign1");
        eprintln!("deflate of the {good} COSE_Sign1: {bytes} bytes");
    }
}
