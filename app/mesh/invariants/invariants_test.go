package invariants_test

import (
	"context"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ordermesh/ordermesh/app/mesh/invariants"
	"github.com/ordermesh/ordermesh/app/mesh/meshtest"
)

// The checker must catch each kind of breakage it claims to, or the saga
// tests that rely on it prove nothing.
func TestCheckCatchesBrokenInvariants(t *testing.T) {
	t.Parallel()
	m := meshtest.Start(t, nil)
	pools := map[string]*pgxpool.Pool{}
	for name, d := range m.Databases {
		pools[name] = d.Pool
	}
	ctx := context.Background()
	if err := invariants.Check(ctx, pools); err != nil {
		t.Fatalf("empty mesh: %v", err)
	}
	exec := func(service, sql string) {
		t.Helper()
		if _, err := pools[service].Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec("inventory", "INSERT INTO stock (sku, available, reserved, received) VALUES ('X', 9, 1, 10)")
	exec("payment", `INSERT INTO payments (id, order_id, user_id, payment_method_id, amount_minor, currency, status)
		VALUES (gen_random_uuid(), 'ghost', 'u', gen_random_uuid(), 1, 'EUR', 'authorized')`)
	exec("inventory", "INSERT INTO reservations (order_id, status, skus, quantities) VALUES ('phantom', 'held', '{Y}', '{1}')")
	err := invariants.Check(ctx, pools)
	if err == nil {
		t.Fatal("Check passed a broken mesh")
	}
	for _, want := range []string{"disagree with the ledger", "payment for order ghost", "reservation for order phantom"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Check error does not report %q:\n%v", want, err)
		}
	}
}
