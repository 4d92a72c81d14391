-- Files an email carries (a scheduled report), in order. The content is base64 text:
-- one portable column type for both dialects, and the form the file arrived in. Rows
-- are written with their message, in its transaction, and never changed. A message
-- counts its files, so reading the many messages without any costs no second query,
-- and a message whose files went missing is unreadable rather than sent without them.
ALTER TABLE notifications ADD COLUMN attachments BIGINT NOT NULL DEFAULT 0;

CREATE TABLE notification_attachments (
    notification_id TEXT   NOT NULL,
    position        BIGINT NOT NULL,
    file_name       TEXT   NOT NULL,
    content_type    TEXT   NOT NULL,
    content_base64  TEXT   NOT NULL,
    PRIMARY KEY (notification_id, position)
);
