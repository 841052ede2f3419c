// Package auditui is a read-only web UI for the audit log: a list of
// entries with filters, an entry's full diff, and the history of one or
// several objects. It is an http.Handler that a host application mounts
// behind its own authentication:
//
//	ui, err := auditui.New(auditui.Config{
//		Store:     store,
//		Prefix:    "/audit",
//		Authorize: func(r *http.Request) bool { return isAuditor(r) },
//	})
//	mux.Handle("/audit/", ui)
//
// Without Authorize it refuses every request. It never writes, renders
// every value escaped under a strict Content-Security-Policy, needs no
// JavaScript, and pages with keyset cursors (no COUNT, no OFFSET), so it
// stays fast on millions of entries.
package auditui

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditseal"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/value"
)

//go:embed templates/*.html assets/*
var files embed.FS

// Config configures the UI. Store is required; everything else has a
// documented default.
type Config struct {
	// Store reads the entries: an *auditstore.Store (auditgorm.NewStore(db)
	// gives one), or anything else with its reading methods.
	Store Store
	// Authorize decides whether a request may see the audit log. Nil denies
	// every request (403) with a page that says how to configure it.
	Authorize func(*http.Request) bool
	// Prefix is the path the handler is mounted under, such as "/audit";
	// links are built with it and it is removed from request paths.
	// Default: "" (mounted at the root).
	Prefix string
	// Title is shown in the header. Default: "Audit log".
	Title string
	// TimeZone is the default display zone. Default: UTC. Viewers can pick
	// another with the tz parameter; zones are loaded from the system's
	// zoneinfo, so a program that may run without one (a scratch container)
	// imports time/tzdata in its main, as cmd/auditlog does.
	TimeZone *time.Location
	// PageSize is the number of entries per page, 1 to
	// auditstore.MaxPageSize. Default: auditstore.DefaultPageSize.
	PageSize int
	// DisplayName labels a model's column, as registered with
	// auditlog.DisplayNames (auditgorm's Plugin.DisplayName fits). Default:
	// the column name.
	DisplayName func(model, column string) string
	// StateRules says what the entries of a model can tell, for the state
	// of an object shown on each entry's page (auditgorm's
	// Plugin.StateRules fits: it knows masked, excluded and auto-updated
	// fields). Default: auditstore.EntriesOnlyRules, for every model.
	StateRules func(model string) (auditstore.StateRules, bool)
	// Now is the clock: the list's activity strip ends today. Default:
	// time.Now.
	Now func() time.Time
	// Logger receives errors that are answered with a 500 page. Default:
	// slog.Default().
	Logger *slog.Logger
	// AllowedHosts, when set, restricts the Host header (with any port) of
	// the requests the UI answers: host names, IP addresses, or CIDR prefixes
	// such as 127.0.0.0/8. Other requests get 421 Misdirected Request. Set it
	// (LoopbackHosts() on a loopback listener) whenever Authorize grants
	// access by where a request comes from rather than by credentials: a web
	// page whose host name an attacker resolves to your server (DNS
	// rebinding) is same-origin with it and sends no credentials, but its
	// Host header is the attacker's name. Default: nil, every host, because
	// an application's own authentication (cookies, basic auth, tokens) is
	// bound to its host name and the UI cannot know the names it is served
	// under.
	AllowedHosts []string
	// QueryTimeout bounds every query the UI sends to the database. A page
	// whose query takes longer is cancelled and answered with a 503 page
	// that asks for a narrower filter, so no viewer can keep the database
	// busy with slow lists. An export is bounded per page of
	// auditstore.MaxPageSize entries, not as a whole. Default:
	// DefaultQueryTimeout.
	QueryTimeout time.Duration
	// SearchWindow bounds a text search (the q filter), which no index can
	// serve: one page reads at most this many of the entries that match the
	// other filters, newest first. A page whose window ends before it is
	// full says how far back it searched and links to the next window.
	// Default: DefaultSearchWindow. At most 1,000,000.
	SearchWindow int
	// Seal, when set, shows the sealed log (package auditseal): on each
	// entry's page whether and by which checkpoint it is sealed, and a page
	// with the latest checkpoint. auditseal.NewReader(db, dialect) gives
	// one. Default: nil, no seal information.
	Seal SealReader
}

// SealReader reads the sealed log's state. *auditseal.Reader implements it.
type SealReader interface {
	EntryStatus(ctx context.Context, id int64) (auditseal.EntryStatus, error)
	Latest(ctx context.Context) (auditseal.Checkpoint, bool, error)
	LastVerification(ctx context.Context) (auditseal.Verification, bool, error)
}

// Store is what the UI reads entries with. *auditstore.Store implements
// it.
type Store interface {
	// List returns one page of the entries that match f, newest first.
	List(ctx context.Context, f auditstore.Filter, p auditstore.Page) (auditstore.Result, error)
	// Get returns one entry, or an error wrapping auditstore.ErrNotFound.
	Get(ctx context.Context, id int64) (auditlog.Entry, error)
	// EachWith calls fn with every entry that matches f, newest first.
	EachWith(ctx context.Context, f auditstore.Filter, o auditstore.EachOptions, fn func(auditlog.Entry) error) error
}

var _ Store = (*auditstore.Store)(nil)

// DefaultSearchWindow is the SearchWindow of a Config that leaves it 0: a
// page of a text search then reads a few milliseconds' worth of entries.
const DefaultSearchWindow = 10_000

// DefaultQueryTimeout is the QueryTimeout of a Config that leaves it 0: far
// above what an indexed page takes on millions of entries (milliseconds),
// short enough that a viewer cannot tie up the database.
const DefaultQueryTimeout = 5 * time.Second

// Handler serves the UI.
type Handler struct {
	opts  Config
	hosts *hostMatcher // nil: every host
	css   []byte
	etag  string
	pages map[string]*template.Template
}

// New checks opts and parses the templates.
func New(opts Config) (*Handler, error) {
	if opts.Store == nil {
		return nil, errors.New("auditui: Config.Store is required: pass an auditstore.Store (auditgorm.NewStore(db) gives one)")
	}
	if opts.Prefix != "" && (!strings.HasPrefix(opts.Prefix, "/") || strings.HasSuffix(opts.Prefix, "/")) {
		return nil, fmt.Errorf("auditui: Prefix %q must start with / and not end with one, such as /audit", opts.Prefix)
	}
	if opts.Title == "" {
		opts.Title = "Audit log"
	}
	if opts.TimeZone == nil {
		opts.TimeZone = time.UTC
	}
	switch {
	case opts.PageSize == 0:
		opts.PageSize = auditstore.DefaultPageSize
	case opts.PageSize < 1 || opts.PageSize > auditstore.MaxPageSize:
		return nil, fmt.Errorf("auditui: PageSize %d is out of range: use 1 to %d", opts.PageSize, auditstore.MaxPageSize)
	}
	switch {
	case opts.QueryTimeout == 0:
		opts.QueryTimeout = DefaultQueryTimeout
	case opts.QueryTimeout < 0:
		return nil, fmt.Errorf("auditui: QueryTimeout %s is negative: leave it 0 for the default of %s", opts.QueryTimeout, DefaultQueryTimeout)
	}
	switch {
	case opts.SearchWindow == 0:
		opts.SearchWindow = DefaultSearchWindow
	case opts.SearchWindow < 0 || opts.SearchWindow > 1_000_000:
		return nil, fmt.Errorf("auditui: SearchWindow %d is out of range: use 1 to 1000000", opts.SearchWindow)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DisplayName == nil {
		opts.DisplayName = func(_, column string) string { return column }
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	h := &Handler{opts: opts, pages: map[string]*template.Template{}}
	if opts.AllowedHosts != nil {
		if len(opts.AllowedHosts) == 0 {
			return nil, errors.New("auditui: AllowedHosts is empty, which would refuse every request: leave it nil to answer every host, or list the hosts (auditui.LoopbackHosts() for this machine)")
		}
		m, err := newHostMatcher(opts.AllowedHosts)
		if err != nil {
			return nil, err
		}
		h.hosts = m
	}
	base, err := template.New("").Funcs(h.funcs()).ParseFS(files, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("auditui: parse templates: %w", err)
	}
	for _, page := range []string{"list", "detail", "history", "error", "seal", "actor"} {
		t, err := template.Must(base.Clone()).ParseFS(files, "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("auditui: parse %s template: %w", page, err)
		}
		h.pages[page] = t
	}
	if h.css, err = fs.ReadFile(files, "assets/style.css"); err != nil {
		return nil, err
	}
	sum := fnv.New64a()
	_, _ = sum.Write(h.css) // a hash never fails to write
	h.etag = fmt.Sprintf(`"%x"`, sum.Sum64())
	return h, nil
}

// csp allows only the UI's own stylesheet: no scripts at all, no inline
// styles, no frames, forms only to itself.
const csp = "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", csp)
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	if h.hosts != nil && !h.hosts.allows(r) {
		h.fail(w, r, http.StatusMisdirectedRequest, "Wrong host name", h.hosts.message(r))
		return
	}
	path := r.URL.Path
	if h.opts.Prefix != "" {
		rest, ok := strings.CutPrefix(path, h.opts.Prefix)
		if !ok {
			h.fail(w, r, http.StatusNotFound, "Not found", "This page is not part of the audit log.")
			return
		}
		path = rest
	}
	if path == "" {
		path = "/"
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		h.fail(w, r, http.StatusMethodNotAllowed, "Read-only", "The audit log cannot be changed from here: only GET and HEAD requests are served.")
		return
	}
	if path == "/assets/style.css" { // public: it holds no data
		hdr.Set("Content-Type", "text/css; charset=utf-8")
		hdr.Set("Cache-Control", "public, max-age=3600")
		hdr.Set("ETag", h.etag)
		if r.Header.Get("If-None-Match") == h.etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		_, _ = w.Write(h.css)
		return
	}
	if h.opts.Authorize == nil {
		h.fail(w, r, http.StatusForbidden, "Access is not configured",
			"This audit log denies every request until the application that mounts it sets auditui.Config.Authorize to a function that allows the right people (auditlog serve: --basic-auth-file, --basic-auth-env or --token-env).")
		return
	}
	if !h.opts.Authorize(r) {
		h.fail(w, r, http.StatusForbidden, "Forbidden", "You are not allowed to see the audit log.")
		return
	}
	hdr.Set("Cache-Control", "no-store")
	if _, err := url.ParseQuery(r.URL.RawQuery); err != nil {
		// A parameter the query drops (a bad escape, a ';') would be a
		// filter dropped: the page, or the download, would hold more
		// than was asked for.
		h.fail(w, r, http.StatusBadRequest, "Bad link", "The address's parameters are malformed (a bad %-escape, or a ';' between them): nothing was read.")
		return
	}
	switch {
	case path == "/":
		h.list(w, r)
	case path == "/history":
		h.history(w, r)
	case path == "/actor":
		h.actor(w, r)
	case path == "/export":
		h.export(w, r)
	case strings.HasPrefix(path, "/entries/"):
		h.detail(w, r, strings.TrimPrefix(path, "/entries/"))
	case path == "/seal" && h.opts.Seal != nil:
		h.seal(w, r)
	default:
		h.fail(w, r, http.StatusNotFound, "Not found", "There is no such page in the audit log.")
	}
}

// errorPage is the data of the error template.
type errorPage struct {
	basePage
	Status  int
	Heading string
	Message string
}

func (h *Handler) fail(w http.ResponseWriter, r *http.Request, status int, heading, msg string) {
	h.render(w, r, status, "error", errorPage{basePage: h.base(r, heading), Status: status, Heading: heading, Message: msg})
}

func (h *Handler) serverError(w http.ResponseWriter, r *http.Request, err error) {
	h.opts.Logger.ErrorContext(r.Context(), "auditui: request failed", "path", r.URL.Path, "error", err)
	h.fail(w, r, http.StatusInternalServerError, "Something went wrong", "The audit log could not be read. The error was logged on the server.")
}

func (h *Handler) render(w http.ResponseWriter, r *http.Request, status int, page string, data any) {
	var buf bytes.Buffer
	if err := h.pages[page].ExecuteTemplate(&buf, "layout", data); err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "auditui: render", "page", page, "error", err)
		http.Error(w, "auditui: the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(showReordering(buf.Bytes()))
	}
}

// showReordering writes every character that reorders or breaks text
// (bidi embeddings, overrides, isolates and marks, line and paragraph
// separators) in page as its escape, \u202e, as the command line shows
// it: stored text must not make a page read otherwise ("Account
// \u202e0001 ecnalab" shown as "Account balance 1000", an override in
// one change running on over the next). In text the escape is marked
// (class ctl), so that stored text that spells "\u202e" does not read as
// the character; in a tag (an attribute) or a title it is plain text.
// The filter form is left as it is: its values are what the next Filter
// sends, and the escape would filter on other text. The templates write
// no such character and no "<" but markup (html/template escapes it in
// values), so every one comes from a stored value.
func showReordering(page []byte) []byte {
	if !bytes.ContainsFunc(page, value.Reorders) {
		return page
	}
	out := make([]byte, 0, len(page)+256)
	inTag, inTitle, inForm := false, false, false
	for i := 0; i < len(page); {
		c := page[i]
		switch {
		case c == '<':
			rest := page[i:]
			switch {
			case hasPrefixFold(rest, "<form"):
				inForm = true
			case hasPrefixFold(rest, "</form"):
				inForm = false
			case hasPrefixFold(rest, "<title"):
				inTitle = true
			case hasPrefixFold(rest, "</title"):
				inTitle = false
			}
			inTag = true
		case c == '>':
			inTag = false
		case c >= utf8.RuneSelf:
			r, n := utf8.DecodeRune(page[i:])
			if value.Reorders(r) && !inForm {
				if inTag || inTitle {
					out = fmt.Appendf(out, `\u%04x`, r)
				} else {
					out = fmt.Appendf(out, `<span class="ctl" title="a character that reorders text, U+%04X">\u%04x</span>`, r, r)
				}
			} else {
				out = append(out, page[i:i+n]...)
			}
			i += n
			continue
		}
		out = append(out, c)
		i++
	}
	return out
}

// hasPrefixFold reports whether b begins with the ASCII prefix, in any
// case, followed by a character that ends a tag name.
func hasPrefixFold(b []byte, prefix string) bool {
	if len(b) <= len(prefix) || !bytes.EqualFold(b[:len(prefix)], []byte(prefix)) {
		return false
	}
	switch b[len(prefix)] {
	case ' ', '>', '\t', '\n', '\r', '/':
		return true
	}
	return false
}

// basePage is what every page's layout needs.
type basePage struct {
	Title  string
	Page   string
	Prefix string
	TZ     string
	Sealed bool // the UI shows the sealed log
}

func (h *Handler) base(r *http.Request, page string) basePage {
	tz := h.opts.TimeZone.String()
	if v := r.URL.Query().Get("tz"); v != "" {
		if loc, err := auditstore.LoadZone(v); err == nil {
			tz = loc.String()
		}
	}
	return basePage{Title: h.opts.Title, Page: page, Prefix: h.opts.Prefix, TZ: tz, Sealed: h.opts.Seal != nil}
}

// actionInfo is how an action looks.
func actionInfo(a auditlog.Action) (label, class, icon string) {
	switch a {
	case auditlog.ActionCreate:
		return "create", "create", "+"
	case auditlog.ActionUpdate:
		return "update", "update", "✎"
	case auditlog.ActionDelete:
		return "delete", "delete", "✕"
	case auditlog.ActionAccess:
		return "access", "access", "◉"
	}
	return a.String(), "other", "?"
}
