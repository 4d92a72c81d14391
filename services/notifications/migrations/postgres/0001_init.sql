CREATE TABLE notifications_placeholder (id TEXT PRIMARY KEY);
