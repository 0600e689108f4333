// Package coalesce runs concurrent requests together, a batch at a time,
// as Inventory's hot path does: while one batch is being served, new
// requests queue; when it is done, the next batch takes everything queued,
// up to a maximum. There is no waiting window, so a lone request waits for
// nothing and a busy service makes one call for many requests.
package coalesce

import (
	"context"
	"fmt"
	"sync"
)

// Result is one request's answer.
type Result[Res any] struct {
	Value Res
	Err   error
}

// Group serves requests of type Req through Run, a batch at a time.
type Group[Req, Res any] struct {
	// Max bounds a batch; 0 means 500.
	Max int
	// Run serves a batch and returns one result per request, in order.
	// Its ctx is the first request's, without its cancellation: the batch
	// serves others too.
	Run func(ctx context.Context, reqs []Req) []Result[Res]

	mu      sync.Mutex
	queue   []*call[Req, Res]
	running bool
}

type call[Req, Res any] struct {
	ctx  context.Context //nolint:containedctx // the first call's context carries the batch's trace
	req  Req
	res  Result[Res]
	done chan struct{}
}

// Do queues req and waits for its result, or for ctx to end; a batch that
// has taken req carries on without it.
func (g *Group[Req, Res]) Do(ctx context.Context, req Req) (Res, error) {
	c := &call[Req, Res]{ctx: ctx, req: req, done: make(chan struct{})}
	g.mu.Lock()
	g.queue = append(g.queue, c)
	if !g.running {
		g.running = true
		go g.serve() //nolint:contextcheck // a batch runs on its first request's context, without its cancellation: it serves others too
	}
	g.mu.Unlock()
	select {
	case <-c.done:
		return c.res.Value, c.res.Err
	case <-ctx.Done():
		var zero Res
		return zero, ctx.Err()
	}
}

// Queued is how many requests wait for the next batch.
func (g *Group[Req, Res]) Queued() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.queue)
}

// serve runs batches until the queue is empty.
func (g *Group[Req, Res]) serve() {
	limit := g.Max
	if limit <= 0 {
		limit = 500
	}
	for {
		g.mu.Lock()
		n := min(len(g.queue), limit)
		batch := g.queue[:n:n]
		g.queue = g.queue[n:]
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
		reqs := make([]Req, n)
		for i, c := range batch {
			reqs[i] = c.req
		}
		results := g.Run(context.WithoutCancel(batch[0].ctx), reqs)
		for i, c := range batch {
			if i < len(results) {
				c.res = results[i]
			} else {
				c.res.Err = fmt.Errorf("coalesce: the batch answered %d of %d requests", len(results), n)
			}
			close(c.done)
		}
	}
}
