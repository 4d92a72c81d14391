-- The retention sweep (platform::retention) deletes rows past their age in small
-- batches; each batch finds its rows through one of these instead of scanning a table.
CREATE INDEX outbox_created_at ON outbox (created_at);
CREATE INDEX inbox_handled_at ON inbox (handled_at);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);
-- Only replayed dead letters ever go; unreplayed ones stay until someone deals with them.
CREATE INDEX dead_letters_replayed_at ON dead_letters (replayed_at) WHERE replayed_at IS NOT NULL;
