//! Adler-32 (RFC 1950 §8.2).

/// The modulus: the largest prime below 2^16.
const BASE: u32 = 65_521;
/// The most bytes after which the sums, started below `BASE`, still fit in a `u32`
/// (255·n·(n+1)/2 + (n+1)·(BASE−1) ≤ 2^32−1).
const NMAX: usize = 5552;

/// Adler-32 of `data`, starting from 1.
pub(super) fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(NMAX) {
        // 16 bytes x0..x15 at once: a += Σ xi, b += 16·a + Σ (16−i)·xi, the same sums as one
        // byte at a time.
        let mut blocks = chunk.chunks_exact(16);
        for block in &mut blocks {
            let (mut sum, mut weighted) = (0u32, 0u32);
            for (i, &x) in block.iter().enumerate() {
                sum += u32::from(x);
                weighted += (16 - i as u32) * u32::from(x);
            }
            b += 16 * a + weighted;
            a += sum;
        }
        for &x in blocks.remainder() {
            a += u32::from(x);
            b += a;
        }
        a %= BASE;
        b %= BASE;
    }
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(data: &[u8]) -> u32 {
        let (mut a, mut b) = (1u64, 0u64);
        for &x in data {
            a = (a + u64::from(x)) % u64::from(BASE);
            b = (b + a) % u64::from(BASE);
        }
        ((b << 16) | a) as u32
    }

    #[test]
    fn known_values() {
        assert_eq!(adler32(b""), 1);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
        assert_eq!(adler32(b"hello"), 0x062C_0215);
    }

    #[test]
    fn matches_the_definition_at_chunk_edges() {
        for n in [1, 15, 16, 17, 255, NMAX - 1, NMAX, NMAX + 1, 3 * NMAX + 7] {
            let ones = vec![0xFF; n];
            assert_eq!(adler32(&ones), reference(&ones), "{n} × 0xff");
            let mixed: Vec<u8> = (0..n).map(|i| (i * 131 % 251) as u8).collect();
            assert_eq!(adler32(&mixed), reference(&mixed), "{n} mixed");
        }
    }
}
