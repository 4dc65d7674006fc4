//! Re-signing every live certificate of a DSC with the current one (`vaxpass-issuer batch
//! reissue --signed-by KID`): a compromised or withdrawn signing key.
//!
//! Each certificate keeps its UVCI and its CWT (payload, issue and expiry times) byte for
//! byte; only the COSE signature and its protected header (algorithm, kid) are new, so a
//! wallet simply replaces it. The old signed instance goes on the revocation list as a
//! `SIGNATURE` entry only (never `UCI` or `COUNTRYCODEUCI`, which would revoke the new one
//! too).
//!
//! [`reissue_signed_by`] walks the certificates in record order, a batch at a time: it signs
//! the batch on all cores, self-verifies a sample with the verifier crate, and commits it in one
//! transaction ([`Storage::resign_commit`]) that changes a certificate only while the old DSC
//! still signs it. A run killed at any point loses only its uncommitted batch, which the next
//! run re-signs; no certificate is re-signed twice.

use std::sync::Arc;
use std::time::{Duration, Instant};

use vaxpass_keys::Signer;
use vaxpass_verifier::cose::{self, CoseSign1};
use vaxpass_verifier::{Limits, TrustedSigner};

use crate::storage::Storage;
use crate::storage::reissue::ToResign;
use crate::{BatchError, BatchOptions, Progress};

/// What a re-issue run did.
#[derive(Debug, Clone, Default)]
pub struct ReissueReport {
    /// Certificates re-signed (committed) in this run.
    pub resigned: u64,
    /// Batches committed.
    pub batches: u64,
    /// Wall time.
    pub elapsed: Duration,
    /// Live certificates the old DSC still signs at the end (0 when the run finished).
    pub remaining: u64,
    /// Signing threads used.
    pub workers: usize,
}

/// `hc1` re-signed by `signer`: the same CWT under a new COSE_Sign1.
fn resign(signer: &dyn Signer, hc1: &str) -> Result<String, String> {
    let old = vaxpass_verifier::decode(hc1, &Limits::default()).map_err(|e| e.to_string())?;
    let parsed = CoseSign1::parse(old.cose_bytes(), 16).map_err(|e| e.to_string())?;
    let kid = signer.kid();
    let cose = cose::sign1(
        signer.algorithm().cose_id(),
        kid.as_bytes(),
        parsed.payload,
        |tbs| signer.sign(tbs),
    )
    .map_err(|e| e.to_string())?;
    Ok(vaxpass_verifier::encode::armour(&cose))
}

/// Re-signed certificates: `(dose record id, UVCI, new HC1)`.
type Resigned = Vec<(i64, String, String)>;

/// Re-signs `batch` on `workers` threads; self-verifies one in `verify_every`.
fn resign_batch(
    signer: &Arc<dyn Signer>,
    trusted: &TrustedSigner,
    batch: Vec<ToResign>,
    workers: usize,
    verify_every: u64,
) -> Result<Resigned, BatchError> {
    let chunk = batch.len().div_ceil(workers.max(1)).max(1);
    let results: Vec<Result<Resigned, BatchError>> = std::thread::scope(|s| {
        let handles: Vec<_> = batch
            .chunks(chunk)
            .map(|part| {
                s.spawn(move || {
                    let mut out = Vec::with_capacity(part.len());
                    for (i, c) in part.iter().enumerate() {
                        let fail = |reason: String| BatchError::Resign {
                            uvci: c.uvci.clone(),
                            reason,
                        };
                        let hc1 = resign(signer.as_ref(), &c.hc1).map_err(fail)?;
                        if (i as u64) % verify_every == 0 {
                            vaxpass_verifier::decode(&hc1, &Limits::default())
                                .map_err(|e| fail(e.to_string()))?
                                .verify_signature_with(trusted)
                                .map_err(|e| fail(format!("self-verification: {e}")))?;
                        }
                        out.push((c.dose_record_id, c.uvci.clone(), hc1));
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(BatchError::Worker)))
            .collect()
    });
    let mut all = Vec::new();
    for r in results {
        all.extend(r?);
    }
    Ok(all)
}

/// Re-signs every live certificate of DSC `old_kid` (base64) with `signer` (see the module
/// documentation), calling `progress` after each committed batch.
///
/// # Errors
/// [`BatchError::Options`] (the current signer is the old DSC, bad options),
/// [`BatchError::Resign`] (a stored certificate does not decode or a new one does not verify),
/// [`BatchError::Storage`], [`BatchError::Worker`]. Committed batches stay committed.
pub async fn reissue_signed_by(
    storage: &Storage,
    old_kid: &str,
    signer: &Arc<dyn Signer>,
    opts: &BatchOptions,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<ReissueReport, BatchError> {
    let new_kid = signer.kid().to_base64();
    if new_kid == old_kid {
        return Err(BatchError::Options(
            "the current signer is the DSC to replace: rotate to a new DSC first",
        ));
    }
    if opts.workers == 0 || opts.workers > 1_024 {
        return Err(BatchError::Options("workers must be between 1 and 1024"));
    }
    if opts.batch_size == 0 || opts.batch_size > 50_000 {
        return Err(BatchError::Options(
            "the batch size must be between 1 and 50,000",
        ));
    }
    let trusted = Arc::new(
        TrustedSigner::from_der(signer.certificate_der()).map_err(|e| BatchError::Resign {
            uvci: String::new(),
            reason: format!("the current DSC's certificate: {e}"),
        })?,
    );
    let started = Instant::now();
    let mut report = ReissueReport {
        workers: opts.workers,
        ..ReissueReport::default()
    };
    let mut cursor = 0;
    loop {
        let now = storage.clock().now();
        let batch = storage
            .resign_candidates(old_kid, cursor, now, opts.batch_size)
            .await?;
        let Some(last) = batch.last() else { break };
        cursor = last.dose_record_id;
        let (signer, trusted) = (signer.clone(), trusted.clone());
        let (workers, verify_every) = (opts.workers, opts.verify_every.max(1));
        let resigned = tokio::task::spawn_blocking(move || {
            resign_batch(&signer, &trusted, batch, workers, verify_every)
        })
        .await
        .map_err(|_| BatchError::Worker)??;
        report.resigned += storage
            .resign_commit(old_kid, &new_kid, resigned, &opts.actor)
            .await?;
        report.batches += 1;
        progress(Progress {
            issued: report.resigned,
            failed: 0,
            batches: report.batches,
        });
    }
    report.remaining = storage
        .live_certificates_of(old_kid, storage.clock().now())
        .await?;
    report.elapsed = started.elapsed();
    Ok(report)
}
