-- Stock per SKU. The CHECKs are the invariants: available never goes
-- below zero, and every unit ever received is available, reserved or sold.
CREATE TABLE stock (
    sku        text PRIMARY KEY,
    available  bigint NOT NULL CHECK (available >= 0),
    reserved   bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    sold       bigint NOT NULL DEFAULT 0 CHECK (sold >= 0),
    received   bigint NOT NULL CHECK (received >= 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT stock_balance CHECK (received = available + reserved + sold)
);

-- Every merchant change to stock, for the audit trail.
CREATE TABLE stock_adjustments (
    id         bigserial PRIMARY KEY,
    sku        text NOT NULL REFERENCES stock (sku),
    delta      bigint NOT NULL,
    reason     text NOT NULL,
    actor      text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- The reservation ledger: one row per order Inventory has heard of.
--   held      stock is reserved for the order
--   sold      the order was confirmed; its units are sold
--   released  the order was cancelled or expired; its units went back
--   rejected  some line was short; nothing was held
--   cancelled the order was cancelled before Inventory saw it placed: a
--             tombstone, so a late OrderPlaced reserves nothing
CREATE TABLE reservations (
    order_id   text PRIMARY KEY,
    status     text NOT NULL CHECK (status IN ('held', 'sold', 'released', 'rejected', 'cancelled')),
    expires_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX reservations_held_expiry ON reservations (expires_at) WHERE status = 'held';

CREATE TABLE reservation_lines (
    order_id text NOT NULL REFERENCES reservations (order_id) ON DELETE CASCADE,
    sku      text NOT NULL,
    quantity bigint NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku)
);
