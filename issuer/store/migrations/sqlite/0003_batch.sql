-- Batch issuance: the confirmed records waiting for a certificate, found without scanning the
-- whole table (a partial index: issued records leave it).
CREATE INDEX dose_records_confirmed ON dose_records (id) WHERE status = 'confirmed';
