package plugin

import (
	"context"
	"fmt"

	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
)

// ArrowFunc is a team's own transform on the arrow engine: it gets the node's inputs as record
// readers (by input node id) and the params of the node's `params` field, and returns the output
// as a record reader, which the runner streams into staging. Stream where you can: the inputs
// are not in memory.
type ArrowFunc func(ctx context.Context, inputs map[string]array.RecordReader, params map[string]any, mem memory.Allocator) (array.RecordReader, error)

// RegisterArrowFunc makes fn callable as `function: name` on the arrow engine. It panics on an
// empty or duplicate name.
func (r *Registry) RegisterArrowFunc(name string, fn ArrowFunc) {
	if name == "" || fn == nil {
		panic("plugin: RegisterArrowFunc needs a name and a function")
	}
	RegisterFunc(r, "arrow", name, fn)
}

// ArrowFunction returns a registered arrow function.
func (r *Registry) ArrowFunction(name string) (ArrowFunc, error) {
	fn, ok := Func[ArrowFunc](r, "arrow", name)
	if !ok {
		return nil, fmt.Errorf("arrow function %q is not registered in this runner", name)
	}
	return fn, nil
}
