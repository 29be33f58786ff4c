package arrowengine

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/aiflow-dev/aiflow/internal/arrowops"
	"github.com/aiflow-dev/aiflow/plugin"
)

// Name is the arrow engine's name.
const Name = "arrow"

// Kind is the arrow engine: its steps (or function) are checked at validate time.
var Kind = plugin.EngineKind[*Config, *plugin.PodResources]{Kind: Name,
	Summary:      "in-process Go over Arrow record batches: declarative steps or a registered Go function",
	New:          func() *Config { return &Config{} },
	NewResources: func() *plugin.PodResources { return &plugin.PodResources{} },
	Lint: func(r *plugin.Registry, c *Config) error {
		if c.Function != "" {
			_, err := r.ArrowFunction(c.Function)
			return err
		}
		b, err := json.Marshal(c.Steps)
		if err != nil {
			return err
		}
		// Every step decoded and every expression parsed and checked here, schemas or not: a
		// broken one fails validate and compile, not the pod, and all of them are listed.
		return atSteps(arrowops.LintJSON(b))
	}}

// atSteps turns the problems with steps into one FieldError per problem at its step, so validate
// reports each at its step's own line.
func atSteps(err error) error {
	var ses arrowops.StepErrors
	if err == nil || !errors.As(err, &ses) {
		return err
	}
	out := make(plugin.FieldErrors, len(ses))
	for i, se := range ses {
		at := fmt.Sprintf("steps[%d]", se.Index)
		if se.Field != "" {
			at += "." + se.Field // the line of the derived column, aggregate or cast
		}
		out[i] = plugin.FieldError{At: at, Msg: se.Error()}
	}
	return out
}

// Config runs declarative steps or a registered Go function in-process.
type Config struct {
	Steps    []map[string]any `json:"steps" doc:"declarative steps applied in order: filter, derive, select, drop, rename, cast, group_by, join, sort, limit (see docs/arrow-engine.md)"`
	Function string           `json:"function" doc:"a registered Go function over record readers, instead of steps"`
	Params   map[string]any   `json:"params" doc:"parameters handed to the function"`
}

func (c *Config) Validate() error {
	if len(c.Steps) > 0 && c.Function != "" {
		return plugin.Errorf("", "an arrow transform has steps or a function, not both")
	}
	return nil
}
