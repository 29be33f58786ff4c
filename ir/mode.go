package ir

import "fmt"

// Pipeline modes. A batch pipeline (the default) runs its nodes once per DAG run; a streaming
// pipeline is one long-running job (its sources, transforms and sinks are the job's tables and
// queries) that the DAG deploys, upgrades when the IR changes, and checks.
const (
	ModeBatch     = "batch"
	ModeStreaming = "streaming"
)

// Modes lists the pipeline modes.
var Modes = []string{ModeBatch, ModeStreaming}

// ModeKey is the key of extra holding the pipeline's mode (the YAML pipeline.mode, the DSL's
// @pipeline(mode=...)). It lives in extra, like description, so a batch pipeline's IR and hash
// are what they were before modes existed.
const ModeKey = "mode"

// Mode is the pipeline's mode: extra.mode, ModeBatch when absent or null. A value that is no
// mode is returned as it is (Check reports it).
func (p *Pipeline) Mode() string {
	switch v := p.Extra[ModeKey].(type) {
	case nil:
		return ModeBatch
	case string:
		return v
	default:
		return fmt.Sprint(v)
	}
}

// Streaming reports whether the pipeline is a streaming pipeline.
func (p *Pipeline) Streaming() bool { return p.Mode() == ModeStreaming }

// checkMode reports a mode that is not one of Modes.
func (p *Pipeline) checkMode() *Problem {
	v, ok := p.Extra[ModeKey]
	if !ok || v == nil {
		return nil
	}
	s, isStr := v.(string)
	if !isStr {
		return &Problem{Pipeline: p.ID, Msg: fmt.Sprintf("mode must be a string (%s or %s), not %v", ModeBatch, ModeStreaming, v)}
	}
	if !contains(Modes, s) {
		return &Problem{Pipeline: p.ID, Msg: fmt.Sprintf("mode %s is not %s or %s%s", quote(s), ModeBatch, ModeStreaming, suggest(s, Modes))}
	}
	return nil
}

// ModeField is the spec field a problem with the pipeline's mode is located at: pipeline.mode
// in the authoring YAML, extra.mode in IR JSON.
func (s *Spec) ModeField() string {
	if s.fieldLine[ModeKey] > 0 {
		return ModeKey
	}
	return "extra." + ModeKey
}
