//! The report of `check` and `decode`: the library's [`vaxpass_verifier::report`] types,
//! serialised as is for `--format json` and rendered for people by `human.rs`.

pub use vaxpass_verifier::report::*;
