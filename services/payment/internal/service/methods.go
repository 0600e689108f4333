package service

import (
	"context"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/ordermesh/ordermesh/internal/platform/rpcerr"
)

// CreatePaymentMethod tokenises a card. It checks the Luhn digit and the
// expiry, keeps only the brand, last four digits, expiry and the
// simulator's behaviour, and forgets the number and the CVC.
func (s *Service) CreatePaymentMethod(ctx context.Context, userID, number string, expMonth, expYear int32, now time.Time) (Method, error) {
	if !luhn(number) {
		return Method{}, rpcerr.Errorf(ErrInvalidCard, "card_number: fails the Luhn check; check the digits")
	}
	// A card is valid through the last day of its expiry month.
	if expiry := time.Date(int(expYear), time.Month(expMonth)+1, 1, 0, 0, 0, 0, time.UTC); !now.Before(expiry) {
		return Method{}, rpcerr.Errorf(ErrInvalidCard, "exp_year/exp_month: the card expired at the end of %02d/%d", expMonth, expYear)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Method{}, err
	}
	return s.store.CreateMethod(ctx, Method{
		ID: id.String(), UserID: userID, Brand: brand(number), Last4: number[len(number)-4:],
		ExpMonth: expMonth, ExpYear: expYear, Behaviour: BehaviourOf(number),
	})
}

func luhn(number string) bool {
	sum, double := 0, false
	for i := len(number) - 1; i >= 0; i-- {
		d := int(number[i] - '0')
		if d < 0 || d > 9 {
			return false
		}
		if double {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return len(number) >= 12 && sum%10 == 0
}

func brand(number string) string {
	switch {
	case strings.HasPrefix(number, "4"):
		return "visa"
	case len(number) > 1 && number[0] == '5' && number[1] >= '1' && number[1] <= '5', strings.HasPrefix(number, "2"):
		return "mastercard"
	case strings.HasPrefix(number, "34"), strings.HasPrefix(number, "37"):
		return "amex"
	default:
		return "card"
	}
}

// GetPaymentMethod returns a payment method.
func (s *Service) GetPaymentMethod(ctx context.Context, id string) (Method, error) {
	return s.store.GetMethod(ctx, id)
}

// GetPayment returns the payment of an order.
func (s *Service) GetPayment(ctx context.Context, orderID string) (Payment, error) {
	return s.store.Get(ctx, orderID)
}

// ListPayments returns a page of a user's payments, newest first.
func (s *Service) ListPayments(ctx context.Context, userID, beforeID string, limit int32) ([]Payment, error) {
	return s.store.List(ctx, userID, beforeID, limit)
}
