-- name: InsertPaymentMethod :one
INSERT INTO payment_methods (id, user_id, brand, last4, exp_month, exp_year, behaviour)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: GetPaymentMethod :one
SELECT * FROM payment_methods WHERE id = $1;

-- name: GetPaymentByOrder :one
SELECT * FROM payments WHERE order_id = $1;

-- name: LockPaymentByOrder :one
SELECT * FROM payments WHERE order_id = $1 FOR UPDATE;

-- name: InsertPayment :exec
-- Write-only, as SetPaymentStatus is: a transaction of db.InTx sends it
-- together with the statements after it.
INSERT INTO payments (id, order_id, user_id, payment_method_id, amount_minor, currency, status, decline_code)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8);

-- name: SetPaymentStatus :exec
UPDATE payments SET status = $2, updated_at = now() WHERE id = $1;

-- name: InsertOperation :exec
INSERT INTO payment_operations (payment_id, kind, succeeded, gateway_reference, message)
VALUES ($1, $2, $3, $4, $5);

-- name: ListOperations :many
SELECT * FROM payment_operations WHERE payment_id = ANY(@payment_ids::uuid[]) ORDER BY id;

-- name: ListPayments :many
SELECT * FROM payments
WHERE user_id = @user_id AND id < @before_id::uuid
ORDER BY id DESC
LIMIT @page_limit;

-- name: InsertCancelled :exec
INSERT INTO cancelled_orders (order_id) VALUES ($1) ON CONFLICT DO NOTHING;

-- name: IsCancelled :one
SELECT EXISTS (SELECT 1 FROM cancelled_orders WHERE order_id = $1);

-- name: CountGatewayAttempt :one
INSERT INTO gateway_attempts (order_id, attempts) VALUES ($1, 1)
ON CONFLICT (order_id) DO UPDATE SET attempts = gateway_attempts.attempts + 1
RETURNING attempts;
