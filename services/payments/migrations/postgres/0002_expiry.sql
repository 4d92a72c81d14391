-- Payments by status and last change, for the sweep that gives up payments no order
-- took further in time (pending ones never authorized, authorizations never
-- captured), so it reads only those instead of every payment ever made.
CREATE INDEX payments_by_status ON payments (status, updated_at);
