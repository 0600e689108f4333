-- Tokenised cards. The card number itself is never stored: only what a
-- receipt shows, and the simulator's verdict for the test card it was.
CREATE TABLE payment_methods (
    id         uuid PRIMARY KEY,
    user_id    text NOT NULL,
    brand      text NOT NULL,
    last4      text NOT NULL,
    exp_month  integer NOT NULL,
    exp_year   integer NOT NULL,
    behaviour  text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One payment per order.
CREATE TABLE payments (
    id                uuid PRIMARY KEY,
    order_id          text NOT NULL UNIQUE,
    user_id           text NOT NULL,
    payment_method_id uuid NOT NULL,
    amount_minor      bigint NOT NULL CHECK (amount_minor >= 0),
    currency          text NOT NULL,
    status            text NOT NULL CHECK (status IN ('authorized', 'declined', 'captured', 'voided', 'refunded')),
    decline_code      text NOT NULL DEFAULT '',
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX payments_user ON payments (user_id, id DESC);

-- Every call to the gateway, successful or not.
CREATE TABLE payment_operations (
    id                bigserial PRIMARY KEY,
    payment_id        uuid NOT NULL REFERENCES payments (id),
    kind              text NOT NULL CHECK (kind IN ('authorize', 'capture', 'void', 'refund')),
    succeeded         boolean NOT NULL,
    gateway_reference text NOT NULL,
    message           text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now()
);

-- Orders cancelled before Payment saw their stock reserved: a late
-- StockReserved must not authorise them.
CREATE TABLE cancelled_orders (
    order_id     text PRIMARY KEY,
    cancelled_at timestamptz NOT NULL DEFAULT now()
);

-- The gateway simulator's own memory, kept apart from payments because a
-- real gateway remembers attempts whatever our transaction does.
CREATE TABLE gateway_attempts (
    order_id text PRIMARY KEY,
    attempts integer NOT NULL
);
