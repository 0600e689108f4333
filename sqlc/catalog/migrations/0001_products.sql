-- Products, priced in integer minor units. Full-text search runs on an
-- expression index over product_search_vector, which weights the name
-- above the category, the description and the attribute values.
CREATE FUNCTION product_search_vector(name text, category text, description text, attributes jsonb)
RETURNS tsvector
LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN setweight(to_tsvector('english'::regconfig, name), 'A') ||
       setweight(to_tsvector('english'::regconfig, replace(category, '-', ' ')), 'B') ||
       setweight(to_tsvector('english'::regconfig, description), 'C') ||
       setweight(jsonb_to_tsvector('english'::regconfig, attributes, '["string"]'), 'D');

CREATE TABLE products (
    sku          text PRIMARY KEY,
    name         text NOT NULL,
    description  text NOT NULL DEFAULT '',
    price_minor  bigint NOT NULL CHECK (price_minor >= 0),
    currency     text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    category     text NOT NULL,
    image_url    text NOT NULL DEFAULT '',
    attributes   jsonb NOT NULL DEFAULT '{}'::jsonb,
    weight_grams integer NOT NULL CHECK (weight_grams > 0),
    archived_at  timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX products_active_category ON products (category, sku) WHERE archived_at IS NULL;
CREATE INDEX products_search ON products
    USING gin (product_search_vector(name, category, description, attributes))
    WHERE archived_at IS NULL;
