package auditgorm_test

import (
	"context"
	"errors"
	"testing"

	"gorm.io/gorm"

	"github.com/go-auditlog/auditlog/auditgorm"
	"github.com/go-auditlog/auditlog/internal/testdb"
)

type cmComp struct {
	Code string `gorm:"primaryKey;size:32"`
	N    int    `gorm:"primaryKey;autoIncrement:false"`
	V    int
}

// A composite key moved to text with "&", "<", ">" or U+2028: the key
// KeyChangedError.To (and State.MovedTo) gave was escaped by
// encoding/json, not the one the object's later entries name it by, so
// looking it up there found nothing.
func TestCompositeKeyMovedToTextWithHTMLCharacters(t *testing.T) {
	testdb.ForEach(t, func(t *testing.T, db *gorm.DB) {
		reg := setup(t, db, &cmComp{})
		must(t, reg.Register(&cmComp{}))
		ctx := context.Background()
		for i, to := range []string{"a&b", "x<y>", "p\u2028q", "plain"} {
			from := "from" + string(rune('0'+i))
			must(t, db.Create(&cmComp{Code: from, N: 1, V: 1}).Error)
			must(t, db.Model(&cmComp{}).Where("code = ? AND n = ?", from, 1).Update("code", to).Error)
			must(t, db.Model(&cmComp{}).Where("code = ? AND n = ?", to, 1).Update("v", 2).Error)
			last := lastEntry(t, db)
			_, err := auditgorm.AsOf(ctx, db, &cmComp{Code: from, N: 1}, ttInstant())
			var kc *auditgorm.KeyChangedError
			if !errors.As(err, &kc) {
				t.Errorf("%q: %v", to, err)
				continue
			}
			if kc.To != last.ObjectPK {
				t.Errorf("moved to %q: KeyChangedError.To = %s, but the object's entries name it %s", to, kc.To, last.ObjectPK)
			}
		}
	})
}
