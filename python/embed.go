// Package python embeds the aiflow_sdk Python package so that the runner carries the exact
// python-engine shim it speaks to: the protocol between the Go side and aiflow_sdk.runtime never
// drifts between an image's Python packages and its runner.
package python

import "embed"

// SDK holds aiflow_sdk/*.py.
//
//go:embed aiflow_sdk/*.py
var SDK embed.FS
