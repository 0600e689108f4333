package service

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	platformmoney "github.com/ordermesh/ordermesh/internal/platform/money"
)

// Behaviour is how the simulated gateway treats a card. It is decided once,
// from the card number, when the card is tokenised.
type Behaviour string

// The simulator's test cards (DESIGN.md, issue 3). Any other valid card
// number approves.
const (
	BehaviourApprove      Behaviour = "approve"      // 4242424242424242
	BehaviourDecline      Behaviour = "decline"      // 4000000000000002
	BehaviourInsufficient Behaviour = "insufficient" // 4000000000009995
	BehaviourTransient    Behaviour = "transient"    // 4000000000000119: fails once, then approves
)

var testCards = map[string]Behaviour{
	"4242424242424242": BehaviourApprove,
	"4000000000000002": BehaviourDecline,
	"4000000000009995": BehaviourInsufficient,
	"4000000000000119": BehaviourTransient,
}

// BehaviourOf returns how the simulator treats a card number.
func BehaviourOf(number string) Behaviour {
	if b, ok := testCards[number]; ok {
		return b
	}
	return BehaviourApprove
}

// ErrGatewayUnavailable is a transient gateway failure: the caller retries.
var ErrGatewayUnavailable = errors.New("payment gateway temporarily unavailable")

// AttemptCounter counts authorisation attempts per order, outside any
// transaction of ours, as a real gateway would remember them.
type AttemptCounter func(ctx context.Context, orderID string) (int, error)

// Gateway simulates a card gateway.
type Gateway struct {
	attempts AttemptCounter
}

// NewGateway returns a simulator that remembers attempts through count.
func NewGateway(count AttemptCounter) *Gateway { return &Gateway{attempts: count} }

// Decision is the gateway's answer to an authorisation.
type Decision struct {
	Approved  bool
	Code      string // decline code, when not approved
	Message   string
	Reference string
}

// Authorize asks the gateway to hold amount on the card. A transient
// failure is returned as ErrGatewayUnavailable.
func (g *Gateway) Authorize(ctx context.Context, orderID string, b Behaviour, amount Money) (Decision, error) {
	ref := "auth_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20]
	switch b {
	case BehaviourDecline:
		return Decision{Code: "card_declined", Message: "The card was declined.", Reference: ref}, nil
	case BehaviourInsufficient:
		return Decision{Code: "insufficient_funds", Message: "The card has insufficient funds.", Reference: ref}, nil
	case BehaviourTransient:
		n, err := g.attempts(ctx, orderID)
		if err != nil {
			return Decision{}, err
		}
		if n == 1 {
			return Decision{}, fmt.Errorf("authorize order %s: %w", orderID, ErrGatewayUnavailable)
		}
	case BehaviourApprove:
	}
	return Decision{Approved: true, Message: fmt.Sprintf("Approved %s.", platformmoney.Format(amount.AmountMinor, amount.Currency)), Reference: ref}, nil
}

// Settle captures, voids or refunds an authorisation. The simulator always
// accepts these.
func (g *Gateway) Settle(kind string) Operation {
	return Operation{Kind: kind, Succeeded: true, Reference: kind + "_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:20], Message: "OK"}
}
