-- Certificates re-signed with the current DSC because the DSC that signed them must no longer
-- be trusted (`vaxpass-issuer batch reissue --signed-by KID`, issue 14): the certificate keeps
-- its UVCI and payload, and only its old signed instance is revoked, by its signature (the
-- revocation list's SIGNATURE entries; never UCI, which would revoke the new one too).
CREATE TABLE signature_revocations (
    uvci           TEXT NOT NULL,
    kid            TEXT NOT NULL,           -- the DSC of the old signature (base64)
    dose_record_id BIGINT NOT NULL REFERENCES dose_records (id),
    hc1            TEXT NOT NULL,           -- the old signed certificate
    exp            BIGINT NOT NULL,         -- its expiry: the entry leaves the list after it
    revoked_at     BIGINT NOT NULL,
    PRIMARY KEY (uvci, kid)
);
CREATE INDEX signature_revocations_by_exp ON signature_revocations (exp);
CREATE INDEX certificates_by_kid ON certificates (kid, dose_record_id);
