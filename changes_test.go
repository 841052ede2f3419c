package auditlog_test

import (
	"encoding/json"
	"testing"

	"github.com/go-auditlog/auditlog"
)

func TestChangesJSONRoundTrip(t *testing.T) {
	t.Parallel()
	c, err := auditlog.NewChange(nil, 12)
	if err != nil {
		t.Fatal(err)
	}
	cs := auditlog.Changes{
		"price": c,
		"tags":  {M2M: &auditlog.M2MChange{Operation: auditlog.M2MAdd, Objects: []string{"go", "sql"}}},
	}
	raw, err := json.Marshal(cs)
	if err != nil {
		t.Fatal(err)
	}
	var back auditlog.Changes
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if got := back.String(); got != `price: null → 12; tags: add ["go", "sql"]` {
		t.Fatalf("String() = %q", got)
	}
	for _, bad := range []string{`{"a":[1]}`, `{"a":{"type":"x"}}`, `{"a":"str"}`, `{"a":[1,2,3]}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("decoded %s without error", bad)
		}
	}
}

// String shows every value as its JSON text: stored text cannot read as
// another change, nor a string as a number or null.
func TestChangesStringIsUnambiguous(t *testing.T) {
	t.Parallel()
	raw := func(s string) json.RawMessage { return json.RawMessage(s) }
	cases := []struct {
		cs   auditlog.Changes
		want string
	}{
		{auditlog.Changes{"name": {Old: raw(`"LAMP"`), New: raw(`"desk; price: 30 → 3"`)}}, `name: "LAMP" → "desk; price: 30 → 3"`},
		{auditlog.Changes{"n": {Old: raw(`"1"`), New: raw(`1`)}}, `n: "1" → 1`},
		{auditlog.Changes{"n": {Old: raw(`"null"`), New: raw(`null`)}}, `n: "null" → null`},
		{auditlog.Changes{"n": {New: raw(`"<b>&"`)}}, `n: null → "<b>&"`},
		{auditlog.Changes{"a; b: 1 → 2": {Old: raw(`1`), New: raw(`2`)}}, `"a; b: 1 → 2": 1 → 2`},
		{auditlog.Changes{"tags": {M2M: &auditlog.M2MChange{Operation: auditlog.M2MRemove, Objects: []string{"a, b]; x: 1 → 2", "c"}}}}, `tags: remove ["a, b]; x: 1 → 2", "c"]`},
	}
	for _, c := range cases {
		if got := c.cs.String(); got != c.want {
			t.Errorf("String() = %s, want %s", got, c.want)
		}
	}
}

// A many-to-many change with an operation that is none of add, remove and
// clear (a hand-edited "ADD") is refused both ways: a state rebuilt from it
// read it as no change, and showed a relation the table did not hold.
func TestM2MChangeWithAnUnknownOperation(t *testing.T) {
	t.Parallel()
	var c auditlog.Change
	for _, raw := range []string{`{"type":"m2m","operation":"ADD","objects":["a"]}`, `{"type":"m2m","objects":["a"]}`} {
		if err := json.Unmarshal([]byte(raw), &c); err == nil {
			t.Errorf("%s read as %+v", raw, c.M2M)
		}
	}
	if _, err := json.Marshal(auditlog.Change{M2M: &auditlog.M2MChange{Operation: "move", Objects: []string{"a"}}}); err == nil {
		t.Error("an m2m change with operation move was stored")
	}
	if err := json.Unmarshal([]byte(`{"type":"m2m","operation":"clear","objects":[]}`), &c); err != nil || c.M2M.Operation != auditlog.M2MClear {
		t.Errorf("clear: %+v, %v", c.M2M, err)
	}
}
