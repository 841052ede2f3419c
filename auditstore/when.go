package auditstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a time bound the way every filter takes one, in the admin
// UI and on the command line alike: an RFC 3339 time
// ("2026-11-01T12:00:00Z", or without seconds "2026-11-01T12:00Z"), a date or a date and time in loc
// ("2026-11-01", "2026-11-01T12:00", "2026-11-01 12:00", as a
// datetime-local input sends it), or a positive age before now ("90d",
// "12h", "30m"). "" is the zero time (no bound). A result outside the years
// 1 to 9999 is an error, as is text that is none of these; errors quote s
// and say what is accepted.
func ParseTime(s string, now time.Time, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	if loc == nil {
		loc = time.UTC
	}
	t, err := parseTimeOrAge(s, now, loc)
	if err != nil {
		return time.Time{}, err
	}
	if t.IsZero() { // the zero time would mean "no bound"
		return time.Time{}, fmt.Errorf("%q is out of range: times must lie after 0001-01-01T00:00:00Z, the earliest time, which means no bound", s)
	}
	if !ValidTimestamp(t) {
		return time.Time{}, fmt.Errorf("%q is out of range: times must lie in the years 1 to 9999 (UTC)", s)
	}
	return t, nil
}

func parseTimeOrAge(s string, now time.Time, loc *time.Location) (time.Time, error) {
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04Z07:00"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	for _, layout := range []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	notPositive := fmt.Errorf("%q is not a positive age: give an age such as 90d or 12h, or no bound at all", s)
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.ParseInt(n, 10, 64)
		switch {
		case errors.Is(err, strconv.ErrRange) || (err == nil && days > 4_000_000): // beyond any valid time
			return time.Time{}, fmt.Errorf("%q is out of range: times must lie in the years 1 to 9999 (UTC)", s)
		case err == nil && strconv.FormatInt(days, 10) == n:
			if days <= 0 {
				return time.Time{}, notPositive
			}
			// Days of 24 hours, whatever the machine's zone: "1d" across a
			// daylight-saving change was 23 or 25 hours in local time.
			return now.UTC().AddDate(0, 0, -int(days)), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return time.Time{}, notPositive
		}
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a date (2006-01-02 or 2006-01-02T15:04), a time (RFC 3339) or an age such as 90d or 12h", s)
}

// LoadZone loads the IANA time zone a viewer or an operator names ("UTC",
// "Europe/Paris") for showing and reading times; one rule for the admin
// UI's tz parameter and the command's --tz.
func LoadZone(name string) (*time.Location, error) {
	if name == "" || len(name) > 64 || strings.Contains(name, "..") {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as UTC or Europe/Paris", name)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone %q: use an IANA name such as UTC or Europe/Paris", name)
	}
	return loc, nil
}
