//! CertLogic evaluation of a rule's logic on a certificate's data (rule sets come from another
//! country's gateway): the input is two JSON texts, split at the first NUL.
#![no_main]

use libfuzzer_sys::fuzz_target;
use vaxpass_verifier::rules::Rule;
use vaxpass_verifier::rules::certlogic::evaluate;

fuzz_target!(|data: &[u8]| {
    let mut parts = data.splitn(2, |&b| b == 0);
    let (Some(expr), Some(payload)) = (parts.next(), parts.next()) else {
        if let Ok(text) = std::str::from_utf8(data) {
            let _ = Rule::from_json(text);
        }
        return;
    };
    let (Ok(expr), Ok(payload)) = (
        serde_json::from_slice::<serde_json::Value>(expr),
        serde_json::from_slice::<serde_json::Value>(payload),
    ) else {
        return;
    };
    let _ = evaluate(&expr, &payload);
});
