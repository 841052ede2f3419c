package value

import (
	"encoding/json"
	"math/big"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestNumericText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0": "0", "-0": "0", "-0.0": "0.0", "1": "1", "-1": "-1", "1e0": "1", "1E+0": "1",
		"1.0": "1.0", "1.50": "1.50", "1.50e1": "15.0", "1.5e1": "15", "123e-1": "12.3",
		"1e2": "100", "1e-7": "0.0000001", "1e-07": "0.0000001", "-2.5e-3": "-0.0025",
		"1e21": "1000000000000000000000", "0e-5": "0.00000", "0.000": "0.000", "10": "10",
		"0.5e1": "5", "0.05e1": "0.5", "12.345e2": "1234.5", "5e-324": "0." + zeros(323) + "5",
		"1e131071": "1" + zeros(131071), "1e-16383": "0." + zeros(16382) + "1",
		"0.0000001": "0.0000001", "0.5": "0.5", "0.50": "0.50", "-0.001": "-0.001", "0.0e5": "0", "100.25": "100.25",
		"0e131073": "0", "0e600000": "0", "-0e200000": "0", "0.000e-16380": "0." + zeros(16383), "00.5": "0.5", "0.0": "0.0",
	} {
		budget := 1 << 20
		got, ok := numericText(in, &budget)
		if !ok || got != want {
			if len(got) > 40 {
				got = got[:40] + "…"
			}
			t.Errorf("numericText(%s) = %q, %t; want %.40q", in, got, ok, want)
		}
	}
	// What PostgreSQL's numeric cannot hold ("value overflows numeric
	// format"), and no number at all.
	for _, in := range []string{"1e131072", "10e131071", "1e-16384", "1.5e-16383", "0e-20000", "0e1073741824", "1e999999999999", "1e-99999999999999999999", "", "-", "1e", "x"} {
		budget := 1 << 20
		if got, ok := numericText(in, &budget); ok {
			t.Errorf("numericText(%s) = %.40q, want out of range", in, got)
		}
	}
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

// TestNumbersWithinTheirBudget: a few kilobytes of numbers written with
// exponents (1e131071 is 131,072 digits written out) made entries of
// gigabytes. Past a budget of growth the document is recorded as its
// text, without writing its numbers out.
func TestNumbersWithinTheirBudget(t *testing.T) {
	t.Parallel()
	huge := "[" + strings.Repeat("1e131071,", 999) + "1e131071]"
	v, err := Normalize(json.RawMessage(huge), Options{})
	if err != nil || v.kind != kindJSONText || v.s != huge {
		t.Fatalf("a document of 1,000 numbers of 131,072 digits: %v, kind %d, %d bytes", err, v.kind, len(v.s))
	}
	// Within it: a few tiny floats, as encoding/json writes them.
	small := `{"a":5e-324,"b":1e-7,"c":1e21}`
	v, err = Normalize(json.RawMessage(small), Options{})
	if err != nil || v.kind != kindJSON || !strings.Contains(v.s, `"b":0.0000001`) {
		t.Fatalf("%s: %v, kind %d, %s", small, err, v.kind, v.s)
	}
}

// TestNumericTextKeepsTheValue: for random literals, the text is the same
// number (by exact value), spelled without an exponent or a sign on zero,
// and the budget is charged exactly what the text grew by.
func TestNumericTextKeepsTheValue(t *testing.T) {
	t.Parallel()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 0))
	digits := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte('0' + r.IntN(10))
		}
		return string(b)
	}
	for range 20000 {
		lit := ""
		if r.IntN(3) == 0 {
			lit = "-"
		}
		lit += digits(1 + r.IntN(6))
		if r.IntN(2) == 0 {
			lit += "." + digits(1+r.IntN(6))
		}
		if r.IntN(2) == 0 {
			lit += []string{"e", "E", "e+", "e-"}[r.IntN(4)] + strconv.Itoa(r.IntN(40))
		}
		budget := 1 << 20
		got, ok := numericText(lit, &budget)
		if !ok {
			t.Fatalf("numericText(%s): refused", lit)
		}
		want, _ := new(big.Rat).SetString(lit)
		have, okHave := new(big.Rat).SetString(got)
		if !okHave || have.Cmp(want) != 0 || !plainDecimal.MatchString(got) || got == "-0" || strings.HasPrefix(got, "-0.") && strings.Trim(got, "-0.") == "" {
			t.Fatalf("numericText(%s) = %s", lit, got)
		}
		if grew := max(0, len(got)-len(lit)); 1<<20-budget != grew {
			t.Fatalf("numericText(%s) = %s: charged %d, grew %d", lit, got, 1<<20-budget, grew)
		}
	}
}

// plainDecimal is a JSON number without an exponent.
var plainDecimal = regexp.MustCompile(`^-?(0|[1-9][0-9]*)(\.[0-9]+)?$`)
