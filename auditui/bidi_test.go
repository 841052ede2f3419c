package auditui_test

import (
	"strings"
	"testing"
	"time"

	"github.com/go-auditlog/auditlog"
	"github.com/go-auditlog/auditlog/auditui"
)

// Unicode's bidi controls in stored text (an override, U+202E) were sent
// as they are: "Account \u202e0001 ecnalab" read "Account balance 1000",
// an actor "mallory\u202e nimda" read "malloryadmin", and an override in
// one change ran on over the next field's in the summary. Every page
// shows them as \u202e, as the command line does.
func TestBidiControlsAreShownNotObeyed(t *testing.T) {
	s := emptyStore(t)
	at := time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)
	insert(t, s, auditlog.Entry{Timestamp: at, Action: auditlog.ActionUpdate, Model: "acc\u2066ounts", ObjectPK: "7\u202e1",
		ObjectRepr: "Account \u202e0001 ecnalab", ActorID: "m\u200f1", ActorName: "mallory\u202e nimda", CorrelationID: "c1",
		Changes: auditlog.Changes{"a_role": change(t, "user", "user\u202e"), "b_limit": change(t, 100, 5), "c\u2067x": change(t, "p\u2028q", "\u061c")}})
	h := newUI(t, s, auditui.Config{})
	id := "1"
	for _, target := range []string{"/", "/entries/" + id, "/history?obj=acc%E2%81%A6ounts%3A7%E2%80%AE1", "/actor?actor=m%E2%80%8F1"} {
		rec := get(h, "GET", target)
		if rec.Code != 200 {
			t.Errorf("%s: %d", target, rec.Code)
			continue
		}
		body := rec.Body.String()
		if i := strings.Index(body, "</form>"); i >= 0 {
			body = body[i:] // the filter form keeps what it was given (below)
		}
		for _, r := range []rune{0x202e, 0x2066, 0x2067, 0x200f, 0x2028, 0x061c} {
			if strings.ContainsRune(body, r) {
				t.Errorf("%s: the page holds U+%04X", target, r)
			}
		}
		if !strings.Contains(body, `Account <span class="ctl" title="a character that reorders text, U+202E">\u202e</span>0001 ecnalab`) && target != "/actor?actor=m%E2%80%8F1" {
			t.Errorf("%s: the repr is not shown with its override escaped:\n%s", target, body)
		}
	}
	// Text that spells the escape is not the character: only the character
	// is marked.
	insert(t, s, auditlog.Entry{Timestamp: at.Add(time.Second), Action: auditlog.ActionAccess, Model: "accounts", ObjectPK: "8", ObjectRepr: `spelled \u202e`})
	if body := get(h, "GET", "/?pk=8&model=accounts").Body.String(); !strings.Contains(body, `spelled \u202e`) || strings.Count(body, `class="ctl"`) != 0 {
		t.Errorf("the spelled escape:\n%s", body)
	}
	// The filter form's values are what the next Filter sends: an escape
	// there filtered on other text (an actor whose id spells it).
	body := get(h, "GET", "/?actor=%E2%80%AEadmin").Body.String()
	if !strings.Contains(body, "value=\"\u202eadmin\"") {
		t.Errorf("the filter form changed the actor it was given:\n%s", body)
	}
}
