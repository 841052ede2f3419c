// Package auditotel reports the work of the auditlog GORM plugin to
// OpenTelemetry: it implements auditgorm.Hooks with a span per audited
// statement and metrics of the entries written, the statements the plugin
// added, its time and its errors.
//
//	hooks, err := auditotel.New(auditotel.Config{}) // the global providers
//	if err != nil { … }
//	db.Use(auditgorm.New(auditgorm.Config{Hooks: hooks}))
//
// The span of a statement is a child of the span in the statement's context
// (db.WithContext(ctx)); the statements the plugin sends, and the write,
// run with the span's context, so that a database instrumentation that
// traces them (of database/sql or the driver) makes them its children.
//
// Every span and measurement carries the attributes auditlog.model,
// auditlog.action and auditlog.path (auditgorm.StatementEndInfo says what
// they hold); the span also carries auditlog.entries,
// auditlog.extra_statements and auditlog.overhead (seconds), and records
// the statement's error with an error status. The instruments:
//
//	auditlog.entries           counter    {entry}      entries written
//	auditlog.extra_statements  counter    {statement}  statements the plugin added
//	auditlog.duration          histogram  s            time of the audited statement, the write included
//	auditlog.overhead          histogram  s            the plugin's own share of it
//	auditlog.errors            counter    {statement}  statements that failed
//
// Entries are counted as the statement wrote them: a transaction rolled
// back after the statement drops them from the table, not from the counter.
package auditotel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/trace"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/go-auditlog/auditlog/auditotel"

// Attribute keys of the spans and measurements.
const (
	ModelKey           = attribute.Key("auditlog.model")
	ActionKey          = attribute.Key("auditlog.action")
	PathKey            = attribute.Key("auditlog.path")
	EntriesKey         = attribute.Key("auditlog.entries")
	ExtraStatementsKey = attribute.Key("auditlog.extra_statements")
	OverheadKey        = attribute.Key("auditlog.overhead")
)

// Config configures the hooks. The zero value uses the global providers.
type Config struct {
	// TracerProvider makes the spans. Default: otel.GetTracerProvider().
	TracerProvider trace.TracerProvider
	// MeterProvider makes the instruments. Default: otel.GetMeterProvider().
	MeterProvider metric.MeterProvider
}

// Hooks implements auditgorm.Hooks with OpenTelemetry spans and metrics.
// Make them with New; they are safe for concurrent use.
type Hooks struct {
	tracer   trace.Tracer
	entries  metric.Int64Counter
	extra    metric.Int64Counter
	duration metric.Float64Histogram
	overhead metric.Float64Histogram
	errors   metric.Int64Counter
	// sets caches the measurement option of each model, action and path,
	// so that a statement builds no attribute set; up to maxSets of them
	// (Table("x") writes name as many models as tables).
	sets  sync.Map // setKey → metric.MeasurementOption
	nSets atomic.Int64
}

// maxSets bounds the cached attribute sets.
const maxSets = 1024

var _ auditgorm.Hooks = (*Hooks)(nil)

type setKey struct {
	model  string
	action auditlog.Action
	path   auditgorm.Path
}

// durationBuckets are the histograms' bucket bounds in seconds, from 100 µs
// (the plugin's share of a write on SQLite) to 10 s.
var durationBuckets = []float64{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// New returns hooks that report to the configured providers.
func New(cfg Config) (*Hooks, error) {
	tp, mp := cfg.TracerProvider, cfg.MeterProvider
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	if mp == nil {
		mp = otel.GetMeterProvider()
	}
	h := &Hooks{tracer: tp.Tracer(ScopeName)}
	m := mp.Meter(ScopeName)
	var errs [5]error
	h.entries, errs[0] = m.Int64Counter("auditlog.entries", metric.WithUnit("{entry}"),
		metric.WithDescription("Audit entries written by audited statements."))
	h.extra, errs[1] = m.Int64Counter("auditlog.extra_statements", metric.WithUnit("{statement}"),
		metric.WithDescription("Statements the auditlog plugin sent beyond the audited write."))
	h.duration, errs[2] = m.Float64Histogram("auditlog.duration", metric.WithUnit("s"),
		metric.WithDescription("Time of an audited statement, its write included."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	h.overhead, errs[3] = m.Float64Histogram("auditlog.overhead", metric.WithUnit("s"),
		metric.WithDescription("The auditlog plugin's own share of an audited statement's time."),
		metric.WithExplicitBucketBoundaries(durationBuckets...))
	h.errors, errs[4] = m.Int64Counter("auditlog.errors", metric.WithUnit("{statement}"),
		metric.WithDescription("Audited statements that failed."))
	if err := errors.Join(errs[:]...); err != nil {
		return nil, fmt.Errorf("auditotel: instruments: %w", err)
	}
	return h, nil
}

// StatementStart implements auditgorm.Hooks: it starts the statement's
// span, a child of the span in ctx.
func (h *Hooks) StatementStart(ctx context.Context, info auditgorm.StatementStartInfo) context.Context {
	ctx, _ = h.tracer.Start(ctx, "auditlog "+info.Action.String()+" "+info.Model,
		trace.WithSpanKind(trace.SpanKindInternal),
		trace.WithAttributes(ModelKey.String(info.Model), ActionKey.String(info.Action.String())))
	return ctx
}

// StatementEnd implements auditgorm.Hooks: it records the measurements and
// ends the span StatementStart started.
func (h *Hooks) StatementEnd(ctx context.Context, info auditgorm.StatementEndInfo) {
	set := h.set(info)
	h.entries.Add(ctx, info.Entries, set)
	h.extra.Add(ctx, int64(info.ExtraStatements), set)
	h.duration.Record(ctx, info.Duration.Seconds(), set)
	h.overhead.Record(ctx, info.Overhead.Seconds(), set)
	span := trace.SpanFromContext(ctx)
	if info.Err != nil {
		h.errors.Add(ctx, 1, set)
		span.RecordError(info.Err)
		span.SetStatus(codes.Error, info.Err.Error())
	}
	if span.IsRecording() {
		span.SetAttributes(PathKey.String(string(info.Path)), EntriesKey.Int64(info.Entries),
			ExtraStatementsKey.Int(info.ExtraStatements), OverheadKey.Float64(info.Overhead.Seconds()))
	}
	span.End()
}

// set returns the measurement option of the statement's model, action and
// path.
func (h *Hooks) set(info auditgorm.StatementEndInfo) metric.MeasurementOption {
	k := setKey{info.Model, info.Action, info.Path}
	if v, ok := h.sets.Load(k); ok {
		return v.(metric.MeasurementOption)
	}
	opt := metric.WithAttributeSet(attribute.NewSet(ModelKey.String(info.Model), ActionKey.String(info.Action.String()), PathKey.String(string(info.Path))))
	if h.nSets.Load() >= maxSets {
		return opt
	}
	v, loaded := h.sets.LoadOrStore(k, opt)
	if !loaded {
		h.nSets.Add(1)
	}
	return v.(metric.MeasurementOption)
}
