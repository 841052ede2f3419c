package value

import (
	"encoding/json"
	"strconv"
	"strings"
)

// PostgreSQL's numeric, which its jsonb stores every JSON number as, holds
// at most 131,072 digits before the decimal point and 16,383 after it; its
// input takes exponents up to about ±2^30.
const (
	maxNumericIntDigits   = 131072
	maxNumericScaleDigits = 16383
	maxNumericExponent    = 1<<30 - 1
)

// numberGrowth is how many bytes a document's numbers may grow by, written
// out as numericText writes them, beyond the document's own length: 1e131071
// is 9 bytes written and 131,072 out, and a few kilobytes of such numbers
// would make an entry of gigabytes. A document past it is recorded as its
// text.
const numberGrowth = 4096

// numericText returns the JSON number literal n as PostgreSQL's numeric
// prints it, which is how jsonb (the entries' changes on PostgreSQL)
// stores it: no exponent, the scale its digits and exponent give
// (1.50e1 is 15.0, 1e-7 is 0.0000001, 1e2 is 100), no sign on a zero. So
// a recorded document reads the same from every database, and two
// spellings of one number (1 and 1e0) are one value. ok is false for a
// number numeric cannot hold, which no jsonb takes, and for one whose
// text would grow by more than *budget bytes, which is then reduced by
// what it grew.
func numericText(n string, budget *int) (string, bool) {
	literal := len(n)
	neg := strings.HasPrefix(n, "-")
	n = strings.TrimPrefix(n, "-")
	mant, exp := n, 0
	if i := strings.IndexAny(n, "eE"); i >= 0 {
		mant = n[:i]
		e, err := strconv.Atoi(strings.TrimPrefix(n[i+1:], "+"))
		if err != nil || e > maxNumericExponent || e < -maxNumericExponent {
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
	if scale > maxNumericScaleDigits {
		return "", false
	}
	zero := strings.Trim(digits, "0") == ""
	point := len(intPart) + exp // digits before the point, leading zeros included
	lead := len(digits) - len(strings.TrimLeft(digits, "0"))
	intDigits := max(1, point-lead) // without leading zeros; "0" for none
	if zero {
		intDigits = 1
	} else if point-lead > maxNumericIntDigits {
		return "", false
	}
	// The text's length, known before it is built.
	size := intDigits
	if scale > 0 {
		size += 1 + scale
	}
	if neg && !zero {
		size++
	}
	if grow := size - literal; grow > 0 {
		if grow > *budget {
			return "", false
		}
		*budget -= grow
	}
	var b strings.Builder
	b.Grow(size)
	if neg && !zero {
		b.WriteByte('-')
	}
	switch {
	case zero || point <= 0:
		b.WriteByte('0')
	case point <= len(digits):
		ip := strings.TrimLeft(digits[:point], "0")
		if ip == "" {
			ip = "0"
		}
		b.WriteString(ip)
	default:
		b.WriteString(strings.TrimLeft(digits, "0"))
		b.WriteString(strings.Repeat("0", point-len(digits)))
	}
	if scale > 0 {
		b.WriteByte('.')
		// The fraction: scale digits after the point, zeros first where
		// the point is before the first digit.
		switch {
		case zero:
			b.WriteString(strings.Repeat("0", scale))
		case point < 0:
			b.WriteString(strings.Repeat("0", -point))
			b.WriteString(digits)
		default:
			b.WriteString(digits[min(point, len(digits)):])
		}
	}
	return b.String(), true
}

// numericNumbers rewrites the numbers of a decoded document as numericText
// does, growing by at most *budget bytes in all; ok is false if one is out
// of numeric's range or past the budget.
func numericNumbers(v any, budget *int) (any, bool) {
	switch v := v.(type) {
	case json.Number:
		s, ok := numericText(string(v), budget)
		return json.Number(s), ok
	case map[string]any:
		for k, x := range v {
			y, ok := numericNumbers(x, budget)
			if !ok {
				return nil, false
			}
			v[k] = y
		}
	case []any:
		for i, x := range v {
			y, ok := numericNumbers(x, budget)
			if !ok {
				return nil, false
			}
			v[i] = y
		}
	}
	return v, true
}
