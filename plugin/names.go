package plugin

import (
	"regexp"
)

var (
	identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)
	tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}(\.[A-Za-z_][A-Za-z0-9_]{0,127}){1,2}$`)
)

// CheckTable accepts namespace.table or catalog.namespace.table made of plain identifiers:
// the name reaches SQL and paths, so nothing else is allowed.
func CheckTable(field, name string) error {
	if !tableRE.MatchString(name) {
		return Errorf(field, "%q is not a table name: use namespace.table with letters, digits and _", name)
	}
	return nil
}

// CheckIdent accepts a plain SQL identifier (a column, a schema, a feature group).
func CheckIdent(field, name string) error {
	if !identRE.MatchString(name) {
		return Errorf(field, "%q is not an identifier (letters, digits and _, at most 63)", name)
	}
	return nil
}
