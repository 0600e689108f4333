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
