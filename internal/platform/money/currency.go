// Package money knows the ISO 4217 currencies, so that prices in a currency
// that does not exist are refused at the door.
package money

import (
	"fmt"
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
	scale := 2
	if u, err := currency.ParseISO(code); err == nil {
		scale, _ = currency.Standard.Rounding(u)
	}
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
