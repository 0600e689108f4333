package store

import (
	"encoding/json"
	"time"

	"github.com/ordermesh/ordermesh/services/order/internal/service"
)

// statusChange is what a NOTIFY on StatusChannel says of an order's
// transition when the batch that made it knows it whole: the new history
// entry with its place in the history, and the fields the transition set.
// A watcher that has the order up to the entry before applies it without
// reading; one that does not reads the order. A payload that is only an
// order id says the order changed, and watchers read it.
type statusChange struct {
	OrderID    string              `json:"id"`
	Seq        int                 `json:"seq"` // the entry's place in the history, from 1
	Status     service.Status      `json:"status"`
	Reason     service.Reason      `json:"reason,omitempty"`
	Detail     string              `json:"detail,omitempty"`
	At         time.Time           `json:"at"`
	BookingID  string              `json:"booking,omitempty"`
	ShortLines []service.ShortLine `json:"short,omitempty"`
}

// maxPayload keeps a change inside PostgreSQL's 8000-byte NOTIFY payload;
// a longer one is sent as the order id alone.
const maxPayload = 7000

// payload is the NOTIFY payload of c.
func (c statusChange) payload() string {
	raw, err := json.Marshal(c)
	if err != nil || len(raw) > maxPayload {
		return c.OrderID
	}
	return string(raw)
}

// parseChange reads a StatusChannel payload: a change, or an order id.
func parseChange(payload string) (statusChange, bool) {
	var c statusChange
	if len(payload) == 0 || payload[0] != '{' || json.Unmarshal([]byte(payload), &c) != nil || c.OrderID == "" {
		return statusChange{OrderID: payload}, false
	}
	return c, true
}

// apply returns o after c, and false unless c is the entry that comes
// next in o's history.
func (c statusChange) apply(o service.Order) (service.Order, bool) {
	if c.Seq != len(o.History)+1 {
		return o, false
	}
	o.History = append(o.History[:len(o.History):len(o.History)], service.Change{Status: c.Status, Reason: c.Reason, Detail: c.Detail, At: c.At})
	o.Status, o.Reason, o.UpdatedAt = c.Status, c.Reason, c.At
	if c.BookingID != "" {
		o.BookingID = c.BookingID
	}
	if c.ShortLines != nil {
		o.ShortLines = c.ShortLines
	}
	return o, true
}
