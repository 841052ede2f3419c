package auditcli

import (
	"context"
	"fmt"
	"log"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/go-auditlog/auditlog/auditcli/internal/bookstore"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
)

func runDemo(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "demo", "[--addr ADDR] [--dir DIR [--yes]] [--once]")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	dir := fs.String("dir", "", "directory for the SQLite file, bookstore.db, which is kept on exit (default: a temporary one, removed on exit)")
	yes := fs.Bool("yes", false, "replace the demo's bookstore.db already in --dir without asking")
	once := fs.Bool("once", false, "seed, print one book's history and exit")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if !*once && !loopback(*addr) {
		// It answers loopback clients only, by loopback names: on any
		// other address every request would be refused.
		return usageError("the demo answers loopback clients only: --addr must be a loopback address such as 127.0.0.1:8080, not %q", *addr)
	}
	if *dir != "" && !*yes {
		// A fresh demo replaces the file: say so first.
		path := filepath.Join(*dir, "bookstore.db")
		if _, err := os.Lstat(path); err == nil {
			if !env.StdinTerminal {
				return fmt.Errorf("%s exists and the demo would replace it: pass --yes to replace it, or choose another --dir", termSafe(path))
			}
			if err := confirm(ctx, env, "Replace "+termSafe(path)+" with a new demo? [y/N] ", "nothing was replaced"); err != nil {
				return err
			}
		}
	}
	if *dir == "" {
		tmp, err := os.MkdirTemp("", "auditlog-demo")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		*dir = tmp
	} else if err := os.MkdirAll(*dir, 0o755); err != nil {
		return err
	}
	d, err := bookstore.Open(ctx, *dir, func(path string) string {
		t, _ := sqliteTarget(path) // the settings every command uses for SQLite
		return t.DSN
	})
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Seed(ctx); err != nil {
		return fmt.Errorf("seed: %w", err)
	}
	total, err := d.Entries().Count(ctx, auditstore.Filter{})
	if err != nil {
		return err
	}
	if *once {
		dune := bookstore.Book{ID: 1}
		res, err := auditgorm.History(ctx, d.DB(), &dune, auditstore.Page{Limit: 100})
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "Seeded %d audit entries over six weeks. History of book 1 (Dune):\n\n", total)
		return PrintHistory(env.Stdout, res.Entries, time.UTC)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	h, err := d.Handler()
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Seeded %d audit entries. The bookstore is at http://%s/ and its audit log at http://%s/audit/ (Ctrl-C to stop)\n", total, ln.Addr(), ln.Addr())
	return serveUntilDone(ctx, ln, h, log.New(env.Stderr, "auditlog demo: ", 0))
}
