package auditstore_test

import (
	"bytes"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// A stored entry that does not decode (a column changed by hand, a damaged
// row) is read with Unreadable saying which column and why, the column's
// field left zero, and the entries around it read as stored: one damaged
// row does not blind every reader of the log. Rebuilding the state of its
// object refuses, naming it.
func TestUnreadableEntries(t *testing.T) {
	type damage struct {
		name   string
		only   string // a dialect whose column types allow it; "" for all
		set    string // the SET clause applied to the entry
		column string // the column Unreadable names
		zero   func(e auditlog.Entry) bool
	}
	damages := []damage{
		{"changes of the wrong shape", "", `changes = '{"title":5}'`, "changes", func(e auditlog.Entry) bool { return e.Changes == nil }},
		{"changes that are a list", "", `changes = '[1,2]'`, "changes", func(e auditlog.Entry) bool { return e.Changes == nil }},
		{"unknown action", "", `action = 9`, "action", func(e auditlog.Entry) bool { return e.Action == 0 && e.UnreadableColumn("action") }},
		{"object_id naming another row", "", `object_id = 2`, "object_id", func(e auditlog.Entry) bool { return e.ObjectID == nil }},
		{"port out of range", "", `remote_port = 70000`, "remote_port", func(e auditlog.Entry) bool { return e.RemotePort == 0 }},
		{"changes not JSON", "sqlite", `changes = 'not json'`, "changes", func(e auditlog.Entry) bool { return e.Changes == nil }},
		{"timestamp not a time", "sqlite", `timestamp = 'garbage'`, "timestamp", func(e auditlog.Entry) bool { return e.Timestamp.IsZero() }},
		{"object_id not a number", "sqlite", `object_id = 'abc'`, "object_id", func(e auditlog.Entry) bool { return e.ObjectID == nil }},
		{"port not a number", "sqlite", `remote_port = 'port'`, "remote_port", func(e auditlog.Entry) bool { return e.RemotePort == 0 }},
		{"action not a number", "sqlite", `action = 'x'`, "action", func(e auditlog.Entry) bool { return e.Action == 0 }},
		{"serialized data not JSON", "sqlite", `serialized_data = '{bad'`, "serialized_data", func(e auditlog.Entry) bool { return e.SerializedData == nil }},
		{"additional data not JSON", "sqlite", `additional_data = 'x'`, "additional_data", func(e auditlog.Entry) bool { return e.AdditionalData == nil }},
		{"zero date", "mysql", `timestamp = '0000-00-00 00:00:00'`, "timestamp", func(e auditlog.Entry) bool { return e.Timestamp.IsZero() }},
	}
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		ctx := context.Background()
		s := storeOf(t, db)
		sqlDB, _ := db.DB()
		for i, d := range damages {
			if d.only != "" && d.only != db.Dialector.Name() {
				continue
			}
			model := fmt.Sprintf("m%d", i)
			one := int64(1)
			var es []auditlog.Entry
			for k := range 3 {
				ch, _ := auditlog.NewChange(k, k+1)
				es = append(es, auditlog.Entry{Action: auditlog.ActionUpdate, Model: model, ObjectPK: "1", ObjectID: &one, ObjectRepr: "r",
					Changes: auditlog.Changes{"n": ch}, SerializedData: []byte(`{"n":1}`), AdditionalData: []byte(`{"k":"v"}`),
					ActorID: "7", RemoteAddr: "192.0.2.1", RemotePort: 443, CorrelationID: "c"})
			}
			if err := s.Insert(ctx, es); err != nil {
				t.Fatal(err)
			}
			var ids []int64
			if err := db.Raw("SELECT id FROM auditlog_entries WHERE model = ? ORDER BY id", model).Scan(&ids).Error; err != nil || len(ids) != 3 {
				t.Fatalf("ids %v, %v", ids, err)
			}
			bad := ids[1]
			conn, err := sqlDB.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if db.Dialector.Name() == "mysql" { // no strict mode: a zero date goes in
				if _, err := conn.ExecContext(ctx, "SET SESSION sql_mode = ''"); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := conn.ExecContext(ctx, "UPDATE auditlog_entries SET "+d.set+" WHERE id = "+fmt.Sprint(bad)); err != nil {
				t.Fatalf("%s: %v", d.name, err)
			}
			conn.Raw(func(any) error { return driver.ErrBadConn }) // its session's mode goes with it
			conn.Close()
			check := func(how string, e auditlog.Entry) {
				t.Helper()
				if e.ID != bad {
					if e.Unreadable != "" {
						t.Errorf("%s: %s: entry %d is readable, read as %q", d.name, how, e.ID, e.Unreadable)
					}
					return
				}
				if !strings.Contains(e.Unreadable, d.column) {
					t.Errorf("%s: %s: Unreadable = %q, want it to name %s", d.name, how, e.Unreadable, d.column)
				}
				if !d.zero(e) {
					t.Errorf("%s: %s: the unreadable column's field was not left zero: %+v", d.name, how, e)
				}
				if e.Model != model || e.ObjectPK != "1" || e.ObjectRepr != "r" || e.ActorID != "7" || e.CorrelationID != "c" {
					t.Errorf("%s: %s: the readable columns were not read: %+v", d.name, how, e)
				}
			}
			// The lists that select by model (List) and by id (EntriesIn,
			// the relay's) and Get.
			res, err := s.List(ctx, auditstore.Filter{Model: model}, auditstore.Page{})
			if err != nil {
				t.Fatalf("%s: List: %v", d.name, err)
			}
			if len(res.Entries) != 3 {
				t.Fatalf("%s: List read %d entries, want 3", d.name, len(res.Entries))
			}
			for _, e := range res.Entries {
				check("List", e)
			}
			in, err := auditstore.EntriesIn(ctx, sqlDB, s.Dialect(), []auditstore.IDRange{{From: ids[0], To: ids[2]}}, 0)
			if err != nil || len(in) != 3 {
				t.Fatalf("%s: EntriesIn: %d entries, %v", d.name, len(in), err)
			}
			for _, e := range in {
				check("EntriesIn", e)
			}
			got, err := s.Get(ctx, bad)
			if err != nil {
				t.Fatalf("%s: Get: %v", d.name, err)
			}
			check("Get", got)
			n := 0
			if err := s.Each(ctx, auditstore.Filter{Model: model}, func(e auditlog.Entry) error { check("Each", e); n++; return nil }); err != nil || n != 3 {
				t.Fatalf("%s: Each: %d entries, %v", d.name, n, err)
			}

			// The export marks it.
			var buf bytes.Buffer
			w, _ := auditstore.NewExportWriter(&buf, "jsonl")
			if err := w.Write(got); err != nil {
				t.Fatalf("%s: export: %v", d.name, err)
			}
			if !strings.Contains(buf.String(), `"unreadable":`) {
				t.Errorf("%s: the export does not mark the entry: %s", d.name, buf.String())
			}

			// Its object's state cannot be rebuilt.
			// (An object_id of 2 puts the entry among object 2's.)
			key := "1"
			if d.set == "object_id = 2" {
				key = "2"
			}
			if d.set != "object_id = 'abc'" {
				_, err = auditstore.ObjectEntries(ctx, s, auditstore.KeyRefs(model, key), key, 0)
				if !errors.Is(err, auditstore.ErrUnreadable) || !strings.Contains(err.Error(), fmt.Sprint(bad)) {
					t.Errorf("%s: ObjectEntries: %v, want ErrUnreadable naming entry %d", d.name, err, bad)
				}
			}
		}
	})
}

// Pages go on past an entry whose time does not decode, which still has its
// place in the order (SQLite keeps text as it is given): paging by one, and
// a text search's window that ends at it, read every entry once.
func TestPagingPastUnreadableTimes(t *testing.T) {
	t.Parallel()
	db := testdb.Open(t, "sqlite")
	s := storeOf(t, db)
	ctx := context.Background()
	var es []auditlog.Entry
	for i := range 6 {
		es = append(es, auditlog.Entry{Action: auditlog.ActionCreate, Model: "m", ObjectPK: fmt.Sprint(i), ObjectRepr: "thing"})
	}
	if err := s.Insert(ctx, es); err != nil {
		t.Fatal(err)
	}
	sqlDB, _ := db.DB()
	// 'yesterday' sorts after every time, '' before them.
	if _, err := sqlDB.ExecContext(ctx, `UPDATE auditlog_entries SET timestamp = CASE id WHEN 2 THEN 'yesterday' WHEN 3 THEN 'yesterday' WHEN 5 THEN '' END WHERE id IN (2, 3, 5)`); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		f    auditstore.Filter
		p    auditstore.Page
	}{
		{"by one", auditstore.Filter{}, auditstore.Page{Limit: 1}},
		{"by two", auditstore.Filter{Model: "m"}, auditstore.Page{Limit: 2}},
		{"search window of one", auditstore.Filter{Search: "thing"}, auditstore.Page{Limit: 3, SearchWindow: 1}},
	} {
		var got []int64
		p := c.p
		for range 20 {
			res, err := s.List(ctx, c.f, p)
			if err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			for _, e := range res.Entries {
				got = append(got, e.ID)
			}
			if res.Next == "" {
				break
			}
			if err := auditstore.CheckCursor(res.Next); err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			p.Cursor = res.Next
		}
		if want := []int64{3, 2, 6, 4, 1, 5}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: read %v, want %v", c.name, got, want)
		}
	}
	counts, _, err := s.CountModels(ctx, auditstore.Filter{}, 10)
	if err != nil || len(counts) != 1 || counts[0].Entries != 6 || !counts[0].Latest.IsZero() {
		t.Errorf("CountModels: %+v, %v", counts, err)
	}
}
