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

-- name: LockPaymentsByOrders :many
-- The payments of a delivered batch's orders, locked in order id order,
-- so that concurrent batches never deadlock.
SELECT * FROM payments WHERE order_id = ANY(@order_ids::text[]) ORDER BY order_id FOR UPDATE;

-- name: CancelledAmong :many
-- Which of a batch's orders were cancelled before Payment saw them.
SELECT order_id FROM cancelled_orders WHERE order_id = ANY(@order_ids::text[]);

-- name: GetPaymentMethods :many
SELECT * FROM payment_methods WHERE id = ANY(@ids::uuid[]);

-- name: InsertPayments :exec
-- A batch's new payments in one statement.
INSERT INTO payments (id, order_id, user_id, payment_method_id, amount_minor, currency, status, decline_code)
SELECT unnest(@ids::uuid[]), unnest(@order_ids::text[]), unnest(@user_ids::text[]), unnest(@payment_method_ids::uuid[]),
       unnest(@amounts_minor::bigint[]), unnest(@currencies::text[]), unnest(@statuses::text[]), unnest(@decline_codes::text[]);

-- name: SetPaymentStatuses :exec
-- A batch's status changes in one statement.
UPDATE payments p SET status = u.status, updated_at = now()
FROM (SELECT unnest(@ids::uuid[]) AS id, unnest(@statuses::text[]) AS status) AS u
WHERE p.id = u.id;

-- name: InsertOperations :exec
-- A batch's gateway operations in one statement, in the order they ran.
INSERT INTO payment_operations (payment_id, kind, succeeded, gateway_reference, message)
SELECT o.payment_id, o.kind, o.succeeded, o.gateway_reference, o.message
FROM (SELECT generate_subscripts(@payment_ids::uuid[], 1) AS n, unnest(@payment_ids::uuid[]) AS payment_id,
             unnest(@kinds::text[]) AS kind, unnest(@succeeded::boolean[]) AS succeeded,
             unnest(@gateway_references::text[]) AS gateway_reference, unnest(@messages::text[]) AS message) AS o
ORDER BY o.n;

-- name: InsertCancelledOrders :exec
INSERT INTO cancelled_orders (order_id) SELECT unnest(@order_ids::text[]) ON CONFLICT DO NOTHING;
