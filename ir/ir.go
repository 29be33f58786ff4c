// Package ir is aiflow's intermediate representation: the pipeline and node model of the seed
// design plus api_version, its canonical JSON form and content hash, graph checks and
// a deterministic topological order. Everything else in aiflow — the compiler,
// the runner, the Python DSL — speaks this format.
package ir

import (
	"crypto/sha256"
	"encoding/hex"
)

// APIVersion is the only IR and spec version this runner reads and writes.
const APIVersion = "aiflow/v1"

// DefaultSLAMinutes is the seed's default SLA.
const DefaultSLAMinutes = 60

// Node types.
const (
	Source    = "source"
	Transform = "transform"
	Sink      = "sink"
)

// Tenancy keys carried in Pipeline.Extra and turned into key:value tags.
var TenancyKeys = []string{"team", "env", "project", "cost_center"}

// Pipeline is one pipeline: the seed's PipelineIR plus api_version.
type Pipeline struct {
	APIVersion string `json:"api_version"`
	ID         string `json:"id"`
	// Schedule is a 5-field cron expression or an Airflow preset; nil means unscheduled.
	Schedule   *string          `json:"schedule"`
	Owner      string           `json:"owner"`
	SLAMinutes int              `json:"sla_minutes"`
	Tags       []string         `json:"tags"`
	Extra      map[string]any   `json:"extra"`
	Nodes      map[string]*Node `json:"nodes"`
	Edges      [][2]string      `json:"edges"`
}

// Node is one step of a pipeline: the seed's NodeIR.
type Node struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	// Engine names the transform engine; nil for sources and sinks unless the author pins one.
	Engine       *string        `json:"engine"`
	Params       map[string]any `json:"params"`
	Resources    map[string]any `json:"resources"`
	InputIDs     []string       `json:"input_ids"`
	OutputSchema map[string]any `json:"output_schema"`
}

// Kind is the plugin a source or sink names in params.kind ("" when absent or not a string).
func (n *Node) Kind() string {
	k, _ := n.Params["kind"].(string)
	return k
}

// EngineName is the node's engine or "".
func (n *Node) EngineName() string {
	if n.Engine == nil {
		return ""
	}
	return *n.Engine
}

// Tenant returns a tenancy field from Extra ("" when null or absent).
func (p *Pipeline) Tenant(key string) string {
	s, _ := p.Extra[key].(string)
	return s
}

// Canonical returns the canonical JSON of the pipeline: keys sorted, no insignificant whitespace,
// UTF-8, HTML characters not escaped, integral numbers written as integers. The same pipeline
// authored in YAML, in the Python DSL or as IR JSON gives the same bytes.
func (p *Pipeline) Canonical() ([]byte, error) {
	return CanonicalJSON(p.generic())
}

// generic is the pipeline as the generic value encoding/json would give for it (nil slices and
// maps are null), built directly: canonical JSON is taken for every pipeline on every load.
func (p *Pipeline) generic() map[string]any {
	var nodes any
	if p.Nodes != nil {
		m := make(map[string]any, len(p.Nodes))
		for id, n := range p.Nodes {
			if n == nil {
				m[id] = nil
				continue
			}
			m[id] = map[string]any{
				"id": n.ID, "type": n.Type, "engine": strOrNil(n.Engine), "params": mapOrNil(n.Params),
				"resources": mapOrNil(n.Resources), "input_ids": strsOrNil(n.InputIDs), "output_schema": mapOrNil(n.OutputSchema),
			}
		}
		nodes = m
	}
	var edges any
	if p.Edges != nil {
		l := make([]any, len(p.Edges))
		for i, e := range p.Edges {
			l[i] = []string{e[0], e[1]}
		}
		edges = l
	}
	return map[string]any{
		"api_version": p.APIVersion, "id": p.ID, "schedule": strOrNil(p.Schedule), "owner": p.Owner,
		"sla_minutes": p.SLAMinutes, "tags": strsOrNil(p.Tags), "extra": mapOrNil(p.Extra), "nodes": nodes, "edges": edges,
	}
}

func strOrNil(s *string) any {
	if s == nil {
		return nil
	}
	return *s
}

func strsOrNil(s []string) any {
	if s == nil {
		return nil
	}
	return s
}

func mapOrNil(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}

// Hash returns ir_hash: the hex sha256 of the canonical JSON.
func (p *Pipeline) Hash() (string, error) {
	b, err := p.Canonical()
	if err != nil {
		return "", err
	}
	return HashBytes(b), nil
}

// HashBytes is the hex sha256 of b.
func HashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Plugin describes what runs a node, for people: a transform's engine, a source's or sink's kind,
// and "kind on engine" when a source or sink pins an engine.
func (n *Node) Plugin() string {
	if n.Type == Transform {
		return n.EngineName()
	}
	if n.Engine != nil {
		return n.Kind() + " on " + *n.Engine
	}
	return n.Kind()
}
