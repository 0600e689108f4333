// Package catalog embeds the Catalog service's SQL migrations.
package catalog

import "embed"

// Migrations holds the numbered migration files under migrations/.
//
//go:embed migrations/*.sql
var Migrations embed.FS
