-- Orders and their state machine.
--   pending   placed; stock not reserved yet
--   reserved  stock held; payment being authorised
--   confirmed paid and booked with the carrier
--   shipped   handed to the carrier
--   rejected  refused: out of stock
--   cancelled payment declined, shipping failed, cancelled or expired
CREATE TABLE orders (
    id                uuid PRIMARY KEY,
    user_id           text NOT NULL,
    status            text NOT NULL CHECK (status IN ('pending', 'reserved', 'confirmed', 'shipped', 'rejected', 'cancelled')),
    reason            text NOT NULL DEFAULT '',
    currency          text NOT NULL,
    subtotal_minor    bigint NOT NULL CHECK (subtotal_minor >= 0),
    shipping_minor    bigint NOT NULL CHECK (shipping_minor >= 0),
    total_minor       bigint NOT NULL CHECK (total_minor = subtotal_minor + shipping_minor),
    shipping_address  jsonb NOT NULL,
    email             text NOT NULL,
    payment_method_id uuid NOT NULL,
    from_cart         boolean NOT NULL,
    carrier           text NOT NULL,
    service_level     text NOT NULL,
    booking_id        text NOT NULL DEFAULT '',
    tracking_number   text NOT NULL DEFAULT '',
    shipped_at        timestamptz,
    short_lines       jsonb NOT NULL DEFAULT '[]'::jsonb,
    expires_at        timestamptz NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX orders_user ON orders (user_id, id DESC);
CREATE INDEX orders_open_expiry ON orders (expires_at) WHERE status IN ('pending', 'reserved');

-- The lines, with the name and price they had at placement.
CREATE TABLE order_lines (
    order_id         uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position         integer NOT NULL,
    sku              text NOT NULL,
    name             text NOT NULL,
    quantity         integer NOT NULL CHECK (quantity > 0),
    unit_price_minor bigint NOT NULL CHECK (unit_price_minor >= 0),
    PRIMARY KEY (order_id, position)
);

-- Every transition, with its reason and time.
CREATE TABLE order_history (
    id         bigserial PRIMARY KEY,
    order_id   uuid NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    status     text NOT NULL,
    reason     text NOT NULL DEFAULT '',
    detail     text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX order_history_order ON order_history (order_id, id);

-- PlaceOrder idempotency: one order per user and key, and the hash of the
-- request that made it.
CREATE TABLE idempotency_keys (
    user_id      text NOT NULL,
    key          text NOT NULL,
    request_hash bytea NOT NULL,
    order_id     uuid NOT NULL REFERENCES orders (id) DEFERRABLE INITIALLY DEFERRED,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
