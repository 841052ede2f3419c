package auditcli

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/go-auditlog/auditlog/auditui"
)

func runServe(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "serve", "--db DSN [--addr ADDR] (--basic-auth USER:PASS | --token-env VAR | --insecure-no-auth)")
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	basic := fs.String("basic-auth", "", "require HTTP basic auth with USER:PASSWORD")
	tokenEnv := fs.String("token-env", "", "require the token in this environment variable (Authorization: Bearer TOKEN, or as the basic-auth password)")
	insecure := fs.Bool("insecure-no-auth", false, "serve without authentication (loopback addresses only)")
	tz := fs.String("tz", "UTC", "default display time zone")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	authorize, err := authorizer(env, *basic, *tokenEnv, *insecure, *addr)
	if err != nil {
		return err
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return usageError("--tz: unknown time zone %q", *tz)
	}
	t, err := ParseDSN(*dsn)
	if err != nil {
		return usageError("%v", err)
	}
	s, closeDB, err := openTarget(ctx, t)
	if err != nil {
		return err
	}
	defer closeDB()
	ui, err := auditui.New(auditui.Options{Store: s, Authorize: authorize, TimeZone: loc})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "Serving the audit log of %s at http://%s/ (Ctrl-C to stop)\n", t.Display, ln.Addr())
	return serveUntilDone(ctx, ln, withChallenge(ui, authorize))
}

// authorizer builds the UI's Authorize from the flags. Exactly one method
// must be chosen; no authentication is allowed on loopback only.
func authorizer(env Env, basic, tokenEnv string, insecure bool, addr string) (func(*http.Request) bool, error) {
	chosen := 0
	for _, on := range []bool{basic != "", tokenEnv != "", insecure} {
		if on {
			chosen++
		}
	}
	switch {
	case chosen == 0:
		return nil, usageError("refusing to serve the audit log without authentication: pass --basic-auth USER:PASS, --token-env VAR, or --insecure-no-auth on a loopback address")
	case chosen > 1:
		return nil, usageError("choose one of --basic-auth, --token-env and --insecure-no-auth")
	case basic != "":
		user, pass, ok := strings.Cut(basic, ":")
		if !ok || user == "" || len(pass) < 8 {
			return nil, usageError("--basic-auth must be USER:PASSWORD with a password of at least 8 characters")
		}
		return func(r *http.Request) bool {
			u, p, ok := r.BasicAuth()
			return ok && equal(u, user) && equal(p, pass)
		}, nil
	case tokenEnv != "":
		token := env.Getenv(tokenEnv)
		if len(token) < 16 {
			return nil, usageError("--token-env: $%s must hold a token of at least 16 characters", tokenEnv)
		}
		return func(r *http.Request) bool {
			if t, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
				return equal(t, token)
			}
			_, p, ok := r.BasicAuth()
			return ok && equal(p, token)
		}, nil
	}
	if !loopback(addr) {
		return nil, usageError("--insecure-no-auth is only allowed on a loopback address such as 127.0.0.1:8080, not %q", addr)
	}
	return func(*http.Request) bool { return true }, nil
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// withChallenge answers unauthenticated requests with 401 and a basic-auth
// challenge, so browsers ask for credentials; the UI checks them again.
func withChallenge(h http.Handler, authorize func(*http.Request) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/assets/style.css" && !authorize(r) {
			w.Header().Set("WWW-Authenticate", `Basic realm="audit log", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
