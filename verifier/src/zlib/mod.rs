//! zlib (RFC 1950) inflate with an output cap enforced while inflating.
//!
//! HCERT compresses the COSE_Sign1 with zlib (HCERT spec §3.4). The inflater writes into a
//! fixed buffer of `limit` bytes and stops as soon as that is full, so a decompression bomb
//! costs at most `limit` bytes of memory and the time to produce them.
//!
//! Inflate is our own (RFC 1950/1951, safe code): the streams are a few hundred bytes, for
//! which building miniz_oxide's 1,024-entry tables for every table of every dynamic block
//! cost more than decoding. Compressing is issuing's business: the verifier has no deflater
//! of its own (the one-shot [`crate::encode`] functions, feature `encode`, use miniz_oxide's).

mod adler;
#[cfg(test)]
mod differential;
mod huffman;
mod inflate;

/// Why compressed data was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ZlibError {
    /// The inflated data would exceed the limit.
    #[error("inflated data exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The stream ends before the final block and checksum.
    #[error("zlib stream is truncated")]
    Truncated,
    /// Bytes follow the end of the zlib stream.
    #[error("{count} bytes follow the end of the zlib stream")]
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// Not a zlib stream, or a corrupt one (bad header, bad block, bad Adler-32).
    #[error("not valid zlib data ({reason})")]
    Corrupt {
        /// What the inflater reported.
        reason: &'static str,
    },
}

/// A reusable inflater: keeps its Huffman tables (about 7 KiB) and output buffer between
/// calls, so the hot path allocates nothing after the first use.
pub struct Inflater {
    tables: Box<inflate::Tables>,
    buf: Vec<u8>,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("capacity", &self.buf.len())
            .finish_non_exhaustive()
    }
}

impl Default for Inflater {
    fn default() -> Self {
        Self::new()
    }
}

impl Inflater {
    /// A new inflater (the output buffer is allocated on first use).
    pub fn new() -> Self {
        Inflater {
            tables: Box::new(inflate::Tables::new()),
            buf: Vec::new(),
        }
    }

    /// Inflates a complete zlib stream of at most `limit` output bytes; the result borrows the
    /// inflater's buffer until the next call.
    ///
    /// # Errors
    /// [`ZlibError::TooLarge`] as soon as the output would pass `limit`; [`ZlibError::Corrupt`],
    /// [`ZlibError::Truncated`] or [`ZlibError::TrailingBytes`] for anything but exactly one
    /// well-formed zlib stream (header, blocks, Adler-32).
    pub fn inflate(&mut self, input: &[u8], limit: usize) -> Result<&[u8], ZlibError> {
        // The buffer keeps one byte beyond the limit, as it always has (memory: `limit + 1`);
        // the inflater itself writes only the first `limit`.
        let cap = limit.saturating_add(1);
        if self.buf.len() < cap {
            self.buf.resize(cap, 0);
        }
        let written = inflate::inflate(&mut self.tables, input, &mut self.buf[..limit])?;
        Ok(&self.buf[..written])
    }
}

/// Inflates with a fresh [`Inflater`], returning an owned copy.
///
/// # Errors
/// As [`Inflater::inflate`].
pub fn inflate(input: &[u8], limit: usize) -> Result<Vec<u8>, ZlibError> {
    Inflater::new().inflate(input, limit).map(<[u8]>::to_vec)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `zlib.compress(b"hello")` in Python: header 78 9c, fixed-Huffman block, Adler-32.
    const HELLO: &str = "789ccb48cdc9c90700062c0215";

    #[test]
    fn known_stream() {
        let z = hex::decode(HELLO).unwrap();
        assert_eq!(inflate(&z, 64).unwrap(), b"hello");
        assert_eq!(inflate(&z, 5).unwrap(), b"hello");
        assert_eq!(inflate(&z, 4), Err(ZlibError::TooLarge { limit: 4 }));
    }

    #[test]
    fn refuses_broken_streams() {
        let z = hex::decode(HELLO).unwrap();
        assert_eq!(inflate(&z[..z.len() - 2], 64), Err(ZlibError::Truncated));
        let mut bad = z.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(matches!(inflate(&bad, 64), Err(ZlibError::Corrupt { .. })));
        let mut trailing = z.clone();
        trailing.push(0);
        assert_eq!(
            inflate(&trailing, 64),
            Err(ZlibError::TrailingBytes { count: 1 })
        );
        // Uncompressed COSE (tag 18 = 0xd2) is not a zlib header (conformance common/Z2).
        assert!(matches!(
            inflate(&[0xd2, 0x84, 0x43, 0xa1], 64),
            Err(ZlibError::Corrupt { .. })
        ));
        assert_eq!(inflate(&[], 64), Err(ZlibError::Truncated));
    }

    #[test]
    fn round_trip_and_reuse() {
        let mut inflater = Inflater::new();
        for n in [0usize, 1, 100, 5000, 65_536] {
            let data: Vec<u8> = (0..n).map(|i| (i * 7 % 251) as u8).collect();
            let z = miniz_oxide::deflate::compress_to_vec_zlib(&data, 9);
            assert_eq!(inflater.inflate(&z, 65_536).unwrap(), &data[..]);
        }
    }

    #[test]
    fn bomb_of_200_mib_fails_fast() {
        let z = crate::testutil::zlib_bomb(200);
        assert!(z.len() < 1 << 20, "bomb is {} bytes", z.len());
        let mut inflater = Inflater::new();
        assert_eq!(
            inflater.inflate(&z, 64 * 1024),
            Err(ZlibError::TooLarge { limit: 64 * 1024 })
        );
        // How fast: `cargo bench -p vaxpass-verifier --bench bounds`.
        assert_eq!(inflater.buf.len(), 64 * 1024 + 1, "memory stays at the cap");
    }
}
