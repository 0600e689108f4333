-- Operators' bulk actions (OpsService.StartBulkAction): what was asked, by
-- whom and why, and how far the runner has got. The runner claims a
-- running action with FOR UPDATE SKIP LOCKED and commits each batch's
-- work with the action's new cursor and counts, so a crash loses nothing
-- and does nothing twice.
CREATE TABLE bulk_actions (
    id           uuid PRIMARY KEY,
    request_id   uuid UNIQUE,
    kind         text NOT NULL CHECK (kind IN ('cancel_orders', 'requeue_deliveries')),
    operator     text NOT NULL,
    reason       text NOT NULL,
    -- What the runner selects with, relative times made absolute at start.
    filter       jsonb NOT NULL,
    -- The filter as the operator wrote it.
    filter_text  text NOT NULL,
    state        text NOT NULL DEFAULT 'running' CHECK (state IN ('running', 'done', 'failed')),
    matched      bigint NOT NULL,
    done         bigint NOT NULL DEFAULT 0,
    skipped      bigint NOT NULL DEFAULT 0,
    cursor       text NOT NULL DEFAULT '',
    failures     integer NOT NULL DEFAULT 0,
    error        text NOT NULL DEFAULT '',
    next_step_at timestamptz NOT NULL DEFAULT now(),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz
);

CREATE INDEX bulk_actions_running ON bulk_actions (next_step_at) WHERE state = 'running';

-- What each action did to each order, for the order's timeline. A requeue
-- may touch an order more than once (a delivery per event and subscriber).
CREATE TABLE bulk_action_orders (
    id         bigserial PRIMARY KEY,
    action_id  uuid NOT NULL REFERENCES bulk_actions (id),
    order_id   uuid NOT NULL,
    outcome    text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX bulk_action_orders_order ON bulk_action_orders (order_id, id);
