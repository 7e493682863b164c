-- valetkey schema 2: users, sessions, consents, authorization codes, grants and refresh tokens.
CREATE TABLE users (
    id TEXT PRIMARY KEY,                -- the OIDC sub
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,        -- Argon2id encoded (parameters inside)
    claims TEXT NOT NULL DEFAULT '{}',  -- JSON object
    created_at INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    digest BLOB PRIMARY KEY,            -- SHA-256 of the cookie value
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE consents (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, client_id)
) STRICT, WITHOUT ROWID;

CREATE TABLE codes (
    digest BLOB PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    code_challenge TEXT NOT NULL,
    scope TEXT NOT NULL,
    nonce TEXT NOT NULL DEFAULT '',
    resources TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '',
    auth_time INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER NOT NULL DEFAULT 0,
    grant_id TEXT NOT NULL DEFAULT ''
) STRICT, WITHOUT ROWID;
-- the purge deletes by expiry: an index on an increasing key costs one hot page per insert
CREATE INDEX codes_expires ON codes (expires_at);

CREATE TABLE grants (
    id TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    scope TEXT NOT NULL,
    resources TEXT NOT NULL DEFAULT '',
    session_id TEXT NOT NULL DEFAULT '',
    auth_time INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER NOT NULL DEFAULT 0,
    access_jti TEXT NOT NULL DEFAULT '',   -- the access token of the code exchange
    access_exp INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE INDEX grants_user ON grants (user_id);

CREATE TABLE refresh_tokens (
    digest BLOB PRIMARY KEY,
    grant_id TEXT NOT NULL REFERENCES grants (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at INTEGER NOT NULL DEFAULT 0,
    grace_blob BLOB,
    grace_until INTEGER NOT NULL DEFAULT 0,
    access_jti TEXT NOT NULL DEFAULT '',   -- the access token issued with this refresh token
    access_exp INTEGER NOT NULL DEFAULT 0
) STRICT, WITHOUT ROWID;
CREATE INDEX refresh_tokens_grant ON refresh_tokens (grant_id);
CREATE INDEX refresh_tokens_expires ON refresh_tokens (expires_at);

-- The access tokens issued from a grant are recorded by jti on the grant (the code exchange's)
-- and on each refresh token (the one issued with it), so revoking the grant can revoke them
-- without a table of its own.

CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) STRICT;

-- OpenID Connect id_token_signed_response_alg per client (RS256 unless the client asks ES256)
ALTER TABLE clients ADD COLUMN id_token_alg TEXT NOT NULL DEFAULT 'RS256';
