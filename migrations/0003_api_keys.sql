-- API keys: who may call the HTTP API, for which tenant, with which role. Only a SHA-256 of each key
-- is stored (keys are 256-bit random, so a plain hash is enough to make a stolen table useless);
-- the key itself is shown once, when `adbrag keys create` makes it.
CREATE TABLE api_key (
    id            uuid        PRIMARY KEY,
    tenant        text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
    name          text        NOT NULL,
    -- The key's first characters, kept to tell keys apart in listings and logs.
    prefix        text        NOT NULL,
    secret_sha256 bytea       NOT NULL CHECK (octet_length(secret_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- Every request looks its key up by hash.
CREATE UNIQUE INDEX api_key_secret_idx ON api_key (secret_sha256);
-- `adbrag keys list --tenant`.
CREATE INDEX api_key_tenant_idx ON api_key (tenant);
