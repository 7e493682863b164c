-- valetkey schema 8: what the account page (/account) shows of a login session, never a secret.
-- handle: a random public id naming the session in the page's forms (the digest of the cookie is
-- not shown anywhere); user_agent: a coarse description ("Firefox on Linux"), never the header
-- itself; address: the client's network truncated to /24 (IPv4) or /48 (IPv6); last_seen: updated
-- at most every few minutes, not on every request.
ALTER TABLE sessions ADD COLUMN handle TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN user_agent TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN address TEXT NOT NULL DEFAULT '';
ALTER TABLE sessions ADD COLUMN last_seen INTEGER NOT NULL DEFAULT 0;
UPDATE sessions SET handle = lower(hex(randomblob(16))), last_seen = auth_time;
-- No new index: a user's sessions are found through sessions_user, grants through grants_user,
-- consents by their primary key (user_id, client_id).
