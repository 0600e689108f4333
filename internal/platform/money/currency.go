// Package money knows the ISO 4217 currencies, so that prices in a currency
// that does not exist are refused at the door.
package money

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/text/currency"
)

// active lists the active ISO 4217 alphabetic codes (2024 list, without
// the fund and precious-metal codes that no shop prices in).
const active = "AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD " +
	"CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD " +
	"HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD " +
	"MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG " +
	"QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD " +
	"TZS UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG"

var currencies = func() map[string]struct{} {
	m := map[string]struct{}{}
	for _, c := range strings.Fields(active) {
		m[c] = struct{}{}
	}
	return m
}()

// IsCurrency reports whether code is an active ISO 4217 currency code.
func IsCurrency(code string) bool {
	_, ok := currencies[code]
	return ok
}

// Format writes an amount in minor units in its currency's major unit, as
// people read prices: 2040 EUR is "20.40 EUR", 1500 JPY is "1500 JPY" and
// 1250 KWD is "1.250 KWD", with ISO 4217's number of decimals for each.
func Format(amountMinor int64, code string) string {
	scale := decimals(code)
	sign, n := "", amountMinor
	if n < 0 {
		sign, n = "-", -n
	}
	if scale == 0 {
		return fmt.Sprintf("%s%d %s", sign, n, code)
	}
	div := int64(1)
	for range scale {
		div *= 10
	}
	return fmt.Sprintf("%s%d.%0*d %s", sign, n/div, scale, n%div, code)
}

// Parse reads an amount as people write it, in its currency's major unit
// with the code after it ("12.50 EUR", "12.5EUR", "1500 JPY"), and returns
// it in minor units with the code. A negative amount, an unknown currency
// or more decimals than the currency has are errors.
func Parse(s string) (amountMinor int64, code string, err error) {
	s = strings.TrimSpace(s)
	if len(s) < 4 {
		return 0, "", fmt.Errorf("%q: want an amount and a currency, such as 12.50 EUR", s)
	}
	number, code := strings.TrimSpace(s[:len(s)-3]), strings.ToUpper(s[len(s)-3:])
	if !IsCurrency(code) {
		return 0, "", fmt.Errorf("%q: %s is not an ISO 4217 currency; want an amount and a currency, such as 12.50 EUR", s, code)
	}
	scale := decimals(code)
	whole, frac, _ := strings.Cut(number, ".")
	if whole == "" || len(frac) > scale || strings.Trim(whole+frac, "0123456789") != "" {
		return 0, "", fmt.Errorf("%q: want a positive amount with at most %d decimals before the currency, such as %s", s, scale, Format(1250, code))
	}
	frac += strings.Repeat("0", scale-len(frac))
	n, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("%q: the amount is too large", s)
	}
	return n, code, nil
}

// decimals is how many decimals code's minor unit has: ISO 4217's figure,
// 2 for a code it does not know.
func decimals(code string) int {
	u, err := currency.ParseISO(code)
	if err != nil {
		return 2
	}
	scale, _ := currency.Standard.Rounding(u)
	return scale
}
