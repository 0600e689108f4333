package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
	"github.com/ordermesh/ordermesh/services/order/internal/service"
	"github.com/ordermesh/ordermesh/services/order/internal/store/orderdb"
)

var _ service.BulkTx = (*txStore)(nil)

// errNoBulkAction is the error of an id that names no bulk action.
var errNoBulkAction = rpcerr.New(rpcerr.KindNotFound, "bulk action not found")

// CreateBulkAction implements service.BulkStore.
func (s *Store) CreateBulkAction(ctx context.Context, a service.BulkAction) (service.BulkAction, bool, error) {
	id, err := uuid.Parse(a.ID)
	if err != nil {
		return service.BulkAction{}, false, err
	}
	var request pgtype.UUID
	if a.RequestID != "" {
		r, err := uuid.Parse(a.RequestID)
		if err != nil {
			return service.BulkAction{}, false, err
		}
		request = pgtype.UUID{Bytes: r, Valid: true}
	}
	row, err := s.q.CreateBulkAction(ctx, orderdb.CreateBulkActionParams{
		ID: id, RequestID: request, Kind: string(a.Kind), Operator: a.Operator, Reason: a.Reason,
		Filter: a.Filter, FilterText: a.FilterText, Matched: a.Matched,
	})
	if errors.Is(err, pgx.ErrNoRows) {
		// The request id was used: this is a retry of that action.
		row, err = s.q.GetBulkActionByRequest(ctx, request)
		if err != nil {
			return service.BulkAction{}, false, fmt.Errorf("read bulk action of request %s: %w", a.RequestID, err)
		}
		return bulkAction(row), false, nil
	}
	if err != nil {
		return service.BulkAction{}, false, fmt.Errorf("create bulk action: %w", err)
	}
	return bulkAction(row), true, nil
}

// GetBulkAction implements service.BulkStore.
func (s *Store) GetBulkAction(ctx context.Context, id string) (service.BulkAction, error) {
	aid, err := uuid.Parse(id)
	if err != nil {
		return service.BulkAction{}, rpcerr.Errorf(errNoBulkAction, "bulk action %s does not exist", id)
	}
	row, err := s.q.GetBulkAction(ctx, aid)
	if errors.Is(err, pgx.ErrNoRows) {
		return service.BulkAction{}, rpcerr.Errorf(errNoBulkAction, "bulk action %s does not exist", id)
	}
	if err != nil {
		return service.BulkAction{}, fmt.Errorf("get bulk action: %w", err)
	}
	return bulkAction(row), nil
}

// ListBulkActions implements service.BulkStore.
func (s *Store) ListBulkActions(ctx context.Context, beforeID string, limit int32) ([]service.BulkAction, error) {
	cursor := uuid.Max
	if beforeID != "" {
		var err error
		if cursor, err = uuid.Parse(beforeID); err != nil {
			return nil, err
		}
	}
	rows, err := s.q.ListBulkActions(ctx, orderdb.ListBulkActionsParams{Cursor: cursor, PageLimit: limit})
	if err != nil {
		return nil, fmt.Errorf("list bulk actions: %w", err)
	}
	out := make([]service.BulkAction, len(rows))
	for i, r := range rows {
		out[i] = bulkAction(r)
	}
	return out, nil
}

// OrderBulkActions implements service.BulkStore.
func (s *Store) OrderBulkActions(ctx context.Context, orderID string) ([]service.BulkRecord, error) {
	oid, err := uuid.Parse(orderID)
	if err != nil {
		return nil, rpcerr.Errorf(service.ErrNotFound, "order %s does not exist", orderID)
	}
	rows, err := s.q.OrderBulkActions(ctx, oid)
	if err != nil {
		return nil, fmt.Errorf("bulk actions of order %s: %w", orderID, err)
	}
	out := make([]service.BulkRecord, len(rows))
	for i, r := range rows {
		out[i] = service.BulkRecord{Action: bulkAction(r.BulkAction), Outcome: r.Outcome, At: r.ActedAt}
	}
	return out, nil
}

// FailBulkStep implements service.BulkStore.
func (s *Store) FailBulkStep(ctx context.Context, id, msg string) (service.BulkAction, error) {
	aid, err := uuid.Parse(id)
	if err != nil {
		return service.BulkAction{}, err
	}
	row, err := s.q.FailBulkStep(ctx, orderdb.FailBulkStepParams{ID: aid, Error: msg, GiveUp: service.BulkGiveUp})
	if err != nil {
		return service.BulkAction{}, fmt.Errorf("record failed step of bulk action %s: %w", id, err)
	}
	return bulkAction(row), nil
}

// StopBulkAction implements service.BulkStore.
func (s *Store) StopBulkAction(ctx context.Context, id, operator string) (service.BulkAction, bool, error) {
	aid, err := uuid.Parse(id)
	if err != nil {
		return service.BulkAction{}, false, rpcerr.Errorf(errNoBulkAction, "bulk action %s does not exist", id)
	}
	row, err := s.q.StopBulkAction(ctx, orderdb.StopBulkActionParams{ID: aid, StoppedBy: operator})
	if errors.Is(err, pgx.ErrNoRows) {
		return service.BulkAction{}, false, nil // not running, or not there: the caller reads which
	}
	if err != nil {
		return service.BulkAction{}, false, fmt.Errorf("stop bulk action %s: %w", id, err)
	}
	return bulkAction(row), true, nil
}

// StageOrders implements service.BulkTx: a batch of the transaction,
// as a delivered batch of events has, with the orders locked by one
// statement.
func (t *txStore) StageOrders(ctx context.Context, ids []string) (service.StagedTx, error) {
	b := &Batch{tx: t.tx, q: t.q, outbox: t.outbox}
	uids := make([]uuid.UUID, 0, len(ids))
	for _, id := range ids {
		uid, err := uuid.Parse(id)
		if err != nil {
			return nil, err
		}
		uids = append(uids, uid)
	}
	if err := b.lock(ctx, uids); err != nil {
		return nil, err
	}
	return b, nil
}

// ClaimBulkAction implements service.BulkTx.
func (t *txStore) ClaimBulkAction(ctx context.Context) (service.BulkAction, bool, error) {
	row, err := t.q.ClaimBulkAction(ctx)
	if errors.Is(err, pgx.ErrNoRows) {
		return service.BulkAction{}, false, nil
	}
	if err != nil {
		return service.BulkAction{}, false, fmt.Errorf("claim bulk action: %w", err)
	}
	return bulkAction(row), true, nil
}

// AdvanceBulkAction implements service.BulkTx.
func (t *txStore) AdvanceBulkAction(ctx context.Context, id string, step service.BulkStep) (service.BulkAction, error) {
	aid, err := uuid.Parse(id)
	if err != nil {
		return service.BulkAction{}, err
	}
	if len(step.Outcomes) > 0 {
		orders := make([]uuid.UUID, 0, len(step.Outcomes))
		outcomes := make([]string, 0, len(step.Outcomes))
		for _, o := range step.Outcomes {
			oid, err := uuid.Parse(o.OrderID)
			if err != nil {
				continue // an event about no order of this shop's: nothing to show it on
			}
			orders, outcomes = append(orders, oid), append(outcomes, o.Outcome)
		}
		if err := t.q.RecordBulkOutcomes(ctx, orderdb.RecordBulkOutcomesParams{ActionID: aid, OrderIds: orders, Outcomes: outcomes}); err != nil {
			return service.BulkAction{}, fmt.Errorf("record bulk outcomes: %w", err)
		}
	}
	row, err := t.q.AdvanceBulkAction(ctx, orderdb.AdvanceBulkActionParams{
		ID: aid, Cursor: step.Cursor, Done: step.Done, Skipped: step.Skipped, Finished: step.Finished,
	})
	if err != nil {
		return service.BulkAction{}, fmt.Errorf("advance bulk action: %w", err)
	}
	return bulkAction(row), nil
}

func bulkAction(r orderdb.BulkAction) service.BulkAction {
	a := service.BulkAction{
		ID: r.ID.String(), Kind: service.BulkKind(r.Kind), Operator: r.Operator, Reason: r.Reason,
		Filter: r.Filter, FilterText: r.FilterText, State: service.BulkState(r.State),
		Matched: r.Matched, Done: r.Done, Skipped: r.Skipped, Cursor: r.Cursor, Error: r.Error, StoppedBy: r.StoppedBy,
		CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, FinishedAt: r.FinishedAt,
	}
	if r.RequestID.Valid {
		a.RequestID = uuid.UUID(r.RequestID.Bytes).String()
	}
	return a
}
