package money

import (
	"strings"
	"testing"
)

func TestFormat(t *testing.T) {
	for _, c := range []struct {
		minor int64
		code  string
		want  string
	}{
		{2040, "EUR", "20.40 EUR"},
		{5, "EUR", "0.05 EUR"},
		{1500, "JPY", "1500 JPY"},
		{1250, "KWD", "1.250 KWD"},
		{-199, "USD", "-1.99 USD"},
		{0, "GBP", "0.00 GBP"},
	} {
		if got := Format(c.minor, c.code); got != c.want {
			t.Errorf("Format(%d, %s) = %q, want %q", c.minor, c.code, got, c.want)
		}
	}
}

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in     string
		amount int64
		code   string
		err    string
	}{
		{in: "12.50 EUR", amount: 1250, code: "EUR"},
		{in: "12.5eur", amount: 1250, code: "EUR"},
		{in: "12 EUR", amount: 1200, code: "EUR"},
		{in: " 0.07 USD ", amount: 7, code: "USD"},
		{in: "1500 JPY", amount: 1500, code: "JPY"},
		{in: "1.250 KWD", amount: 1250, code: "KWD"},
		{in: "1.5 JPY", err: "at most 0 decimals"},
		{in: "12.505 EUR", err: "at most 2 decimals"},
		{in: "-5 EUR", err: "positive amount"},
		{in: "12,50 EUR", err: "positive amount"},
		{in: ".5 EUR", err: "positive amount"},
		{in: "12 ABC", err: "ABC is not an ISO 4217 currency"},
		{in: "12", err: "want an amount and a currency"},
		{in: "99999999999999999999 EUR", err: "too large"},
	} {
		amount, code, err := Parse(tc.in)
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Parse(%q) = %d %s, %v; want an error saying %q", tc.in, amount, code, err, tc.err)
			}
		case err != nil || amount != tc.amount || code != tc.code:
			t.Errorf("Parse(%q) = %d %s, %v; want %d %s", tc.in, amount, code, err, tc.amount, tc.code)
		}
	}
}
