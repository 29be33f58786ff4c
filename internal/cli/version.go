package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"

	"github.com/aiflow-dev/aiflow/plugin"
)

func init() {
	register(&command{name: "version", summary: "print version, commit, Go version and plugin set hash",
		new: func() any { return &versionCmd{} }})
}

type versionCmd struct {
	JSON bool `name:"json" help:"print a JSON object"`
}

// VersionJSON is what `version --json` prints.
type VersionJSON struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	Go        string `json:"go"`
	Platform  string `json:"platform"`
	PluginSet string `json:"plugin_set"`
}

func (c *versionCmd) Run(e *Env) error {
	if c.JSON {
		b, err := json.Marshal(VersionJSON{Version: version, Commit: commit, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH, PluginSet: PluginSetHash(e.Registry)})
		if err != nil {
			return err
		}
		fmt.Fprintf(e.Stdout, "%s\n", b)
		return nil
	}
	fmt.Fprintf(e.Stdout, "aiflow-runner %s (commit %s, %s %s/%s, plugins %s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH, PluginSetHash(e.Registry))
	return nil
}

// PluginSetHash identifies the set of plugins and their config fields compiled into this binary,
// so that a DAG compiled by one runner can be checked against the runner in the image.
func PluginSetHash(r *plugin.Registry) string {
	h := sha256.New()
	for _, role := range plugin.Roles {
		for _, kind := range r.Kinds(role) {
			s, _ := r.Lookup(role, kind)
			var names []string
			for _, f := range plugin.Fields(s.New()) {
				names = append(names, f.Name+":"+f.Type)
			}
			fmt.Fprintf(h, "%s/%s(%s)\n", role, kind, strings.Join(names, ","))
		}
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}
