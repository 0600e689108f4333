-- The hot path: queries that serve a whole batch of reservations at once,
-- each taking its parameters as arrays.

-- name: ClaimReservations :many
-- Claims reservation rows for new orders, in order id order. An order that
-- has a row already (or gets one from another replica first) is not
-- returned.
INSERT INTO reservations (order_id, status, expires_at)
SELECT o.order_id, 'claimed', o.expires_at
FROM (SELECT unnest(sqlc.arg(order_ids)::text[]) AS order_id, unnest(sqlc.arg(expires_at)::timestamptz[]) AS expires_at) AS o
ORDER BY o.order_id
ON CONFLICT (order_id) DO NOTHING
RETURNING order_id;

-- name: ReservationStatuses :many
SELECT order_id, status FROM reservations WHERE order_id = ANY(sqlc.arg(order_ids)::text[]);

-- name: LockAvailable :many
-- Locks the batch's SKUs in SKU order: concurrent batches (replicas) take
-- them in the same order and never deadlock.
SELECT sku, available FROM stock WHERE sku = ANY(sqlc.arg(skus)::text[]) ORDER BY sku FOR UPDATE;

-- name: ReserveStock :exec
-- Takes each SKU's total for the batch from available into reserved in one
-- statement.
UPDATE stock
SET available = available - CASE WHEN sku = ANY(sqlc.arg(skus)::text[])
                                 THEN (sqlc.arg(quantities)::bigint[])[array_position(sqlc.arg(skus)::text[], sku)]
                                 ELSE 0 END,
    reserved = reserved + CASE WHEN sku = ANY(sqlc.arg(skus)::text[])
                               THEN (sqlc.arg(quantities)::bigint[])[array_position(sqlc.arg(skus)::text[], sku)]
                               ELSE 0 END,
    updated_at = now()
WHERE sku = ANY(sqlc.arg(skus)::text[]);

-- name: ResolveReservations :exec
UPDATE reservations r
SET status = o.status, updated_at = now()
FROM (SELECT unnest(sqlc.arg(order_ids)::text[]) AS order_id, unnest(sqlc.arg(statuses)::text[]) AS status) AS o
WHERE r.order_id = o.order_id;

-- name: InsertBatchLines :exec
INSERT INTO reservation_lines (order_id, sku, quantity)
SELECT unnest(sqlc.arg(order_ids)::text[]), unnest(sqlc.arg(skus)::text[]), unnest(sqlc.arg(quantities)::bigint[]);
