-- valetkey schema 3: clients registered as resource servers (`client add --introspect`) may
-- introspect any access token; every other client only tokens issued to it or naming it in `aud`.
ALTER TABLE clients ADD COLUMN introspect INTEGER NOT NULL DEFAULT 0;
