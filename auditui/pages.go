package auditui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/value"
)

// query is a parsed, validated set of list parameters.
type query struct {
	filter auditstore.Filter
	page   auditstore.Page
	loc    *time.Location
	form   url.Values // the filter parameters as given, for links and the form
}

var filterParams = []string{"model", "action", "actor", "cid", "pk", "q", "since", "until"}

// parseQuery reads the filters; an error message is meant for the viewer.
func (h *Handler) parseQuery(r *http.Request) (*query, error) {
	v := r.URL.Query()
	q := &query{loc: h.opts.TimeZone, form: url.Values{}, page: auditstore.Page{Limit: h.opts.PageSize, SearchWindow: h.opts.SearchWindow}}
	for k, vals := range v {
		if len(vals) > 1 && k != "obj" {
			return nil, fmt.Errorf("parameter %q is given %d times; give it once", k, len(vals))
		}
		longest := 256
		if k == "obj" {
			// A model and a key of up to 255 bytes each, JSON-escaped
			// (objParam).
			longest = 4096
		}
		for _, s := range vals {
			if len(s) > longest {
				return nil, fmt.Errorf("parameter %q is longer than %d characters", k, longest)
			}
			if !utf8.ValidString(s) {
				return nil, fmt.Errorf("parameter %q is not valid UTF-8", k)
			}
			if strings.IndexByte(s, 0) >= 0 {
				// No entry holds one, and PostgreSQL refuses it in text.
				return nil, fmt.Errorf("parameter %q holds a NUL character", k)
			}
		}
	}
	if tz := v.Get("tz"); tz != "" {
		loc, err := auditstore.LoadZone(tz)
		if err != nil {
			return nil, err
		}
		q.loc = loc
	}
	for _, k := range filterParams {
		s := v.Get(k)
		if k == "action" || k == "since" || k == "until" {
			s = strings.TrimSpace(s)
		}
		// Stored values are matched exactly: a link to actor "1 " is
		// not one to actor "1", and one to actor " " lists that one's.
		if s != "" {
			q.form.Set(k, s)
		}
	}
	if q.form.Get("pk") != "" && q.form.Get("model") == "" {
		// No index leads with the key alone: with its model it is an object
		// history, without it a read of the whole table.
		return nil, errors.New("an object key needs a model: give the model too, such as model=books&pk=42")
	}
	f := &q.filter
	f.Model, f.ActorID, f.CorrelationID, f.ObjectPK, f.Search = q.form.Get("model"), q.form.Get("actor"), q.form.Get("cid"), q.form.Get("pk"), q.form.Get("q")
	if a := q.form.Get("action"); a != "" {
		act, err := auditlog.ParseAction(a)
		if err != nil {
			return nil, errors.New("action must be create, update, delete or access")
		}
		f.Actions = []auditlog.Action{act}
	}
	var err error
	if f.Since, err = auditstore.ParseTime(q.form.Get("since"), time.Now(), q.loc); err != nil {
		return nil, fmt.Errorf("since: %w", err)
	}
	if f.Until, err = auditstore.ParseTime(q.form.Get("until"), time.Now(), q.loc); err != nil {
		return nil, fmt.Errorf("until: %w", err)
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return nil, errors.New("until must be later than since")
	}
	if c := v.Get("cursor"); c != "" {
		if auditstore.CheckCursor(c) != nil {
			return nil, errBadCursor
		}
		q.page.Cursor = c
	}
	if l := v.Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > auditstore.MaxPageSize {
			return nil, fmt.Errorf("limit must be a number from 1 to %d", auditstore.MaxPageSize)
		}
		q.page.Limit = n
	}
	return q, nil
}

// errBadCursor is the viewer's message for a cursor that List refuses.
var errBadCursor = errors.New("the page cursor is not valid: start again from the first page")

// row is an entry as a list shows it.
type row struct {
	ID          int64
	Time        string
	ISO         string
	Action      string
	ActionClass string
	Icon        string
	Model       string
	Repr        string
	PK          string
	Actor       string
	ActorID     string
	// TZ is the zone the row's page is read in, for its links ("" for
	// the default).
	TZ string
	// ShownPK is the object's key as the list shows it (shownText).
	ShownPK string
	// ShownID is the actor's id beside its name (two actors of one name
	// must not look alike), quoted where it holds more than letters,
	// digits and . _ @ : - ("8 " and "8").
	ShownID string
	Summary summary
	CID     string
	// Unreadable says what of the stored entry did not decode
	// (auditlog.Entry.Unreadable).
	Unreadable string
}

func (h *Handler) row(e auditlog.Entry, loc *time.Location) row {
	label, class, icon := actionInfo(e.Action)
	actor := e.Actor().String()
	r := row{
		ID: e.ID, Time: e.Timestamp.In(loc).Format("2006-01-02 15:04:05"), ISO: e.Timestamp.UTC().Format(time.RFC3339Nano),
		Action: label, ActionClass: class, Icon: icon, Model: e.Model, Repr: truncate(e.ObjectRepr, 300), PK: e.ObjectPK, ShownPK: shownText(e.ObjectPK),
		Actor: actor, ActorID: e.ActorID, Summary: h.summary(e, 160), CID: e.CorrelationID, TZ: h.zoneParam(loc),
	}
	if e.ActorID != "" && (e.ActorName != "" || shownText(e.ActorID) != e.ActorID) {
		r.ShownID = shownText(e.ActorID)
	}
	if e.Unreadable != "" {
		// Its zero fields are no values: a zero time, an action that
		// reads as create.
		r.Unreadable, r.Summary = e.Unreadable, summary{Tokens: []summaryToken{{Text: truncate("Unreadable: "+e.Unreadable, 160)}}}
		if e.UnreadableColumn("timestamp") {
			r.Time, r.ISO = "unreadable time", ""
		}
		if e.UnreadableColumn("action") {
			r.Action, r.ActionClass, r.Icon = "unreadable", "unreadable", "!"
		}
	}
	return r
}

// A summary is a row's one-line change summary, with display names:
// its text in tokens, each field's name and value isolated (<bdi>), so
// that right-to-left text in a value cannot carry the arrow and the other
// value along with it (a limit raised to 5000 read as cut to 100).
type summary struct {
	Tokens []summaryToken
	Cut    bool // the summary goes on past its last token, cut short
}

type summaryToken struct {
	Text    string
	Isolate bool
}

// summary is e's summary, cut at about n characters.
func (h *Handler) summary(e auditlog.Entry, n int) summary {
	var out summary
	add := func(text string, isolate bool) bool {
		if out.Cut {
			return false
		}
		if c := utf8.RuneCountInString(text); c > n {
			text, out.Cut = string([]rune(text)[:max(n, 0)]), true
		} else {
			n -= c
		}
		if text != "" {
			out.Tokens = append(out.Tokens, summaryToken{text, isolate})
		}
		return !out.Cut
	}
	for i, f := range e.Changes.Fields() {
		if i > 0 && !add("; ", false) {
			break
		}
		c := e.Changes[f]
		if !add(h.opts.DisplayName(e.Model, f), true) || !add(": ", false) {
			break
		}
		if c.M2M != nil {
			if !add(string(c.M2M.Operation), false) {
				break
			}
			for j, o := range c.M2M.Objects {
				if !add(map[bool]string{true: ", ", false: " "}[j > 0], false) || !add(quoteJSON(o), true) {
					break
				}
			}
			continue
		}
		old, new := shortPair(valueText(c.Old), valueText(c.New))
		if !add(old, true) || !add(" → ", false) || !add(new, true) {
			break
		}
	}
	return out
}

// valueText is a value for the summary: its JSON text (a string quoted,
// so that no stored text reads as another change).
func valueText(raw json.RawMessage) string {
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var str string
		if json.Unmarshal(raw, &str) == nil {
			s = quoteJSON(str)
		}
	}
	if s == "" {
		s = "null"
	}
	return s
}

// shortPair cuts a change's two values at 40 characters; where that
// leaves them alike (two documents that differ past their first 40
// characters read as no change), both are shown from shortly before the
// first character where they differ.
func shortPair(old, new string) (string, string) {
	a, b := truncate(old, 40), truncate(new, 40)
	if a != b || old == new {
		return a, b
	}
	ra, rb := []rune(old), []rune(new)
	i := 0
	for i < len(ra) && i < len(rb) && ra[i] == rb[i] {
		i++
	}
	from := max(0, i-10)
	return "…" + truncate(string(ra[from:]), 39), "…" + truncate(string(rb[from:]), 39)
}

// quoteJSON is s as a JSON string, '<', '>' and '&' as themselves (the
// page escapes them).
func quoteJSON(s string) string { return string(value.AppendJSONString(nil, s)) }

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

type listPage struct {
	basePage
	pager
	Form     url.Values
	Actions  []string
	Filtered bool
	CSV      string
	JSONL    string
	Zones    []string
	Window   string // how many entries a page of a text search reads
	Activity *strip
}

var commonZones = []string{"UTC", "Europe/London", "Europe/Paris", "Europe/Berlin", "America/New_York", "America/Chicago", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney"}

// zoneParam is the tz parameter that keeps loc on a link: "" for the
// default zone.
func (h *Handler) zoneParam(loc *time.Location) string {
	if loc == nil || loc.String() == h.opts.TimeZone.String() {
		return ""
	}
	return loc.String()
}

// linkIn is link with the tz parameter of loc, where it is not the
// default: a page read in another zone links to pages in that zone.
func (h *Handler) linkIn(path string, v url.Values, loc *time.Location) string {
	return h.link(path, withZone(v, h.zoneParam(loc)))
}

func (h *Handler) link(path string, v url.Values) string {
	u := h.opts.Prefix + path
	if enc := v.Encode(); enc != "" {
		u += "?" + enc
	}
	return u
}

// pager is one page of a list: its rows and the links around it.
type pager struct {
	Rows  []row
	Next  string
	First string
	// SearchedTo is set when a text search's window ended before the page
	// was full: the time of the oldest entry it read, for display.
	SearchedTo string
}

// fetch reads the page that q asks for and builds its rows and links; keep
// holds the parameters that page links carry. It answers the request itself
// and returns false on an error.
func (h *Handler) fetch(w http.ResponseWriter, r *http.Request, q *query, path string, keep url.Values) (pager, bool) {
	var p pager
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	res, err := h.opts.Store.List(ctx, q.filter, q.page)
	if err != nil {
		h.storeError(w, r, err)
		return p, false
	}
	keep = withZone(keep, h.zoneParam(q.loc))
	if q.page.Limit != h.opts.PageSize {
		keep = cloneValues(keep)
		keep.Set("limit", strconv.Itoa(q.page.Limit))
	}
	for _, e := range res.Entries {
		p.Rows = append(p.Rows, h.row(e, q.loc))
	}
	if !res.SearchedTo.IsZero() {
		p.SearchedTo = res.SearchedTo.In(q.loc).Format("2006-01-02 15:04:05")
	}
	if res.Next != "" {
		nv := cloneValues(keep)
		nv.Set("cursor", res.Next)
		p.Next = h.link(path, nv)
	}
	if q.page.Cursor != "" {
		p.First = h.link(path, keep)
	}
	return p, true
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.badQuery(w, r, err)
		return
	}
	pg, ok := h.fetch(w, r, q, "/", q.form)
	if !ok {
		return
	}
	p := listPage{basePage: h.base(r, "Entries"), pager: pg, Form: q.form, Actions: []string{"create", "update", "delete", "access"}, Zones: commonZones,
		Window: thousands(h.opts.SearchWindow)}
	p.TZ = q.loc.String()
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	if p.Activity, err = h.activity(ctx, q); err != nil {
		h.storeError(w, r, err)
		return
	}
	p.Filtered = len(q.form) > 0
	// The zone the list's times were read in: the download reads them
	// alike (it took other entries than the list showed).
	cv := cloneValues(withZone(q.form, h.zoneParam(q.loc)))
	cv.Set("format", "csv")
	p.CSV = h.link("/export", cv)
	cv.Set("format", "jsonl")
	p.JSONL = h.link("/export", cv)
	h.render(w, r, http.StatusOK, "list", p)
}

// withZone is v with tz set, where tz is not "".
func withZone(v url.Values, tz string) url.Values {
	if tz == "" {
		return v
	}
	v = cloneValues(v)
	v.Set("tz", tz)
	return v
}

// thousands writes n with comma separators: 10,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// shownText is an id or key as a list shows it: as it is where it holds
// only letters, digits and . _ @ : - / [ ] , " (a JSON array's key too),
// else Go-quoted, so that "8 " is not "8" and a zero-width space shows.
func shownText(s string) string {
	for _, r := range s {
		if !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._@:-/[],\"", r)) {
			return strconv.Quote(s)
		}
	}
	if s == "" {
		return `""`
	}
	return s
}

func cloneValues(v url.Values) url.Values {
	out := url.Values{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// cell is one rendered value of a diff.
type cell struct {
	Null   bool
	Text   string
	Pre    bool // pretty-printed JSON
	Number bool
	Absent bool // no such key (a JSON path diff), shown for Null
}

func makeCell(raw json.RawMessage) cell {
	if len(raw) == 0 || string(raw) == "null" {
		return cell{Null: true}
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return cell{Text: s}
		}
	case '{', '[':
		var out bytes.Buffer
		if json.Indent(&out, raw, "", "  ") == nil {
			return cell{Text: out.String(), Pre: true}
		}
	case 't', 'f':
		return cell{Text: string(raw)}
	}
	return cell{Text: string(raw), Number: true}
}

type fieldChange struct {
	Name    string
	Column  string
	Old     cell
	New     cell
	Paths   []pathChange // for two JSON objects: what changed, by key path
	M2M     bool
	Op      string
	Objects []string
}

type detailPage struct {
	basePage
	Entry      row
	Fields     []fieldChange
	Snapshot   string
	Additional string
	RemoteAddr string
	RemotePort int
	ActorID    string
	History    string
	Group      string
	List       string
	Seal       *sealStatus // nil without Config.Seal
	State      *stateView
}

// sealStatus is an entry's place in the sealed log, as shown.
type sealStatus struct {
	Sealed     bool
	Leaf       int64
	Checkpoint int64
	SignedAt   string
	ISO        string
}

func prettyJSON(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var out bytes.Buffer
	if json.Indent(&out, raw, "", "  ") != nil {
		return string(raw)
	}
	return out.String()
}

func (h *Handler) detail(w http.ResponseWriter, r *http.Request, idText string) {
	id, err := strconv.ParseInt(idText, 10, 64)
	if err != nil || id < 1 {
		h.fail(w, r, http.StatusBadRequest, "Bad entry number", "Entry numbers are positive whole numbers.")
		return
	}
	loc, ok := h.zone(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	e, err := h.opts.Store.Get(ctx, id)
	if errors.Is(err, auditstore.ErrNotFound) {
		h.fail(w, r, http.StatusNotFound, "No such entry", fmt.Sprintf("There is no entry %d.", id))
		return
	}
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	p := detailPage{basePage: h.base(r, fmt.Sprintf("Entry %d", id)), Entry: h.row(e, loc),
		Snapshot: prettyJSON(e.SerializedData), Additional: prettyJSON(e.AdditionalData),
		RemoteAddr: e.RemoteAddr, RemotePort: e.RemotePort, ActorID: e.ActorID}
	p.TZ = loc.String()
	for _, f := range e.Changes.Fields() {
		c := e.Changes[f]
		fc := fieldChange{Name: h.opts.DisplayName(e.Model, f), Column: f}
		if c.M2M != nil {
			fc.M2M, fc.Op, fc.Objects = true, string(c.M2M.Operation), c.M2M.Objects
		} else {
			fc.Old, fc.New = makeCell(c.Old), makeCell(c.New)
			fc.Paths, _ = jsonPaths(f, c.Old, c.New)
		}
		p.Fields = append(p.Fields, fc)
	}
	sort.SliceStable(p.Fields, func(i, j int) bool { return p.Fields[i].M2M != p.Fields[j].M2M && !p.Fields[i].M2M })
	p.History = h.linkIn("/history", url.Values{"obj": {objParam(e.Model, e.ObjectPK)}}, loc)
	if e.CorrelationID != "" {
		p.Group = h.linkIn("/", url.Values{"cid": {e.CorrelationID}}, loc)
	}
	p.List = h.linkIn("/", nil, loc)
	// The state reads every entry of the object, in a time of its own: a
	// read that runs out of it leaves the entry shown, with a note.
	sctx, scancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer scancel()
	if p.State, err = h.stateAfter(sctx, e, loc); err != nil {
		h.storeError(w, r, err)
		return
	}
	if h.opts.Seal != nil {
		st, err := h.opts.Seal.EntryStatus(ctx, id)
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		p.Seal = &sealStatus{Sealed: st.Sealed, Leaf: st.Leaf, Checkpoint: st.Checkpoint}
		if !st.SignedAt.IsZero() {
			p.Seal.SignedAt, p.Seal.ISO = st.SignedAt.In(loc).Format("2006-01-02 15:04:05"), st.SignedAt.Format(time.RFC3339Nano)
		}
	}
	h.render(w, r, http.StatusOK, "detail", p)
}

type sealPage struct {
	basePage
	Found    bool
	Size     int64
	SignedAt string
	ISO      string
	Note     string
	Verified *verification // the last recorded verification, or nil
}

type verification struct {
	At, ISO  string
	OK       bool
	Leaves   int64
	Problems int64
	Summary  string
}

// zone is the time zone a page shows times in: the tz parameter's, or the
// default. A bad tz is answered with a 400 page and false.
func (h *Handler) zone(w http.ResponseWriter, r *http.Request) (*time.Location, bool) {
	tz := r.URL.Query().Get("tz")
	if tz == "" {
		return h.opts.TimeZone, true
	}
	loc, err := auditstore.LoadZone(tz)
	if err != nil {
		h.fail(w, r, http.StatusBadRequest, "Bad time zone", err.Error())
		return nil, false
	}
	return loc, true
}

// seal shows the latest checkpoint of the sealed log.
func (h *Handler) seal(w http.ResponseWriter, r *http.Request) {
	loc, ok := h.zone(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
	defer cancel()
	c, found, err := h.opts.Seal.Latest(ctx)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	p := sealPage{basePage: h.base(r, "Sealed log"), Found: found, Size: c.Size, Note: c.Note}
	if found {
		p.SignedAt, p.ISO = c.SignedAt.In(loc).Format("2006-01-02 15:04:05"), c.SignedAt.Format(time.RFC3339Nano)
	}
	v, ok, err := h.opts.Seal.LastVerification(ctx)
	if err != nil {
		h.storeError(w, r, err)
		return
	}
	if ok {
		p.Verified = &verification{At: v.At.In(loc).Format("2006-01-02 15:04:05"), ISO: v.At.Format(time.RFC3339Nano), OK: v.OK, Leaves: v.Leaves, Problems: v.Problems, Summary: v.Summary}
	}
	h.render(w, r, http.StatusOK, "seal", p)
}

type historyPage struct {
	basePage
	pager
	Objects []string
}

// history shows the timeline of one or several objects, given as
// obj=model:key parameters.
func (h *Handler) history(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.badQuery(w, r, err)
		return
	}
	objs := r.URL.Query()["obj"]
	if len(objs) == 0 || len(objs) > 50 {
		h.fail(w, r, http.StatusBadRequest, "Which object?", "Give one to 50 objects as obj=model:key, for example obj=books:42.")
		return
	}
	var refs []auditstore.ObjectRef
	for _, o := range objs {
		model, pk, ok := parseObj(o)
		if !ok || model == "" || pk == "" {
			h.fail(w, r, http.StatusBadRequest, "Which object?", fmt.Sprintf("%q is not model:key, such as books:42.", o))
			return
		}
		refs = append(refs, auditstore.KeyRefs(model, pk)...)
	}
	q.filter.Objects = refs
	keep := cloneValues(q.form) // the other filters apply to every page
	keep["obj"] = objs
	pg, ok := h.fetch(w, r, q, "/history", keep)
	if !ok {
		return
	}
	p := historyPage{basePage: h.base(r, "History"), pager: pg, Objects: objs}
	p.TZ = q.loc.String()
	h.render(w, r, http.StatusOK, "history", p)
}

// objParam is an object as the history page's obj parameter names it:
// model:key, or, for a model holding a ':' or starting with '[', the JSON
// array ["model","key"], which obj=model:key could not tell apart from
// another object.
func objParam(model, pk string) string {
	if strings.Contains(model, ":") || strings.HasPrefix(model, "[") {
		b, _ := json.Marshal([]string{model, pk}) // strings always encode
		return string(b)
	}
	return model + ":" + pk
}

// parseObj reads an obj parameter (objParam).
func parseObj(o string) (model, pk string, ok bool) {
	if strings.HasPrefix(o, "[") {
		var mk []string
		if json.Unmarshal([]byte(o), &mk) != nil || len(mk) != 2 {
			return "", "", false
		}
		return mk[0], mk[1], true
	}
	return strings.Cut(o, ":")
}

// badQuery answers parameters that parseQuery refused.
func (h *Handler) badQuery(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, errBadCursor) {
		h.fail(w, r, http.StatusBadRequest, "Bad page link", "The page cursor is not valid: start again from the first page.")
		return
	}
	h.fail(w, r, http.StatusBadRequest, "Bad filter", err.Error())
}

// storeError answers a failed read: a 400 for what the viewer gave, a 500
// (logged) for the rest.
func (h *Handler) storeError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, auditstore.ErrInvalidCursor):
		h.fail(w, r, http.StatusBadRequest, "Bad page link", "The page cursor is not valid: start again from the first page.")
	case errors.Is(err, auditstore.ErrInvalidFilter):
		h.fail(w, r, http.StatusBadRequest, "Bad filter", strings.TrimPrefix(err.Error(), "auditstore: "))
	case errors.Is(err, context.DeadlineExceeded):
		h.opts.Logger.WarnContext(r.Context(), "auditui: query timed out", "path", r.URL.Path, "query", r.URL.RawQuery, "timeout", h.opts.QueryTimeout)
		h.fail(w, r, http.StatusServiceUnavailable, "This list took too long",
			fmt.Sprintf("The database took longer than %s to answer, so the query was stopped. Narrow the list with a model, an actor, an object or a time range, then try again.", h.opts.QueryTimeout))
	default:
		h.serverError(w, r, err)
	}
}

// export streams the filtered list as CSV or JSON Lines, page by page, in
// constant memory.
func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.badQuery(w, r, err)
		return
	}
	format := r.URL.Query().Get("format")
	if format != "csv" && format != "jsonl" {
		h.fail(w, r, http.StatusBadRequest, "Which format?", "format must be csv or jsonl.")
		return
	}
	// An HTTP/1.0 client is sent the download whole, with its length,
	// or an error page: its body ends when the connection closes, so a
	// download cut off part-way would look whole to it.
	// A client that stops reading is cut off after exportStall without
	// progress, so that it holds no query, connection or held download for
	// ever.
	sent := &deadlined{w: w, rc: http.NewResponseController(w)}
	var held *heldBody
	out := io.Writer(sent)
	if !r.ProtoAtLeast(1, 1) {
		// At most http10Held such downloads at once, so that their
		// memory stays bounded however many are asked for.
		select {
		case http10Held <- struct{}{}:
			defer func() { <-http10Held }()
		default:
			w.Header().Set("Retry-After", "10")
			h.fail(w, r, http.StatusServiceUnavailable, "Too many downloads at once",
				"Downloads to HTTP/1.0 clients are held in memory, and as many as the server holds are under way. Try again shortly, or download over HTTP/1.1 (behind nginx: proxy_http_version 1.1).")
			return
		}
		held = &heldBody{limit: http10ExportLimit.Load()}
		out = held
	}
	ew, err := auditstore.NewExportWriter(out, format)
	if err != nil {
		h.serverError(w, r, err)
		return
	}
	// Headers go out with the first entry, so a failure before it is still
	// a clean error page.
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		if format == "csv" {
			w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		} else {
			w.Header().Set("Content-Type", "application/x-ndjson")
		}
		w.Header().Set("Content-Disposition", `attachment; filename="auditlog.`+format+`"`)
	}
	if r.Method == http.MethodHead {
		start()
		return
	}
	n := 0
	err = h.opts.Store.EachWith(r.Context(), q.filter, auditstore.EachOptions{QueryTimeout: h.opts.QueryTimeout, SearchWindow: h.opts.SearchWindow}, func(e auditlog.Entry) error {
		start()
		if err := ew.Write(e); err != nil {
			return err
		}
		if n++; n%auditstore.MaxPageSize == 0 {
			if err := ew.Flush(); err != nil {
				return err
			}
			if held == nil {
				if err := sent.flush(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if held != nil {
		if err == nil {
			err = ew.Flush()
		}
		if err != nil { // nothing went out yet: an error page instead
			w.Header().Del("Content-Type")
			w.Header().Del("Content-Disposition")
		}
	}
	switch {
	case errors.Is(err, errTooBigForHTTP10):
		h.fail(w, r, http.StatusHTTPVersionNotSupported, "Too large for HTTP/1.0",
			fmt.Sprintf("This download is larger than the %d MiB sent to an HTTP/1.0 client, whose download cannot be cut off visibly if it fails part-way. Download it over HTTP/1.1 (behind nginx: proxy_http_version 1.1), or narrow the list.", held.limit>>20))
		return
	case err != nil && (!started || held != nil):
		h.storeError(w, r, err)
		return
	case err != nil:
		// Rows went out with a 200: the response is cut off, so that the
		// client sees a failed download rather than a file that looks
		// whole. net/http closes the connection (HTTP/1.1) or resets the
		// stream (HTTP/2) for this panic, and logs nothing more.
		h.opts.Logger.ErrorContext(r.Context(), "auditui: export interrupted", "error", err)
		panic(http.ErrAbortHandler)
	}
	start()
	if held != nil {
		w.Header().Set("Content-Length", strconv.Itoa(held.buf.Len()))
		err = sent.writeAll(held.buf.Bytes())
	} else {
		err = ew.Flush()
	}
	if err == nil {
		// What net/http still buffers goes out under the deadline too.
		err = sent.flush()
	}
	if err != nil {
		h.opts.Logger.ErrorContext(r.Context(), "auditui: export", "error", err)
	}
}

// exportStall is how long a download may make no progress (its client
// reads nothing) before it is cut off.
var exportStall = func() *atomic.Int64 {
	var n atomic.Int64
	n.Store(int64(time.Minute))
	return &n
}()

// deadlined writes a download to w, each write under a deadline of
// exportStall from its start, lifted when it returns: between writes (a
// long query) there is none, which on HTTP/2 would reset the stream when it
// passed, and the next request on the connection has none either.
type deadlined struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

// during runs write under the deadline.
func (d *deadlined) during(write func() error) error {
	armed := d.rc.SetWriteDeadline(time.Now().Add(time.Duration(exportStall.Load()))) == nil
	err := write()
	if armed {
		_ = d.rc.SetWriteDeadline(time.Time{})
	}
	return err
}

func (d *deadlined) Write(p []byte) (n int, err error) {
	err = d.during(func() error {
		n, err = d.w.Write(p)
		return err
	})
	return n, err
}

// writeAll writes p in pieces, each under its own deadline: a client that
// keeps reading (at more than about 150 bytes a second) is not cut off,
// one that stops is.
func (d *deadlined) writeAll(p []byte) error {
	for len(p) > 0 {
		n := min(len(p), 8<<10)
		if _, err := d.Write(p[:n]); err != nil {
			return err
		}
		p = p[n:]
	}
	return nil
}

// flush sends what net/http buffers, under the deadline.
func (d *deadlined) flush() error {
	return d.during(func() error {
		if err := d.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return err
		}
		return nil
	})
}

// http10ExportLimit is the most bytes of a download held for an HTTP/1.0
// client (64 MiB).
var http10ExportLimit = func() *atomic.Int64 {
	var n atomic.Int64
	n.Store(64 << 20)
	return &n
}()

// http10Held holds a token per download held for an HTTP/1.0 client:
// with http10ExportLimit, at most 256 MiB held at once.
var http10Held = make(chan struct{}, 4)

var errTooBigForHTTP10 = errors.New("auditui: download too large for HTTP/1.0")

// heldBody holds a download in memory, up to limit bytes.
type heldBody struct {
	buf   bytes.Buffer
	limit int64
}

func (b *heldBody) Write(p []byte) (int, error) {
	if int64(b.buf.Len()+len(p)) > b.limit {
		return 0, errTooBigForHTTP10
	}
	return b.buf.Write(p)
}

func (h *Handler) funcs() template.FuncMap {
	return template.FuncMap{
		// Each takes the row's tz last ("" for the default zone).
		"link": func(path string, kv ...string) string {
			v := url.Values{}
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] != "tz" || kv[i+1] != "" {
					v.Set(kv[i], kv[i+1])
				}
			}
			return h.link(path, v)
		},
		"history": func(model, pk, tz string) string {
			return h.link("/history", withZone(url.Values{"obj": {objParam(model, pk)}}, tz))
		},
		"entry": func(id int64, tz string) string {
			return h.link("/entries/"+strconv.FormatInt(id, 10), withZone(nil, tz))
		},
		"selected": func(a, b string) bool { return a == b },
	}
}
