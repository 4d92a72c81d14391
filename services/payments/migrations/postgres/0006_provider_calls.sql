-- The provider call journal: every call that moves money is recorded here (with its
-- idempotency key) and committed before it is made, and its outcome recorded in a
-- second transaction after it answers, so no database transaction waits on the
-- provider. A call still `pending` long after it was recorded lost its answer (the
-- process died, or the provider never answered): the reconciler asks the provider what
-- became of it, and never makes it again blindly.
CREATE TABLE provider_calls (
    -- The idempotency key the call is made with.
    key            TEXT   NOT NULL PRIMARY KEY,
    payment_id     TEXT   NOT NULL REFERENCES payments (id),
    operation      TEXT   NOT NULL CHECK (operation IN ('authorize', 'capture', 'void', 'refund')),
    amount         BIGINT NOT NULL CHECK (amount > 0),
    currency       TEXT   NOT NULL,
    -- Who asked (recorded on the ledger entry).
    actor          TEXT   NOT NULL,
    -- A refund's ledger entry id, chosen when it is recorded.
    refund_id      TEXT,
    -- What the outcome needs besides the call (a capture: the confirmed order, for
    -- its invoice), JSON.
    context        TEXT,
    state          TEXT   NOT NULL CHECK (state IN ('pending', 'made', 'refused')),
    reference      TEXT,
    failure_reason TEXT,
    failure_detail TEXT,
    -- Times the reconciler asked the provider about it.
    lookups        BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    updated_at     BIGINT NOT NULL
);
CREATE INDEX provider_calls_pending ON provider_calls (updated_at) WHERE state = 'pending';
CREATE INDEX provider_calls_payment ON provider_calls (payment_id, state);

-- Refunds recorded and not yet answered by the provider: what a refund may take is
-- what was captured less what was refunded and what is being refunded, so concurrent
-- refunds never promise more than was captured.
ALTER TABLE payments ADD COLUMN refunding BIGINT NOT NULL DEFAULT 0 CHECK (refunding >= 0);
