CREATE TABLE fulfillment_placeholder (id TEXT PRIMARY KEY);
