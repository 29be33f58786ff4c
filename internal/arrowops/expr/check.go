package expr

import "strings"

// Check parses src and checks what needs no schema: the syntax, every literal (a date that
// does not exist, an integer out of range), every function's name and argument count. Column
// references and types are left to Compile, which needs the input's schema; validate runs Check
// on every expression whose input schema it does not know, so a broken expression fails there
// and not in the pod.
func Check(src string) error {
	n, err := Parse(src)
	if err != nil {
		return err
	}
	b := &binder{src: src, seen: map[string]bool{}}
	return b.check(n)
}

// arity is the argument count of each scalar function; -1: one or more.
var arity = map[string]int{"abs": 1, "coalesce": -1, "length": 1, "lower": 1, "upper": 1}

func (b *binder) check(n Node) error {
	switch x := n.(type) {
	case *Lit:
		_, err := b.bindLit(x)
		return err
	case *Unary:
		return b.check(x.X)
	case *Binary:
		if err := b.check(x.L); err != nil {
			return err
		}
		return b.check(x.R)
	case *IsNull:
		return b.check(x.X)
	case *In:
		for _, e := range append([]Node{x.X}, x.List...) {
			if err := b.check(e); err != nil {
				return err
			}
		}
	case *Call:
		if x.Star {
			return b.errAt(x.At, "%s(*) is only valid as an aggregate", x.Name)
		}
		want, ok := arity[x.Name]
		switch {
		case !ok:
			return b.errAt(x.At, "unknown function %s%s (known: %s)", x.Name, FunctionHint(x.Name), strings.Join(Functions, ", "))
		case want < 0 && len(x.Args) == 0:
			return b.errAt(x.At, "%s needs at least one argument", x.Name)
		case want >= 0 && len(x.Args) != want:
			return b.errAt(x.At, "%s takes %d argument(s), got %d", x.Name, want, len(x.Args))
		}
		for _, a := range x.Args {
			if err := b.check(a); err != nil {
				return err
			}
		}
	}
	return nil
}
