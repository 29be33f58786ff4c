package ir

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Strftime and Strptime implement the directives of Python's time formats that date macros use
// (macros.ds_format takes Python formats, as in Airflow): %Y %y %m %d %H %I %M %S %p %j %b %B
// %a %A %%. Names are English, as in Python's C locale.

// Strftime formats t.
func Strftime(t time.Time, format string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		if i+1 == len(format) {
			return "", fmt.Errorf("format %q ends in %%", format)
		}
		i++
		switch format[i] {
		case 'Y':
			fmt.Fprintf(&b, "%04d", t.Year())
		case 'y':
			fmt.Fprintf(&b, "%02d", t.Year()%100)
		case 'm':
			fmt.Fprintf(&b, "%02d", int(t.Month()))
		case 'd':
			fmt.Fprintf(&b, "%02d", t.Day())
		case 'H':
			fmt.Fprintf(&b, "%02d", t.Hour())
		case 'I':
			fmt.Fprintf(&b, "%02d", (t.Hour()+11)%12+1)
		case 'p':
			b.WriteString(t.Format("PM"))
		case 'M':
			fmt.Fprintf(&b, "%02d", t.Minute())
		case 'S':
			fmt.Fprintf(&b, "%02d", t.Second())
		case 'j':
			fmt.Fprintf(&b, "%03d", t.YearDay())
		case 'b':
			b.WriteString(t.Format("Jan"))
		case 'B':
			b.WriteString(t.Format("January"))
		case 'a':
			b.WriteString(t.Format("Mon"))
		case 'A':
			b.WriteString(t.Format("Monday"))
		case '%':
			b.WriteByte('%')
		default:
			return "", fmt.Errorf("format %q: directive %%%c is not supported (%%Y %%y %%m %%d %%H %%I %%M %%S %%p %%j %%b %%B %%a %%A %%%%)", format, format[i])
		}
	}
	return b.String(), nil
}

// Strptime parses s with format, in UTC.
func Strptime(s, format string) (time.Time, error) {
	year, month, day, hour, minute, sec, yday := 1900, 1, 1, 0, 0, 0, 0
	pm, hasPM, i := false, false, 0
	bad := func() (time.Time, error) {
		return time.Time{}, fmt.Errorf("%q does not match format %q", s, format)
	}
	num := func(max int) (int, bool) {
		j := i
		for j < len(s) && j-i < max && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i {
			return 0, false
		}
		v, _ := strconv.Atoi(s[i:j])
		i = j
		return v, true
	}
	name := func(layout string, n int) (time.Time, bool) {
		for w := len(s) - i; w > 0; w-- {
			if t, err := time.Parse(layout, s[i:i+w]); err == nil {
				i += w
				return t, true
			}
		}
		return time.Time{}, false
	}
	for f := 0; f < len(format); f++ {
		c := format[f]
		if c != '%' {
			if i >= len(s) || s[i] != c {
				return bad()
			}
			i++
			continue
		}
		if f+1 == len(format) {
			return time.Time{}, fmt.Errorf("format %q ends in %%", format)
		}
		f++
		var ok bool
		switch format[f] {
		case 'Y':
			year, ok = num(4)
		case 'y':
			if year, ok = num(2); ok {
				// Python: 69-99 are 1969-1999, 0-68 are 2000-2068.
				if year < 69 {
					year += 2000
				} else {
					year += 1900
				}
			}
		case 'm':
			month, ok = num(2)
		case 'd':
			day, ok = num(2)
		case 'H', 'I':
			hour, ok = num(2)
		case 'M':
			minute, ok = num(2)
		case 'S':
			sec, ok = num(2)
		case 'j':
			yday, ok = num(3)
		case 'p':
			if i+2 <= len(s) {
				switch strings.ToUpper(s[i : i+2]) {
				case "AM":
					ok, hasPM = true, true
				case "PM":
					ok, hasPM, pm = true, true, true
				}
				i += 2
			}
		case 'b', 'B':
			var t time.Time
			if t, ok = name("Jan", 3); !ok {
				t, ok = name("January", 0)
			}
			month = int(t.Month())
		case 'a', 'A':
			if _, ok = name("Mon", 3); !ok {
				_, ok = name("Monday", 0)
			}
		case '%':
			ok = i < len(s) && s[i] == '%'
			i++
		default:
			return time.Time{}, fmt.Errorf("format %q: directive %%%c is not supported", format, format[f])
		}
		if !ok {
			return bad()
		}
	}
	if i != len(s) {
		return time.Time{}, fmt.Errorf("%q has extra text after format %q", s, format)
	}
	if hasPM {
		hour %= 12
		if pm {
			hour += 12
		}
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC)
	if yday > 0 {
		t = time.Date(year, 1, yday, hour, minute, sec, 0, time.UTC)
	}
	if month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 61 || t.Day() != day && yday == 0 {
		return time.Time{}, fmt.Errorf("%q is not a valid date for format %q", s, format)
	}
	return t, nil
}
