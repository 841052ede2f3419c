package auditstore_test

import (
	"testing"
	"time"
	_ "time/tzdata" // Europe/Paris on any machine

	"github.com/go-auditlog/auditlog/auditstore"
)

// An age is a duration before now, days of 24 hours: "1d" read on a
// machine in Europe/Paris the day after the clocks went forward was 23
// hours, while the same instant on a machine in UTC gave 24, so the same
// `flush --before 1d` deleted other entries depending on the machine's
// zone (the command passes time.Now()).
func TestAgeIsTheSameInEveryZone(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	instant := time.Date(2026, 3, 29, 12, 0, 0, 0, time.UTC)
	utc, _ := auditstore.ParseTime("1d", instant, time.UTC)
	local, _ := auditstore.ParseTime("1d", instant.In(paris), time.UTC)
	if !utc.Equal(local) {
		t.Fatalf("1d before %s: %s with now in UTC, %s with now in Europe/Paris (%s apart); 90d likewise across a DST change",
			instant.Format(time.RFC3339), utc.UTC().Format(time.RFC3339), local.UTC().Format(time.RFC3339), local.Sub(utc))
	}
}
