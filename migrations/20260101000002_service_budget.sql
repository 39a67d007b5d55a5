-- The service token's budget shared by every replica (SOE limits one token: 50 calls per
-- 2 s, 100 per minute). One row per window; a take locks both rows (FOR UPDATE), refills
-- them to the caller's clock and takes from both or neither, in one transaction.
CREATE TABLE service_budget (
    -- 'burst' or 'sustained'.
    name       text             PRIMARY KEY,
    -- Tokens left when last counted (fractions refill continuously).
    tokens     double precision NOT NULL,
    -- When they were counted.
    updated_at timestamptz      NOT NULL
);
