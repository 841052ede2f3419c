// Package audittest helps an application's own tests check what its
// writes recorded: every entry in order, one expected entry with its
// changes, and a clock the test controls.
//
//	clock := audittest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
//	db.Use(auditgorm.New(auditgorm.Config{Now: clock.Now}))
//	…
//	audittest.RequireEntry(t, db, &Book{}, book.ID, auditlog.ActionUpdate,
//		audittest.Changes{"price": {10, 12}})
package audittest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/big"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/value"
)

// Entries returns every entry of db's entries table, oldest first. It
// fails t if they cannot be read.
func Entries(t testing.TB, db *gorm.DB) []auditlog.Entry {
	t.Helper()
	all, err := entries(db)
	if err != nil {
		t.Fatalf("audittest: %v", err)
	}
	return all
}

func entries(db *gorm.DB) ([]auditlog.Entry, error) {
	s, err := auditgorm.NewStore(db)
	if err != nil {
		return nil, err
	}
	ctx := db.Statement.Context
	if ctx == nil {
		ctx = context.Background()
	}
	var all []auditlog.Entry
	err = s.Each(ctx, auditstore.Filter{}, func(e auditlog.Entry) error {
		if e.Unreadable != "" { // its zero fields would pass for values
			return fmt.Errorf("%w: entry %d: %s", auditstore.ErrUnreadable, e.ID, e.Unreadable)
		}
		all = append(all, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	return all, nil
}

// Changes are the changes an entry is expected to hold: field (column)
// name → {old, new}, as Go values compared with the entry's JSON as the
// capture records them: numbers by exact value (10 and 10.0 are equal),
// times as instants in any zone, nil as JSON null.
type Changes map[string][2]any

// RequireEntry fails t unless an entry records action on the object of
// model with key pk, and returns the newest such entry. model is a model
// (&Book{}, resolved to the name its entries carry) or that name as a
// string; pk is the key as a value (42), as its text ("42"), or a
// composite key as a slice or array of its values ([]any{7, "b"}). When changes
// is not nil, the entry's changes must be exactly those; the failure lists
// the object's entries.
func RequireEntry(t testing.TB, db *gorm.DB, model any, pk any, action auditlog.Action, changes Changes) auditlog.Entry {
	t.Helper()
	name, err := modelName(db, model)
	if err != nil {
		t.Fatalf("audittest: %v", err)
	}
	key, err := keyText(pk)
	alt := key
	if _, named := model.(string); !named && model != nil {
		// As the model's entries name it: a masked key masked, a time key
		// as the database stores it. A key given as its text is looked
		// for as given too.
		if k, kerr := auditgorm.ObjectKey(db, model, pk); kerr == nil {
			alt = k
		} else if _, text := pk.(string); !text {
			err = kerr
		}
		if _, text := pk.(string); !text {
			key = alt
		}
	}
	if err != nil {
		t.Fatalf("audittest: %v", err)
	}
	all, err := entries(db)
	if err != nil {
		t.Fatalf("audittest: %v", err)
	}
	var mine []auditlog.Entry
	var mismatch string
	for i := len(all) - 1; i >= 0; i-- {
		e := all[i]
		if e.Model != name || e.ObjectPK != key && e.ObjectPK != alt {
			continue
		}
		mine = append(mine, e)
		if e.Action != action {
			continue
		}
		if changes == nil {
			return e
		}
		diff, err := compare(e.Changes, changes)
		if err != nil {
			t.Fatalf("audittest: %v", err)
		}
		if diff == "" {
			return e
		}
		if mismatch == "" {
			mismatch = diff
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "audittest: no %s entry for %s %s", action, name, key)
	if changes != nil {
		fmt.Fprintf(&b, " with changes %s", encode(changes))
	}
	if mismatch != "" {
		fmt.Fprintf(&b, "\nnewest %s entry: %s", action, mismatch)
	}
	if len(mine) == 0 {
		fmt.Fprintf(&b, "\nthe object has no entries (%d in all)", len(all))
	}
	for i := len(mine) - 1; i >= 0; i-- {
		e := mine[i]
		raw, _ := json.Marshal(e.Changes)
		fmt.Fprintf(&b, "\n  #%d %s %s by %q: %s", e.ID, e.Timestamp.Format(time.RFC3339Nano), e.Action, e.ActorName, raw)
	}
	t.Fatal(b.String())
	return auditlog.Entry{}
}

// keyText is pk as entries name their object: a string as it is, a value
// as its text, and a composite key, given as a slice or array of its
// values, as the JSON array entries carry ([7,2]).
func keyText(pk any) (string, error) {
	if s, ok := pk.(string); ok {
		return s, nil
	}
	rv := reflect.ValueOf(pk)
	if rv.Kind() == reflect.Array || rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() != reflect.Uint8 {
		b := []byte{'['}
		for i := 0; i < rv.Len(); i++ {
			v, err := value.Normalize(rv.Index(i).Interface(), value.Options{})
			if err != nil {
				return "", fmt.Errorf("pk: %w", err)
			}
			if i > 0 {
				b = append(b, ',')
			}
			b = v.AppendJSON(b)
		}
		return string(append(b, ']')), nil
	}
	v, err := value.Normalize(pk, value.Options{})
	if err != nil {
		return "", fmt.Errorf("pk: %w", err)
	}
	return v.Text(), nil
}

// modelName is the name entries of model carry.
func modelName(db *gorm.DB, model any) (string, error) {
	switch m := model.(type) {
	case nil:
		return "", fmt.Errorf("model is nil: pass a model such as &Book{} or its entries' name")
	case string:
		return m, nil
	}
	return auditgorm.ModelName(db, model)
}

// compare returns "" when got holds exactly want, else what differs.
func compare(got auditlog.Changes, want Changes) (string, error) {
	var diffs []string
	for field, ov := range want {
		c, ok := got[field]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s: missing", field))
			continue
		}
		for i, side := range []json.RawMessage{c.Old, c.New} {
			// The wanted value as the capture records one: a time as its
			// instant in UTC, bytes in base64, and so on.
			v, err := value.Normalize(ov[i], value.Options{})
			if err != nil {
				return "", fmt.Errorf("changes[%q]: %w", field, err)
			}
			if !sameJSON(side, v.AppendJSON(nil)) {
				diffs = append(diffs, fmt.Sprintf("%s: %s → %s, want %s → %s", field, orNull(c.Old), orNull(c.New), encodeOne(ov[0]), encodeOne(ov[1])))
				break
			}
		}
	}
	for field, c := range got {
		if _, ok := want[field]; !ok {
			diffs = append(diffs, fmt.Sprintf("%s: unexpected %s → %s", field, orNull(c.Old), orNull(c.New)))
		}
	}
	sort.Strings(diffs)
	return strings.Join(diffs, "; "), nil
}

// sameJSON reports whether a and b are the same JSON value, numbers by
// their exact value (10 and 10.0 alike, 2^53 and 2^53+1 not), times as
// instants.
func sameJSON(a, b []byte) bool {
	if len(a) == 0 {
		a = []byte("null")
	}
	x, errX := decodeNumbers(a)
	y, errY := decodeNumbers(b)
	if errX != nil || errY != nil {
		return string(a) == string(b)
	}
	return sameValue(x, y)
}

func decodeNumbers(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	err := dec.Decode(&v)
	return v, err
}

func sameValue(x, y any) bool {
	switch x := x.(type) {
	case json.Number:
		y, ok := y.(json.Number)
		if !ok {
			return false
		}
		rx, okX := new(big.Rat).SetString(x.String())
		ry, okY := new(big.Rat).SetString(y.String())
		return okX && okY && rx.Cmp(ry) == 0 || x == y
	case string:
		y, ok := y.(string)
		if !ok {
			return false
		}
		tx, errX := time.Parse(time.RFC3339Nano, x)
		ty, errY := time.Parse(time.RFC3339Nano, y)
		return x == y || errX == nil && errY == nil && tx.Equal(ty)
	case []any:
		y, ok := y.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameValue(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := y.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(x, y)
}

func orNull(raw json.RawMessage) string {
	if len(raw) == 0 {
		return "null"
	}
	return string(raw)
}

func encodeOne(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func encode(c Changes) string {
	b, err := json.Marshal(c)
	if err != nil {
		return fmt.Sprint(map[string][2]any(c))
	}
	return string(b)
}

// Clock is a clock a test sets and advances, for auditgorm.Config.Now. It
// is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock that reads start until it is set or advanced.
func NewClock(start time.Time) *Clock { return &Clock{now: start} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}
