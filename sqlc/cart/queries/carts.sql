-- name: TouchCart :one
-- Creates the cart if needed and bumps its version, locking the row until
-- the transaction ends so that changes to one cart apply one at a time.
INSERT INTO carts (user_id, version, updated_at)
VALUES ($1, 1, now())
ON CONFLICT (user_id) DO UPDATE SET version = carts.version + 1, updated_at = now()
RETURNING user_id, version, updated_at;

-- name: GetCart :one
SELECT user_id, version, updated_at FROM carts WHERE user_id = $1;

-- name: ListLines :many
SELECT sku, quantity, added_at FROM cart_lines WHERE user_id = $1 ORDER BY added_at, sku;

-- name: GetLine :one
SELECT sku, quantity, added_at FROM cart_lines WHERE user_id = $1 AND sku = $2;

-- name: CountLines :one
SELECT count(*) FROM cart_lines WHERE user_id = $1;

-- name: UpsertLine :exec
INSERT INTO cart_lines (user_id, sku, quantity)
VALUES ($1, $2, $3)
ON CONFLICT (user_id, sku) DO UPDATE SET quantity = excluded.quantity;

-- name: DeleteLine :execrows
DELETE FROM cart_lines WHERE user_id = $1 AND sku = $2;

-- name: DeleteAllLines :exec
DELETE FROM cart_lines WHERE user_id = $1;

-- name: LockCarts :many
-- The carts a delivered batch of events changes, locked in user order so
-- that concurrent batches never deadlock, with their lines.
SELECT c.user_id, c.version, c.updated_at,
       coalesce(array_agg(l.sku ORDER BY l.added_at, l.sku) FILTER (WHERE l.sku IS NOT NULL), '{}')::text[] AS skus,
       coalesce(array_agg(l.quantity ORDER BY l.added_at, l.sku) FILTER (WHERE l.sku IS NOT NULL), '{}')::integer[] AS quantities,
       coalesce(array_agg(l.added_at ORDER BY l.added_at, l.sku) FILTER (WHERE l.sku IS NOT NULL), '{}')::timestamptz[] AS added_at
FROM (SELECT * FROM carts WHERE carts.user_id = ANY(@user_ids::text[]) ORDER BY carts.user_id FOR UPDATE) c
LEFT JOIN cart_lines l ON l.user_id = c.user_id
GROUP BY c.user_id, c.version, c.updated_at
ORDER BY c.user_id;

-- name: ApplyCartChanges :exec
-- Writes a batch's cart changes in one statement: lines removed, lines
-- whose quantity changed, and each changed cart's version bumped.
WITH removed AS (
    DELETE FROM cart_lines l
    USING (SELECT unnest(@removed_users::text[]) AS user_id, unnest(@removed_skus::text[]) AS sku) AS r
    WHERE l.user_id = r.user_id AND l.sku = r.sku
), updated AS (
    UPDATE cart_lines l SET quantity = u.quantity
    FROM (SELECT unnest(@updated_users::text[]) AS user_id, unnest(@updated_skus::text[]) AS sku,
                 unnest(@updated_quantities::integer[]) AS quantity) AS u
    WHERE l.user_id = u.user_id AND l.sku = u.sku
)
UPDATE carts SET version = version + 1, updated_at = now()
WHERE user_id = ANY(@changed_users::text[]);
