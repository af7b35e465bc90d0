package ddbunits

import (
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// applyUpdate returns the item an UpdateItem leaves, from the item before
// it (nil when there was none: then the key alone) and its update
// expression. It knows what the sizes and the index keys need: SET of an
// attribute to a value, to another attribute, if_not_exists, list_append
// and + / - on numbers; REMOVE; ADD and DELETE of numbers and sets; paths
// one level into a map (a.b) or a list (a[3]). A part it cannot evaluate
// leaves its attribute as it was.
func applyUpdate(old, key map[string]types.AttributeValue, expr string, names map[string]string, values map[string]types.AttributeValue) map[string]types.AttributeValue {
	item := maps.Clone(old)
	if item == nil {
		item = maps.Clone(key)
	}
	if item == nil {
		item = map[string]types.AttributeValue{}
	}
	u := updater{item: item, names: names, values: values}
	for _, c := range clauses(expr) {
		for _, action := range splitTop(c.body, ',') {
			action = strings.TrimSpace(action)
			if action == "" {
				continue
			}
			switch c.verb {
			case "SET":
				lhs, rhs, ok := strings.Cut(action, "=")
				if ok {
					u.set(u.path(lhs), u.eval(rhs))
				}
			case "REMOVE":
				u.set(u.path(action), nil)
			case "ADD", "DELETE":
				f := strings.Fields(action)
				if len(f) == 2 {
					p := u.path(f[0])
					u.set(p, addDelete(c.verb, u.get(p), u.eval(f[1])))
				}
			}
		}
	}
	return item
}

type clause struct{ verb, body string }

// clauses splits an update expression at its SET, REMOVE, ADD and DELETE
// keywords (outside parentheses).
func clauses(expr string) []clause {
	var out []clause
	depth, start := 0, -1
	verb := ""
	for i := 0; i < len(expr); i++ {
		switch expr[i] {
		case '(':
			depth++
			continue
		case ')':
			depth--
			continue
		}
		if depth != 0 || (i > 0 && isWord(expr[i-1])) {
			continue
		}
		for _, kw := range []string{"SET", "REMOVE", "ADD", "DELETE"} {
			end := i + len(kw)
			if end <= len(expr) && strings.EqualFold(expr[i:end], kw) && (end == len(expr) || !isWord(expr[end])) {
				if start >= 0 {
					out = append(out, clause{verb, expr[start:i]})
				}
				verb, start = kw, end
				i = end - 1
				break
			}
		}
	}
	if start >= 0 {
		out = append(out, clause{verb, expr[start:]})
	}
	return out
}

func isWord(c byte) bool {
	return c == '_' || c == '#' || c == ':' || c == '.' || c == '[' || c == ']' ||
		(c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// splitTop splits s at sep outside parentheses.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '(':
			depth++
		case ')':
			depth--
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

type updater struct {
	item   map[string]types.AttributeValue
	names  map[string]string
	values map[string]types.AttributeValue
}

// path is an attribute path: its top-level name and at most one step
// below it (a map key or a list index; index -1 for none).
type path struct {
	top, field string
	index      int
}

func (u updater) name(n string) string {
	n = strings.TrimSpace(n)
	if r, ok := u.names[n]; ok {
		return r
	}
	return n
}

func (u updater) path(s string) path {
	s = strings.TrimSpace(s)
	p := path{index: -1}
	head, rest, dotted := strings.Cut(s, ".")
	if i := strings.IndexByte(head, '['); i >= 0 {
		p.top = u.name(head[:i])
		if j := strings.IndexByte(head[i:], ']'); j > 0 {
			p.index, _ = strconv.Atoi(head[i+1 : i+j])
		}
		return p
	}
	p.top = u.name(head)
	if dotted {
		f, _, _ := strings.Cut(rest, ".")
		if i := strings.IndexByte(f, '['); i >= 0 {
			f = f[:i]
		}
		p.field = u.name(f)
	}
	return p
}

func (u updater) get(p path) types.AttributeValue {
	v := u.item[p.top]
	switch {
	case p.field != "":
		if m, ok := v.(*types.AttributeValueMemberM); ok {
			return m.Value[p.field]
		}
		return nil
	case p.index >= 0:
		if l, ok := v.(*types.AttributeValueMemberL); ok && p.index < len(l.Value) {
			return l.Value[p.index]
		}
		return nil
	}
	return v
}

// set puts v at p (nil removes it).
func (u updater) set(p path, v types.AttributeValue) {
	switch {
	case p.field != "":
		m, ok := u.item[p.top].(*types.AttributeValueMemberM)
		if !ok {
			return
		}
		nm := maps.Clone(m.Value)
		if v == nil {
			delete(nm, p.field)
		} else {
			nm[p.field] = v
		}
		u.item[p.top] = &types.AttributeValueMemberM{Value: nm}
	case p.index >= 0:
		l, ok := u.item[p.top].(*types.AttributeValueMemberL)
		if !ok {
			return
		}
		nl := slices.Clone(l.Value)
		switch {
		case v == nil && p.index < len(nl):
			nl = slices.Delete(nl, p.index, p.index+1)
		case v != nil && p.index < len(nl):
			nl[p.index] = v
		case v != nil:
			nl = append(nl, v)
		}
		u.item[p.top] = &types.AttributeValueMemberL{Value: nl}
	case v == nil:
		delete(u.item, p.top)
	default:
		u.item[p.top] = v
	}
}

// eval evaluates a SET operand (nil when it cannot).
func (u updater) eval(s string) types.AttributeValue {
	s = strings.TrimSpace(s)
	if parts := splitTop(s, '+'); len(parts) == 2 {
		return arithmetic(u.eval(parts[0]), u.eval(parts[1]))
	}
	if parts := splitTop(s, '-'); len(parts) == 2 && !strings.HasPrefix(s, "-") {
		return arithmetic(u.eval(parts[0]), u.eval(parts[1]))
	}
	fn, args, isCall := strings.Cut(s, "(")
	if isCall && strings.HasSuffix(args, ")") {
		a := splitTop(strings.TrimSuffix(args, ")"), ',')
		switch strings.ToLower(strings.TrimSpace(fn)) {
		case "if_not_exists":
			if len(a) == 2 {
				if v := u.get(u.path(a[0])); v != nil {
					return v
				}
				return u.eval(a[1])
			}
		case "list_append":
			if len(a) == 2 {
				x, _ := u.eval(a[0]).(*types.AttributeValueMemberL)
				y, _ := u.eval(a[1]).(*types.AttributeValueMemberL)
				var out []types.AttributeValue
				if x != nil {
					out = append(out, x.Value...)
				}
				if y != nil {
					out = append(out, y.Value...)
				}
				return &types.AttributeValueMemberL{Value: out}
			}
		}
		return nil
	}
	if strings.HasPrefix(s, ":") {
		return u.values[s]
	}
	return u.get(u.path(s))
}

// arithmetic is a number of the larger operand's size (the value itself
// does not matter here).
func arithmetic(a, b types.AttributeValue) types.AttributeValue {
	x, _ := a.(*types.AttributeValueMemberN)
	y, _ := b.(*types.AttributeValueMemberN)
	switch {
	case x == nil:
		return y
	case y == nil || len(x.Value) >= len(y.Value):
		return x
	}
	return y
}

// addDelete applies ADD or DELETE of v to cur.
func addDelete(verb string, cur, v types.AttributeValue) types.AttributeValue {
	switch v := v.(type) {
	case *types.AttributeValueMemberN:
		if verb == "ADD" {
			if cur == nil {
				return v
			}
			return arithmetic(cur, v)
		}
	case *types.AttributeValueMemberSS:
		have, _ := cur.(*types.AttributeValueMemberSS)
		var set []string
		if have != nil {
			set = slices.Clone(have.Value)
		}
		for _, s := range v.Value {
			i := slices.Index(set, s)
			switch {
			case verb == "ADD" && i < 0:
				set = append(set, s)
			case verb == "DELETE" && i >= 0:
				set = slices.Delete(set, i, i+1)
			}
		}
		if len(set) == 0 {
			return nil
		}
		return &types.AttributeValueMemberSS{Value: set}
	}
	return cur
}
