//go:build !nospark

package spark

// SetHook makes the engine and the onelake sink call f at named points of a node
// ("inputs-registered", "sink-input-read", "sink-written"); it returns the function that
// removes the hook.
func SetHook(f func(stage string) error) (restore func()) {
	testHook = f
	return func() { testHook = nil }
}

// TableLockName is the name of a catalog table's lock.
var TableLockName = tableLockName
