package cli

// The built-in plugins register themselves in plugin.Default, which Run uses; a runner with its
// own plugin set calls RunWith (package runner) with its own registry.
import _ "github.com/aiflow-dev/aiflow/plugin/builtin"
