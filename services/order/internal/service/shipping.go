package service

import (
	"fmt"
	"strings"

	"github.com/google/uuid"
)

// Carrier simulates the shipping carrier: a rate table by destination zone
// and weight, and bookings. It cannot serve Antarctica (AQ): a booking
// there is refused, which cancels the order with SHIPPING_FAILED.
type Carrier struct {
	origin string
}

// NewCarrier returns a carrier shipping from origin.
func NewCarrier(origin string) *Carrier { return &Carrier{origin: origin} }

// Unserved lists the destinations the carrier refuses at booking.
var Unserved = map[string]bool{"AQ": true}

// eu holds the EU member states: the middle shipping zone.
var eu = map[string]bool{}

func init() {
	for _, c := range strings.Fields("AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT NL PL PT RO SE SI SK") {
		eu[c] = true
	}
}

// Quote is a shipping price.
type Quote struct {
	Amount       int64 // in minor units of the order's currency
	Carrier      string
	ServiceLevel string
	WeightGrams  int64
	TransitDays  int32
}

// rate is a zone's price: a base plus a charge per started kilogram.
type rate struct {
	base, perKg int64
	days        int32
}

// The rate table, in minor units of the order's currency.
var (
	domestic      = rate{base: 490, perKg: 100, days: 2}
	europe        = rate{base: 990, perKg: 200, days: 4}
	international = rate{base: 1990, perKg: 500, days: 8}
)

// Quote prices a parcel of weightGrams to country.
func (c *Carrier) Quote(country string, weightGrams int64) Quote {
	r := international
	switch {
	case country == c.origin:
		r = domestic
	case eu[country] && eu[c.origin]:
		r = europe
	}
	kg := (weightGrams + 999) / 1000
	return Quote{Amount: r.base + r.perKg*kg, Carrier: "ordermesh-post", ServiceLevel: "standard", WeightGrams: weightGrams, TransitDays: r.days}
}

// Book books a shipment and returns its booking id, or an error saying why
// the carrier refused.
func (c *Carrier) Book(country string) (string, error) {
	if Unserved[country] {
		return "", fmt.Errorf("the carrier does not deliver to %s", country)
	}
	return "bk_" + strings.ReplaceAll(uuid.NewString(), "-", "")[:16], nil
}
