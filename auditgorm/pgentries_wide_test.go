package auditgorm_test

import (
	"fmt"
	"reflect"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog"
)

// PgManyColumns has more audited columns than a PostgreSQL function takes
// arguments (100): the changes of its entries are joined in groups.
type PgManyColumns struct {
	ID   uint
	F000 *int
	F001 *int
	F002 *int
	F003 *int
	F004 *int
	F005 *int
	F006 *int
	F007 *int
	F008 *int
	F009 *int
	F010 *int
	F011 *int
	F012 *int
	F013 *int
	F014 *int
	F015 *int
	F016 *int
	F017 *int
	F018 *int
	F019 *int
	F020 *int
	F021 *int
	F022 *int
	F023 *int
	F024 *int
	F025 *int
	F026 *int
	F027 *int
	F028 *int
	F029 *int
	F030 *int
	F031 *int
	F032 *int
	F033 *int
	F034 *int
	F035 *int
	F036 *int
	F037 *int
	F038 *int
	F039 *int
	F040 *int
	F041 *int
	F042 *int
	F043 *int
	F044 *int
	F045 *int
	F046 *int
	F047 *int
	F048 *int
	F049 *int
	F050 *int
	F051 *int
	F052 *int
	F053 *int
	F054 *int
	F055 *int
	F056 *int
	F057 *int
	F058 *int
	F059 *int
	F060 *int
	F061 *int
	F062 *int
	F063 *int
	F064 *int
	F065 *int
	F066 *int
	F067 *int
	F068 *int
	F069 *int
	F070 *int
	F071 *int
	F072 *int
	F073 *int
	F074 *int
	F075 *int
	F076 *int
	F077 *int
	F078 *int
	F079 *int
	F080 *int
	F081 *int
	F082 *int
	F083 *int
	F084 *int
	F085 *int
	F086 *int
	F087 *int
	F088 *int
	F089 *int
	F090 *int
	F091 *int
	F092 *int
	F093 *int
	F094 *int
	F095 *int
	F096 *int
	F097 *int
	F098 *int
	F099 *int
	F100 *int
	F101 *int
	F102 *int
	F103 *int
	F104 *int
	F105 *int
	F106 *int
	F107 *int
	F108 *int
	F109 *int
}

// An entry with more than 90 changed fields, some null, written by the
// statement equals the one the Go side writes, on create, update and
// delete; and with nulls only in a whole group of fields.
func TestPGEntriesManyColumns(t *testing.T) {
	inSQL, inGo, n := pathPair(t, func(reg *auditlog.Registry) { must(t, reg.Register(&PgManyColumns{})) }, nil, &PgManyColumns{})
	for _, db := range []*gorm.DB{inSQL, inGo} {
		rows := []PgManyColumns{{}, {}, {}}
		for i := 0; i < 110; i++ {
			v := i
			if i%3 != 0 {
				setField(&rows[0], i, &v)
			}
			if i >= 95 {
				setField(&rows[1], i, &v) // the first group all null
			}
		}
		must(t, db.Create(&rows).Error)
		upd := map[string]any{}
		for i := 0; i < 110; i += 2 {
			upd[columnOf(i)] = i + 1000
		}
		must(t, db.Model(&PgManyColumns{}).Where("id IN ?", []uint{rows[0].ID, rows[1].ID}).Updates(upd).Error)
		must(t, db.Delete(&PgManyColumns{}, rows[2].ID).Error)
	}
	if n.Load() == 0 {
		t.Fatal("the SQL path did not run")
	}
	sameEntries(t, inSQL, inGo)
}

// setField sets field F<i> of r to v.
func setField(r *PgManyColumns, i int, v *int) {
	reflect.ValueOf(r).Elem().FieldByName(fmt.Sprintf("F%03d", i)).Set(reflect.ValueOf(v))
}

func columnOf(i int) string { return fmt.Sprintf("f%03d", i) }
