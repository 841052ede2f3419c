package auditotel_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditotel"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// Item has no repr, so that PostgreSQL writes its entries in the write's
// own statement.
type Item struct {
	ID    uint
	Name  string `gorm:"size:64"`
	Price int
	Tags  []Tag `gorm:"many2many:item_tags"`
}

type Tag struct {
	ID   uint
	Name string
}

func (t Tag) String() string { return t.Name }

// telemetry is an in-memory tracer and meter provider.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	mp     *sdkmetric.MeterProvider
}

func newTelemetry() *telemetry {
	t := &telemetry{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	t.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(t.spans))
	t.mp = sdkmetric.NewMeterProvider(sdkmetric.WithReader(t.reader))
	return t
}

// metrics returns the collected instruments by name.
func (tm *telemetry) metrics(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tm.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != auditotel.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// setKey renders the model, action and path attributes of a span or data
// point.
func setKey(t *testing.T, s attribute.Set) string {
	t.Helper()
	var parts []string
	for _, k := range []attribute.Key{auditotel.ModelKey, auditotel.ActionKey, auditotel.PathKey} {
		v, ok := s.Value(k)
		if !ok {
			t.Errorf("no attribute %s in %v", k, s.Encoded(attribute.DefaultEncoder()))
		}
		parts = append(parts, v.String())
	}
	return strings.Join(parts, " ")
}

// The spans and the metrics count exactly the entries the table holds and
// the statements the connection pool saw, per model, action and path, and
// each span is a child of the span of the statement's context.
func TestSpansAndMetricsCountTheTable(t *testing.T) {
	for _, name := range testdb.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db, counter := testdb.OpenCounting(t, name)
			tm := newTelemetry()
			hooks, err := auditotel.New(auditotel.Config{TracerProvider: tm.tp, MeterProvider: tm.mp})
			must(t, err)
			reg := auditlog.NewRegistry()
			must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: hooks})))
			must(t, db.AutoMigrate(&Item{}, &Tag{}))
			must(t, reg.Register(&Item{}, auditlog.M2M("Tags")))
			must(t, db.Create(&Tag{ID: 1, Name: "red"}).Error) // not audited

			ctx, parent := tm.tp.Tracer("test").Start(context.Background(), "request")
			q := db.WithContext(ctx)
			n0 := counter.Load()
			must(t, q.Create(&[]Item{{ID: 1, Name: "a"}, {ID: 2, Name: "b"}, {ID: 3, Name: "c"}}).Error)
			must(t, q.Model(&Item{}).Where("id > ?", 1).Update("price", 5).Error)
			must(t, q.Model(&Item{}).Where("id > ?", 1).Update("price", 5).Error) // no change, no entry
			must(t, q.Delete(&Item{ID: 3}).Error)
			must(t, q.Table("item_tags").Create(map[string]any{"item_id": 1, "tag_id": 1}).Error)
			must(t, auditgorm.Log(ctx, q, auditgorm.Record{Action: auditlog.ActionAccess, Model: "items", PK: "1"}))
			if err := q.Create(&Item{ID: 1, Name: "again"}).Error; err == nil {
				t.Fatal("a duplicate key was created")
			}
			const gormStatements = 6 // the writes GORM itself sends (Log sends none)
			sent := counter.Load() - n0
			parent.End()

			var table int64
			must(t, db.Table("auditlog_entries").Count(&table).Error)

			// The spans.
			var entries, extra int64
			bySet := map[string][2]int64{} // entries, extra statements
			failed := 0
			spans := 0
			for _, s := range tm.spans.Ended() {
				if !strings.HasPrefix(s.Name(), "auditlog ") {
					continue
				}
				spans++
				if s.Parent().SpanID() != parent.SpanContext().SpanID() {
					t.Errorf("span %s is not a child of the request's", s.Name())
				}
				set := attribute.NewSet(s.Attributes()...)
				e, _ := set.Value(auditotel.EntriesKey)
				x, _ := set.Value(auditotel.ExtraStatementsKey)
				o, ok := set.Value(auditotel.OverheadKey)
				if !ok || o.AsFloat64() < 0 || o.AsFloat64() > s.EndTime().Sub(s.StartTime()).Seconds() {
					t.Errorf("span %s: overhead %v of %v", s.Name(), o.AsFloat64(), s.EndTime().Sub(s.StartTime()))
				}
				entries += e.AsInt64()
				extra += x.AsInt64()
				k := setKey(t, set)
				sum := bySet[k]
				bySet[k] = [2]int64{sum[0] + e.AsInt64(), sum[1] + x.AsInt64()}
				if s.Status().Code == codes.Error {
					failed++
					if len(s.Events()) == 0 || s.Events()[0].Name != "exception" {
						t.Errorf("span %s: the error is not recorded", s.Name())
					}
				}
			}
			if spans != 7 || failed != 1 {
				t.Errorf("%d spans, %d failed; want 7 and 1", spans, failed)
			}
			if entries != table || table != 3+2+1+1+1 {
				t.Errorf("the spans count %d entries, the table holds %d, want 8", entries, table)
			}
			if extra != sent-gormStatements {
				t.Errorf("the spans count %d extra statements, the pool %d", extra, sent-gormStatements)
			}

			// The metrics, per attribute set as the spans.
			ms := tm.metrics(t)
			for _, c := range []struct {
				name string
				idx  int
			}{{"auditlog.entries", 0}, {"auditlog.extra_statements", 1}} {
				sum, ok := ms[c.name].(metricdata.Sum[int64])
				if !ok || !sum.IsMonotonic {
					t.Fatalf("%s: %T", c.name, ms[c.name])
				}
				got := map[string]int64{}
				for _, dp := range sum.DataPoints {
					got[setKey(t, dp.Attributes)] += dp.Value
				}
				for k, want := range bySet {
					if got[k] != want[c.idx] {
						t.Errorf("%s{%s} = %d, the spans say %d", c.name, k, got[k], want[c.idx])
					}
				}
				if len(got) != len(bySet) {
					t.Errorf("%s: %d attribute sets, the spans %d", c.name, len(got), len(bySet))
				}
			}
			errs := ms["auditlog.errors"].(metricdata.Sum[int64])
			if len(errs.DataPoints) != 1 || errs.DataPoints[0].Value != 1 {
				t.Errorf("auditlog.errors: %+v", errs.DataPoints)
			}
			for _, h := range []string{"auditlog.duration", "auditlog.overhead"} {
				hist := ms[h].(metricdata.Histogram[float64])
				var n uint64
				for _, dp := range hist.DataPoints {
					n += dp.Count
				}
				if n != 7 {
					t.Errorf("%s: %d measurements, want 7", h, n)
				}
			}
		})
	}
}

// A write without a span in its context starts a root span; a statement
// that fails before its write records its error.
func TestRootSpanAndRefusal(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	tm := newTelemetry()
	hooks, err := auditotel.New(auditotel.Config{TracerProvider: tm.tp, MeterProvider: tm.mp})
	must(t, err)
	reg := auditlog.NewRegistry()
	must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: hooks})))
	must(t, db.AutoMigrate(&Item{}))
	must(t, reg.Register(&Item{}))
	err = db.Model(&Item{}).Update("price", 1).Error // no WHERE
	if !errors.Is(err, gorm.ErrMissingWhereClause) {
		t.Fatal(err)
	}
	ended := tm.spans.Ended()
	if len(ended) != 1 || ended[0].Parent().IsValid() || ended[0].Status().Code != codes.Error {
		t.Fatalf("spans %v", ended)
	}
}

// Vault's token is excluded and unique.
type Vault struct {
	ID    uint
	Token string `gorm:"size:191;uniqueIndex"`
}

// A failed statement's span carries no value of an excluded or masked
// field, in its status or its exception event: MariaDB's duplicate-key
// error quotes the key's value, here one the statement set by an
// expression.
func TestSpanOfAFailedStatementHidesSecrets(t *testing.T) {
	const token = "sk_live_vault_4242"
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		tm := newTelemetry()
		hooks, err := auditotel.New(auditotel.Config{TracerProvider: tm.tp, MeterProvider: tm.mp})
		must(t, err)
		reg := auditlog.NewRegistry()
		must(t, db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: hooks})))
		must(t, db.AutoMigrate(&Vault{}))
		must(t, reg.Register(&Vault{}, auditlog.Exclude("Token")))
		must(t, db.Create(&[]Vault{{Token: token}, {Token: "another-token"}}).Error)
		if db.Model(&Vault{ID: 2}).Update("token", gorm.Expr("?", token)).Error == nil {
			t.Fatal("the update of a duplicate token did not fail")
		}
		failed := 0
		for _, s := range tm.spans.Ended() {
			if s.Status().Code == codes.Error {
				failed++
			}
			if strings.Contains(s.Status().Description, token) {
				t.Errorf("span %q: status %q", s.Name(), s.Status().Description)
			}
			for _, ev := range s.Events() {
				for _, a := range ev.Attributes {
					if strings.Contains(a.Value.String(), token) {
						t.Errorf("span %q: event %s: %s=%s", s.Name(), ev.Name, a.Key, a.Value.String())
					}
				}
			}
		}
		if failed != 1 {
			t.Fatalf("%d spans with an error status, want 1", failed)
		}
	})
}
