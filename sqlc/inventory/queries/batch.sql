-- The hot path: queries that serve a whole batch of reservations at once,
-- each taking its parameters as arrays.

-- name: RecordedReservations :many
SELECT order_id, status, expires_at FROM reservations WHERE order_id = ANY(sqlc.arg(order_ids)::text[]);

-- name: LockAvailable :many
-- Locks the batch's SKUs in SKU order: concurrent batches (replicas) take
-- them in the same order and never deadlock.
SELECT sku, available FROM stock WHERE sku = ANY(sqlc.arg(skus)::text[]) ORDER BY sku FOR UPDATE;

-- name: CommitBatch :execrows
-- Writes a whole batch's allocation in one statement: the reservations with
-- their final status and lines, and every SKU's total moved from available
-- to reserved with one UPDATE ... CASE; it returns the SKUs moved.
-- Reservation i's lines are line_skus[line_first[i]:line_last[i]]
-- (1-based, sorted by SKU). An order another replica reserved meanwhile
-- fails the statement with a unique violation (a plain INSERT: ON
-- CONFLICT's speculative insertion made every row dearer), and the caller
-- rolls back and serves the batch again, looking up known orders first.
WITH inserted AS (
    INSERT INTO reservations (order_id, status, expires_at, skus, quantities)
    SELECT r.order_id, r.status, nullif(r.expires_at, '0001-01-01 00:00:00+00'),
           (sqlc.arg(line_skus)::text[])[r.line_first:r.line_last],
           (sqlc.arg(line_quantities)::bigint[])[r.line_first:r.line_last]
    FROM (
        SELECT unnest(sqlc.arg(order_ids)::text[]) AS order_id,
               unnest(sqlc.arg(statuses)::text[]) AS status,
               -- Go's zero time stands for "no expiry" (a rejection).
               unnest(sqlc.arg(expires_at)::timestamptz[]) AS expires_at,
               unnest(sqlc.arg(line_first)::int[]) AS line_first,
               unnest(sqlc.arg(line_last)::int[]) AS line_last
    ) r
)
UPDATE stock
SET available = available - CASE WHEN sku = ANY(sqlc.arg(skus)::text[])
                                 THEN (sqlc.arg(quantities)::bigint[])[array_position(sqlc.arg(skus)::text[], sku)]
                                 ELSE 0 END,
    reserved = reserved + CASE WHEN sku = ANY(sqlc.arg(skus)::text[])
                               THEN (sqlc.arg(quantities)::bigint[])[array_position(sqlc.arg(skus)::text[], sku)]
                               ELSE 0 END,
    updated_at = now()
WHERE sku = ANY(sqlc.arg(skus)::text[]);
