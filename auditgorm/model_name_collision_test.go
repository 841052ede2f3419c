package auditgorm_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type mnCat struct {
	ID   uint
	Name string
}

type mnDog struct {
	ID   uint
	Name string
}

// mnDogView is another model of mnDog's table.
type mnDogView struct {
	ID   uint
	Name string
}

func (mnDogView) TableName() string { return "mn_dogs" }

// mnDogView2 is a third model of mnDog's table.
type mnDogView2 struct {
	ID uint
}

func (mnDogView2) TableName() string { return "mn_dogs" }

// mnDogByName is a model of mnDog's table keyed by another column.
type mnDogByName struct {
	Name string `gorm:"primaryKey"`
	ID   uint
}

func (mnDogByName) TableName() string { return "mn_dogs" }

// Two models whose entries carry one name share a history: a cat's
// history held a dog's entries, and a revert of the dog's change wrote the
// cat's row (the model found by that name was the first registered in
// alphabetical order). A name another model's entries carry is refused:
// by Register where both name it, by the first write where one is the
// other's table.
func TestModelNameOfAnotherModel(t *testing.T) {
	t.Run("both named", func(t *testing.T) {
		t.Parallel()
		reg := auditlog.NewRegistry()
		must(t, reg.Register(&mnCat{}, auditlog.ModelName("pets")))
		err := reg.Register(&mnDog{}, auditlog.ModelName("pets"))
		if !errors.Is(err, auditlog.ErrRegistration) || !strings.Contains(err.Error(), "mnCat") {
			t.Fatalf("a second model named pets: %v", err)
		}
		// The same model again, and another name, are fine.
		must(t, reg.Register(&mnCat{}, auditlog.ModelName("pets")))
		must(t, reg.Register(&mnDog{}, auditlog.ModelName("dogs")))
		must(t, reg.Reregister(&mnCat{}, auditlog.ModelName("cats")))
		must(t, reg.Reregister(&mnDog{}, auditlog.ModelName("pets")))
		// Two models of one table may share a name.
		must(t, reg.Register(&mnDogView{}, auditlog.ModelName("pets2")))
		must(t, reg.Register(&mnDogView2{}, auditlog.ModelName("pets2")))
		// Keyed by other columns, its entries would name other objects
		// by the same keys.
		if err := reg.Register(&mnDogByName{}, auditlog.ModelName("pets2")); !errors.Is(err, auditlog.ErrRegistration) {
			t.Errorf("a model of the table keyed otherwise named pets2: %v", err)
		}
	})
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &mnCat{}, &mnDog{})
		// The cat's entries would carry the dogs' table's name.
		must(t, reg.Register(&mnCat{}, auditlog.ModelName("mn_dogs")))
		must(t, reg.Register(&mnDog{}))
		ctx := context.Background()
		// Neither may write: each one's entries would be the other's.
		for _, tc := range []struct {
			row  any
			want string
		}{{&mnDog{Name: "rex"}, "mnCat"}, {&mnCat{Name: "tom"}, "mnDog"}} {
			err := db.WithContext(ctx).Create(tc.row).Error
			if err == nil || !strings.Contains(err.Error(), `"mn_dogs"`) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%T written as mn_dogs: %v", tc.row, err)
			}
		}
		for _, m := range []any{&mnCat{}, &mnDog{}} {
			var n int64
			must(t, db.Model(m).Count(&n).Error)
			if n != 0 {
				t.Errorf("%d rows of %T written unaudited", n, m)
			}
		}
		if es := entries(t, db); len(es) != 0 {
			t.Errorf("entries: %+v", es)
		}
		// A model of the same table may carry the name (two views of
		// one table's rows).
		must(t, reg.Reregister(&mnCat{}, auditlog.ModelName("mn_cats")))
		must(t, db.WithContext(ctx).Create(&mnDog{Name: "rex"}).Error)
		must(t, db.WithContext(ctx).Create(&mnCat{Name: "tom"}).Error)
		must(t, reg.Register(&mnDogView{}))
		must(t, db.WithContext(ctx).Model(&mnDogView{ID: 1}).Update("name", "max").Error)
		if es := entries(t, db); len(es) != 3 || es[2].Model != "mn_dogs" {
			t.Errorf("entries: %+v", es)
		}
		// A model of the table keyed by another column may not write
		// under its name.
		must(t, reg.Register(&mnDogByName{}))
		if err := db.WithContext(ctx).Model(&mnDogByName{Name: "rex"}).Update("id", 1).Error; err == nil || !strings.Contains(err.Error(), "mn_dogs") {
			t.Errorf("a write keyed by name under mn_dogs: %v", err)
		}
		reg.Unregister(&mnDogByName{})
		// A revert finds the model of the name's table.
		es := entries(t, db)
		must(t, auditgorm.Revert(ctx, db, es[2].ID, auditgorm.RevertOptions{}))
		var dog mnDog
		must(t, db.First(&dog, 1).Error)
		if dog.Name != "rex" {
			t.Errorf("the dog after the revert: %+v", dog)
		}
	})
}

// A write of one model to another table (Table("archive")) is named by
// that table: where another model's entries carry that name, the write
// joined that model's history, and a revert of it wrote that model's
// table. It is refused.
func TestTableWriteUnderAnotherModelsName(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &mnCat{}, &mnDog{})
		must(t, reg.Register(&mnCat{}, auditlog.ModelName("archive")))
		must(t, reg.Register(&mnDog{}))
		must(t, db.Exec("CREATE TABLE archive (id integer PRIMARY KEY, name varchar(64))").Error)
		must(t, db.Create(&mnCat{ID: 1, Name: "tom"}).Error)
		err := db.Model(&mnDog{}).Table("archive").Create(&mnDog{ID: 1, Name: "rex"}).Error
		if err == nil || !strings.Contains(err.Error(), "mnCat") {
			t.Fatalf("a dog written to table archive, the cats' name: %v", err)
		}
		var n int64
		must(t, db.Table("archive").Count(&n).Error)
		if es := entries(t, db); n != 0 || len(es) != 1 || es[0].Model != "archive" || es[0].ObjectRepr == "" {
			t.Errorf("%d rows written, entries %+v", n, es)
		}
		// Another table's name no model's entries carry is the table's.
		must(t, db.Exec("CREATE TABLE dog_archive (id integer PRIMARY KEY, name varchar(64))").Error)
		must(t, db.Model(&mnDog{}).Table("dog_archive").Create(&mnDog{ID: 1, Name: "rex"}).Error)
		if e := lastEntry(t, db); e.Model != "dog_archive" {
			t.Errorf("the write to dog_archive: %+v", e)
		}
	})
}
