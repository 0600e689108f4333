-- One cart per user. The version grows with every change; the row also
-- serialises concurrent changes to one cart (it is locked by the upsert
-- that bumps it).
CREATE TABLE carts (
    user_id    text PRIMARY KEY,
    version    bigint NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE cart_lines (
    user_id  text NOT NULL REFERENCES carts (user_id) ON DELETE CASCADE,
    sku      text NOT NULL,
    quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    added_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, sku)
);
