package auditgorm_test

import (
	"context"
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

// ttRaw has a json.RawMessage field in GORM's default column for it (a
// byte slice's: bytea, blob, longblob), and byte slices in a text column.
type ttRaw struct {
	ID  uint
	Doc json.RawMessage
	Tok []byte `gorm:"type:text"`
	N   int
}

// Time travel gave back a json.RawMessage field as the JSON string of its
// recorded base64 ("eyJhIjoxfQ==" with its quotes, for {"a":1}), and on
// PostgreSQL, where a text column returns text, a byte slice's text
// decoded as base64 ("QUJD" as "ABC"); Revert and Restore wrote them.
// Each comes back as the table held it.
func TestTimeTravelOfBytes(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &ttRaw{})
		must(t, reg.Register(&ttRaw{}))
		ctx := context.Background()
		o := ttRaw{Doc: json.RawMessage(`{"a":1}`), Tok: []byte("QUJD"), N: 1}
		must(t, db.Create(&o).Error)
		var first ttRaw
		must(t, db.First(&first, o.ID).Error)
		time.Sleep(2 * time.Millisecond)
		mid := time.Now()
		time.Sleep(2 * time.Millisecond)
		must(t, db.Model(&o).Updates(map[string]any{"doc": json.RawMessage(`{"a":2}`), "tok": []byte("test"), "n": 2}).Error)

		st := ttRaw{ID: o.ID}
		state, err := auditgorm.AsOf(ctx, db, &st, mid)
		must(t, err)
		if string(st.Doc) != string(first.Doc) || string(st.Tok) != string(first.Tok) || len(state.Unknown) != 0 {
			t.Errorf("as of the create: doc %s tok %q (unknown %v); the table held doc %s tok %q", st.Doc, st.Tok, state.Unknown, first.Doc, first.Tok)
		}
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		var back ttRaw
		must(t, db.First(&back, o.ID).Error)
		if string(back.Doc) != string(first.Doc) || string(back.Tok) != string(first.Tok) || back.N != 1 {
			t.Errorf("after the revert: doc %s tok %q; before the update: doc %s tok %q", back.Doc, back.Tok, first.Doc, first.Tok)
		}

		must(t, db.Delete(&back).Error)
		must(t, auditgorm.Restore(ctx, db, &ttRaw{ID: o.ID}, auditgorm.RevertOptions{}))
		var restored ttRaw
		must(t, db.First(&restored, o.ID).Error)
		if string(restored.Doc) != string(first.Doc) || string(restored.Tok) != string(first.Tok) {
			t.Errorf("restored: doc %s tok %q; deleted: doc %s tok %q", restored.Doc, restored.Tok, first.Doc, first.Tok)
		}
	})
}

// ttCelsius is stored as its text, "21.5C".
type ttCelsius float64

func (c ttCelsius) Value() (driver.Value, error) { return fmt.Sprintf("%gC", float64(c)), nil }

func (c *ttCelsius) Scan(v any) error {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case []byte:
		s = string(x)
	default:
		return fmt.Errorf("ttCelsius: cannot scan %T", v)
	}
	f, err := strconv.ParseFloat(strings.TrimSuffix(s, "C"), 64)
	*c = ttCelsius(f)
	return err
}

func (ttCelsius) GormDataType() string { return "varchar(32)" }

type ttScanned struct {
	ID   uint
	Temp ttCelsius
	Ptr  *ttCelsius
	At   int64 `gorm:"serializer:unixtime;type:timestamp"`
	N    int
}

// A number type that reads itself from the column (a sql.Scanner over
// "21.5C"), and an int64 stored through GORM's unixtime serializer, were
// "unreadable" to time travel and refused by Revert: GORM's setter parses
// a number kind's text itself. They come back as the table held them.
func TestTimeTravelOfScannedAndSerializedNumbers(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &ttScanned{})
		must(t, reg.Register(&ttScanned{}))
		ctx := context.Background()
		warm := ttCelsius(21.5)
		o := ttScanned{Temp: 21.5, Ptr: &warm, At: 1767225600, N: 1}
		must(t, db.Create(&o).Error)
		cold := ttCelsius(-3)
		must(t, db.Model(&o).Updates(map[string]any{"temp": ttCelsius(-3), "ptr": &cold, "at": time.Unix(1767312000, 0).UTC(), "n": 2}).Error)
		must(t, auditgorm.Revert(ctx, db, lastEntry(t, db).ID, auditgorm.RevertOptions{}))
		var back ttScanned
		must(t, db.First(&back, o.ID).Error)
		if back.Temp != 21.5 || back.Ptr == nil || *back.Ptr != 21.5 || back.At != 1767225600 || back.N != 1 {
			t.Errorf("after the revert: %+v (ptr %v)", back, back.Ptr)
		}
	})
}
