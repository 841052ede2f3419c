package auditgorm_test

import (
	"fmt"
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

func setField(r *PgManyColumns, i int, v *int) {
	switch i {
	case 0:
		r.F000 = v
	case 1:
		r.F001 = v
	case 2:
		r.F002 = v
	case 3:
		r.F003 = v
	case 4:
		r.F004 = v
	case 5:
		r.F005 = v
	case 6:
		r.F006 = v
	case 7:
		r.F007 = v
	case 8:
		r.F008 = v
	case 9:
		r.F009 = v
	case 10:
		r.F010 = v
	case 11:
		r.F011 = v
	case 12:
		r.F012 = v
	case 13:
		r.F013 = v
	case 14:
		r.F014 = v
	case 15:
		r.F015 = v
	case 16:
		r.F016 = v
	case 17:
		r.F017 = v
	case 18:
		r.F018 = v
	case 19:
		r.F019 = v
	case 20:
		r.F020 = v
	case 21:
		r.F021 = v
	case 22:
		r.F022 = v
	case 23:
		r.F023 = v
	case 24:
		r.F024 = v
	case 25:
		r.F025 = v
	case 26:
		r.F026 = v
	case 27:
		r.F027 = v
	case 28:
		r.F028 = v
	case 29:
		r.F029 = v
	case 30:
		r.F030 = v
	case 31:
		r.F031 = v
	case 32:
		r.F032 = v
	case 33:
		r.F033 = v
	case 34:
		r.F034 = v
	case 35:
		r.F035 = v
	case 36:
		r.F036 = v
	case 37:
		r.F037 = v
	case 38:
		r.F038 = v
	case 39:
		r.F039 = v
	case 40:
		r.F040 = v
	case 41:
		r.F041 = v
	case 42:
		r.F042 = v
	case 43:
		r.F043 = v
	case 44:
		r.F044 = v
	case 45:
		r.F045 = v
	case 46:
		r.F046 = v
	case 47:
		r.F047 = v
	case 48:
		r.F048 = v
	case 49:
		r.F049 = v
	case 50:
		r.F050 = v
	case 51:
		r.F051 = v
	case 52:
		r.F052 = v
	case 53:
		r.F053 = v
	case 54:
		r.F054 = v
	case 55:
		r.F055 = v
	case 56:
		r.F056 = v
	case 57:
		r.F057 = v
	case 58:
		r.F058 = v
	case 59:
		r.F059 = v
	case 60:
		r.F060 = v
	case 61:
		r.F061 = v
	case 62:
		r.F062 = v
	case 63:
		r.F063 = v
	case 64:
		r.F064 = v
	case 65:
		r.F065 = v
	case 66:
		r.F066 = v
	case 67:
		r.F067 = v
	case 68:
		r.F068 = v
	case 69:
		r.F069 = v
	case 70:
		r.F070 = v
	case 71:
		r.F071 = v
	case 72:
		r.F072 = v
	case 73:
		r.F073 = v
	case 74:
		r.F074 = v
	case 75:
		r.F075 = v
	case 76:
		r.F076 = v
	case 77:
		r.F077 = v
	case 78:
		r.F078 = v
	case 79:
		r.F079 = v
	case 80:
		r.F080 = v
	case 81:
		r.F081 = v
	case 82:
		r.F082 = v
	case 83:
		r.F083 = v
	case 84:
		r.F084 = v
	case 85:
		r.F085 = v
	case 86:
		r.F086 = v
	case 87:
		r.F087 = v
	case 88:
		r.F088 = v
	case 89:
		r.F089 = v
	case 90:
		r.F090 = v
	case 91:
		r.F091 = v
	case 92:
		r.F092 = v
	case 93:
		r.F093 = v
	case 94:
		r.F094 = v
	case 95:
		r.F095 = v
	case 96:
		r.F096 = v
	case 97:
		r.F097 = v
	case 98:
		r.F098 = v
	case 99:
		r.F099 = v
	case 100:
		r.F100 = v
	case 101:
		r.F101 = v
	case 102:
		r.F102 = v
	case 103:
		r.F103 = v
	case 104:
		r.F104 = v
	case 105:
		r.F105 = v
	case 106:
		r.F106 = v
	case 107:
		r.F107 = v
	case 108:
		r.F108 = v
	case 109:
		r.F109 = v
	}
}

func columnOf(i int) string { return fmt.Sprintf("f%03d", i) }
