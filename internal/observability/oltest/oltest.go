// Package oltest validates OpenLineage events against the OpenLineage JSON schemas vendored in
// testdata/openlineage (the RunEvent schema and one file per facet, with their license), with
// github.com/santhosh-tekuri/jsonschema/v6. It is for tests: the observability package's own and
// the CLI's end-to-end ones use this one validator.
package oltest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// SchemasEnv overrides where the schemas are looked for.
const SchemasEnv = "AIFLOW_OPENLINEAGE_SCHEMAS"

// Validator checks events against the OpenLineage RunEvent schema and every facet against its
// facet schema.
type Validator struct {
	event *jsonschema.Schema
	// facets by facet key ("parent", "schema", …): the facet file's root schema (an object whose
	// property of that name refers to the facet definition) and the _schemaURL it must carry.
	facets map[string]facetSchema
}

type facetSchema struct {
	container string // run, job, dataset, inputFacets, outputFacets
	schema    *jsonschema.Schema
	url       string
}

// FacetSchemas are the facets aiflow writes: facet key → container and definition name (the
// file testdata/openlineage/facets/<name>.json).
var FacetSchemas = map[string][2]string{
	"parent":            {"run", "ParentRunFacet"},
	"nominalTime":       {"run", "NominalTimeRunFacet"},
	"errorMessage":      {"run", "ErrorMessageRunFacet"},
	"processing_engine": {"run", "ProcessingEngineRunFacet"},
	"jobType":           {"job", "JobTypeJobFacet"},
	"ownership":         {"job", "OwnershipJobFacet"},
	"schema":            {"dataset", "SchemaDatasetFacet"},
	"dataSource":        {"dataset", "DatasourceDatasetFacet"},
	"outputStatistics":  {"outputFacets", "OutputStatisticsOutputDatasetFacet"},
	"inputStatistics":   {"inputFacets", "InputStatisticsInputDatasetFacet"},
	// The assertions' schema derives from InputDatasetFacet (dbt reports tests on the datasets a
	// test job reads); aiflow audits a node's own output before publishing it, so it attaches
	// them to that output dataset's facets.
	"dataQualityAssertions": {"dataset", "DataQualityAssertionsDatasetFacet"},
}

// Dir is where the schemas are: $AIFLOW_OPENLINEAGE_SCHEMAS (to try another spec version), else
// the copy vendored beside this package (testdata/openlineage).
func Dir() string {
	if d := os.Getenv(SchemasEnv); d != "" {
		return d
	}
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return ""
	}
	return filepath.Join(filepath.Dir(file), "testdata", "openlineage")
}

var (
	mu     sync.Mutex
	loaded = map[string]*Validator{}
)

// New returns the Validator of the schemas Dir finds, loaded once per process. Without schemas
// the test is skipped, or fails under CI=true.
func New(t testing.TB) *Validator {
	t.Helper()
	dir := Dir()
	mu.Lock()
	defer mu.Unlock()
	if v := loaded[dir]; v != nil {
		return v
	}
	v, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	loaded[dir] = v
	return v
}

// Load compiles the schemas in dir (OpenLineage.json and facets/*.json). Nothing is fetched: every
// $id is served from the files.
func Load(dir string) (*Validator, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.UseLoader(jsonschema.SchemeURLLoader{})
	ids := map[string]string{} // file base name → $id
	files, _ := filepath.Glob(filepath.Join(dir, "facets", "*.json"))
	files = append(files, filepath.Join(dir, "OpenLineage.json"))
	for _, f := range files {
		r, err := os.Open(f)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(r)
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		id, _ := doc.(map[string]any)["$id"].(string)
		if err := c.AddResource(id, doc); err != nil {
			return nil, err
		}
		ids[strings.TrimSuffix(filepath.Base(f), ".json")] = id
	}
	v := &Validator{facets: map[string]facetSchema{}}
	var err error
	if v.event, err = c.Compile(ids["OpenLineage"] + "#/$defs/RunEvent"); err != nil {
		return nil, err
	}
	for key, spec := range FacetSchemas {
		id := ids[spec[1]]
		if id == "" {
			return nil, errors.New("no schema file for facet " + spec[1])
		}
		s, err := c.Compile(id)
		if err != nil {
			return nil, err
		}
		v.facets[key] = facetSchema{container: spec[0], schema: s, url: id + "#/$defs/" + spec[1]}
	}
	return v, nil
}

// Check validates one event (its JSON): against the RunEvent schema, and every facet against its
// facet schema; a facet without a known schema, or with another _schemaURL, is an error. It
// returns the decoded event (numbers as json.Number; nil when it is not JSON or not a RunEvent)
// and the problems found.
func (v *Validator) Check(raw []byte) (map[string]any, []error) {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, []error{fmt.Errorf("event is not JSON: %w", err)}
	}
	if err := v.event.Validate(inst); err != nil {
		return nil, []error{fmt.Errorf("event does not match the OpenLineage RunEvent schema: %w", err)}
	}
	ev := inst.(map[string]any)
	var errs []error
	check := func(container string, facets any) {
		m, _ := facets.(map[string]any)
		for key, f := range m {
			fs, ok := v.facets[key]
			if !ok || fs.container != container {
				errs = append(errs, fmt.Errorf("%s facet %q has no schema in testdata/openlineage/facets", container, key))
				continue
			}
			fm, _ := f.(map[string]any)
			if got := fm["_schemaURL"]; got != fs.url {
				errs = append(errs, fmt.Errorf("%s facet %q: _schemaURL %v, want %s", container, key, got, fs.url))
			}
			if err := fs.schema.Validate(map[string]any{key: f}); err != nil {
				errs = append(errs, fmt.Errorf("%s facet %q does not match its schema: %w", container, key, err))
			}
		}
	}
	run, _ := ev["run"].(map[string]any)
	job, _ := ev["job"].(map[string]any)
	check("run", run["facets"])
	check("job", job["facets"])
	for _, side := range []string{"inputs", "outputs"} {
		ds, _ := ev[side].([]any)
		for _, d := range ds {
			dm, _ := d.(map[string]any)
			check("dataset", dm["facets"])
			check("inputFacets", dm["inputFacets"])
			check("outputFacets", dm["outputFacets"])
		}
	}
	return ev, errs
}

// Validate is Check for a test: an event that is not a valid RunEvent ends the test, a facet
// problem is reported with t.Errorf. It returns the decoded event.
func (v *Validator) Validate(t testing.TB, raw []byte) map[string]any {
	t.Helper()
	ev, errs := v.Check(raw)
	if ev == nil {
		t.Fatalf("%v\n%s", errs[0], raw)
	}
	for _, err := range errs {
		t.Errorf("%v\n%s", err, raw)
	}
	return ev
}
