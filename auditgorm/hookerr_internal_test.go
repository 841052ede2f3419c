package auditgorm

import (
	"strings"
	"testing"

	"gorm.io/gorm"
	"gorm.io/gorm/schema"
)

// A value made of the model's own names and what lies between them is
// hidden: names are kept only where the message names an identifier.
func TestHideValuesKeepsNamesOnlyAsIdentifiers(t *testing.T) {
	t.Parallel()
	id := &field{column: "id"}
	pin := &field{column: "pin", masked: true}
	m := &model{schema: &schema.Schema{Table: "vaults"}, byColumn: map[string]*field{"id": id, "pin": pin},
		pk: []*field{id}, secret: []*field{pin}, indexes: map[string][]*field{"idx_vaults_pin": {pin}}, uniqueIndexes: map[string][]*field{}}
	db := &gorm.DB{Statement: &gorm.Statement{Table: "vaults"}}
	for _, c := range []struct{ in, want string }{
		{"Error 1366 (22007): Incorrect integer value: 'pin' 4242-SECRET 'pin' for column `test`.`vaults`.`id` at row 1",
			"Error 1366 (22007): Incorrect integer value: [hidden]"},
		{`ERROR: invalid input syntax for type integer: "pin" 4242-SECRET "pin" (SQLSTATE 22P02)`,
			`ERROR: invalid input syntax for type integer: [hidden] (SQLSTATE 22P02)`},
		{`ERROR: duplicate key value violates unique constraint "idx_vaults_pin" (SQLSTATE 23505)`,
			`ERROR: duplicate key value violates unique constraint "idx_vaults_pin" (SQLSTATE 23505)`},
		{`ERROR: null value in column "pin" of relation "vaults" violates not-null constraint (SQLSTATE 23502)`,
			`ERROR: null value in column "pin" of relation "vaults" violates not-null constraint (SQLSTATE 23502)`},
	} {
		if got := m.hideValues(db, c.in); got != c.want || strings.Contains(got, "SECRET") {
			t.Errorf("hideValues(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
