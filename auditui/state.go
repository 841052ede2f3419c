package auditui

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
)

// stateMaxEntries bounds the entries read to rebuild an object's state on
// an entry's page.
const stateMaxEntries = 10_000

// stateView is an object's state after one entry, as the entries tell it.
type stateView struct {
	Note string // why there is no state, or what kind of state it is
	Rows []stateRow
}

type stateRow struct {
	Name     string
	Column   string
	Value    cell
	Related  []string
	Empty    bool // a relation with no related objects
	Unknown  string
	Changed  bool   // changed by the entry shown
	Recorded string // link to the entry the value comes from
	ByEntry  int64
}

// stateAfter rebuilds the state of e's object right after e.
func (h *Handler) stateAfter(ctx context.Context, e auditlog.Entry, loc *time.Location) (*stateView, error) {
	if e.Unreadable != "" {
		return &stateView{Note: "Its state is not rebuilt: this entry could not be read."}, nil
	}
	es, err := auditstore.ObjectEntries(ctx, h.opts.Store, auditstore.KeyRefs(e.Model, e.ObjectPK), e.ObjectPK, stateMaxEntries)
	if errors.Is(err, auditstore.ErrTooManyEntries) {
		return &stateView{Note: fmt.Sprintf("This object has more than %s entries, or more than 64 MiB of them: its state is not rebuilt here.", thousands(stateMaxEntries))}, nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		h.opts.Logger.WarnContext(ctx, "auditui: reading an object's entries timed out", "model", e.Model, "timeout", h.opts.QueryTimeout)
		return &stateView{Note: fmt.Sprintf("Reading this object's entries took longer than %s: its state is not rebuilt here.", h.opts.QueryTimeout)}, nil
	}
	if errors.Is(err, auditstore.ErrUnreadable) {
		return &stateView{Note: "Its state is not rebuilt: " + strings.TrimPrefix(err.Error(), auditstore.ErrUnreadable.Error()+": ") + "."}, nil
	}
	if err != nil {
		return nil, err
	}
	n := 0
	for n < len(es) && (es[n].Timestamp.Before(e.Timestamp) || es[n].Timestamp.Equal(e.Timestamp) && es[n].ID <= e.ID) {
		n++
	}
	rules := auditstore.EntriesOnlyRules()
	if h.opts.StateRules != nil {
		if r, ok := h.opts.StateRules(e.Model); ok {
			rules = r
		}
	}
	st := auditstore.RebuildState(e.Model, e.ObjectPK, es, n, rules)
	v := &stateView{}
	switch {
	case !st.Exists && st.MovedTo != "":
		v.Note = fmt.Sprintf("After this entry the object has the key %s: its state is under that key.", st.MovedTo)
		return v, nil
	case !st.Exists:
		v.Note = "No change of this object is recorded up to this entry: the entries tell nothing of its state."
		return v, nil
	case st.Deleted && st.Soft:
		v.Note = fmt.Sprintf("Soft-deleted by entry %d: the row stays, marked deleted.", st.DeletedBy)
	case st.Deleted:
		v.Note = fmt.Sprintf("Deleted by entry %d: these were its last values.", st.DeletedBy)
	}
	for _, k := range st.Fields() {
		_, changed := e.Changes[k]
		row := stateRow{Name: h.opts.DisplayName(e.Model, k), Column: k, Changed: changed && e.Action != auditlog.ActionAccess}
		switch {
		case st.Values[k] != nil:
			row.Value = makeCell(st.Values[k])
			row.ByEntry = st.Recorded[k]
			row.Recorded = h.linkIn("/entries/"+strconv.FormatInt(row.ByEntry, 10), nil, loc)
		case st.Related[k] != nil:
			row.Related, row.Empty = st.Related[k], len(st.Related[k]) == 0
		default:
			row.Unknown = string(st.Unknown[k])
		}
		v.Rows = append(v.Rows, row)
	}
	return v, nil
}

// pathChange is one difference between two JSON documents, at a key path.
type pathChange struct {
	Path     string
	Old, New cell
}

// maxPaths bounds the key paths a JSON change is shown by.
const maxPaths = 200

// jsonPaths lists the differences between two JSON objects by key path
// ("details.shelf", "tags[2]"), or reports false when either is not an
// object or they differ in too many places to list.
func jsonPaths(field string, old, new json.RawMessage) ([]pathChange, bool) {
	a, okA := decodeObject(old)
	b, okB := decodeObject(new)
	if !okA || !okB {
		return nil, false
	}
	var out []pathChange
	if !diffValues(field, a, b, &out) {
		return nil, false
	}
	return out, len(out) > 0
}

func decodeObject(raw json.RawMessage) (map[string]any, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, false
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return nil, false
	}
	return m, true
}

// diffValues appends the differences between a and b under path; false
// when there are more than maxPaths.
func diffValues(path string, a, b any, out *[]pathChange) bool {
	switch x := a.(type) {
	case map[string]any:
		if y, ok := b.(map[string]any); ok {
			keys := make([]string, 0, len(x)+len(y))
			for k := range x {
				keys = append(keys, k)
			}
			for k := range y {
				if _, dup := x[k]; !dup {
					keys = append(keys, k)
				}
			}
			slices.Sort(keys)
			for _, k := range keys {
				va, inA := x[k]
				vb, inB := y[k]
				child := path + pathKey(k)
				switch {
				case !inA:
					*out = append(*out, pathChange{Path: child, Old: cell{Null: true, Absent: true}, New: valueCell(vb)})
				case !inB:
					*out = append(*out, pathChange{Path: child, Old: valueCell(va), New: cell{Null: true, Absent: true}})
				default:
					if !diffValues(child, va, vb, out) {
						return false
					}
				}
				if len(*out) > maxPaths {
					return false
				}
			}
			return true
		}
	case []any:
		if y, ok := b.([]any); ok && len(x) == len(y) {
			for i := range x {
				if !diffValues(path+"["+strconv.Itoa(i)+"]", x[i], y[i], out) {
					return false
				}
			}
			return len(*out) <= maxPaths
		}
	}
	if !reflect.DeepEqual(a, b) {
		*out = append(*out, pathChange{Path: path, Old: valueCell(a), New: valueCell(b)})
	}
	return len(*out) <= maxPaths
}

// pathKey is how key k extends a path: .k for a plain name, ["k"] else.
func pathKey(k string) string {
	plain := k != ""
	for i, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			plain = false
			break
		}
	}
	if plain {
		return "." + k
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // the template escapes; the key shows as written
	_ = enc.Encode(k)
	return "[" + strings.TrimSuffix(b.String(), "\n") + "]"
}

func valueCell(v any) cell {
	raw, err := json.Marshal(v)
	if err != nil {
		return cell{Text: fmt.Sprint(v)}
	}
	return makeCell(raw)
}

// SpanCounter counts entries per time span with a bound per span.
// *auditstore.Store implements it; the list shows its activity strip when
// Config.Store does.
type SpanCounter interface {
	CountSpans(ctx context.Context, f auditstore.Filter, bounds []time.Time, limit int) ([]int64, error)
}

// The activity strip: entries per day over stripDays days, at most
// stripLimit counted per day.
const (
	stripDays  = 30
	stripLimit = 1_000
	stripBarW  = 14
	stripGap   = 3
	stripH     = 44
)

type strip struct {
	Width, Height int
	Bars          []bar
	From, To      string // the first and last day shown
	Max           string
	Label         string // for screen readers
	Full          bool   // some day's count stopped at its bound
	Bound         string
}

type bar struct {
	X, Y, W, H int
	Link       string
	Title      string
	Full       bool // the count stopped at its bound
}

// activity counts the entries that match q per day, over the 30 days that
// end with q's Until (or today), in q's time zone. Nil without a span
// counter, and for a text search, whose count no index bounds.
func (h *Handler) activity(ctx context.Context, q *query) (*strip, error) {
	sc, ok := h.opts.Store.(SpanCounter)
	if !ok || q.filter.Search != "" {
		return nil, nil
	}
	end := h.opts.Now().In(q.loc)
	if !q.filter.Until.IsZero() {
		end = q.filter.Until.Add(-time.Nanosecond).In(q.loc)
	}
	bounds := make([]time.Time, stripDays+1)
	for i := range bounds {
		bounds[i] = dayStart(end.Year(), end.Month(), end.Day()-stripDays+1+i, q.loc)
	}
	if !auditstore.ValidTimestamp(bounds[0]) {
		return nil, nil // days before the year 1: no strip
	}
	counts, err := sc.CountSpans(ctx, q.filter, bounds, stripLimit)
	if err != nil {
		return nil, err
	}
	var top int64 = 1
	for _, n := range counts {
		top = max(top, n)
	}
	s := &strip{Width: stripDays*(stripBarW+stripGap) - stripGap, Height: stripH,
		From: bounds[0].Format("2006-01-02"), To: bounds[stripDays-1].Format("2006-01-02"), Max: countText(top)}
	s.Label = fmt.Sprintf("Entries per day from %s to %s; the highest day has %s.", s.From, s.To, s.Max)
	keep := cloneValues(withZone(q.form, h.zoneParam(q.loc)))
	s.Bound = thousands(stripLimit)
	for i, n := range counts {
		s.Full = s.Full || n > stripLimit
		hgt := int(n * stripH / top)
		if n > 0 && hgt < 2 {
			hgt = 2
		}
		// The day, within the filter's own since and until: what the
		// bar counted. A day outside them counted nothing and lists
		// nothing: no link.
		var link string
		if (q.filter.Since.IsZero() || q.filter.Since.Before(bounds[i+1])) && (q.filter.Until.IsZero() || q.filter.Until.After(bounds[i])) {
			v := cloneValues(keep)
			if q.filter.Since.IsZero() || !q.filter.Since.After(bounds[i]) {
				v.Set("since", bounds[i].Format("2006-01-02T15:04"))
			}
			if q.filter.Until.IsZero() || q.filter.Until.After(bounds[i+1]) {
				v.Set("until", bounds[i+1].Format("2006-01-02T15:04"))
			}
			link = h.link("/", v)
		}
		s.Bars = append(s.Bars, bar{X: i * (stripBarW + stripGap), Y: stripH - max(hgt, 1), W: stripBarW, H: max(hgt, 1),
			Link: link, Title: bounds[i].Format("Mon 2006-01-02") + ": " + countText(n) + map[bool]string{true: " entry", false: " entries"}[n == 1], Full: n > stripLimit})
	}
	return s, nil
}

// dayStart is the first instant of a day in loc: its midnight, or where
// a clock change skips midnight, the first hour that exists.
func dayStart(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	want := time.Date(y, m, d, 12, 0, 0, 0, loc) // noon exists on every day
	if t.Day() != want.Day() {
		t = time.Date(want.Year(), want.Month(), want.Day(), 1, 0, 0, 0, loc)
	}
	return t
}

// countText is a day's count as shown: 1,000+ where it stopped counting.
func countText(n int64) string {
	if n > stripLimit {
		return thousands(stripLimit) + "+"
	}
	return thousands(int(n))
}

// ModelCounter counts the newest entries that match a filter by model.
// *auditstore.Store implements it; the actor page shows its summary when
// Config.Store does.
type ModelCounter interface {
	CountModels(ctx context.Context, f auditstore.Filter, limit int) ([]auditstore.ModelCount, bool, error)
}

// actorModels bounds the entries the actor page counts by model.
const actorModels = 2_000

type actorPage struct {
	basePage
	pager
	ID, Name string
	Models   []modelCount
	All      bool
	Filtered bool
	Limit    string
}

type modelCount struct {
	Model, Entries, Latest, ISO, Link string
}

// actor shows everything one actor did: entries by model, then the
// entries themselves, newest first (other filters apply to both).
func (h *Handler) actor(w http.ResponseWriter, r *http.Request) {
	q, err := h.parseQuery(r)
	if err != nil {
		h.badQuery(w, r, err)
		return
	}
	id := q.filter.ActorID
	if id == "" {
		h.fail(w, r, http.StatusBadRequest, "Which actor?", "Give the actor's id, for example actor=42.")
		return
	}
	pg, ok := h.fetch(w, r, q, "/actor", q.form)
	if !ok {
		return
	}
	p := actorPage{basePage: h.base(r, "Actor "+id), pager: pg, ID: id, Limit: thousands(actorModels), Filtered: len(q.form) > 1}
	p.TZ = q.loc.String()
	for _, row := range pg.Rows {
		if row.Actor != "" && row.Actor != row.ActorID {
			p.Name = row.Actor
			break
		}
	}
	// No summary for a text search: no index bounds its count.
	if mc, ok := h.opts.Store.(ModelCounter); ok && q.filter.Search == "" {
		ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueryTimeout)
		defer cancel()
		counts, all, err := mc.CountModels(ctx, q.filter, actorModels)
		if err != nil {
			h.storeError(w, r, err)
			return
		}
		p.All = all
		for _, c := range counts {
			v := cloneValues(withZone(q.form, h.zoneParam(q.loc)))
			v.Set("model", c.Model)
			mc := modelCount{Model: c.Model, Entries: thousands(int(c.Entries)), Latest: "unreadable time", Link: h.link("/", v)}
			if !c.Latest.IsZero() {
				mc.Latest, mc.ISO = c.Latest.In(q.loc).Format("2006-01-02 15:04:05"), c.Latest.Format(time.RFC3339Nano)
			}
			p.Models = append(p.Models, mc)
		}
	}
	h.render(w, r, http.StatusOK, "actor", p)
}
