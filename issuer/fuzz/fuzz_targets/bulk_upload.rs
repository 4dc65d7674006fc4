//! A clinic's bulk upload (`POST /api/v1/dose-records/bulk`): the first byte chooses CSV or
//! NDJSON and where the body is cut into slices; the rest is the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_issuer_api::bulk::fuzzing::parse;

fuzz_target!(|data: &[u8]| {
    let Some((&first, body)) = data.split_first() else {
        return;
    };
    let csv = first & 1 == 1;
    // Up to seven cuts, spread by the other bits of the first byte.
    let step = usize::from(first >> 1) + 1;
    let cuts: Vec<usize> = (1..8).map(|i| i * step).collect();
    if let Some((records, errors)) = parse(csv, body, &cuts) {
        // Cut differently, the same body gives the same lines.
        assert_eq!(parse(csv, body, &[]), Some((records, errors)));
    }
});
