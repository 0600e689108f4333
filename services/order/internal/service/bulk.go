package service

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// BulkKind is what a bulk action does.
type BulkKind string

// The bulk actions.
const (
	BulkCancelOrders      BulkKind = "cancel_orders"
	BulkRequeueDeliveries BulkKind = "requeue_deliveries"
)

// BulkState is where a bulk action stands.
type BulkState string

// A bulk action runs until everything its filter selected is done or
// skipped, or until it fails too often in a row.
const (
	BulkRunning BulkState = "running"
	BulkDone    BulkState = "done"
	BulkFailed  BulkState = "failed"
	BulkStopped BulkState = "stopped"
)

// BulkGiveUp is how many failed steps in a row end a bulk action as
// failed; between them it waits 1, 2, 4 … up to 60 seconds.
const BulkGiveUp = 8

// BulkAction is an operator's action on everything a filter selected.
type BulkAction struct {
	ID, RequestID    string
	Kind             BulkKind
	Operator, Reason string
	// Filter is what the runner selects with, in the kind's own form;
	// FilterText is the filter as the operator wrote it.
	Filter     json.RawMessage
	FilterText string
	State      BulkState
	// Matched is how many the filter selected at the start; Done and
	// Skipped how many were acted on and passed over so far.
	Matched, Done, Skipped int64
	// Cursor is where the next step starts, in the kind's own form.
	Cursor     string
	Error      string
	StoppedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	FinishedAt *time.Time
}

// BulkOutcome is what a step did to one order.
type BulkOutcome struct {
	OrderID, Outcome string
}

// BulkStep is what one step of a bulk action did: the cursor after it,
// its counts, what it did to each order, and whether it was the last.
type BulkStep struct {
	Cursor        string
	Done, Skipped int64
	Outcomes      []BulkOutcome
	Finished      bool
}

// BulkRecord is a bulk action that touched an order, for its timeline.
type BulkRecord struct {
	Action  BulkAction
	Outcome string
	At      time.Time
}

// BulkStore is the persistence of bulk actions, beside Storer.
type BulkStore interface {
	// CreateBulkAction stores a new action; when its request id was used
	// before, it returns that action and false.
	CreateBulkAction(ctx context.Context, a BulkAction) (BulkAction, bool, error)
	GetBulkAction(ctx context.Context, id string) (BulkAction, error)
	// ListBulkActions returns up to limit actions older than beforeID
	// (empty: the newest), newest first.
	ListBulkActions(ctx context.Context, beforeID string, limit int32) ([]BulkAction, error)
	// OrderBulkActions returns what bulk actions did to an order.
	OrderBulkActions(ctx context.Context, orderID string) ([]BulkRecord, error)
	// FailBulkStep records a failed step and backs off, or ends the action
	// as failed after BulkGiveUp in a row.
	FailBulkStep(ctx context.Context, id, msg string) (BulkAction, error)
	// StopBulkAction stops a running action; false when it is not running.
	StopBulkAction(ctx context.Context, id, operator string) (BulkAction, bool, error)
}

// BulkTx is a bulk action's step inside one transaction.
type BulkTx interface {
	Tx
	// ClaimBulkAction locks a running action whose next step is due;
	// false when there is none.
	ClaimBulkAction(ctx context.Context) (BulkAction, bool, error)
	// AdvanceBulkAction records a step's progress and outcomes.
	AdvanceBulkAction(ctx context.Context, id string, step BulkStep) (BulkAction, error)
	// StageOrders locks orders with one statement and returns a Tx over
	// them whose changes are written, a statement per table, by Write.
	StageOrders(ctx context.Context, ids []string) (StagedTx, error)
}

// StagedTx is a Tx over orders locked together, whose changes are
// written together.
type StagedTx interface {
	Tx
	Write(ctx context.Context) error
}

// StartBulkAction records a new bulk action, running unless it matched
// nothing. A retry with the same request id returns the first one.
func (s *Service) StartBulkAction(ctx context.Context, a BulkAction) (BulkAction, bool, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return BulkAction{}, false, err
	}
	a.ID = id.String()
	return s.store.CreateBulkAction(ctx, a)
}

// GetBulkAction returns one bulk action.
func (s *Service) GetBulkAction(ctx context.Context, id string) (BulkAction, error) {
	return s.store.GetBulkAction(ctx, id)
}

// StopBulkAction stops a running bulk action before its next step. One
// that has ended is an error that says how it ended.
func (s *Service) StopBulkAction(ctx context.Context, id, operator string) (BulkAction, error) {
	a, stopped, err := s.store.StopBulkAction(ctx, id, operator)
	if err != nil || stopped {
		return a, err
	}
	if a, err = s.store.GetBulkAction(ctx, id); err != nil {
		return BulkAction{}, err
	}
	how := string(a.State)
	if a.State == BulkStopped {
		how += " by " + a.StoppedBy
	}
	return BulkAction{}, rpcerr.Errorf(ErrBulkOver, "bulk action %s has ended (%s at %s, %d of %d done); there is nothing to stop",
		id, how, a.UpdatedAt.UTC().Format(time.RFC3339), a.Done, a.Matched)
}

// ErrBulkOver is the error of acting on a bulk action that has ended.
var ErrBulkOver = rpcerr.New(rpcerr.KindPrecondition, "the bulk action has ended")

// ListBulkActions returns a page of bulk actions, newest first.
func (s *Service) ListBulkActions(ctx context.Context, beforeID string, limit int32) ([]BulkAction, error) {
	return s.store.ListBulkActions(ctx, beforeID, limit)
}

// OrderBulkActions returns what bulk actions did to an order.
func (s *Service) OrderBulkActions(ctx context.Context, orderID string) ([]BulkRecord, error) {
	return s.store.OrderBulkActions(ctx, orderID)
}

// StepBulkAction runs one step of a running bulk action whose step is
// due: act does the step's work in the transaction that records its
// progress, so both commit or neither does. It returns the action after
// the step, and false when no action was due. A step that fails is
// rolled back and recorded on the action, which tries again later.
func (s *Service) StepBulkAction(ctx context.Context, act func(context.Context, BulkTx, BulkAction) (BulkStep, error)) (BulkAction, bool, error) {
	var after, claimed BulkAction
	var found bool
	err := s.store.InTx(ctx, func(ctx context.Context, tx Tx) error {
		btx, ok := tx.(BulkTx)
		if !ok {
			return fmt.Errorf("the store's transactions do not run bulk actions")
		}
		var err error
		if claimed, found, err = btx.ClaimBulkAction(ctx); err != nil || !found {
			return err
		}
		step, err := act(ctx, btx, claimed)
		if err != nil {
			return err
		}
		after, err = btx.AdvanceBulkAction(ctx, claimed.ID, step)
		return err
	})
	if err != nil && found && ctx.Err() == nil {
		failed, ferr := s.store.FailBulkStep(ctx, claimed.ID, rpcerr.Text(err))
		if ferr != nil {
			return BulkAction{}, true, fmt.Errorf("%w; and recording it: %w", err, ferr)
		}
		return failed, true, err
	}
	return after, found, err
}

// CancellableStatuses are the statuses an operator may cancel from.
var CancellableStatuses = []Status{StatusPending, StatusReserved, StatusConfirmed}

// Cancellable narrows a filter to the orders an operator can cancel: the
// statuses it names that are cancellable, or all of those. It returns
// false when none of the statuses it names can be cancelled.
func Cancellable(f Filter) (Filter, bool) {
	if len(f.Statuses) == 0 {
		f.Statuses = slices.Clone(CancellableStatuses)
		return f, true
	}
	f.Statuses = slices.DeleteFunc(slices.Clone(f.Statuses), func(s Status) bool { return !slices.Contains(CancellableStatuses, s) })
	return f, len(f.Statuses) > 0
}

// CancelBatch cancels the next n orders f selects after the cursor (an
// order id; oldest first), each in a span of its own trace, and records
// who and why in each one's history. The batch's orders are locked with
// one statement and its changes written with one per table, as the
// saga's consumer does. An order that is no longer cancellable when
// locked is skipped. f must come from Cancellable.
func (s *Service) CancelBatch(ctx context.Context, tx BulkTx, a BulkAction, f Filter, n int32) (BulkStep, error) {
	f.OldestFirst = true
	orders, err := s.store.Search(ctx, f, a.Cursor, n)
	if err != nil {
		return BulkStep{}, err
	}
	step := BulkStep{Cursor: a.Cursor, Finished: int32(len(orders)) < n}
	if len(orders) == 0 {
		return step, nil
	}
	ids := make([]string, len(orders))
	for i, o := range orders {
		ids[i] = o.ID
	}
	batch, err := tx.StageOrders(ctx, ids)
	if err != nil {
		return BulkStep{}, err
	}
	detail := fmt.Sprintf("cancelled by operator %s: %s (bulk action %s)", a.Operator, a.Reason, a.ID)
	for _, found := range orders {
		step.Cursor = found.ID
		o, ok, err := batch.Lock(ctx, found.ID, false)
		if err != nil {
			return BulkStep{}, err
		}
		if !ok || !slices.Contains(CancellableStatuses, o.Status) {
			step.Skipped++
			step.Outcomes = append(step.Outcomes, BulkOutcome{OrderID: found.ID, Outcome: "skipped: already " + string(o.Status)})
			continue
		}
		if err := s.cancelTraced(ctx, batch, o, "order.bulk_cancel", ReasonOperator, detail); err != nil {
			return BulkStep{}, err
		}
		step.Done++
		step.Outcomes = append(step.Outcomes, BulkOutcome{OrderID: o.ID, Outcome: "cancelled"})
	}
	return step, batch.Write(ctx)
}
