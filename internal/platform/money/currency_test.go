package money

import "testing"

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
