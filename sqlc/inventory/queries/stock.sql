-- name: GetStock :one
SELECT * FROM stock WHERE sku = $1;

-- name: BatchGetStock :many
SELECT * FROM stock WHERE sku = ANY(@skus::text[]);

-- name: SetStock :one
-- Sets available units. Received moves by the same amount, so the
-- balance holds.
INSERT INTO stock (sku, available, received)
VALUES (@sku::text, @available::bigint, @available::bigint)
ON CONFLICT (sku) DO UPDATE
SET received = stock.received + (excluded.available - stock.available),
    available = excluded.available,
    updated_at = now()
RETURNING *;

-- name: AdjustStock :one
-- Changes available (and received) by delta, unless that would take
-- available below zero: then no row is returned.
INSERT INTO stock (sku, available, received)
SELECT @sku, @delta::bigint, @delta::bigint WHERE @delta::bigint >= 0
ON CONFLICT (sku) DO UPDATE
SET available = stock.available + @delta::bigint,
    received = stock.received + @delta::bigint,
    updated_at = now()
WHERE stock.available + @delta::bigint >= 0
RETURNING *;

-- name: InsertAdjustment :exec
INSERT INTO stock_adjustments (sku, delta, reason, actor) VALUES ($1, $2, $3, $4);

-- name: LockStock :many
-- Locks the SKUs in SKU order, so that concurrent reservations over
-- overlapping SKUs never deadlock.
SELECT * FROM stock WHERE sku = ANY(@skus::text[]) ORDER BY sku FOR UPDATE;

-- name: MoveStock :execrows
-- Moves quantities between available, reserved and sold for many SKUs at
-- once: each delta is a multiplier (-1, 0 or 1) of the line's quantity.
UPDATE stock
SET available = stock.available + sqlc.arg(d_available)::bigint * d.qty,
    reserved = stock.reserved + sqlc.arg(d_reserved)::bigint * d.qty,
    sold = stock.sold + sqlc.arg(d_sold)::bigint * d.qty,
    updated_at = now()
FROM (SELECT unnest(@skus::text[]) AS sku, unnest(@quantities::bigint[]) AS qty) AS d
WHERE stock.sku = d.sku;

-- name: GetReservation :one
SELECT * FROM reservations WHERE order_id = $1 FOR UPDATE;

-- name: ReadReservation :one
-- An order's reservation, without a lock, for operators.
SELECT * FROM reservations WHERE order_id = $1;

-- name: InsertReservation :exec
-- The lines are aligned arrays sorted by SKU.
INSERT INTO reservations (order_id, status, expires_at, skus, quantities)
VALUES (@order_id, @status, @expires_at, @skus::text[], @quantities::bigint[]);

-- name: SetReservationStatus :exec
UPDATE reservations SET status = $2, updated_at = now() WHERE order_id = $1;

-- name: ExpiredReservations :many
-- Held reservations past their deadline, claimed for this transaction.
SELECT order_id FROM reservations
WHERE status = 'held' AND expires_at < now()
ORDER BY expires_at
LIMIT @batch
FOR UPDATE SKIP LOCKED;

-- name: LockStockOfBatch :exec
-- Locks, in SKU order, the stock rows a delivered batch of events will
-- change: the SKUs named and those reserved for the orders named. Every
-- transaction that changes several stock rows locks them in SKU order
-- first, so concurrent batches queue instead of deadlocking.
SELECT 1 FROM stock
WHERE sku = ANY(@skus::text[])
   OR sku IN (SELECT unnest(r.skus) FROM reservations r WHERE r.order_id = ANY(@order_ids::text[]))
ORDER BY sku
FOR UPDATE OF stock;

-- name: LockReservations :many
-- The reservations of a delivered batch's orders, locked in order id
-- order (after their stock rows: see LockStockOfBatch).
SELECT * FROM reservations WHERE order_id = ANY(@order_ids::text[]) ORDER BY order_id FOR UPDATE;

-- name: InsertReservations :exec
-- A batch's new reservations without lines (tombstones of orders
-- cancelled before they were placed) in one statement.
INSERT INTO reservations (order_id, status, skus, quantities)
SELECT unnest(@order_ids::text[]), unnest(@statuses::text[]), '{}'::text[], '{}'::bigint[];

-- name: SetReservationStatuses :exec
-- A batch's status changes in one statement.
UPDATE reservations r SET status = u.status, updated_at = now()
FROM (SELECT unnest(@order_ids::text[]) AS order_id, unnest(@statuses::text[]) AS status) AS u
WHERE r.order_id = u.order_id;

-- name: MoveStockBy :execrows
-- Moves a batch's units between available, reserved and sold in one
-- statement, each SKU by its own deltas.
UPDATE stock
SET available = stock.available + d.available,
    reserved = stock.reserved + d.reserved,
    sold = stock.sold + d.sold,
    updated_at = now()
FROM (SELECT unnest(@skus::text[]) AS sku, unnest(@d_available::bigint[]) AS available,
             unnest(@d_reserved::bigint[]) AS reserved, unnest(@d_sold::bigint[]) AS sold) AS d
WHERE stock.sku = d.sku;
