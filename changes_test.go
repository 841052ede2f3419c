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
	if got := back.String(); got != "price: null → 12; tags: add [go, sql]" {
		t.Fatalf("String() = %q", got)
	}
	for _, bad := range []string{`{"a":[1]}`, `{"a":{"type":"x"}}`, `{"a":"str"}`, `{"a":[1,2,3]}`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("decoded %s without error", bad)
		}
	}
}
