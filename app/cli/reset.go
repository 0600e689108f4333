package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/ordermesh/ordermesh/app/mesh"
	"github.com/ordermesh/ordermesh/internal/platform/db"
)

// resetGrace is how long reset waits for sessions that are closing.
const resetGrace = 2 * time.Second

// reset drops the databases of the given services, so that the next start
// migrates them afresh: `make reset` before walking through docs/tour.md
// again. It drops nothing while any of them is in use (a running mesh, a
// psql session), so a database is never pulled from under a server, and
// it checks all of them before it drops any.
func reset(cfg mesh.Config, services []string, stdout, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var busy, present []string
	// A server that has just stopped leaves its sessions behind for a
	// moment: look again for a little while before refusing.
	for deadline := time.Now().Add(resetGrace); ; time.Sleep(100 * time.Millisecond) {
		busy, present = nil, nil
		for _, svc := range services {
			n, exists, err := db.Sessions(ctx, cfg.DatabaseURLOf(svc))
			if err != nil {
				fmt.Fprintf(stderr, "reset: %s: %v\n", svc, err)
				return 1
			}
			switch {
			case n > 0:
				busy = append(busy, fmt.Sprintf("%s (%d connections)", svc, n))
			case exists:
				present = append(present, svc)
			}
		}
		if len(busy) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(busy) > 0 {
		fmt.Fprintf(stderr, "reset: refused, the databases are in use: %s; stop `make run` (and any psql session) first\n", strings.Join(busy, ", "))
		return 1
	}
	for _, svc := range present {
		if err := db.Drop(ctx, cfg.DatabaseURLOf(svc)); err != nil {
			fmt.Fprintf(stderr, "reset: %s: %v\n", svc, err)
			return 1
		}
	}
	if len(present) == 0 {
		fmt.Fprintln(stdout, "reset: nothing to drop")
		return 0
	}
	fmt.Fprintf(stdout, "reset: dropped the databases of %s; the next start creates and migrates them\n", strings.Join(present, ", "))
	return 0
}
