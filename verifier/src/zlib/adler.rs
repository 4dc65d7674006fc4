//! Adler-32 (RFC 1950 §8.2).

/// The modulus: the largest prime below 2^16.
const BASE: u32 = 65_521;
/// The most bytes after which the sums, started below `BASE`, still fit in a `u32`
/// (255·n·(n+1)/2 + (n+1)·(BASE−1) ≤ 2^32−1).
const NMAX: usize = 5552;

/// Bytes per lane group: 16 running sums side by side, which the compiler vectorises.
const LANES: usize = 16;

/// Adler-32 of `data`, starting from 1.
pub(super) fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    // NMAX is a multiple of 16 (347 groups).
    for chunk in data.chunks(NMAX) {
        // For groups m = 0..k of 16 bytes x[m][j], one byte at a time would give
        //   a' = a + Σ x[m][j],   b' = b + 16k·a + Σ ((k−m)·16 − j)·x[m][j].
        // Per lane j: sums[j] = Σ_m x[m][j] and prefix[j] = Σ_m (k−m)·x[m][j] (the running
        // sums added up after each group).
        let mut groups = chunk.chunks_exact(LANES);
        let k = groups.len() as u64;
        let mut sums = [0u32; LANES];
        let mut prefix = [0u32; LANES];
        for group in &mut groups {
            for ((s, p), &x) in sums.iter_mut().zip(prefix.iter_mut()).zip(group) {
                *s += u32::from(x);
                *p += *s;
            }
        }
        let total: u64 = sums.iter().map(|&s| u64::from(s)).sum();
        let weighted: u64 = prefix.iter().map(|&p| u64::from(p)).sum::<u64>() * LANES as u64;
        let offsets: u64 = sums
            .iter()
            .enumerate()
            .map(|(j, &s)| j as u64 * u64::from(s))
            .sum();
        let b64 = u64::from(b) + k * LANES as u64 * u64::from(a) + weighted - offsets;
        let a64 = u64::from(a) + total;
        (a, b) = (
            (a64 % u64::from(BASE)) as u32,
            (b64 % u64::from(BASE)) as u32,
        );
        for &x in groups.remainder() {
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
