package auditlog_test

import (
	"encoding/json"
	"testing"

	"github.com/go-auditlog/auditlog"
)

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
