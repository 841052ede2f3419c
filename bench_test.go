package auditlog_test

import (
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
)

// Micro-benchmarks of the value path every audited field goes through.
func BenchmarkNormalize(b *testing.B) {
	now := time.Now()
	cases := []struct {
		name string
		v    any
		opts auditlog.ValueOptions
	}{
		{"int", 12345, auditlog.ValueOptions{}},
		{"string", "a short title", auditlog.ValueOptions{}},
		{"time", now, auditlog.ValueOptions{TimePrecision: 6, TimePrecisionSet: true}},
		{"decimal", "44.50", auditlog.ValueOptions{Decimal: true}},
		{"json", `{"b":1,"a":[1,2,3]}`, auditlog.ValueOptions{JSON: true}},
		{"pointer", &now, auditlog.ValueOptions{}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				v, _ := auditlog.Normalize(c.v, c.opts)
				_ = v.AppendJSON(nil)
			}
		})
	}
}

func BenchmarkEqual(b *testing.B) {
	x, _ := auditlog.Normalize("44.50", auditlog.ValueOptions{Decimal: true})
	y, _ := auditlog.Normalize("44.5", auditlog.ValueOptions{Decimal: true})
	s1, _ := auditlog.Normalize("title one", auditlog.ValueOptions{})
	s2, _ := auditlog.Normalize("title two", auditlog.ValueOptions{})
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
