// Command httpapp is a small net/http application with two users and basic
// auth, audited end to end: the audithttp middleware records the client's
// address and a correlation id, the handler authenticates the user and sets
// the actor, and the GORM plugin writes the entries. Run it and it serves on
// -addr; with -once it makes a few requests itself, prints the audit log and
// exits.
package main

import (
	"context"
	"crypto/subtle"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/ncruces/go-sqlite3/gormlite"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/audithttp"
	"github.com/go-auditlog/auditlog/auditstore"
)

type Note struct {
	ID   uint
	Text string
}

func (n Note) String() string { return fmt.Sprintf("note %d", n.ID) }

var users = map[string]string{"alice": "wonderland", "bob": "builder"}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address")
	once := flag.Bool("once", false, "make a few requests, print the audit log and exit")
	flag.Parse()
	if err := run(*addr, *once); err != nil {
		fmt.Fprintln(os.Stderr, "httpapp:", err)
		os.Exit(1)
	}
}

func run(addr string, once bool) error {
	dir, err := os.MkdirTemp("", "auditlog-httpapp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	db, err := gorm.Open(gormlite.Open("file:"+filepath.Join(dir, "notes.db")+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_txlock=immediate"), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		return err
	}
	ctx := context.Background()
	if err := auditgorm.Migrate(ctx, db); err != nil {
		return err
	}
	if err := db.Use(auditgorm.New(auditgorm.Config{})); err != nil {
		return err
	}
	if err := db.AutoMigrate(&Note{}); err != nil {
		return err
	}
	if err := auditlog.Register(&Note{}); err != nil {
		return err
	}
	mw, err := audithttp.New(audithttp.Config{})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /notes", func(w http.ResponseWriter, r *http.Request) {
		user, ok := authenticate(r)
		if !ok {
			w.Header().Set("WWW-Authenticate", `Basic realm="notes"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		// Authentication happened here, inside the handler: set the actor now.
		if err := auditlog.SetActor(r.Context(), auditlog.Actor{ID: user, Name: user}); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<10))
		n := Note{Text: string(body)}
		if err := db.WithContext(r.Context()).Create(&n).Error; err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, n.ID)
	})
	mux.HandleFunc("GET /log", func(w http.ResponseWriter, r *http.Request) {
		res, err := auditgorm.ModelHistory(r.Context(), db, &Note{}, auditstore.Page{Limit: 50})
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, e := range res.Entries {
			fmt.Fprintf(w, "%s %-6s %-12s by %-5s from %s:%d cid %s  %s\n", e.Timestamp.Format(time.TimeOnly), e.Action, e.ObjectRepr, e.ActorName, e.RemoteAddr, e.RemotePort, e.CorrelationID, e.Changes)
		}
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mw(mux), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	base := "http://" + ln.Addr().String()
	fmt.Printf("serving on %s (POST /notes with basic auth alice:wonderland or bob:builder; GET /log)\n", base)
	if !once {
		select {}
	}
	for _, req := range []struct{ user, pass, text, cid string }{
		{"alice", "wonderland", "buy milk", "req-1"},
		{"bob", "builder", "fix the roof", "req-2"},
		{"bob", "wrong", "sneaky", ""},
	} {
		r, _ := http.NewRequest("POST", base+"/notes", strings.NewReader(req.text))
		r.SetBasicAuth(req.user, req.pass)
		if req.cid != "" {
			r.Header.Set("X-Correlation-ID", req.cid)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		fmt.Printf("POST /notes as %s: %s\n", req.user, resp.Status)
	}
	resp, err := http.Get(base + "/log")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return errors.New(resp.Status)
	}
	fmt.Println("audit log:")
	_, err = io.Copy(os.Stdout, resp.Body)
	return err
}

func authenticate(r *http.Request) (string, bool) {
	user, pass, ok := r.BasicAuth()
	want, known := users[user]
	if !ok || !known || subtle.ConstantTimeCompare([]byte(pass), []byte(want)) != 1 {
		return "", false
	}
	return user, true
}
