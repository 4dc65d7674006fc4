//! The inflater against miniz_oxide (the previous implementation): same output for every
//! stream miniz_oxide accepts, an error for every stream it refuses.
//!
//! Input: one byte choosing the output limit, then the zlib stream.
//!
//! miniz_oxide skips its Adler-32 check when built with `--cfg fuzzing` (as cargo-fuzz does),
//! so where it accepts a stream we refuse for the checksum, the checksum is checked here.
//! Documented difference: when the output reaches exactly `limit + 1` bytes and the stream
//! then breaks, miniz_oxide reports the break, we report `TooLarge`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use miniz_oxide::inflate::TINFLStatus;
use miniz_oxide::inflate::core::{DecompressorOxide, decompress, inflate_flags};
use vaxpass_verifier::zlib::{Inflater, ZlibError};

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

fuzz_target!(|data: &[u8]| {
    let Some((&limit_byte, input)) = data.split_first() else {
        return;
    };
    let limit = [0, 1, 64, 300, 1000, 4096, 65_536][usize::from(limit_byte % 7)];
    let ours = Inflater::new().inflate(input, limit).map(<[u8]>::to_vec);

    let mut state = Box::<DecompressorOxide>::default();
    let mut buf = vec![0u8; limit + 1];
    let flags = inflate_flags::TINFL_FLAG_PARSE_ZLIB_HEADER
        | inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF
        | inflate_flags::TINFL_FLAG_COMPUTE_ADLER32;
    let (status, read, written) = decompress(&mut state, input, &mut buf, 0, flags);
    match (status, &ours) {
        (TINFLStatus::Done, _) if written > limit => {
            assert_eq!(ours, Err(ZlibError::TooLarge { limit }));
        }
        (TINFLStatus::Done, Ok(out)) => {
            assert_eq!(read, input.len(), "we accept trailing bytes");
            assert_eq!(out[..], buf[..written], "different output");
        }
        (TINFLStatus::Done, Err(ZlibError::Corrupt { reason })) if reason.contains("Adler") => {
            // miniz_oxide did not check (cfg fuzzing): the trailer must really be wrong.
            let trailer = &input[read - 4..read];
            assert_ne!(
                u32::from_be_bytes(trailer.try_into().unwrap()),
                adler32(&buf[..written])
            );
        }
        (TINFLStatus::Done, Err(ZlibError::TrailingBytes { count })) => {
            assert_eq!(*count, input.len() - read);
        }
        (TINFLStatus::Done, Err(e)) => panic!("miniz_oxide accepts, we say {e:?}"),
        (TINFLStatus::HasMoreOutput, _) => {
            assert_eq!(ours, Err(ZlibError::TooLarge { limit }));
        }
        (_, Ok(_)) => panic!("miniz_oxide refuses ({status:?}), we accept"),
        (_, Err(ZlibError::TooLarge { .. })) => assert_eq!(written, limit + 1),
        (TINFLStatus::NeedsMoreInput | TINFLStatus::FailedCannotMakeProgress, Err(e)) => {
            assert_eq!(*e, ZlibError::Truncated);
        }
        (_, Err(e)) => assert!(matches!(e, ZlibError::Corrupt { .. }), "{status:?} vs {e:?}"),
    }
});
