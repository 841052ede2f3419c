package auditgorm_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type rkPlain struct {
	ID   uint
	Name string
	N    int
}

// An entry whose key text converts to an object's key without being how
// entries write it (" 15", "25e0": logged by auditgorm.Log) was reverted
// onto the row holding that key now, an object created after the one the
// entry's key was deleted: the look-up of what happened to the object
// since searched the entries under the odd text and found nothing. Such an
// entry names no object and is not reverted; its canonical twin is
// refused because the object was deleted.
func TestRevertOfAKeyNotWrittenAsEntriesWriteIt(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &rkPlain{})
		must(t, reg.Register(&rkPlain{}))
		ctx := context.Background()
		for i, text := range []string{"%d", " %d", "%de0", "%d "} {
			id := uint(5 + 10*i)
			key := fmt.Sprintf(text, id)
			must(t, db.Create(&rkPlain{ID: id, Name: "first", N: 1}).Error)
			must(t, db.Model(&rkPlain{ID: id}).Update("n", 2).Error)
			must(t, auditgorm.Log(ctx, db, auditgorm.Record{Action: auditlog.ActionUpdate, Model: "rk_plains", PK: key,
				Changes: auditlog.Changes{"n": {Old: []byte("1"), New: []byte("2")}}}))
			logged := lastEntry(t, db).ID
			must(t, db.Delete(&rkPlain{ID: id}).Error)
			must(t, db.Create(&rkPlain{ID: id, Name: "second", N: 2}).Error)
			err := auditgorm.Revert(ctx, db, logged, auditgorm.RevertOptions{Force: true})
			if !errors.Is(err, auditgorm.ErrCannotRevert) {
				t.Errorf("the revert of an entry naming %q: %v", key, err)
			}
			var row rkPlain
			must(t, db.First(&row, id).Error)
			if row.N != 2 || row.Name != "second" {
				t.Errorf("entry naming %q: the new object became %+v", key, row)
			}
		}
	})
}

// An update entry recording no change (auditgorm.Log's) was "reverted":
// Revert returned nil, wrote nothing and left no entry saying so. It is
// refused; RevertCorrelation passes over it as over an access entry.
func TestRevertOfAnUpdateRecordingNoChange(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &rkPlain{})
		must(t, reg.Register(&rkPlain{}))
		ctx := auditlog.WithCorrelationID(context.Background(), "job-1")
		p := rkPlain{Name: "a", N: 1}
		must(t, db.WithContext(ctx).Create(&p).Error)
		must(t, auditgorm.Log(ctx, db, auditgorm.Record{Action: auditlog.ActionUpdate, Object: &p}))
		empty := lastEntry(t, db)
		if len(empty.Changes) != 0 {
			t.Fatalf("the logged entry: %+v", empty)
		}
		if err := auditgorm.Revert(context.Background(), db, empty.ID, auditgorm.RevertOptions{}); !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Errorf("the revert of an update recording no change: %v", err)
		}
		if n := len(entries(t, db)); n != 2 {
			t.Errorf("%d entries after the refused revert", n)
		}
		must(t, auditgorm.RevertCorrelation(context.Background(), db, "job-1", auditgorm.RevertOptions{}))
		var n int64
		must(t, db.Model(&rkPlain{}).Count(&n).Error)
		if n != 0 {
			t.Errorf("the correlation's create was not undone: %d rows", n)
		}
	})
}

type rkUnique struct {
	ID    uint
	Email string `gorm:"uniqueIndex;size:64"`
}

// The revert of a delete whose row cannot go back (another row took its
// unique value since; on PostgreSQL also a concurrent revert of the same
// delete) failed with the database's duplicate-key error, which quotes the
// value. It is a conflict, as when a row holds its key.
func TestRevertOfADeleteWhoseUniqueValueIsTaken(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &rkUnique{})
		must(t, reg.Register(&rkUnique{}, auditlog.Mask("Email")))
		a := rkUnique{Email: "secret-address@example.com"}
		must(t, db.Create(&a).Error)
		must(t, db.Delete(&a).Error)
		deleted := lastEntry(t, db)
		must(t, db.Create(&rkUnique{Email: a.Email}).Error)
		err := auditgorm.Revert(context.Background(), db, deleted.ID, auditgorm.RevertOptions{Values: map[string]any{"Email": a.Email}})
		if !errors.Is(err, auditgorm.ErrConflict) {
			t.Errorf("the revert of a delete whose unique value is taken: %v", err)
		}
		if err != nil && strings.Contains(err.Error(), "secret-address") {
			t.Errorf("the error shows the masked value: %v", err)
		}
		err = auditgorm.Revert(context.Background(), db, deleted.ID, auditgorm.RevertOptions{Values: map[string]any{"Email": a.Email}, Force: true})
		if !errors.Is(err, auditgorm.ErrCannotRevert) {
			t.Errorf("forced: %v", err)
		}
	})
}
