package ir

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// AirflowPresets are the schedule presets Airflow 3 accepts besides cron expressions: its own
// (@once, @continuous and the cron presets it maps itself) and the aliases croniter expands
// (@midnight, @annually).
var AirflowPresets = []string{"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually", "@midnight"}

// presetCron are the presets that are cron expressions in disguise, as Airflow and croniter
// define them. @once and @continuous have no times.
var presetCron = map[string]string{
	"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0",
	"@monthly": "0 0 1 * *", "@quarterly": "0 0 1 */3 *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *",
}

// CheckSchedule validates a schedule the way Airflow does: a preset, or a 5-field cron expression
// in the dialect of croniter, the library Airflow's cron timetables use. Besides the classic
// syntax (`*`, lists, ranges, steps, month and weekday names, 7 for Sunday) that dialect has `L`
// (last day of the month, `L` as a range end), `15W` (nearest weekday), `5#2` (second Friday),
// `L5` (last Friday) and `?` in a day field. aiflow refuses two things croniter would take:
// 6 and 7 fields (seconds and years, which no Airflow schedule needs) and `H`/`R` fields, which
// need a hash id Airflow does not pass or change at every parse.
func CheckSchedule(s string) error {
	_, err := ParseSchedule(s)
	return err
}

// croniterAlias are the presets croniter itself knows (case-insensitively).
var croniterAlias = map[string]bool{"@midnight": true, "@hourly": true, "@daily": true, "@weekly": true, "@monthly": true, "@yearly": true, "@annually": true}

// Schedule is a parsed cron schedule; nil for @once and @continuous, which have no times.
type Schedule struct {
	bits    [5]uint64 // minute, hour, day of month, month, day of week
	domStar bool
	dowStar bool
	domLast bool
	domW    int           // "15W": the weekday nearest the 15th; 0 when unused
	dowNth  map[int]uint8 // weekday -> bit n (1..5) for "d#n", bit 0 for "Ld" (last)
	expr    string
}

// ParseSchedule parses a preset or a cron expression (see CheckSchedule); @once and @continuous
// give a nil Schedule.
func ParseSchedule(s string) (*Schedule, error) {
	if len(s) > 0 && s[0] == '@' {
		if s == "@once" || s == "@continuous" {
			return nil, nil
		}
		// Airflow's own presets match exactly; anything else goes to croniter, which lowercases
		// the expression before looking up its aliases.
		if c, ok := presetCron[s]; ok {
			return parseCron(c)
		}
		if c, ok := presetCron[strings.ToLower(s)]; ok && croniterAlias[strings.ToLower(s)] {
			return parseCron(c)
		}
		return nil, fmt.Errorf("schedule %q is not an Airflow preset (one of %v)%s", s, AirflowPresets, suggest(s, AirflowPresets))
	}
	sch, err := parseCron(s)
	if err != nil {
		return nil, fmt.Errorf("schedule %q is not a valid 5-field cron expression: %v", s, err)
	}
	if sch.neverFires() {
		return nil, fmt.Errorf("schedule %q never fires: Airflow's croniter finds no date for it", s)
	}
	return sch, nil
}

var (
	cronRanges   = [5][2]int{{0, 59}, {0, 23}, {1, 31}, {1, 12}, {0, 6}}
	cronAllCount = [5]int{60, 24, 31, 12, 7}
	cronFields   = [5]string{"minute", "hour", "day of month", "month", "day of week"}
	cronMonths   = map[string]int{"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12}
	cronDays     = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}

	cronStepRE    = regexp.MustCompile(`^([^-]+)-([^-/]+)(/([0-9]+))?$`)
	cronIntRE     = regexp.MustCompile(`^[0-9]+$`)
	cronStarStep  = regexp.MustCompile(`^\*(/.+)$`)
	cronStartStep = regexp.MustCompile(`^(.+)/(.+)$`)
	cronHashRE    = regexp.MustCompile(`^(h|r)(\([0-9]+-[0-9]+\))?(/[0-9]+)?$`)
	cronNearestRE = regexp.MustCompile(`^(?:([0-9]+)w|w([0-9]+))$`)
	cronSpecialRE = func() *regexp.Regexp {
		days := "sun|mon|tue|wed|thu|fri|sat"
		months := "jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec"
		return regexp.MustCompile(`^(?:((?:(?:` + days + `)(?:-(?:` + days + `))?)|(?:(?:` + months + `)(?:-(?:` + months + `))?)|[A-Za-z0-9_]+)#|(l))([0-9]+)$`)
	}()
)

// parseCron follows croniter's expansion of a cron expression closely, so that exactly what
// Airflow accepts is accepted (compiler/testdata/croniter_check.py compares the two).
func parseCron(expr string) (*Schedule, error) {
	fields := strings.FieldsFunc(strings.ToLower(expr), func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f' || r == '\v'
	})
	switch {
	case len(fields) == 6 || len(fields) == 7:
		return nil, fmt.Errorf("%d fields: aiflow takes the 5 fields minute hour day-of-month month day-of-week", len(fields))
	case len(fields) != 5:
		return nil, fmt.Errorf("%d fields, want 5: minute hour day-of-month month day-of-week", len(fields))
	}
	s := &Schedule{expr: expr, dowNth: map[int]uint8{}}
	for idx, field := range fields {
		if m := cronHashRE.FindStringSubmatch(field); m != nil {
			if m[1] == "h" {
				return nil, fmt.Errorf("%s %q: hashed (H) fields need a hash id, which Airflow does not give", cronFields[idx], field)
			}
			return nil, fmt.Errorf("%s %q: a random (R) field would change the schedule at every DAG parse", cronFields[idx], field)
		}
		if strings.Contains(field, "?") {
			if field != "?" {
				return nil, fmt.Errorf("%s %q: a question mark stands alone", cronFields[idx], field)
			}
			if idx != 2 && idx != 4 {
				return nil, fmt.Errorf("%s: a question mark is only for day of month or day of week", cronFields[idx])
			}
			field = "*"
		}
		if err := s.parseField(idx, field, fields); err != nil {
			return nil, fmt.Errorf("%s %q: %v", cronFields[idx], fields[idx], err)
		}
	}
	return s, nil
}

func (s *Schedule) parseField(idx int, field string, all []string) error {
	lo, hi := cronRanges[idx][0], cronRanges[idx][1]
	alpha := func(v string) (int, bool, error) { // value, isL
		switch {
		case idx == 2 && v == "l":
			return 0, true, nil
		case idx == 3:
			if n, ok := cronMonths[v]; ok {
				return n, false, nil
			}
		case idx == 4:
			if n, ok := cronDays[v]; ok {
				return n, false, nil
			}
		}
		return 0, false, fmt.Errorf("%q is not a value of this field", v)
	}
	alias := func(v int) int {
		if idx == 4 && v == 7 {
			return 0
		}
		return v
	}
	type item struct {
		s   string
		nth int // -1 none, 0 last, 1..5
	}
	elems := strings.Split(field, ",")
	work := make([]item, 0, len(elems))
	for _, e := range elems {
		work = append(work, item{e, -1})
	}
	seen := map[string]bool{}
	var values []int
	star, last := false, false
	count := 0 // distinct values as croniter counts them ('*' and 'L' included)
	counted := map[string]bool{}
	addCount := func(k string) {
		if !counted[k] {
			counted[k] = true
			count++
		}
	}
	for len(work) > 0 {
		it := work[len(work)-1]
		work = work[:len(work)-1]
		e, nth := it.s, -1
		if idx == 4 {
			if m := cronSpecialRE.FindStringSubmatch(e); m != nil {
				if m[1] != "" {
					n, err := strconv.Atoi(m[3])
					if err != nil || n < 1 || n > 5 {
						return fmt.Errorf("%q: the n of d#n is 1 to 5", e)
					}
					e, nth = m[1], n
				} else {
					e, nth = m[3], 0
				}
			}
		}
		if idx == 2 {
			if m := cronNearestRE.FindStringSubmatch(e); m != nil {
				d, _ := strconv.Atoi(m[1] + m[2])
				if d < 1 || d > 31 {
					return fmt.Errorf("%q: nearest weekday day out of range", e)
				}
				if len(elems) > 1 || len(values) > 0 || len(work) > 0 {
					return fmt.Errorf("W takes a single day, not a list or a range")
				}
				s.domW = d
				values = append(values, d)
				addCount(strconv.Itoa(d))
				continue
			}
		}
		t := cronStarStep.ReplaceAllString(e, fmt.Sprintf("%d-%d$1", lo, hi))
		m := cronStepRE.FindStringSubmatch(t)
		startWithStep := false
		if m == nil {
			t = cronStartStep.ReplaceAllString(e, fmt.Sprintf("$1-%d/$2", hi))
			m = cronStepRE.FindStringSubmatch(t)
			startWithStep = m != nil
		}
		if m != nil {
			lowS, highS, stepS := m[1], m[2], m[4]
			if stepS == "" {
				stepS = "1"
			}
			if idx == 2 && highS == "l" {
				highS = "31"
			}
			bound := func(b string) (int, error) {
				if cronIntRE.MatchString(b) {
					return strconv.Atoi(b)
				}
				v, isL, err := alpha(b)
				if err != nil {
					return 0, err
				}
				if isL {
					return 0, fmt.Errorf("bands %s-%s are not acceptable", lowS, highS)
				}
				return v, nil
			}
			low, err := bound(lowS)
			if err != nil {
				return err
			}
			high, err := bound(highS)
			if err != nil {
				return err
			}
			step, err := strconv.Atoi(stepS)
			if err != nil || step == 0 {
				return fmt.Errorf("step %q is not acceptable", stepS)
			}
			low, high = alias(low), alias(high)
			if max(low, high) > hi {
				return fmt.Errorf("%q is out of range %d-%d", e, lo, hi)
			}
			startAtMax := startWithStep && low == high
			if low == high && !startWithStep {
				low, high = lo, hi
			}
			var rng []int
			switch {
			case startAtMax:
				rng = []int{low}
			case low > high:
				for v := low; v <= hi; v += step {
					rng = append(rng, v)
				}
				skip := 0
				if len(rng) > 0 {
					lastV := rng[len(rng)-1]
					alreadySkipped := hi - lastV
					curpos := lastV - lo
					if curpos+step > hi-lo+1 && alreadySkipped < step {
						skip = step - alreadySkipped
					}
				}
				for v := lo + skip; v <= high; v += step {
					rng = append(rng, v)
				}
			default:
				for v := low; v <= high; v += step {
					rng = append(rng, v)
				}
			}
			for _, v := range rng {
				k := strconv.Itoa(v)
				if nth > 0 {
					k += "#" + strconv.Itoa(nth)
				}
				if !seen[k] {
					seen[k] = true
					work = append(work, item{k, -1})
				}
			}
			continue
		}
		if strings.HasPrefix(t, "-") {
			return fmt.Errorf("negative numbers are not allowed")
		}
		if t == "*" {
			star = true
			addCount("*")
			continue
		}
		var v int
		if cronIntRE.MatchString(t) {
			v, _ = strconv.Atoi(t)
		} else {
			n, isL, err := alpha(t)
			if err != nil {
				return err
			}
			if isL {
				last = true
				addCount("l")
				continue
			}
			v = n
		}
		v = alias(v)
		if v < lo || v > hi {
			return fmt.Errorf("%d is out of range %d-%d", v, lo, hi)
		}
		values = append(values, v)
		addCount(strconv.Itoa(v))
		if idx == 4 && nth >= 0 {
			s.dowNth[v] |= 1 << nth
		}
	}
	for _, v := range values {
		s.bits[idx] |= 1 << v
	}
	full := count == cronAllCount[idx]
	isStar := (star && count == 1) ||
		(full && !(idx == 2 && !strings.Contains(all[4], "*")) && !(idx == 4 && !strings.Contains(all[2], "*")))
	if star {
		// A '*' among other values still means every value.
		for v := lo; v <= hi; v++ {
			s.bits[idx] |= 1 << v
		}
	}
	switch idx {
	case 2:
		s.domStar, s.domLast = isStar, last && !isStar
	case 4:
		s.dowStar = isStar
		if len(s.dowNth) > 0 {
			plain := 0
			for v := range 7 {
				if s.bits[4]&(1<<v) != 0 {
					if _, ok := s.dowNth[v]; !ok {
						plain++
					}
				}
			}
			if plain > 0 && count != 7 {
				return fmt.Errorf("day of week cannot mix plain days with d#n or Ld")
			}
		}
	default:
		if isStar {
			s.bits[idx] = 0
			for v := lo; v <= hi; v++ {
				s.bits[idx] |= 1 << v
			}
		}
	}
	return nil
}

func daysIn(y int, m time.Month) int { return time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC).Day() }

// dayMatches follows croniter. With one day field unrestricted, a day must match both. With
// both restricted, croniter takes the earlier of two searches: day of month with any weekday and
// day of week with any day of month, but "d#n"/"Ld" and "W" are not part of the fields it blanks,
// so they stay in both searches.
func (s *Schedule) dayMatches(d time.Time) bool {
	if s.bits[3]&(1<<int(d.Month())) == 0 {
		return false
	}
	day, n := d.Day(), daysIn(d.Year(), d.Month())
	wd := int(d.Weekday())
	near := s.domW == 0 || day == nearestWeekday(d.Year(), d.Month(), s.domW)
	dom := near
	if s.domW == 0 {
		dom = s.domStar || s.bits[2]&(1<<day) != 0 || s.domLast && day == n
	}
	nth := true
	if len(s.dowNth) > 0 {
		bits, ok := s.dowNth[wd]
		nth = ok && (bits&(1<<((day-1)/7+1)) != 0 || bits&1 != 0 && day+7 > n)
	}
	dow := nth
	if len(s.dowNth) == 0 {
		dow = s.dowStar || s.bits[4]&(1<<wd) != 0
	}
	if !s.domStar && !s.dowStar {
		return dom && nth || near && dow
	}
	return dom && dow
}

// neverFires finds schedules croniter accepts but cannot run: no day matches at all, or, with
// both day fields restricted and d#n, Ld or W in play, one of croniter's two searches finds no
// day (it then fails instead of using the other). A century covers every weekday/leap pattern.
func (s *Schedule) neverFires() bool {
	split := !s.domStar && !s.dowStar && (len(s.dowNth) > 0 || s.domW != 0)
	any, side1, side2 := false, !split, !split
	saved := *s
	for d := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC); d.Year() < 2101 && !(any && side1 && side2); d = d.AddDate(0, 0, 1) {
		if s.dayMatches(d) {
			any = true
		}
		if split {
			s.dowStar = true // croniter's first search: day of month, any weekday (d#n kept)
			side1 = side1 || s.dayMatches(d)
			s.dowStar, s.domStar = false, true // second: day of week, any day of month (W kept)
			side2 = side2 || s.dayMatchesW(d)
			*s = saved
		}
	}
	return !any || !side1 || !side2
}

// dayMatchesW is dayMatches of croniter's second search, where W still restricts the day.
func (s *Schedule) dayMatchesW(d time.Time) bool {
	if s.domW != 0 && d.Day() != nearestWeekday(d.Year(), d.Month(), s.domW) {
		return false
	}
	return s.dayMatches(d)
}

// nearestWeekday is the weekday (Mon–Fri) nearest day d of the month, never leaving the month.
func nearestWeekday(y int, m time.Month, d int) int {
	n := daysIn(y, m)
	if d > n {
		d = n
	}
	switch time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Weekday() {
	case time.Saturday:
		if d == 1 {
			return 3
		}
		return d - 1
	case time.Sunday:
		if d == n {
			return d - 2
		}
		return d + 1
	}
	return d
}

// scheduleHorizon bounds the search for the next or previous time (croniter's is 50 years).
const scheduleHorizon = 50 * 366

// Next is the first scheduled time after t (UTC, whole minutes); false when none is within 50 years.
func (s *Schedule) Next(t time.Time) (time.Time, bool) {
	t = t.UTC().Truncate(time.Minute).Add(time.Minute)
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for i := 0; i < scheduleHorizon; i, day = i+1, day.AddDate(0, 0, 1) {
		if !s.dayMatches(day) {
			continue
		}
		for h := 0; h < 24; h++ {
			if s.bits[1]&(1<<h) == 0 {
				continue
			}
			for mi := 0; mi < 60; mi++ {
				if c := day.Add(time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute); s.bits[0]&(1<<mi) != 0 && !c.Before(t) {
					return c, true
				}
			}
		}
	}
	return time.Time{}, false
}

// Prev is the last scheduled time before t; false when none is within 50 years.
func (s *Schedule) Prev(t time.Time) (time.Time, bool) {
	t = t.UTC()
	day := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
	for i := 0; i < scheduleHorizon; i, day = i+1, day.AddDate(0, 0, -1) {
		if !s.dayMatches(day) {
			continue
		}
		for h := 23; h >= 0; h-- {
			if s.bits[1]&(1<<h) == 0 {
				continue
			}
			for mi := 59; mi >= 0; mi-- {
				if c := day.Add(time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute); s.bits[0]&(1<<mi) != 0 && c.Before(t) {
					return c, true
				}
			}
		}
	}
	return time.Time{}, false
}
