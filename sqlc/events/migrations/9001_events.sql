-- The event outbox, its per-subscriber deliveries, and the inbox. Every
-- service's database has these tables; they are numbered from 9001 so that
-- they never collide with a service's own migrations.

-- One row per event a service produced, written in the same transaction as
-- the state change it reports.
CREATE TABLE outbox (
    id         uuid PRIMARY KEY,
    type       integer NOT NULL,
    order_id   text NOT NULL,
    envelope   bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row per event and subscriber: the relay's work queue.
CREATE TABLE outbox_deliveries (
    event_id        uuid NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    subscriber      text NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'parked')),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text NOT NULL DEFAULT '',
    delivered_at    timestamptz,
    parked_at       timestamptz,
    PRIMARY KEY (event_id, subscriber)
);

CREATE INDEX outbox_deliveries_due ON outbox_deliveries (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_deliveries_parked ON outbox_deliveries (parked_at, event_id) WHERE state = 'parked';

-- Events this service has applied, recorded in the same transaction as
-- the effect, so a redelivered event has no second effect.
CREATE TABLE inbox (
    event_id     uuid PRIMARY KEY,
    type         integer NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);
