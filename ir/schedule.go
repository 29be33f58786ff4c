package ir

import (
	"fmt"

	"github.com/robfig/cron/v3"
)

// AirflowPresets are the schedule presets Airflow 3 accepts besides cron expressions.
var AirflowPresets = []string{"@once", "@continuous", "@hourly", "@daily", "@weekly", "@monthly", "@quarterly", "@yearly", "@annually"}

var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow)

// CheckSchedule validates a 5-field cron expression or an Airflow preset.
func CheckSchedule(s string) error {
	if len(s) > 0 && s[0] == '@' {
		for _, p := range AirflowPresets {
			if s == p {
				return nil
			}
		}
		return fmt.Errorf("schedule %q is not an Airflow preset (one of %v)%s", s, AirflowPresets, suggest(s, AirflowPresets))
	}
	if _, err := cronParser.Parse(s); err != nil {
		return fmt.Errorf("schedule %q is not a valid 5-field cron expression: %v", s, err)
	}
	return nil
}
