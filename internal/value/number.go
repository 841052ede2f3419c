package value

import (
	"encoding/json"
	"strconv"
	"strings"
)

// PostgreSQL's numeric, which its jsonb stores every JSON number as, holds
// at most 131,072 digits before the decimal point and 16,383 after it.
const (
	maxNumericIntDigits   = 131072
	maxNumericScaleDigits = 16383
)

// numericText returns the JSON number literal n as PostgreSQL's numeric
// prints it, which is how jsonb (the entries' changes on PostgreSQL)
// stores it: no exponent, the scale its digits and exponent give
// (1.50e1 is 15.0, 1e-7 is 0.0000001, 1e2 is 100), no sign on a zero. So
// a recorded document reads the same from every database, and two
// spellings of one number (1 and 1e0) are one value. ok is false for a
// number numeric cannot hold, which no jsonb takes.
func numericText(n string) (string, bool) {
	neg := strings.HasPrefix(n, "-")
	n = strings.TrimPrefix(n, "-")
	mant, exp := n, 0
	if i := strings.IndexAny(n, "eE"); i >= 0 {
		mant = n[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(n[i+1:], "+"))
		if err != nil || e > 4*maxNumericIntDigits || e < -4*maxNumericIntDigits {
			return "", false
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := intPart + frac
	if digits == "" || strings.Trim(digits, "0123456789") != "" {
		return "", false
	}
	scale := max(0, len(frac)-exp)
	point := len(intPart) + exp // digits before the point, leading zeros included
	if scale > maxNumericScaleDigits {
		return "", false
	}
	// Integer digits without their leading zeros, within numeric's range.
	lead := len(digits) - len(strings.TrimLeft(digits, "0"))
	if point-lead > maxNumericIntDigits {
		return "", false
	}
	var b strings.Builder
	if neg && strings.Trim(digits, "0") != "" {
		b.WriteByte('-')
	}
	// The integer part: digits before the point (zeros past the last
	// digit where the exponent moves the point past it), without leading
	// zeros.
	var ip string
	switch {
	case point <= 0:
	case point <= len(digits):
		ip = digits[:point]
	default:
		ip = digits + strings.Repeat("0", point-len(digits))
	}
	ip = strings.TrimLeft(ip, "0")
	if ip == "" {
		ip = "0"
	}
	b.WriteString(ip)
	if scale > 0 {
		b.WriteByte('.')
		// The fraction: scale digits after the point, zeros first where
		// the point is before the first digit.
		if point < 0 {
			b.WriteString(strings.Repeat("0", -point))
			b.WriteString(digits)
		} else {
			b.WriteString(digits[min(point, len(digits)):])
		}
	}
	return b.String(), true
}

// numericNumbers rewrites the numbers of a decoded document as numericText
// does; ok is false if one is out of numeric's range.
func numericNumbers(v any) (any, bool) {
	switch v := v.(type) {
	case json.Number:
		s, ok := numericText(string(v))
		return json.Number(s), ok
	case map[string]any:
		for k, x := range v {
			y, ok := numericNumbers(x)
			if !ok {
				return nil, false
			}
			v[k] = y
		}
	case []any:
		for i, x := range v {
			y, ok := numericNumbers(x)
			if !ok {
				return nil, false
			}
			v[i] = y
		}
	}
	return v, true
}
