-- valetkey schema 1: clients, signing keys, access-token revocations and the revocation feed.
CREATE TABLE clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    secret_digest BLOB,                 -- SHA-256 of the secret; NULL for public clients
    auth_method TEXT NOT NULL,
    grant_types TEXT NOT NULL,          -- space-separated
    scope TEXT NOT NULL,                -- space-separated
    redirect_uris TEXT NOT NULL DEFAULT '',             -- newline-separated
    post_logout_redirect_uris TEXT NOT NULL DEFAULT '', -- newline-separated
    resources TEXT NOT NULL DEFAULT '', -- space-separated
    access_token_ttl INTEGER NOT NULL DEFAULT 0,
    first_party INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
) STRICT;

CREATE TABLE keys (
    kid TEXT PRIMARY KEY,
    alg TEXT NOT NULL,
    use INTEGER NOT NULL,               -- 1 access tokens, 2 id tokens
    private_pem TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE revoked_tokens (
    jti TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

-- Every revocation is an event with a sequence number: the audit trail and the verifiers' feed.
CREATE TABLE revocation_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,                 -- 'jti', 'family', 'client'
    subject TEXT NOT NULL,
    client_id TEXT,
    expires_at INTEGER NOT NULL,
    at INTEGER NOT NULL
) STRICT;

CREATE TABLE meta (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (name, value) VALUES ('keys_gen', 1);
INSERT INTO meta (name, value) VALUES ('clients_gen', 1);
