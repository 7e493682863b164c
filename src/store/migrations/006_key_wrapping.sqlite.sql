-- valetkey schema 6: signing keys encrypted at rest under a master key, and the token lifetime
-- that decides how long a retired key stays published (docs/architecture.md, "Keys at rest").
ALTER TABLE keys ADD COLUMN kek_id TEXT NOT NULL DEFAULT '';  -- '' : private_pem is in clear
ALTER TABLE keys ADD COLUMN wrapped BLOB;                     -- version || nonce || AES-GCM || tag
INSERT INTO meta (name, value) VALUES ('key_publish_ttl', 0);
