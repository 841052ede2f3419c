// Command auditlog runs the audit log's tools: a live demo, the admin UI
// over an existing table, migrations, flushing, exporting and history.
// Run auditlog -h for the list.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the UI's time zones on machines without a zoneinfo database

	"github.com/go-auditlog/auditlog/auditcli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := auditcli.Run(ctx, os.Args[1:], auditcli.OSEnv())
	stop()
	os.Exit(code)
}
