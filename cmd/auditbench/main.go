// Command auditbench measures what auditing costs: each write workload runs
// with and without the auditgorm plugin in the same process, interleaved,
// and the ratio of their throughputs is reported. With -read it loads a
// large entries table and measures history and list queries.
//
//	go run ./cmd/auditbench -db sqlite -quick
//	go run ./cmd/auditbench -db sqlite -sqlite-driver glebarez
//	go run -tags auditlog_mattn ./cmd/auditbench -db sqlite -sqlite-driver mattn
//	go run ./cmd/auditbench -db sqlite,postgres,mysql -json
//	go run ./cmd/auditbench -db postgres -read
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "auditbench:", err)
		os.Exit(2)
	}
}
