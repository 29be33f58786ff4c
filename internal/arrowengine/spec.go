package arrowengine

import (
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
		steps, err := Steps(c)
		if err == nil {
			// Every expression parsed and checked here, schemas or not: a broken one fails
			// validate and compile, not the pod.
			err = arrowops.Lint(steps)
		}
		return atStep(err)
	}}

// atStep turns a problem with one step into a FieldError at that step, so validate reports it
// at the step's own line.
func atStep(err error) error {
	var se *arrowops.StepError
	if err == nil || !errors.As(err, &se) {
		return err
	}
	return plugin.FieldError{At: fmt.Sprintf("steps[%d]", se.Index), Msg: err.Error()}
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
