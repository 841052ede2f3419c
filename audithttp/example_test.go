package audithttp_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/audithttp"
)

// Mount the middleware on a ServeMux; the handler authenticates the user and
// sets the actor, and every write made with db.WithContext(r.Context())
// carries it with the client's address and the request's correlation id.
// With chi: r.Use(mw).
func Example() {
	mw, err := audithttp.New(audithttp.Config{
		TrustedProxies: []string{"10.0.0.0/8"}, // your load balancers
	})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/books", func(w http.ResponseWriter, r *http.Request) {
		if user, _, ok := r.BasicAuth(); ok { // or after verifying a JWT
			_ = auditlog.SetActor(r.Context(), auditlog.Actor{ID: user, Name: user})
		}
		// db.WithContext(r.Context()).Create(&book) …
		a, _ := auditlog.ActorFromContext(r.Context())
		addr, _ := auditlog.RemoteAddrFromContext(r.Context())
		fmt.Println(a.Name, addr, auditlog.CorrelationIDFromContext(r.Context()))
	})
	req := httptest.NewRequest("POST", "/books", nil)
	req.RemoteAddr = "10.1.2.3:5555"
	req.Header.Set("X-Forwarded-For", "198.51.100.23")
	req.Header.Set("X-Correlation-ID", "req-7")
	req.SetBasicAuth("alice", "secret")
	mw(mux).ServeHTTP(httptest.NewRecorder(), req)
	// Output: alice 198.51.100.23 req-7
}

// Resolve the actor from what your auth middleware stored in the context;
// the resolver runs when an entry is written, so late authentication counts.
func ExampleConfig_actor() {
	type userKey struct{}
	mw, err := audithttp.New(audithttp.Config{
		Actor: func(r *http.Request) (auditlog.Actor, bool) {
			u, ok := r.Context().Value(userKey{}).(string)
			return auditlog.Actor{ID: u, Name: u}, ok
		},
	})
	if err != nil {
		panic(err)
	}
	auth := func(next http.Handler) http.Handler { // the application's own auth, inside the audit middleware
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), userKey{}, "carol")))
		})
	}
	h := mw(auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		a, ok := auditlog.ActorFromContext(r.Context()) // what an entry written here records
		fmt.Println(a.Name, ok)
	})))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	// Output: carol true
}

// Behind a proxy that writes RFC 7239 Forwarded, name that header; the
// client's own X-Forwarded-For is then ignored, and the client's port is
// recorded because the proxy's element carries it.
func ExampleConfig_remoteAddrHeader() {
	mw, err := audithttp.New(audithttp.Config{
		TrustedProxies:   []string{"10.0.0.0/8"},
		RemoteAddrHeader: "Forwarded",
	})
	if err != nil {
		panic(err)
	}
	h := mw(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(auditlog.RemoteAddrFromContext(r.Context()))
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.1.2.3:5555"                   // the proxy
	req.Header.Set("X-Forwarded-For", "198.51.100.66") // sent by the client
	req.Header.Set("Forwarded", `for="[2001:db8::7]:4711";proto=https`)
	h.ServeHTTP(httptest.NewRecorder(), req)
	// Output: 2001:db8::7 4711
}
