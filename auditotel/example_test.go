//go:build !auditlog_mattn

// The example opens SQLite with the default driver, ncruces, which a test
// binary built with -tags auditlog_mattn cannot hold beside mattn.

package auditotel_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ncruces/go-sqlite3/gormlite"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditotel"
)

// Report the plugin's work to OpenTelemetry: a span per audited statement
// under the request's span, and metrics. Here the providers keep what they
// get in memory; an application passes its own, or none for the global
// ones.
func Example() {
	dir, err := os.MkdirTemp("", "auditotel-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer func() { _ = os.RemoveAll(dir) }()
	db, err := gorm.Open(gormlite.Open(filepath.Join(dir, "app.db")), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	if err := auditgorm.Migrate(ctx, db); err != nil {
		fmt.Println(err)
		return
	}

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	hooks, err := auditotel.New(auditotel.Config{TracerProvider: tp, MeterProvider: mp})
	if err != nil {
		fmt.Println(err)
		return
	}
	reg := auditlog.NewRegistry()
	if err := db.Use(auditgorm.New(auditgorm.Config{Registry: reg, Hooks: hooks})); err != nil {
		fmt.Println(err)
		return
	}
	_ = db.AutoMigrate(&Item{})
	_ = reg.Register(&Item{})

	ctx, request := tp.Tracer("app").Start(ctx, "POST /items")
	db.WithContext(ctx).Create(&[]Item{{ID: 1, Name: "pen"}, {ID: 2, Name: "ink"}})
	db.WithContext(ctx).Model(&Item{ID: 1}).Update("price", 3)
	request.End()

	for _, s := range spans.Ended() {
		set := attribute.NewSet(s.Attributes()...)
		path, _ := set.Value(auditotel.PathKey)
		n, _ := set.Value(auditotel.EntriesKey)
		if s.Parent().IsValid() {
			fmt.Printf("%s (path %s): %d entries\n", s.Name(), path.AsString(), n.AsInt64())
		}
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(ctx, &rm); err != nil {
		fmt.Println(err)
		return
	}
	for _, m := range rm.ScopeMetrics[0].Metrics {
		if sum, ok := m.Data.(metricdata.Sum[int64]); ok && m.Name == "auditlog.entries" {
			total := int64(0)
			for _, dp := range sum.DataPoints {
				total += dp.Value
			}
			fmt.Println(m.Name, total)
		}
	}
	// Output:
	// auditlog create items (path returning): 2 entries
	// auditlog update items (path returning): 1 entries
	// auditlog.entries 3
}
