package auditgorm

import "gorm.io/gorm"

// SetTestHookUnpinned makes fn run on the transaction between the read and
// an unpinned update (nil removes it).
func SetTestHookUnpinned(fn func(gorm.ConnPool)) { testHookUnpinned = fn }
