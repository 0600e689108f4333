-- Operators search orders by SKU (OpsService.ListOrders' sku): the lines
-- of a SKU, and from them their orders, without reading every line.
CREATE INDEX order_lines_sku ON order_lines (sku, order_id);
