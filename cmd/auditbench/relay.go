package main

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/go-auditlog/auditlog/auditnats"
	"github.com/go-auditlog/auditlog/auditrelay"
)

// startRelay runs a relay of the database to a stream of its own on
// c.relay, outside the counted connections, until the environment closes;
// a sampler reads its lag every 100 ms. At the end it reports what the
// relay published, how fast, and how far behind it was.
func startRelay(c *config, e *env) error {
	ctx, cancel := context.WithCancel(context.Background())
	stream := fmt.Sprintf("AUDITBENCH_%d", time.Now().UnixNano())
	sink, err := auditnats.ConnectSink(ctx, c.relay, auditnats.SinkOptions{Stream: stream, Prefix: "auditbench." + stream})
	if err != nil {
		cancel()
		return err
	}
	r, err := auditrelay.New(e.sqlDB, e.store.Dialect(), sink)
	if err != nil {
		cancel()
		sink.Close()
		return err
	}
	var published, busy atomic.Int64 // entries, and nanoseconds spent in rounds that published
	var behindN []int64
	var behindT []time.Duration
	done := make(chan struct{}, 2)
	go func() {
		defer func() { done <- struct{}{} }()
		for ctx.Err() == nil {
			start := time.Now()
			res, err := r.Round(ctx)
			if err != nil {
				if ctx.Err() == nil {
					fmt.Fprintf(c.errOut, "auditbench: relay: %v\n", err)
				}
				continue
			}
			if res.Published > 0 {
				published.Add(int64(res.Published))
				busy.Add(int64(time.Since(start)))
			}
			if !res.More {
				select {
				case <-ctx.Done():
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}()
	go func() {
		defer func() { done <- struct{}{} }()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			lag, err := r.Lag(ctx)
			if err != nil {
				continue
			}
			behindN = append(behindN, lag.Entries)
			behindT = append(behindT, lag.Behind)
		}
	}()
	e.cleanup = append(e.cleanup, func() {
		cancel()
		<-done
		<-done
		sink.Close()
		if nc, err := nats.Connect(c.relay); err == nil {
			if js, err := jetstream.New(nc); err == nil {
				_ = js.DeleteStream(context.Background(), stream)
			}
			nc.Close()
		}
		rate := 0.0
		if b := time.Duration(busy.Load()); b > 0 {
			rate = float64(published.Load()) / b.Seconds()
		}
		slices.Sort(behindN)
		slices.Sort(behindT)
		q := func(p float64) int { return min(len(behindN)-1, int(p*float64(len(behindN)))) }
		if len(behindN) == 0 {
			fmt.Fprintf(c.errOut, "auditbench: %s: the relay published %d entries\n", e.name, published.Load())
			return
		}
		fmt.Fprintf(c.errOut, "auditbench: %s: the relay published %d entries, %.0f entries/s in the rounds that published; behind (sampled every 100 ms): p50 %d entries / %s, p99 %d / %s, max %d / %s\n",
			e.name, published.Load(), rate, behindN[q(0.5)], behindT[q(0.5)].Round(time.Millisecond),
			behindN[q(0.99)], behindT[q(0.99)].Round(time.Millisecond), behindN[len(behindN)-1], behindT[len(behindT)-1].Round(time.Millisecond))
	})
	return nil
}
