package auditlog_test

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
)

type upper string

type valuer struct{ s string }

func (v valuer) Value() (driver.Value, error) { return v.s, nil }

func TestNormalizeEqualAndJSON(t *testing.T) {
	t.Parallel()
	noon := time.Date(2024, 1, 2, 12, 0, 0, 123456789, time.UTC)
	str := "x"
	var nilPtr *string
	cases := []struct {
		name    string
		a, b    any
		opts    auditlog.ValueOptions
		equal   bool
		jsonOfA string
	}{
		{"nil and nil pointer", nil, nilPtr, auditlog.ValueOptions{}, true, "null"},
		{"pointer is dereferenced", &str, "x", auditlog.ValueOptions{}, true, `"x"`},
		{"ints of other types", int8(5), uint64(5), auditlog.ValueOptions{}, true, "5"},
		{"int and float", 5, 5.0, auditlog.ValueOptions{}, true, "5"},
		{"bools", true, false, auditlog.ValueOptions{}, false, "true"},
		{"named string", upper("a"), "a", auditlog.ValueOptions{}, true, `"a"`},
		{"same instant, other zone", noon, noon.In(time.FixedZone("x", 3600)), auditlog.ValueOptions{}, true, `"2024-01-02T12:00:00.123456789Z"`},
		{"microsecond column", noon, noon.Truncate(time.Microsecond), auditlog.ValueOptions{TimePrecision: 6, TimePrecisionSet: true}, true, `"2024-01-02T12:00:00.123456Z"`},
		{"second column", noon, noon.Truncate(time.Second), auditlog.ValueOptions{TimePrecision: 0, TimePrecisionSet: true}, true, `"2024-01-02T12:00:00Z"`},
		{"different instants", noon, noon.Add(time.Hour), auditlog.ValueOptions{}, false, `"2024-01-02T12:00:00.123456789Z"`},
		{"decimal by value", "44.00", "44.0", auditlog.ValueOptions{Decimal: true}, true, `"44.00"`},
		{"decimal differs", "44.00", "44.01", auditlog.ValueOptions{Decimal: true}, false, `"44.00"`},
		{"text is not a decimal", "44.00", "44.0", auditlog.ValueOptions{}, false, `"44.00"`},
		{"JSON key order", `{"b":1,"a":[1,2]}`, []byte(`{"a": [1, 2], "b": 1}`), auditlog.ValueOptions{JSON: true}, true, `{"a":[1,2],"b":1}`},
		{"JSON differs", `{"a":1}`, `{"a":2}`, auditlog.ValueOptions{JSON: true}, false, `{"a":1}`},
		{"raw message", json.RawMessage(`[3, 1]`), json.RawMessage(`[3,1]`), auditlog.ValueOptions{}, true, `[3,1]`},
		{"nil raw message", json.RawMessage(nil), nil, auditlog.ValueOptions{}, true, "null"},
		{"valuer", valuer{"v"}, "v", auditlog.ValueOptions{}, true, `"v"`},
		{"null valuer", sql.NullString{}, nil, auditlog.ValueOptions{}, true, "null"},
		{"bytes", []byte("hi"), []byte("hi"), auditlog.ValueOptions{}, true, `"aGk="`},
		{"struct as JSON", struct{ A int }{1}, map[string]int{"A": 1}, auditlog.ValueOptions{}, true, `{"A":1}`},
		{"slice as JSON", []string{"a"}, []string{"b"}, auditlog.ValueOptions{}, false, `["a"]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := auditlog.Normalize(tc.a, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			b, err := auditlog.Normalize(tc.b, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if a.Equal(b) != tc.equal || b.Equal(a) != tc.equal {
				t.Fatalf("Equal = %v, want %v", a.Equal(b), tc.equal)
			}
			j, _ := a.MarshalJSON()
			if string(j) != tc.jsonOfA {
				t.Fatalf("JSON %s, want %s", j, tc.jsonOfA)
			}
		})
	}
}

func TestNormalizeErrors(t *testing.T) {
	t.Parallel()
	if _, err := auditlog.Normalize(func() {}, auditlog.ValueOptions{}); err == nil {
		t.Fatal("a func was accepted")
	}
	if _, err := auditlog.Normalize(map[string]any{"c": make(chan int)}, auditlog.ValueOptions{}); err == nil {
		t.Fatal("an unencodable map was accepted")
	}
}

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
