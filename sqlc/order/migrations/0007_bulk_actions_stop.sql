-- An operator may stop a running bulk action (OpsService.StopBulkAction):
-- it ends 'stopped', and says who stopped it.
ALTER TABLE bulk_actions
    DROP CONSTRAINT bulk_actions_state_check,
    ADD CONSTRAINT bulk_actions_state_check CHECK (state IN ('running', 'done', 'failed', 'stopped')),
    ADD COLUMN stopped_by text NOT NULL DEFAULT '';
