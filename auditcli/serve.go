package auditcli

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
)

const serveArgs = "--db DSN [--addr ADDR] [--tls-cert FILE --tls-key FILE] (--basic-auth-file FILE | --basic-auth-env VAR | --token-env VAR | --insecure-no-auth)"

func runServe(ctx context.Context, env Env, args []string) error {
	fs := flags(env, "serve", serveArgs)
	dsn := fs.String("db", "", "database: sqlite:PATH, postgres://…, mysql://…")
	addr := fs.String("addr", "127.0.0.1:8080", "listen address")
	var a authFlags
	fs.StringVar(&a.basicFile, "basic-auth-file", "", "require HTTP basic auth with the USER:PASSWORD written in FILE (one line)")
	fs.StringVar(&a.basicEnv, "basic-auth-env", "", "require HTTP basic auth with the USER:PASSWORD in this environment variable")
	fs.StringVar(&a.basic, "basic-auth", "", "require HTTP basic auth with USER:PASSWORD (visible to other users in ps: prefer --basic-auth-file)")
	fs.StringVar(&a.tokenEnv, "token-env", "", "require the token in this environment variable (Authorization: Bearer TOKEN, or as the basic-auth password)")
	fs.BoolVar(&a.insecure, "insecure-no-auth", false, "serve without authentication (loopback addresses only)")
	certFile := fs.String("tls-cert", "", "serve HTTPS with this certificate (PEM; with --tls-key)")
	keyFile := fs.String("tls-key", "", "the private key of --tls-cert (PEM)")
	tz := fs.String("tz", "UTC", "default display time zone")
	timeout := fs.Duration("query-timeout", auditui.DefaultQueryTimeout, "stop a page's database query after this long and answer 503")
	if err := parse(fs, args, 0); err != nil {
		return err
	}
	if (*certFile == "") != (*keyFile == "") {
		return usageError("--tls-cert and --tls-key go together")
	}
	if *timeout <= 0 {
		return usageError("--query-timeout must be positive, such as 5s")
	}
	authorize, err := authorizer(env, a, *addr)
	if err != nil {
		return err
	}
	loc, err := auditstore.LoadZone(*tz)
	if err != nil {
		return usageError("--tz: %v", err)
	}
	var tlsConfig *tls.Config
	if *certFile != "" {
		cert, err := loadKeyPair(*certFile, *keyFile)
		if err != nil {
			return oneLineError{"--tls-cert/--tls-key: cannot load the certificate and key: ", err}
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	db, t, err := openDB(ctx, *dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	s, err := auditstore.New(db, t.Dialect)
	if err != nil {
		return err
	}
	opts := auditui.Config{Store: s, Authorize: authorize, TimeZone: loc, QueryTimeout: *timeout,
		Logger: slog.New(slog.NewTextHandler(env.Stderr, nil))} // through the command's redacting, escaping stderr
	sealed, err := auditseal.Installed(ctx, db, t.Dialect)
	if err != nil {
		return err
	}
	if sealed {
		opts.Seal = auditseal.NewReader(db, t.Dialect)
	}
	if a.insecure { // access by network position: answer this machine's host names only (DNS rebinding)
		opts.AllowedHosts = auditui.LoopbackHosts()
	}
	ui, err := auditui.New(opts)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsConfig != nil {
		ln = tls.NewListener(ln, tlsConfig)
		scheme = "https"
	} else if !loopback(*addr) {
		fmt.Fprintf(env.Stderr, "auditlog serve: warning: serving over plain HTTP on a non-loopback address: credentials and audit entries cross the network in clear; use --tls-cert and --tls-key, or a TLS-terminating proxy\n")
	}
	fmt.Fprintf(env.Stdout, "Serving the audit log of %s at %s://%s/ (Ctrl-C to stop)\n", termSafe(t.Display), scheme, ln.Addr())
	return serveUntilDone(ctx, ln, withChallenge(ui, authorize), log.New(env.Stderr, "auditlog serve: ", 0))
}

// authFlags are serve's ways to authenticate readers.
type authFlags struct {
	basicFile, basicEnv, basic, tokenEnv string
	insecure                             bool
}

// authorizer builds the UI's Authorize from the flags. Exactly one method
// must be chosen; no authentication is allowed on loopback only. The
// credentials read are added to the secrets scrubbed from stderr.
func authorizer(env Env, a authFlags, addr string) (func(*http.Request) bool, error) {
	chosen := 0
	for _, on := range []bool{a.basicFile != "", a.basicEnv != "", a.basic != "", a.tokenEnv != "", a.insecure} {
		if on {
			chosen++
		}
	}
	const badBasic = "must hold USER:PASSWORD, with a password of at least 8 characters"
	var user, pass string
	switch {
	case chosen == 0:
		return nil, usageError("refusing to serve the audit log without authentication: pass --basic-auth-file FILE, --basic-auth-env VAR, --token-env VAR, or --insecure-no-auth on a loopback address")
	case chosen > 1:
		return nil, usageError("choose one of --basic-auth-file, --basic-auth-env, --basic-auth, --token-env and --insecure-no-auth")
	case a.basicFile != "":
		b, err := readSmallFile(a.basicFile, 4096)
		if err != nil {
			if _, isPath := err.(*os.PathError); !isPath {
				return nil, usageError("--basic-auth-file: %v", err) // larger than the limit
			}
			// What was given may be the credentials themselves, in place
			// of the file's name: not shown.
			return nil, usageError("--basic-auth-file: cannot read the file it names: %s (it takes a file holding USER:PASSWORD, not the credentials)", pathError(err))
		}
		text := strings.TrimRight(string(b), "\r\n")
		env.secrets.add(text)
		if strings.ContainsAny(text, "\r\n") {
			return nil, usageError("--basic-auth-file: %s must hold USER:PASSWORD on one line", a.basicFile)
		}
		var ok bool
		if user, pass, ok = strings.Cut(text, ":"); !ok || user == "" || len(pass) < 8 {
			return nil, usageError("--basic-auth-file: %s %s", a.basicFile, badBasic)
		}
		st, err := os.Stat(a.basicFile)
		if err == nil && st.Mode().Perm()&0o022 != 0 {
			// Whoever can write the file sets the password.
			return nil, usageError("--basic-auth-file: %s is writable by other users (mode %04o); chmod 600 it", a.basicFile, st.Mode().Perm())
		}
		if err == nil {
			if uid, foreign := foreignOwner(st); foreign {
				// Its owner can write it whatever its mode.
				return nil, usageError("--basic-auth-file: %s belongs to another user (uid %d), who can rewrite it; give it to the user serve runs as", a.basicFile, uid)
			}
		}
		if err == nil && st.Mode().Perm()&0o077 != 0 {
			// Readable only: a container's mounted secret often is (0644,
			// 0444), with no other user to read it.
			fmt.Fprintf(env.Stderr, "auditlog serve: warning: %s is readable by other users (mode %04o); chmod 600 it\n", a.basicFile, st.Mode().Perm())
		}
	case a.basicEnv != "":
		text := env.Getenv(a.basicEnv)
		if text == "" {
			// What was given may be the credentials, in place of the
			// variable's name: not shown.
			return nil, usageError("--basic-auth-env: no variable of that name is set (it takes the name of a variable holding USER:PASSWORD, not the credentials)")
		}
		env.secrets.add(text)
		var ok bool
		if user, pass, ok = strings.Cut(text, ":"); !ok || user == "" || len(pass) < 8 {
			return nil, usageError("--basic-auth-env: $%s %s", a.basicEnv, badBasic)
		}
	case a.basic != "":
		var ok bool
		if user, pass, ok = strings.Cut(a.basic, ":"); !ok || user == "" || len(pass) < 8 {
			return nil, usageError("--basic-auth must be USER:PASSWORD with a password of at least 8 characters")
		}
		fmt.Fprintf(env.Stderr, "auditlog serve: warning: --basic-auth puts the password on the command line, visible to other users (ps, /proc); use --basic-auth-file or --basic-auth-env\n")
	case a.tokenEnv != "":
		token := env.Getenv(a.tokenEnv)
		if token == "" {
			return nil, usageError("--token-env: no variable of that name is set (it takes the name of a variable holding the token, not the token)")
		}
		env.secrets.add(token)
		if len(token) < 16 {
			return nil, usageError("--token-env: $%s must hold a token of at least 16 characters", a.tokenEnv)
		}
		want := digest(token)
		return func(r *http.Request) bool {
			// The scheme's name has no case (RFC 9110, 11.1).
			if scheme, t, ok := strings.Cut(r.Header.Get("Authorization"), " "); ok && strings.EqualFold(scheme, "Bearer") {
				return sameSecret(t, want) == 1
			}
			_, p, ok := r.BasicAuth()
			return sameSecret(p, want)&boolInt(ok) == 1
		}, nil
	default:
		if !loopback(addr) {
			return nil, usageError("--insecure-no-auth is only allowed on a loopback address such as 127.0.0.1:8080, not %q", addr)
		}
		return func(*http.Request) bool { return true }, nil
	}
	env.secrets.add(pass)
	wantUser, wantPass := digest(user), digest(pass)
	return func(r *http.Request) bool {
		u, p, ok := r.BasicAuth()
		// Both compared every time, and combined without branching: a
		// wrong user takes as long as a wrong password.
		return sameSecret(u, wantUser)&sameSecret(p, wantPass)&boolInt(ok) == 1
	}, nil
}

// readSmallFile reads at most limit bytes of name, and fails if there is
// more (a credential file is one line; /dev/zero is not one).
func readSmallFile(name string, limit int64) ([]byte, error) {
	f, err := openForReading(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAtMost(f, name, limit)
}

// loadKeyPair is tls.LoadX509KeyPair, reading the files as readSmallFile
// does (a named pipe no one writes to is an error, not a wait).
func loadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := readSmallFile(certFile, 1<<20)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := readSmallFile(keyFile, 1<<20)
	if err != nil {
		// Not the path given: it may be a secret pasted in its place.
		return tls.Certificate{}, fmt.Errorf("the key file: %s", pathError(err))
	}
	return tls.X509KeyPair(cert, key)
}

// readAtMost reads r, which name names, to its end, and fails once it
// holds more than limit bytes.
func readAtMost(r io.Reader, name string, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return b, nil
}

// pathError is err without the path, which the message already names.
func pathError(err error) string {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// digest is the SHA-256 of a credential, which sameSecret compares.
func digest(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// sameSecret is 1 if got's digest is want, 0 if not, in a time that
// depends on neither's content nor length: the digests compared are of one
// size (subtle.ConstantTimeCompare returns at once for different lengths).
func sameSecret(got string, want [sha256.Size]byte) int {
	d := digest(got)
	return subtle.ConstantTimeCompare(d[:], want[:])
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

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
			// The UI's protective headers, as on its own pages.
			hdr := w.Header()
			hdr.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
			hdr.Set("X-Content-Type-Options", "nosniff")
			hdr.Set("Referrer-Policy", "no-referrer")
			hdr.Set("X-Frame-Options", "DENY")
			hdr.Set("WWW-Authenticate", `Basic realm="audit log", charset="UTF-8"`)
			http.Error(w, "authentication required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// idleTimeout is how long serve and the demo keep a connection that sends
// no request open: idle connections are no cheaper to hold for one that
// never authenticated, and one that could hold them all would lock every
// client out. A download to a client that stops reading is cut off by
// the UI itself.
var idleTimeout atomic.Int64

func init() { idleTimeout.Store(int64(2 * time.Minute)) }

func serveUntilDone(ctx context.Context, ln net.Listener, h http.Handler, errorLog *log.Logger) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Duration(idleTimeout.Load()), ErrorLog: errorLog}
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
