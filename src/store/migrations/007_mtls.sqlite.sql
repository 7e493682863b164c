-- valetkey schema 7: mutual-TLS clients (RFC 8705). A tls_client_auth client registers one
-- subject DN or subjectAltName value (§2.1.2: tls_auth_kind names which, tls_auth_value holds it,
-- normalised); a self_signed_tls_client_auth client registers its certificates as the x5c of a
-- JWK Set (jwks, RFC 7591 §2). tls_bound_tokens: the client's tokens are bound to its
-- certificate (§3.4, tls_client_certificate_bound_access_tokens).
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_auth_kind TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_auth_value TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN tls_bound_tokens INTEGER NOT NULL DEFAULT 0;
-- The x5t#S256 of the certificate a public client's refresh tokens are bound to (§4): every
-- refresh of the grant must present it. '' for unbound grants.
ALTER TABLE grants ADD COLUMN cnf_x5t TEXT NOT NULL DEFAULT '';
