package value_test

import (
	"testing"
	"time"

	"github.com/go-auditlog/auditlog/internal/value"
)

// Micro-benchmarks of the value path every audited field goes through.
func BenchmarkNormalize(b *testing.B) {
	now := time.Now()
	cases := []struct {
		name string
		v    any
		opts value.Options
	}{
		{"int", 12345, value.Options{}},
		{"string", "a short title", value.Options{}},
		{"time", now, value.Options{TimeUnit: time.Microsecond}},
		{"decimal", "44.50", value.Options{Decimal: true}},
		{"json", `{"b":1,"a":[1,2,3]}`, value.Options{JSON: true}},
		{"pointer", &now, value.Options{}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, _ := value.Normalize(c.v, c.opts)
				_ = v.AppendJSON(nil)
			}
		})
	}
}

func BenchmarkEqual(b *testing.B) {
	x, _ := value.Normalize("44.50", value.Options{Decimal: true})
	y, _ := value.Normalize("44.5", value.Options{Decimal: true})
	s1, _ := value.Normalize("title one", value.Options{})
	s2, _ := value.Normalize("title two", value.Options{})
	b.Run("decimal", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = x.Equal(y)
		}
	})
	b.Run("string", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = s1.Equal(s2)
		}
	})
}

// BenchmarkAppendJSONString is a text value's JSON form, as every change of
// a text column appends it.
func BenchmarkAppendJSONString(b *testing.B) {
	v, err := value.Normalize("Desk lamp, brass, with a linen shade (model 2026)", value.Options{})
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 128)
	for b.Loop() {
		buf = v.AppendJSON(buf[:0])
	}
}
