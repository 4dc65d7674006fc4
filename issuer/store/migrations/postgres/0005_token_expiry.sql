-- Staff tokens expire: `expires_at` (Unix seconds) is set for tokens created from now on
-- through the admin API (default lifetime: api::Config::token_lifetime_days). Tokens created
-- before this migration keep NULL: no expiry, until rotated or revoked.
-- `replaced_by` links a rotated token to its successor (NULL otherwise).
ALTER TABLE staff_tokens ADD COLUMN expires_at BIGINT;
ALTER TABLE staff_tokens ADD COLUMN replaced_by BIGINT REFERENCES staff_tokens (id);
CREATE INDEX staff_tokens_by_clinic ON staff_tokens (clinic_id);
