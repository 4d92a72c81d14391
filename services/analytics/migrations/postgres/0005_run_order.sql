-- A tenant's reconciliation runs listed newest first (`GET /api/v1/reconciliation/runs`).
CREATE INDEX reconciliation_runs_newest ON reconciliation_runs (tenant_id, id);
