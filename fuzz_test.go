package auditlog_test

import (
	"encoding/json"
	"testing"

	"github.com/go-auditlog/auditlog"
)

// FuzzNormalize: any text, as a string, bytes, JSON or decimal column,
// normalises without panicking to a value equal to itself whose JSON is
// valid.
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"", "44.00", "1e400", `{"b":1,"a":[1,2]}`, "null", "NaN", "\xff", `"quoted"`, "-0.0", "12345678901234567890"} {
		f.Add(s, true, false)
		f.Add(s, false, true)
	}
	f.Fuzz(func(t *testing.T, s string, isJSON, isDecimal bool) {
		opts := auditlog.ValueOptions{JSON: isJSON, Decimal: isDecimal}
		for _, in := range []any{s, []byte(s), &s, json.RawMessage(s)} {
			v, err := auditlog.Normalize(in, opts)
			if err != nil {
				continue // invalid raw JSON is refused, not recorded wrongly
			}
			if !v.Equal(v) {
				t.Fatalf("%q is not equal to itself", s)
			}
			raw, _ := v.MarshalJSON()
			if !json.Valid(raw) {
				t.Fatalf("%q encodes to invalid JSON %s", s, raw)
			}
		}
	})
}

// FuzzChangesJSON: the changes decoder accepts or refuses any input without
// panicking, and what it accepts encodes and decodes to the same changes.
func FuzzChangesJSON(f *testing.F) {
	for _, s := range []string{`{}`, `{"a":[1,2]}`, `{"t":{"type":"m2m","operation":"add","objects":["x"]}}`, `{"a":[null,"x"],"b":[{"k":1},[]]}`, `[]`, `{"a":1}`, `{"a":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var cs auditlog.Changes
		if json.Unmarshal(data, &cs) != nil {
			return
		}
		raw, err := json.Marshal(cs)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode: %v", data, err)
		}
		var back auditlog.Changes
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatalf("re-decode %s: %v", raw, err)
		}
		if back.String() != cs.String() {
			t.Fatalf("round trip changed %q into %q", cs.String(), back.String())
		}
	})
}
