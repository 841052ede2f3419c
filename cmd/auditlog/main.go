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
	// The first signal asks the command to stop cleanly; a second ends the
	// process at once (a command waiting in a system call, such as an open
	// of a named pipe no one reads, sees no context).
	go func() {
		<-ctx.Done()
		stop()
	}()
	code := auditcli.Run(ctx, os.Args[1:], auditcli.OSEnv())
	stop()
	os.Exit(code)
}
