package builtin

import (
	"regexp"

	"github.com/aiflow-dev/aiflow/plugin"
)

var (
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127}){1,2}$`)
)

// checkTable accepts namespace.table or catalog.namespace.table made of plain identifiers:
// the name reaches SQL and paths, so nothing else is allowed.
func checkTable(field, name string) error {
	if !tableRE.MatchString(name) {
		return plugin.Errorf(field, "%q is not a table name: use namespace.table with letters, digits and _", name)
	}
	return nil
}

func checkIdent(field, name string) error {
	if !identRE.MatchString(name) {
		return plugin.Errorf(field, "%q is not an identifier (letters, digits and _, at most 63)", name)
	}
	return nil
}
