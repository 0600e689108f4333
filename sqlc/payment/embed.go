// Package payment embeds the Payment service's SQL migrations.
package payment

import "embed"

// Migrations holds the numbered migration files under migrations/.
//
//go:embed migrations/*.sql
var Migrations embed.FS
