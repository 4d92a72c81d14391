-- Authorizations the fraud rules held for a person to decide (seed 003). The payment
-- stays `pending` while its review is; approving authorizes it at the provider,
-- declining (or the review timing out) fails it. Decisions are conditional updates
-- `WHERE status = 'pending'`, so two people (or a person and the expiry sweep, on any
-- replica) cannot both decide one review.
CREATE TABLE fraud_reviews (
    id         TEXT   NOT NULL PRIMARY KEY,
    payment_id TEXT   NOT NULL UNIQUE REFERENCES payments (id),
    order_id   TEXT   NOT NULL,
    user_id    TEXT   NOT NULL,
    score      BIGINT NOT NULL CHECK (score >= 0),
    -- The rules that fired, JSON: [{"rule", "score", "detail"}].
    signals    TEXT   NOT NULL,
    status     TEXT   NOT NULL CHECK (status IN ('pending', 'approved', 'declined', 'expired')),
    decided_by TEXT,
    decided_at BIGINT,
    created_at BIGINT NOT NULL
);
-- The queue by status, newest first, and the sweep of pending reviews by age.
CREATE INDEX fraud_reviews_status ON fraud_reviews (status, id);
CREATE INDEX fraud_reviews_pending_age ON fraud_reviews (status, created_at);
-- Payments on one card in a window, for the card velocity rule.
CREATE INDEX payments_card ON payments (last4, brand, exp_month, exp_year, created_at);
-- A user's captured payments, newest first, for the usual-amount rule.
CREATE INDEX payments_user_created ON payments (user_id, created_at);
