-- valetkey schema 5: every table is bounded (docs/architecture.md, "Retention"); the minute purge
-- finds what is due through these indexes instead of scanning.
-- Grants are purged a day after their family ends, with their refresh tokens. A tombstone (a grant
-- id revoked before its redemption stored it) had no end: it ends when it was made.
UPDATE grants SET expires_at = created_at WHERE expires_at = 0;
CREATE INDEX grants_expires ON grants (expires_at);
-- Revocation events are kept while the tokens they revoke can be live (and a little longer, for a
-- feed that fell behind). Grant events had no end: a day after the event covers their tokens.
UPDATE revocation_events SET expires_at = at + 86400 WHERE expires_at = 0;
CREATE INDEX revocation_events_expires ON revocation_events (expires_at);
-- Only unused refresh tokens are purged at their own expiry: a spent one is the evidence of reuse
-- and stays with its family, so the expiry index holds unused ones alone.
DROP INDEX refresh_tokens_expires;
CREATE INDEX refresh_tokens_unused_expires ON refresh_tokens (expires_at) WHERE used_at = 0;
-- A family's spent tokens are capped, oldest dropped first: the index orders a family by age.
DROP INDEX refresh_tokens_grant;
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id, created_at);
-- A sealed grace pair is dropped when its window ends.
CREATE INDEX refresh_tokens_grace ON refresh_tokens (grace_until_ms) WHERE grace_blob IS NOT NULL;
