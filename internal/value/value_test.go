package value_test

import (
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/internal/value"
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
		opts    value.Options
		equal   bool
		jsonOfA string
	}{
		{"nil and nil pointer", nil, nilPtr, value.Options{}, true, "null"},
		{"pointer is dereferenced", &str, "x", value.Options{}, true, `"x"`},
		{"ints of other types", int8(5), uint64(5), value.Options{}, true, "5"},
		{"int and float", 5, 5.0, value.Options{}, true, "5"},
		{"bools", true, false, value.Options{}, false, "true"},
		{"named string", upper("a"), "a", value.Options{}, true, `"a"`},
		{"same instant, other zone", noon, noon.In(time.FixedZone("x", 3600)), value.Options{}, true, `"2024-01-02T12:00:00.123456789Z"`},
		{"microsecond column", noon, noon.Truncate(time.Microsecond), value.Options{TimeUnit: time.Microsecond}, true, `"2024-01-02T12:00:00.123456Z"`},
		{"second column", noon, noon.Truncate(time.Second), value.Options{TimeUnit: time.Second}, true, `"2024-01-02T12:00:00Z"`},
		{"different instants", noon, noon.Add(time.Hour), value.Options{}, false, `"2024-01-02T12:00:00.123456789Z"`},
		{"decimal by value", "44.00", "44.0", value.Options{Decimal: true}, true, `"44.00"`},
		{"decimal differs", "44.00", "44.01", value.Options{Decimal: true}, false, `"44.00"`},
		{"text is not a decimal", "44.00", "44.0", value.Options{}, false, `"44.00"`},
		{"JSON key order", `{"b":1,"a":[1,2]}`, []byte(`{"a": [1, 2], "b": 1}`), value.Options{JSON: true}, true, `{"a":[1,2],"b":1}`},
		{"JSON differs", `{"a":1}`, `{"a":2}`, value.Options{JSON: true}, false, `{"a":1}`},
		{"raw message", json.RawMessage(`[3, 1]`), json.RawMessage(`[3,1]`), value.Options{}, true, `[3,1]`},
		{"nil raw message", json.RawMessage(nil), nil, value.Options{}, true, "null"},
		{"valuer", valuer{"v"}, "v", value.Options{}, true, `"v"`},
		{"null valuer", sql.NullString{}, nil, value.Options{}, true, "null"},
		{"bytes", []byte("hi"), []byte("hi"), value.Options{}, true, `"aGk="`},
		{"struct as JSON", struct{ A int }{1}, map[string]int{"A": 1}, value.Options{}, true, `{"A":1}`},
		{"slice as JSON", []string{"a"}, []string{"b"}, value.Options{}, false, `["a"]`},
		{"negative zero is text", math.Copysign(0, -1), 0.0, value.Options{}, false, `"-0"`},
		{"negative zero float32", float32(math.Copysign(0, -1)), math.Copysign(0, -1), value.Options{}, true, `"-0"`},
		{"a document shaped like a tag", `{"$json": "x"}`, `{"$json":"x"}`, value.Options{JSON: true}, true, `{"$doc":{"$json":"x"}}`},
		{"a digest's keys", `{"$digest":"sha256:00","$bytes":2}`, `{"$bytes":2}`, value.Options{JSON: true}, false, `{"$doc":{"$bytes":2,"$digest":"sha256:00"}}`},
		{"a tag's key among others", `{"$json":"x","b":1}`, `{"b":1,"$json":"x"}`, value.Options{JSON: true}, true, `{"$json":"x","b":1}`},
		{"a tag's key deeper", `{"a":{"$doc":1}}`, nil, value.Options{JSON: true}, false, `{"a":{"$doc":1}}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			a, err := value.Normalize(tc.a, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			b, err := value.Normalize(tc.b, tc.opts)
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
	if _, err := value.Normalize(func() {}, value.Options{}); err == nil {
		t.Fatal("a func was accepted")
	}
	if _, err := value.Normalize(map[string]any{"c": make(chan int)}, value.Options{}); err == nil {
		t.Fatal("an unencodable map was accepted")
	}
}
