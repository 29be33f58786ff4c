package node

import "github.com/aiflow-dev/aiflow/plugin"

// The runtime contract moved to the public plugin package so that a runner built outside this
// module can implement it; these aliases keep code written against node.Env compiling.
type (
	Env             = plugin.Env
	Output          = plugin.Output
	Committer       = plugin.Committer
	AfterCommitHook = plugin.AfterCommitHook
)

// OnCommitted registers an after-commit hook (see plugin.OnCommitted).
func OnCommitted(h AfterCommitHook) { plugin.OnCommitted(h) }
