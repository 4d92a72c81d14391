-- Operators list shipments and returns newest first, optionally of one status, and a
-- customer lists their own returns (`GET /shipments`, `GET /returns`): ids are UUIDv7,
-- so these serve each listing in id order without sorting the whole table.
CREATE INDEX shipments_status ON shipments (status, id);
CREATE INDEX returns_user ON returns (user_id, id);
CREATE INDEX returns_status ON returns (status, id);
