//! The lookup portal's query: a person's latest issued certificate, by the registry's
//! canonical ID number (migration 0004 indexes it).

use super::read::Arg;
use super::{
    CERT_COLUMNS, Certificate, DoseRecord, RECORD_COLUMNS, Storage, StorageError, cert_from_row,
    record_from_row,
};
use vaxpass_issuer_domain::identity::IdNumber;

/// A person's latest dose with its certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LatestCertificate {
    /// The dose record (its `registry_person` is what the certificate carries).
    pub record: DoseRecord,
    /// Its certificate.
    pub certificate: Certificate,
}

impl Storage {
    /// The certificate of the latest issued dose of the registry person with this ID number:
    /// the latest vaccination date, then the highest dose number (then the newest record).
    /// A revoked certificate (`error`, `fraud`: migration 0006) is never handed out.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn latest_certificate_of(
        &self,
        id: &IdNumber,
    ) -> Result<Option<LatestCertificate>, StorageError> {
        self.latest_certificate_by_key(&String::from(id.clone()))
            .await
    }

    /// Records that the lookup portal handed out the certificate `uvci` (audit entry
    /// `certificate.lookup`: the UVCI and the channel, nothing about who asked or what they
    /// typed). Committed when it returns: the portal answers only after this.
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Commit`].
    pub async fn record_lookup(&self, uvci: &str) -> Result<(), StorageError> {
        let now = self.now();
        let subject = format!("certificate:{uvci}");
        let head = self.audit_head.clone();
        self.write(move |tx| {
            Box::pin(async move {
                let entry = super::audit::NewEntry {
                    actor: super::Actor::System("lookup-portal".into()).to_string(),
                    action: "certificate.lookup",
                    subject,
                    details: serde_json::json!({ "via": "portal" }),
                };
                super::audit::append_cached(tx, now, vec![entry], &head).await
            })
        })
        .await
    }

    /// As [`Storage::latest_certificate_of`], by the ID's serde form (the `id` field of the
    /// stored `registry_person` JSON). Any string is accepted: the portal runs the same
    /// query for a number that does not parse, with a key that matches nothing (the same
    /// work, so the answer time does not tell a malformed number from an unknown one).
    ///
    /// # Errors
    /// [`StorageError::Database`], [`StorageError::Corrupt`].
    pub async fn latest_certificate_by_key(
        &self,
        key: &str,
    ) -> Result<Option<LatestCertificate>, StorageError> {
        // The expressions are those of the 0004 indexes, word for word.
        let person_id = self.reader.person_id_sql();
        let record_columns = RECORD_COLUMNS
            .split(", ")
            .map(|c| format!("d.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let cert_columns = CERT_COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "SELECT {record_columns}, {cert_columns} FROM dose_records d \
             JOIN certificates c ON c.dose_record_id = d.id \
             WHERE d.registry_person IS NOT NULL AND {person_id} = $1 AND d.status = 'issued' \
             AND NOT EXISTS (SELECT 1 FROM certificate_revocations r WHERE r.uvci = c.uvci) \
             ORDER BY d.vaccination_date DESC, d.dose_number DESC, d.id DESC LIMIT 1"
        );
        // The two tables share no column name, so both readers work on the joined row.
        let found = self
            .reader
            .first(&sql, &[Arg::Text(key)], |row| {
                Ok((record_from_row(row)?, cert_from_row(row)?))
            })
            .await?;
        let Some((record, certificate)) = found else {
            return Ok(None);
        };
        Ok(Some(LatestCertificate {
            record,
            certificate,
        }))
    }
}
