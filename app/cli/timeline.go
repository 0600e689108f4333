package cli

import (
	"fmt"
	"strings"
	"time"

	eventsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/events/v1"
	inventoryv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/inventory/v1"
	opsv1 "github.com/ordermesh/ordermesh/gen/go/ordermesh/ops/v1"
)

// describe words one step of a saga's timeline for the table: what
// happened, marked "! " when it is a problem to look at, and more when
// there is more (a decline message, the last delivery error, how long
// stock is held).
func describe(e *opsv1.TimelineEntry) (what, detail string) {
	what, detail = wording(e)
	if e.GetProblem() {
		what = "! " + what
	}
	return what, detail
}

// wording is describe's words, unmarked.
func wording(e *opsv1.TimelineEntry) (what, detail string) {
	switch s := e.GetStep().(type) {
	case *opsv1.TimelineEntry_StatusChange:
		c := s.StatusChange
		what = strings.ToUpper(enumLabel(c.GetStatus().String(), "ORDER_STATUS_"))
		if r := enumLabel(c.GetReason().String(), "STATUS_REASON_"); r != "" {
			what += " (" + r + ")"
		}
		return what, c.GetDetail()
	case *opsv1.TimelineEntry_Reservation:
		r := s.Reservation
		status := strings.ToUpper(enumLabel(r.GetStatus().String(), "RESERVATION_STATUS_"))
		if len(r.GetLines()) == 0 {
			return "reservation " + status, ""
		}
		lines := make([]string, 0, len(r.GetLines()))
		for _, l := range r.GetLines() {
			lines = append(lines, fmt.Sprintf("%d × %s", l.GetQuantity(), l.GetSku()))
		}
		what = "reservation " + strings.Join(lines, ", ")
		if r.GetStatus() == inventoryv1.ReservationStatus_RESERVATION_STATUS_REJECTED {
			what = "reservation REJECTED: " + strings.Join(lines, ", ")
		}
		if t := r.GetExpireTime(); t != nil {
			detail = "held until " + t.AsTime().UTC().Format(time.RFC3339)
		}
		return what, detail
	case *opsv1.TimelineEntry_Payment:
		op := s.Payment.GetOperation()
		outcome := "succeeded"
		if !op.GetSucceeded() {
			outcome = "failed"
		}
		return op.GetKind() + " " + amount(s.Payment.GetAmount()) + " " + outcome, op.GetMessage()
	case *opsv1.TimelineEntry_Delivery:
		d := s.Delivery.GetDelivery()
		route := strings.ToUpper(enumLabel(d.GetType().String(), "EVENT_TYPE_")) + " " + s.Delivery.GetProducer() + " → " + d.GetSubscriber()
		switch d.GetState() {
		case eventsv1.DeliveryState_DELIVERY_STATE_DELIVERED:
			return route + ": delivered after " + attempts(d.GetAttempts()), d.GetLastError()
		case eventsv1.DeliveryState_DELIVERY_STATE_PARKED:
			return route + ": PARKED after " + attempts(d.GetAttempts()) + "; requeue it once the cause is fixed", d.GetLastError()
		default:
			what = route + ": pending"
			if d.GetAttempts() > 0 {
				what += ", " + attempts(d.GetAttempts()) + " failed"
			}
			if t := d.GetNextAttemptTime(); t != nil {
				what += ", next at " + t.AsTime().UTC().Format(time.RFC3339)
			}
			return what, d.GetLastError()
		}
	case *opsv1.TimelineEntry_BulkAction:
		act := s.BulkAction.GetAction()
		return s.BulkAction.GetOutcome() + " by " + act.GetOperator() + ": " + act.GetReason(),
			fmt.Sprintf("bulk action %s on %d (%s)", act.GetId(), act.GetMatched(), act.GetFilter())
	}
	return "(a step this CLI does not know; upgrade it)", ""
}

func attempts(n int32) string {
	if n == 1 {
		return "1 attempt"
	}
	return fmt.Sprintf("%d attempts", n)
}
