package auditstore_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// entry builds an entry from a compact form: changes as "col=old>new"
// (JSON values), m2m changes as "rel:add=a,b".
func entry(id int64, a auditlog.Action, changes ...string) auditlog.Entry {
	e := auditlog.Entry{ID: id, Action: a, Timestamp: time.Unix(id, 0).UTC(), Changes: auditlog.Changes{}}
	for _, c := range changes {
		if rel, rest, ok := strings.Cut(c, ":"); ok && !strings.Contains(rel, "=") {
			op, keys, _ := strings.Cut(rest, "=")
			e.Changes[rel] = auditlog.Change{M2M: &auditlog.M2MChange{Operation: auditlog.M2MOperation(op), Objects: strings.Split(keys, ","), Keys: strings.Split(keys, ",")}}
			continue
		}
		col, vals, _ := strings.Cut(c, "=")
		old, new, _ := strings.Cut(vals, ">")
		e.Changes[col] = auditlog.Change{Old: json.RawMessage(old), New: json.RawMessage(new)}
	}
	return e
}

func show(st auditstore.ObjectState) string {
	if !st.Exists {
		return "none"
	}
	var b strings.Builder
	if st.Deleted {
		fmt.Fprintf(&b, "deleted(soft=%t) ", st.Soft)
	}
	for _, col := range []string{"id", "a", "b", "deleted_at", "tags"} {
		if v, ok := st.Values[col]; ok {
			fmt.Fprintf(&b, "%s=%s ", col, v)
		} else if rel, ok := st.Related[col]; ok {
			fmt.Fprintf(&b, "%s=%v ", col, rel)
		} else if why, ok := st.Unknown[col]; ok {
			fmt.Fprintf(&b, "%s?%s ", col, why)
		}
	}
	return strings.TrimSpace(b.String())
}

func TestRebuildState(t *testing.T) {
	t.Parallel()
	create := entry(1, auditlog.ActionCreate, "id=null>1", "a=null>\"x\"")
	rules := auditstore.StateRules{Columns: []string{"id", "a", "b", "deleted_at"}, Relations: []string{"tags"}, PK: "id"}
	for _, tc := range []struct {
		name    string
		entries []auditlog.Entry
		n       int
		rules   auditstore.StateRules
		want    string
	}{
		{"before the create", []auditlog.Entry{create}, 0, rules, "none"},
		{"create: unnamed values are null", []auditlog.Entry{create}, 1, rules, `id=1 a="x" b=null deleted_at=null tags=[]`},
		{"update and m2m", []auditlog.Entry{create, entry(2, auditlog.ActionUpdate, `b=null>2`), entry(3, auditlog.ActionUpdate, "tags:add=7,5"), entry(4, auditlog.ActionUpdate, "tags:remove=7")}, 4, rules,
			`id=1 a="x" b=2 deleted_at=null tags=[5]`},
		{"soft delete", []auditlog.Entry{create, entry(2, auditlog.ActionDelete, `deleted_at=null>"2026-01-01T00:00:00Z"`)}, 2, rules,
			`deleted(soft=true) id=1 a="x" b=null deleted_at="2026-01-01T00:00:00Z" tags=[]`},
		{"restored", []auditlog.Entry{create, entry(2, auditlog.ActionDelete, `deleted_at=null>"2026-01-01T00:00:00Z"`), entry(3, auditlog.ActionUpdate, `deleted_at="2026-01-01T00:00:00Z">null`)}, 3, rules,
			`id=1 a="x" b=null deleted_at=null tags=[]`},
		{"hard delete keeps the last values", []auditlog.Entry{create, entry(2, auditlog.ActionDelete, `id=1>null`, `a="x">null`)}, 2, rules,
			`deleted(soft=false) id=1 a="x" b=null deleted_at=null tags=[]`},
		{"re-created after a hard delete", []auditlog.Entry{create, entry(2, auditlog.ActionDelete, `id=1>null`, `a="x">null`), entry(3, auditlog.ActionCreate, "id=null>1", `b=null>3`)}, 3, rules,
			`id=1 a=null b=3 deleted_at=null tags=[]`},
		{"before auditing, filled from later old values", []auditlog.Entry{entry(2, auditlog.ActionUpdate, `a="p">"q"`), entry(3, auditlog.ActionUpdate, `b=4>5`)}, 1, rules,
			`id?before auditing a="q" b=4 deleted_at?before auditing tags?before auditing`},
		{"a clear makes a relation known", []auditlog.Entry{entry(2, auditlog.ActionUpdate, "tags:clear=3"), entry(3, auditlog.ActionUpdate, "tags:add=4")}, 2, rules,
			`id?before auditing a?before auditing b?before auditing deleted_at?before auditing tags=[4]`},
		{"key changed away", []auditlog.Entry{create, entry(2, auditlog.ActionUpdate, `id=1>9`)}, 2, rules, "none"},
		{"digest", []auditlog.Entry{create, entry(2, auditlog.ActionUpdate, `a="x">{"$digest":"sha256:`+strings.Repeat("ab", 32)+`","$bytes":2000000}`)}, 2, rules,
			`id=1 a?too large b=null deleted_at=null tags=[]`},
		{"rules: never known", []auditlog.Entry{create}, 1, auditstore.StateRules{Columns: []string{"id", "a", "b"}, Unknown: map[string]auditstore.Unknown{"b": auditstore.UnknownMasked}},
			`id=1 a="x" b?masked`},
		{"not a digest: a short value that looks like one", []auditlog.Entry{create, entry(2, auditlog.ActionUpdate, `a="x">{"$digest":"sha256:00","$bytes":2}`)}, 2, rules,
			`id=1 a={"$digest":"sha256:00","$bytes":2} b=null deleted_at=null tags=[]`},
		{"filled from later: a hard delete names the values that were not null", []auditlog.Entry{entry(2, auditlog.ActionUpdate, `a="p">"q"`), entry(3, auditlog.ActionDelete, `id=1>null`, `a="q">null`), entry(4, auditlog.ActionUpdate, `b=7>8`)}, 1, rules,
			`id=1 a="q" b=null deleted_at=null tags?before auditing`},
		{"no rules: the columns the entries name", []auditlog.Entry{create, entry(2, auditlog.ActionUpdate, `b=null>1`, "tags:add=2")}, 1, auditstore.StateRules{},
			`id=1 a="x" b=null tags=[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := auditstore.RebuildState("m", "1", tc.entries, tc.n, tc.rules)
			if got := show(st); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

// A key changed to text that is not UTF-8 (recorded as its bytes) moves
// the object to that text, as the row's key is.
func TestRebuildStateKeyMovedToBytes(t *testing.T) {
	t.Parallel()
	es := []auditlog.Entry{entry(1, auditlog.ActionCreate, `code=null>"a"`), entry(2, auditlog.ActionUpdate, `code="a">{"$base64":"Yv8="}`)}
	st := auditstore.RebuildState("m", "a", es, 2, auditstore.StateRules{Columns: []string{"code"}, PK: "code"})
	if st.Exists || st.MovedTo != "b\xff" || st.MovedBy != 2 {
		t.Fatalf("exists %v, moved to %q by %d", st.Exists, st.MovedTo, st.MovedBy)
	}
}

// Rules that name no key column (the command line's and the UI's without
// the application's models) follow key changes all the same: the key
// column is the one every create names as the entry's key. Object 5 moved
// to 7, then another object, moved to 5, had its price changed: the state
// of 5 mixed the first object's name with the second's price.
func TestRebuildStateInfersTheKeyColumn(t *testing.T) {
	t.Parallel()
	at5 := func(e auditlog.Entry) auditlog.Entry { e.ObjectPK = "5"; return e }
	es := []auditlog.Entry{
		at5(entry(1, auditlog.ActionCreate, "id=null>5", `a=null>"alice"`, "b=null>1")),
		at5(entry(2, auditlog.ActionUpdate, "id=5>7")),
		at5(entry(4, auditlog.ActionUpdate, "b=2>3")), // the other object, moved here by entry 3 (under its old key)
	}
	rules := auditstore.EntriesOnlyRules()
	if st := auditstore.RebuildState("m", "5", es, 2, rules); st.Exists || st.MovedTo != "7" || st.MovedBy != 2 {
		t.Fatalf("after the move: %s, moved to %q by %d", show(st), st.MovedTo, st.MovedBy)
	}
	if st := auditstore.RebuildState("m", "5", es, 3, rules); !st.Exists || st.Values["a"] != nil || string(st.Values["b"]) != "3" {
		t.Fatalf("the object now at 5: %s", show(st))
	}
	// A column that holds the key's value beside the key (b=5 here): the
	// key change tells which is the key.
	es[0] = at5(entry(1, auditlog.ActionCreate, "id=null>5", `a=null>"alice"`, "b=null>5"))
	if st := auditstore.RebuildState("m", "5", es, 2, rules); st.Exists || st.MovedTo != "7" {
		t.Fatalf("after the move, with b=5 beside the key: %s, moved to %q", show(st), st.MovedTo)
	}
}

// An update of a column that held the key's value (a quantity 3 of item
// 3, set to 4) was taken for a key change: the state after it said "the
// object has the key 4", and after the next entry every value was unknown.
// The entry after it under the key, finding the values it left, is the
// same object; and without a create to tell the key column, an update
// with nothing after it tells nothing either (item 7, from before
// auditing, its quantity set from 7 to 9).
func TestRebuildStateValueEqualToTheKeyIsNoKey(t *testing.T) {
	t.Parallel()
	at := func(pk string, e auditlog.Entry) auditlog.Entry { e.ObjectPK = pk; return e }
	es := []auditlog.Entry{
		at("3", entry(1, auditlog.ActionCreate, "id=null>3", `name=null>"bolts"`, "qty=null>3")),
		at("3", entry(2, auditlog.ActionUpdate, "qty=3>4")),
		at("3", entry(3, auditlog.ActionUpdate, `name="bolts">"big bolts"`)),
	}
	rules := auditstore.EntriesOnlyRules()
	if st := auditstore.RebuildState("items", "3", es[:2], 2, rules); !st.Exists || st.MovedTo != "" || string(st.Values["qty"]) != "4" {
		t.Errorf("the update the last entry: %s, moved to %q", show(st), st.MovedTo)
	}
	for n := 2; n <= 3; n++ {
		if st := auditstore.RebuildState("items", "3", es, n, rules); !st.Exists || st.MovedTo != "" || string(st.Values["qty"]) != "4" || string(st.Values["id"]) != "3" {
			t.Errorf("after entry %d: %s, moved to %q", n, show(st), st.MovedTo)
		}
	}
	if st := auditstore.RebuildState("items", "3", es[1:], 2, rules); !st.Exists || st.MovedTo != "" || string(st.Values["qty"]) != "4" {
		t.Errorf("without the create: %s, moved to %q", show(st), st.MovedTo)
	}
	seven := []auditlog.Entry{at("7", entry(4, auditlog.ActionUpdate, "qty=7>9"))}
	if st := auditstore.RebuildState("items", "7", seven, 1, rules); !st.Exists || st.MovedTo != "" || string(st.Values["qty"]) != "9" {
		t.Errorf("item 7: %s, moved to %q", show(st), st.MovedTo)
	}
}

// The first rule for the case above lost key changes it followed before:
// an id moved by the object's last entry, or by an object's only entry
// (created before auditing), was applied as a value (key 5 holding id 7),
// and the entries of the object that came to the key after it mixed with
// its own. A column named id is the key where a create names several with
// the key's value, and its change a key change with or without an entry
// after it.
func TestRebuildStateFollowsAnIDThatMoved(t *testing.T) {
	t.Parallel()
	at := func(pk string, e auditlog.Entry) auditlog.Entry { e.ObjectPK = pk; return e }
	rules := auditstore.EntriesOnlyRules()
	last := []auditlog.Entry{
		at("5", entry(1, auditlog.ActionCreate, "id=null>5", `a=null>"alice"`, "b=null>5")),
		at("5", entry(2, auditlog.ActionUpdate, "id=5>7")),
	}
	if st := auditstore.RebuildState("m", "5", last, 2, rules); st.Exists || st.MovedTo != "7" {
		t.Errorf("moved by the last entry: %s, moved to %q", show(st), st.MovedTo)
	}
	only := []auditlog.Entry{at("7", entry(4, auditlog.ActionUpdate, "id=7>8", `a="x">"y"`))}
	if st := auditstore.RebuildState("m", "7", only, 1, rules); st.Exists || st.MovedTo != "8" {
		t.Errorf("moved by its only entry: %s, moved to %q", show(st), st.MovedTo)
	}
	another := []auditlog.Entry{
		at("5", entry(2, auditlog.ActionUpdate, "id=5>7", `a="x">"y"`)),
		at("5", entry(4, auditlog.ActionUpdate, "b=2>3")),
	}
	if st := auditstore.RebuildState("m", "5", another, 2, rules); !st.Exists || st.Values["a"] != nil || string(st.Values["b"]) != "3" {
		t.Errorf("the object that came to the key: %s", show(st))
	}
}

// A soft delete that sets a flag and stamps a time beside it
// (gorm.io/plugin/soft_delete's flag mode with DeletedAtField), then a
// restore that clears the flag and writes Go's zero time: the state said
// the object was still deleted, the time counting as a mark.
func TestRebuildStateRestoredFromAFlagAndATime(t *testing.T) {
	t.Parallel()
	zero, at := `"0001-01-01T00:00:00Z"`, `"2026-03-01T10:00:00Z"`
	es := []auditlog.Entry{
		entry(1, auditlog.ActionCreate, "id=null>1", "is_del=null>0", "deleted_at=null>"+zero),
		entry(2, auditlog.ActionDelete, "is_del=0>1", "deleted_at="+zero+">"+at),
		entry(3, auditlog.ActionUpdate, "is_del=1>0", "deleted_at="+at+">"+zero),
	}
	flagOnly := append(es[:2:2], entry(3, auditlog.ActionUpdate, "is_del=1>0")) // Unscoped().Update("is_del", 0)
	for _, rules := range []auditstore.StateRules{auditstore.EntriesOnlyRules(), {Columns: []string{"id", "is_del", "deleted_at"}, PK: "id", SoftDelete: "is_del"}} {
		if st := auditstore.RebuildState("m", "1", es, 2, rules); !st.Deleted || !st.Soft {
			t.Errorf("after the delete (rules %+v): %s", rules, show(st))
		}
		for _, restored := range [][]auditlog.Entry{es, flagOnly} {
			if st := auditstore.RebuildState("m", "1", restored, 3, rules); !st.Exists || st.Deleted {
				t.Errorf("after the restore (rules %+v): %s", rules, show(st))
			}
		}
	}
}

// countingLister is a store that counts the entries its pages return.
type countingLister struct {
	s    *auditstore.Store
	read int
}

func (c *countingLister) List(ctx context.Context, f auditstore.Filter, p auditstore.Page) (auditstore.Result, error) {
	res, err := c.s.List(ctx, f, p)
	c.read += len(res.Entries)
	return res, err
}

// ObjectEntries' bound counts the access entries it reads and drops: an
// object read thousands of times (a record every support agent opens)
// made the bound, which counted what it kept, never stop the read.
func TestObjectEntriesBoundCountsWhatItReads(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		id := int64(1)
		at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
		es := []auditlog.Entry{{Timestamp: at, Action: auditlog.ActionCreate, Model: "books", ObjectPK: "1", ObjectID: &id, ObjectRepr: "Dune", Changes: auditlog.Changes{}}}
		for i := range 2500 {
			es = append(es, auditlog.Entry{Timestamp: at.Add(time.Duration(i+1) * time.Second), Action: auditlog.ActionAccess, Model: "books", ObjectPK: "1", ObjectID: &id, ObjectRepr: "Dune"})
		}
		if err := s.Insert(ctx, es); err != nil {
			t.Fatal(err)
		}
		l := &countingLister{s: s}
		if _, err := auditstore.ObjectEntries(ctx, l, auditstore.KeyRefs("books", "1"), "1", 100); !errors.Is(err, auditstore.ErrTooManyEntries) {
			t.Fatalf("ObjectEntries with a bound of 100: %v", err)
		}
		if l.read > auditstore.MaxPageSize {
			t.Errorf("ObjectEntries read %d entries before stopping at its bound of 100", l.read)
		}
		got, err := auditstore.ObjectEntries(ctx, s, auditstore.KeyRefs("books", "1"), "1", 0)
		if err != nil || len(got) != 1 || got[0].Action != auditlog.ActionCreate {
			t.Fatalf("ObjectEntries unbounded: %d entries, %v", len(got), err)
		}
	})
}

// ObjectEntries' bound counts bytes too: a few thousand entries of a
// document's body held hundreds of megabytes for one entry's page.
func TestObjectEntriesBoundCountsBytes(t *testing.T) {
	ctx := context.Background()
	s := largeDocEntries(t, 20)
	defer auditstore.SetObjectEntriesMaxBytes(30_000)()
	if _, err := auditstore.ObjectEntries(ctx, s, auditstore.KeyRefs("docs", "1"), "1", 100); !errors.Is(err, auditstore.ErrTooManyEntries) || !strings.Contains(err.Error(), "MiB") {
		t.Fatalf("40 kB of values past a bound of 30 kB: %v", err)
	}
	if got, err := auditstore.ObjectEntries(ctx, s, auditstore.KeyRefs("docs", "1"), "1", 0); err != nil || len(got) != 20 {
		t.Fatalf("unbounded: %d entries, %v", len(got), err)
	}
	auditstore.SetObjectEntriesMaxBytes(50_000)
	if got, err := auditstore.ObjectEntries(ctx, s, auditstore.KeyRefs("docs", "1"), "1", 100); err != nil || len(got) != 20 {
		t.Fatalf("within 50 kB: %d entries, %v", len(got), err)
	}
}

// A model keyed by a code with a legacy id beside it (code "5", id 5):
// the id taken for the key, an update of id to 6 read as a move to key 6,
// and the object's later entries under "5" lost its values. An id that
// changes while the code keeps the key's value and the entries go on
// under it is no key.
func TestRebuildStateIDBesideTheKey(t *testing.T) {
	t.Parallel()
	rules := auditstore.EntriesOnlyRules()
	es := []auditlog.Entry{
		entry(1, auditlog.ActionCreate, `code=null>"5"`, "id=null>5", `name=null>"a"`),
		entry(2, auditlog.ActionUpdate, "id=5>6"),
		entry(3, auditlog.ActionUpdate, `name="a">"b"`),
	}
	for i := range es {
		es[i].ObjectPK = "5"
	}
	for n := 2; n <= 3; n++ {
		st := auditstore.RebuildState("m", "5", es, n, rules)
		if !st.Exists || st.MovedTo != "" || string(st.Values["code"]) != `"5"` || string(st.Values["id"]) != "6" {
			t.Errorf("after entry %d: %s, moved to %q", n, show(st), st.MovedTo)
		}
	}
}

// A page of a thousand entries of large values held gigabytes (the admin
// UI's list at limit=1000, an export's page): a page ends early once its
// entries pass the bound, Next going on after the last, and every entry
// is still read once.
func TestListPageBoundedByBytes(t *testing.T) {
	ctx := context.Background()
	s := largeDocEntries(t, 20)
	defer auditstore.SetListMaxBytes(5_000)()
	seen := map[int64]bool{}
	p := auditstore.Page{Limit: 100}
	pages := 0
	for {
		res, err := s.List(ctx, auditstore.Filter{}, p)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(res.Entries) > 3 {
			t.Fatalf("a page of %d entries of 2 kB past a bound of 5 kB", len(res.Entries))
		}
		for _, e := range res.Entries {
			if seen[e.ID] {
				t.Fatalf("entry %d twice", e.ID)
			}
			seen[e.ID] = true
		}
		if res.Next == "" {
			break
		}
		p.Cursor = res.Next
	}
	if len(seen) != 20 || pages < 7 {
		t.Errorf("%d entries in %d pages", len(seen), pages)
	}
}

// largeDocEntries returns a store on SQLite holding n updates of one
// document whose old and new bodies are 1,000 characters each.
func largeDocEntries(t *testing.T, n int) *auditstore.Store {
	t.Helper()
	s := storeOf(t, testdb.Open(t, "sqlite"))
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	body := []byte(`"` + strings.Repeat("x", 1000) + `"`)
	var es []auditlog.Entry
	for i := range n {
		es = append(es, auditlog.Entry{Timestamp: at.Add(time.Duration(i) * time.Second), Action: auditlog.ActionUpdate, Model: "docs", ObjectPK: "1", ObjectRepr: "Doc",
			Changes: auditlog.Changes{"body": {Old: body, New: body}}})
	}
	if err := s.Insert(context.Background(), es); err != nil {
		t.Fatal(err)
	}
	return s
}

// A page cut by its size at the last entry there is sets no Next: the
// next page would be empty, and the UI's link to older entries lead to
// none.
func TestListPageCutAtTheLastEntry(t *testing.T) {
	ctx := context.Background()
	s := largeDocEntries(t, 3)
	defer auditstore.SetListMaxBytes(5_000)()
	res, err := s.List(ctx, auditstore.Filter{}, auditstore.Page{Limit: 100})
	if err != nil || len(res.Entries) != 3 || res.Next != "" {
		t.Fatalf("%d entries, next %q, %v", len(res.Entries), res.Next, err)
	}
}
