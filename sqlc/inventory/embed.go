// Package inventory embeds the Inventory service's SQL migrations.
package inventory

import "embed"

// Migrations holds the numbered migration files under migrations/.
//
//go:embed migrations/*.sql
var Migrations embed.FS
