-- soe-bot's state on PostgreSQL (storage.backend = "postgres").
--
-- Every record is one row holding exactly the bytes sled holds for the same (tree, key): the
-- same JSON record with the same sealed blobs (see src/store/record.rs), so `soe-bot
-- migrate-store` copies rows as they are and a sealed value opens only under its own key.
CREATE TABLE records (
    -- The sled tree name, e.g. 'links/v1', 'notify_outbox/v1', 'meta'.
    tree       text        NOT NULL,
    -- The sled key bytes (big-endian ids sort as numbers, as in sled).
    key        bytea       NOT NULL,
    -- The sled value bytes.
    value      bytea       NOT NULL,
    -- The time a sweep compares with (an expiry, a claim's age, a bucket's refill), computed
    -- from the value when it is written; NULL for records no sweep removes.
    expires_at timestamptz NULL,
    PRIMARY KEY (tree, key)
);

-- Sweeps look only at rows whose time has come.
CREATE INDEX records_sweep ON records (tree, expires_at) WHERE expires_at IS NOT NULL;

-- Outbox entry ids (sled's generate_id on the sled side): increasing, never reused.
CREATE SEQUENCE outbox_ids;
