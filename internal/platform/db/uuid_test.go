package db_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/ordermesh/ordermesh/internal/platform/db"
	"github.com/ordermesh/ordermesh/internal/platform/dbtest"
)

// TestUUIDParameters sends google/uuid values the direct way, alone, in
// arrays, as an empty and as a nil array, and reads them back as
// PostgreSQL has them.
func TestUUIDParameters(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	pool, err := db.Open(ctx, dbtest.New(t).URL, 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	one, two := uuid.New(), uuid.Must(uuid.NewV7())
	var text, arrayText string
	var back uuid.UUID
	var n int
	err = pool.QueryRow(ctx, "SELECT $1::uuid::text, $2::uuid[]::text, $1::uuid, cardinality($3::uuid[])",
		one, []uuid.UUID{one, two}, []uuid.UUID{}).Scan(&text, &arrayText, &back, &n)
	if err != nil {
		t.Fatal(err)
	}
	if text != one.String() || arrayText != "{"+one.String()+","+two.String()+"}" || back != one || n != 0 {
		t.Errorf("sent %s and [%s %s]; PostgreSQL has %s and %s, and gives back %s", one, one, two, text, arrayText, back)
	}
	if err := pool.QueryRow(ctx, "SELECT coalesce(cardinality($1::uuid[]), -1)", []uuid.UUID(nil)).Scan(&n); err != nil || n != -1 {
		t.Errorf("a nil array arrived as cardinality %d (%v), want NULL", n, err)
	}
}
