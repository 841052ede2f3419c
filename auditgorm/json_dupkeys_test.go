package auditgorm_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/internal/value"

	"github.com/go-auditlog/auditlog/internal/testdb"
)

// DupDoc's document is a JSON column: jsonb on PostgreSQL, which keeps the
// last of a repeated key, and text checked as JSON on SQLite and MariaDB,
// which store it as given and read the first.
type DupDoc struct {
	ID  uint
	Doc JSONDoc
}

// A document that repeats a key is not the document without the repeat
// where the database keeps both: SQLite's json_extract(doc, '$.a') reads 1
// from {"a":1,"a":2}, and 2 from {"a":2}. Go's decoder keeps the last, so
// both read as {"a":2}: the update between them made no entry, and the
// create recorded a value the table does not hold.
func TestJSONDocumentsThatRepeatAKey(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &DupDoc{})
		must(t, reg.Register(&DupDoc{}))
		d := DupDoc{Doc: JSONDoc(`{"a":1,"a":2}`)}
		must(t, db.Create(&d).Error)
		must(t, db.Model(&d).Update("doc", JSONDoc(`{"a":2}`)).Error)
		var stored string
		must(t, db.Raw("SELECT doc FROM dup_docs WHERE id = ?", d.ID).Row().Scan(&stored))
		es := entries(t, db)
		if db.Dialector.Name() == "postgres" {
			// jsonb kept {"a": 2}: the update changed nothing.
			if len(es) != 1 || strings.ReplaceAll(string(es[0].Changes["doc"].New), " ", "") != `{"a":2}` {
				t.Fatalf("%d entries, the create recorded %s", len(es), es[0].Changes["doc"].New)
			}
			return
		}
		if len(es) != 2 {
			t.Fatalf("%d entries, want the create and the update", len(es))
		}
		// The repeated key's text is recorded as the text stored.
		if c := es[1].Changes["doc"]; string(c.Old) != `{"$json":"{\"a\":1,\"a\":2}"}` || string(c.New) != `{"a":2}` || stored != `{"a":2}` {
			t.Fatalf("update recorded as %s → %s; the table holds %s", c.Old, c.New, stored)
		}
		if c := es[0].Changes["doc"]; string(c.New) != `{"$json":"{\"a\":1,\"a\":2}"}` {
			t.Fatalf("create recorded as %s", c.New)
		}
		// A revert writes it back as it was.
		must(t, auditgorm.Revert(context.Background(), db, es[1].ID, auditgorm.RevertOptions{}))
		must(t, db.Raw("SELECT doc FROM dup_docs WHERE id = ?", d.ID).Row().Scan(&stored))
		if stored != `{"a":1,"a":2}` {
			t.Fatalf("reverted to %s", stored)
		}
		if es = entries(t, db); len(es) != 3 || string(es[2].Changes["doc"].New) != `{"$json":"{\"a\":1,\"a\":2}"}` {
			t.Fatalf("the revert's entry: %+v", es[len(es)-1].Changes)
		}
	})
}

// Every write path records the text of a document that repeats a key as
// stored: batches, bulk updates, upserts and deletes read rows in other
// ways than a single update does. After each statement, replaying the
// entries gives the table's texts.
func TestJSONDocumentsThatRepeatAKeyInBatches(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &DupDoc{})
		must(t, reg.Register(&DupDoc{}))
		// The text a recorded value stands for, spaces aside (jsonb's).
		text := func(raw json.RawMessage) string {
			if s, ok := value.DocumentText(raw); ok {
				return s
			}
			return strings.ReplaceAll(string(raw), " ", "")
		}
		check := func(step string) {
			t.Helper()
			replayed := map[string]string{}
			for _, e := range entries(t, db) {
				if e.Action == auditlog.ActionDelete {
					delete(replayed, e.ObjectPK)
				} else if c, ok := e.Changes["doc"]; ok {
					replayed[e.ObjectPK] = text(c.New)
				}
			}
			var rows []struct {
				ID  uint
				Doc string
			}
			must(t, db.Raw("SELECT id, doc FROM dup_docs").Scan(&rows).Error)
			table := map[string]string{}
			for _, r := range rows {
				table[fmt.Sprint(r.ID)] = strings.ReplaceAll(r.Doc, " ", "")
			}
			if !maps.Equal(replayed, table) {
				t.Fatalf("after %s the entries give %v, the table holds %v", step, replayed, table)
			}
		}
		dup, dup2 := `{"a":{"b":1,"b":2}}`, `[{"c":1},{"c":1,"c":2}]`
		must(t, db.Create(&[]DupDoc{{Doc: JSONDoc(dup)}, {Doc: JSONDoc(`{"a":{"b":2}}`)}, {Doc: JSONDoc(dup)}}).Error)
		check("the batch create")
		must(t, db.Model(&DupDoc{}).Where("id IN ?", []uint{1, 2}).Update("doc", JSONDoc(dup2)).Error)
		check("the bulk update")
		must(t, db.Model(&DupDoc{}).Where("id IN ?", []uint{1, 2}).Update("doc", JSONDoc(`[{"c":1},{"c":2}]`)).Error)
		check("the second bulk update")
		must(t, db.Clauses(clause.OnConflict{UpdateAll: true}).Create(&DupDoc{ID: 3, Doc: JSONDoc(`{"a":{"b":2}}`)}).Error)
		check("the upsert")
		must(t, db.Where("id IN ?", []uint{1, 2, 3}).Delete(&DupDoc{}).Error)
		check("the delete")
		n := 0
		for _, e := range entries(t, db) {
			if e.Action == auditlog.ActionDelete {
				n++
			}
		}
		if n != 3 {
			t.Fatalf("%d delete entries", n)
		}
	})
}

// A JSON string with a lone surrogate escape ("\ud800") is stored as
// written by SQLite, whose json_extract reads its bytes (ED A0 80); Go's
// decoder reads U+FFFD, so the create recorded a value the table did not
// hold and an update to "\ufffd" (EF BF BD) made no entry. Such text is
// recorded as text, and a revert writes it back. PostgreSQL and MariaDB
// refuse the document.
func TestJSONDocumentsWithALoneSurrogate(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &DupDoc{})
	must(t, reg.Register(&DupDoc{}))
	d := DupDoc{Doc: JSONDoc(`{"a":"\ud800"}`)}
	must(t, db.Create(&d).Error)
	must(t, db.Model(&d).Update("doc", JSONDoc(`{"a":"\ufffd"}`)).Error)
	must(t, db.Model(&d).Update("doc", JSONDoc(`{"a":"\udc00\ud800"}`)).Error)
	es := entries(t, db)
	if len(es) != 3 {
		t.Fatalf("%d entries, want the create and two updates", len(es))
	}
	if c := es[0].Changes["doc"]; string(c.New) != `{"$json":"{\"a\":\"\\ud800\"}"}` {
		t.Fatalf("the create recorded %s", c.New)
	}
	must(t, auditgorm.Revert(context.Background(), db, es[2].ID, auditgorm.RevertOptions{}))
	must(t, auditgorm.Revert(context.Background(), db, es[1].ID, auditgorm.RevertOptions{}))
	var stored string
	must(t, db.Raw("SELECT doc FROM dup_docs WHERE id = ?", d.ID).Row().Scan(&stored))
	if stored != `{"a":"\ud800"}` {
		t.Fatalf("reverted to %s", stored)
	}
}

type AcJDoc struct {
	ID  uint
	Doc JSONDoc
}

// 7. A JSON column holding a JSON *string* whose text repeats a key:
// revert (and AsOf) now prefer the unwrapped text and write the object.
func TestJSONStringDocumentOfARepeatedKeyReverts(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AcJDoc{})
		must(t, reg.Register(&AcJDoc{}))
		d := AcJDoc{Doc: JSONDoc(`"{\"a\":1,\"a\":2}"`)} // a JSON string document
		must(t, db.Create(&d).Error)
		must(t, db.Model(&d).Update("doc", JSONDoc(`{"b":1}`)).Error)
		es := entries(t, db)
		must(t, auditgorm.Revert(context.Background(), db, es[len(es)-1].ID, auditgorm.RevertOptions{}))
		var stored string
		must(t, db.Raw("SELECT doc FROM ac_j_docs WHERE id = ?", d.ID).Row().Scan(&stored))
		if stored != `"{\"a\":1,\"a\":2}"` {
			t.Fatalf("revert wrote %s; the column held the JSON string \"{\\\"a\\\":1,\\\"a\\\":2}\"", stored)
		}
	})
}

// 8. (pre-existing in jsonValue) trailing ']' or '}' after a document is
// accepted: SQLite's json column holds {"a":1}} and it is recorded as {"a":1}.
func TestJSONTextWithATrailingBracket(t *testing.T) {
	db := testdb.Open(t, "sqlite")
	reg := setup(t, db, &AcJDoc{})
	must(t, reg.Register(&AcJDoc{}))
	d := AcJDoc{Doc: JSONDoc(`{"a":1}}`)}
	must(t, db.Create(&d).Error)
	must(t, db.Model(&d).Update("doc", JSONDoc(`{"a":1}`)).Error)
	es := entries(t, db)
	if got := string(es[0].Changes["doc"].New); len(es) != 2 {
		t.Fatalf("%d entries; the create recorded %s, the table held {\"a\":1}}, and the update to {\"a\":1} made none", len(es), got)
	}
}

// A document whose keys are those of the tags entries use ({"$json": …},
// {"$base64": …}, a digest's, {"$doc": …}) is recorded as {"$doc":
// document}, apart from the tag: before, {"$json": "<a repeated key>"}
// was reverted to the text it seemed to tag, and a document shaped like a
// digest read as a value too large to revert. AsOf and revert give the
// document back, on every database.
func TestDocumentsShapedLikeTags(t *testing.T) {
	docs := []string{
		`{"$json":"{\"a\":1,\"a\":2}"}`, `{"$base64":"/w=="}`, `{"$doc":{"$json":"x"}}`,
		`{"$bytes":2000000,"$digest":"sha256:` + strings.Repeat("ab", 32) + `"}`,
	}
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AcJDoc{})
		must(t, reg.Register(&AcJDoc{}))
		for _, doc := range docs {
			d := AcJDoc{Doc: JSONDoc(doc)}
			must(t, db.Create(&d).Error)
			must(t, db.Model(&d).Update("doc", JSONDoc(`{"b":1}`)).Error)
			es := entries(t, db)
			created, updated := es[len(es)-2], es[len(es)-1]
			if got := strings.ReplaceAll(string(updated.Changes["doc"].Old), " ", ""); got != `{"$doc":`+doc+`}` {
				t.Fatalf("%s recorded as %s", doc, got)
			}
			docRoundTrips(t, db, d.ID, doc, created, updated)
		}
		// Keys that differ from a tag's in case are no tag's, and read as
		// themselves too (the digest's reader once took "$Bytes").
		for _, doc := range []string{
			`{"$Bytes":2000000,"$digest":"sha256:` + strings.Repeat("ab", 32) + `"}`, `{"$BASE64":"/w=="}`, `{"$JSON":"{\"a\":1,\"a\":2}"}`,
		} {
			d := AcJDoc{Doc: JSONDoc(doc)}
			must(t, db.Create(&d).Error)
			must(t, db.Model(&d).Update("doc", JSONDoc(`{"b":1}`)).Error)
			es := entries(t, db)
			docRoundTrips(t, db, d.ID, doc, es[len(es)-2], es[len(es)-1])
		}
	})
}

// docRoundTrips checks that AsOf the create gives doc, and that reverting
// the update writes it back.
func docRoundTrips(t *testing.T, db *gorm.DB, id uint, doc string, created, updated auditlog.Entry) {
	t.Helper()
	then := AcJDoc{ID: id}
	if _, err := auditgorm.AsOfEntry(context.Background(), db, &then, created.ID); err != nil || !sameJSON(string(then.Doc), doc) {
		t.Fatalf("AsOf the create: %s (%v), want %s", then.Doc, err, doc)
	}
	must(t, auditgorm.Revert(context.Background(), db, updated.ID, auditgorm.RevertOptions{}))
	var stored string
	must(t, db.Raw("SELECT doc FROM ac_j_docs WHERE id = ?", id).Row().Scan(&stored))
	if !sameJSON(stored, doc) {
		t.Fatalf("reverted to %s, want %s", stored, doc)
	}
}

// Entries written before tag-shaped documents were escaped hold the
// document itself ({"$json": "abc"}, which is no tag: "abc" is one
// document). They read as before: AsOf gives the document, and a revert
// finds the column unchanged and writes it back.
func TestTagShapedDocumentsInOlderEntries(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &AcJDoc{})
		must(t, reg.Register(&AcJDoc{}))
		for _, doc := range []string{`{"$json":"abc"}`, `{"$bytes":1}`, `{"$base64":"YQ=="}`, `{"$bytes":2,"$json":[1]}`} {
			d := AcJDoc{Doc: JSONDoc(doc)}
			must(t, db.Create(&d).Error)
			must(t, db.Model(&d).Update("doc", JSONDoc(`{"b":1}`)).Error)
			must(t, db.Model(&d).Update("doc", JSONDoc(doc)).Error)
			es := entries(t, db)
			es = es[len(es)-3:]
			// Each entry as it was written before: the document unescaped.
			for _, e := range es {
				c := e.Changes["doc"]
				for _, v := range []*json.RawMessage{&c.Old, &c.New} {
					if inner, ok := value.EscapedDocument(*v); ok {
						*v = inner
					}
				}
				old, err := json.Marshal(auditlog.Changes{"doc": c})
				must(t, err)
				must(t, db.Exec("UPDATE "+auditstore.Table+" SET changes = ? WHERE id = ?", string(old), e.ID).Error)
			}
			then := AcJDoc{ID: d.ID}
			if _, err := auditgorm.AsOfEntry(context.Background(), db, &then, es[0].ID); err != nil || !sameJSON(string(then.Doc), doc) {
				t.Fatalf("AsOf the create: %s (%v), want %s", then.Doc, err, doc)
			}
			// The last entry names the document the column holds: no
			// conflict. The one before writes it back.
			must(t, auditgorm.Revert(context.Background(), db, es[2].ID, auditgorm.RevertOptions{}))
			must(t, auditgorm.Revert(context.Background(), db, es[1].ID, auditgorm.RevertOptions{}))
			var stored string
			must(t, db.Raw("SELECT doc FROM ac_j_docs WHERE id = ?", d.ID).Row().Scan(&stored))
			if !sameJSON(stored, doc) {
				t.Fatalf("reverted to %s, want %s", stored, doc)
			}
		}
	})
}

// sameJSON reports whether a and b decode to the same value.
func sameJSON(a, b string) bool {
	var x, y any
	return json.Unmarshal([]byte(a), &x) == nil && json.Unmarshal([]byte(b), &y) == nil && reflect.DeepEqual(x, y)
}
