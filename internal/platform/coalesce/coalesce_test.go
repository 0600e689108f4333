package coalesce_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/internal/platform/coalesce"
	"github.com/ordermesh/ordermesh/internal/platform/wait"
)

// While one batch is served, requests queue, and the next batch takes them
// all: 100 concurrent requests need far fewer than 100 calls of Run, and
// each gets its own answer.
func TestRequestsQueuedDuringABatchShareTheNext(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	var mu sync.Mutex
	var sizes []int
	g := &coalesce.Group[int, int]{Run: func(_ context.Context, reqs []int) []coalesce.Result[int] {
		mu.Lock()
		sizes = append(sizes, len(reqs))
		first := len(sizes) == 1
		mu.Unlock()
		if first {
			<-release // the others queue meanwhile
		}
		out := make([]coalesce.Result[int], len(reqs))
		for i, r := range reqs {
			out[i].Value = r * 2
		}
		return out
	}}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	wg.Go(func() {
		if v, err := g.Do(context.Background(), -1); err != nil || v != -2 {
			errs <- errors.New("the first request was answered wrongly")
		}
	})
	for {
		mu.Lock()
		started := len(sizes) == 1
		mu.Unlock()
		if started {
			break
		}
		time.Sleep(time.Millisecond)
	}
	for i := range 99 {
		wg.Go(func() {
			if v, err := g.Do(context.Background(), i); err != nil || v != 2*i {
				errs <- errors.New("a queued request got another's answer")
			}
		})
	}
	wait.Until(t, 10*time.Second, time.Millisecond, func() error {
		if n := g.Queued(); n < 99 {
			return fmt.Errorf("%d of 99 requests queued behind the first batch", n)
		}
		return nil
	})
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(sizes) != 2 || sizes[0] != 1 || sizes[1] != 99 {
		t.Errorf("batch sizes %v: want the first alone and the 99 queued behind it together", sizes)
	}
}

// A caller that gives up gets its context's error; the batch goes on.
func TestDoReturnsWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	g := &coalesce.Group[int, int]{Run: func(_ context.Context, reqs []int) []coalesce.Result[int] {
		<-release
		return make([]coalesce.Result[int], len(reqs))
	}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := g.Do(ctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Do = %v, want the deadline", err)
	}
	close(release)
}
