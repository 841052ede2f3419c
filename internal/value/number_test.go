package value

import "testing"

func TestNumericText(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"0": "0", "-0": "0", "-0.0": "0.0", "1": "1", "-1": "-1", "1e0": "1", "1E+0": "1",
		"1.0": "1.0", "1.50": "1.50", "1.50e1": "15.0", "1.5e1": "15", "123e-1": "12.3",
		"1e2": "100", "1e-7": "0.0000001", "1e-07": "0.0000001", "-2.5e-3": "-0.0025",
		"1e21": "1000000000000000000000", "0e-5": "0.00000", "0.000": "0.000", "10": "10",
		"0.5e1": "5", "0.05e1": "0.5", "12.345e2": "1234.5", "5e-324": "0." + zeros(323) + "5",
		"1e131071": "1" + zeros(131071), "1e-16383": "0." + zeros(16382) + "1",
	} {
		got, ok := numericText(in)
		if !ok || got != want {
			if len(got) > 40 {
				got = got[:40] + "…"
			}
			t.Errorf("numericText(%s) = %q, %t; want %.40q", in, got, ok, want)
		}
	}
	// What PostgreSQL's numeric cannot hold ("value overflows numeric
	// format"), and no number at all.
	for _, in := range []string{"1e131072", "10e131071", "1e-16384", "1.5e-16383", "0e-20000", "1e999999999999", "1e-99999999999999999999", "", "-", "1e", "x"} {
		if got, ok := numericText(in); ok {
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
