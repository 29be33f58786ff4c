package cli

// The runtimes register themselves in plugin.Default; importing them here makes cli.Run a whole
// runner (tests included), and cmd/aiflow-runner only wires main.
import (
	_ "github.com/aiflow-dev/aiflow/internal/arrowengine"
	_ "github.com/aiflow-dev/aiflow/internal/files"
	_ "github.com/aiflow-dev/aiflow/internal/onelake"
	_ "github.com/aiflow-dev/aiflow/internal/pyengine"
	_ "github.com/aiflow-dev/aiflow/plugin/builtin"
)
