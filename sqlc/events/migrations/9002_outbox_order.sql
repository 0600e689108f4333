-- The operator's saga timeline reads an order's events from each outbox.
CREATE INDEX outbox_order ON outbox (order_id);
