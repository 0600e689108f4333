-- name: CreateProduct :one
INSERT INTO products (sku, name, description, price_minor, currency, category, image_url, attributes, weight_grams)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (sku) DO NOTHING
RETURNING *;

-- name: GetProduct :one
SELECT * FROM products WHERE sku = $1;

-- name: GetProductForUpdate :one
SELECT * FROM products WHERE sku = $1 FOR UPDATE;

-- name: BatchGetProducts :many
SELECT * FROM products WHERE sku = ANY(@skus::text[]);

-- name: UpdateProduct :one
UPDATE products
SET name = $2, description = $3, price_minor = $4, currency = $5, category = $6,
    image_url = $7, attributes = $8, weight_grams = $9, updated_at = now()
WHERE sku = $1
RETURNING *;

-- name: ArchiveProduct :one
-- Archiving twice keeps the first archive time.
UPDATE products
SET archived_at = COALESCE(archived_at, now()),
    updated_at = CASE WHEN archived_at IS NULL THEN now() ELSE updated_at END
WHERE sku = $1
RETURNING *;

-- name: ListProducts :many
-- Keyset pagination by SKU over active products, optionally in one category.
SELECT * FROM products
WHERE archived_at IS NULL
  AND (sqlc.narg(category)::text IS NULL OR category = sqlc.narg(category)::text)
  AND sku > @after_sku::text
ORDER BY sku
LIMIT @page_limit;

-- name: SearchProducts :many
-- Ranked full-text search. Pages are keyed by (rank, sku) so that a page
-- boundary never repeats or skips a product while the data stands still.
SELECT sqlc.embed(products), ranked.rank
FROM products
CROSS JOIN LATERAL (
    SELECT ts_rank_cd(product_search_vector(products.name, products.category, products.description, products.attributes),
                      websearch_to_tsquery('english', @query::text))::float8 AS rank
) AS ranked
WHERE products.archived_at IS NULL
  AND product_search_vector(products.name, products.category, products.description, products.attributes)
      @@ websearch_to_tsquery('english', @query::text)
  AND (sqlc.narg(category)::text IS NULL OR products.category = sqlc.narg(category)::text)
  AND (sqlc.narg(after_rank)::float8 IS NULL
       OR ranked.rank < sqlc.narg(after_rank)::float8
       OR (ranked.rank = sqlc.narg(after_rank)::float8 AND products.sku > @after_sku::text))
ORDER BY ranked.rank DESC, products.sku
LIMIT @page_limit;

-- name: ListCategories :many
SELECT category, count(*) AS product_count
FROM products
WHERE archived_at IS NULL
GROUP BY category
ORDER BY category;
