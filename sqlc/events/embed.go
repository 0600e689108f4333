// Package events embeds the migrations of the outbox, delivery and inbox
// tables that every service's database carries.
package events

import "embed"

// Migrations holds the numbered migration files under migrations/.
//
//go:embed migrations/*.sql
var Migrations embed.FS
