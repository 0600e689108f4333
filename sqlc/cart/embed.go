// Package cart embeds the Cart service's SQL migrations.
package cart

import "embed"

// Migrations holds the numbered migration files under migrations/.
//
//go:embed migrations/*.sql
var Migrations embed.FS
