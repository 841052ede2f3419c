package auditui_test

import (
	"strings"
	"testing"

	"github.com/go-auditlog/auditlog/auditstore"
	"github.com/go-auditlog/auditlog/auditui"
)

// Config.StateRules (auditgorm's Plugin.StateRules) says what the entries
// cannot tell: the state view marks such a field unknown instead of
// showing what an entry holds for it.
func TestStateRulesInStateView(t *testing.T) {
	t.Parallel()
	h := newUI(t, fixture(t), auditui.Config{StateRules: func(model string) (auditstore.StateRules, bool) {
		if model != "authors" {
			return auditstore.StateRules{}, false
		}
		return auditstore.StateRules{Unknown: map[string]auditstore.Unknown{"secret": auditstore.UnknownMasked}}, true
	}})
	body := get(h, "GET", "/entries/4").Body.String()
	i := strings.Index(body, `<table class="state">`)
	if i < 0 {
		t.Fatalf("no state view:\n%s", body)
	}
	if state := body[i:]; !strings.Contains(state, "unknown: masked") || strings.Contains(state, "ential") {
		t.Fatalf("state view with the model's rules:\n%s", state)
	}
}
