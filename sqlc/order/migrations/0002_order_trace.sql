-- The W3C traceparent of the request that placed the order, so that work
-- no request starts (the expiry job, an operator's cancel) continues the
-- order's own trace instead of starting one. Orders placed before this
-- migration have none: their expiry starts a trace of its own.
ALTER TABLE orders ADD COLUMN traceparent text NOT NULL DEFAULT '';
