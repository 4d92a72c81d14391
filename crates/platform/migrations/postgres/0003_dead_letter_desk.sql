-- The operators' desk over dead letters (platform::bus::dead_letters): its list pages
-- newest first by (failed_at, id), and each letter keeps the causes of its last error
-- one by one (a JSON array of strings), since the `error` text joins them with ": ",
-- which the causes' own messages contain too. Rows written before this step have none.
ALTER TABLE dead_letters ADD COLUMN causes TEXT;
CREATE INDEX dead_letters_failed_at ON dead_letters (failed_at, id);
