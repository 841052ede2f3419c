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
	// The command's SQLite driver: ncruces (mattn with -tags auditlog_mattn).
	// auditcli itself links none, so a program that embeds it keeps its own.
	_ "github.com/go-auditlog/auditlog/internal/sqlitedriver/defaultdriver"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := auditcli.Run(ctx, os.Args[1:], auditcli.OSEnv())
	stop()
	os.Exit(code)
}
