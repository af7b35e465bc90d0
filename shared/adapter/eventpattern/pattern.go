// Package eventpattern is the subset of EventBridge event-pattern syntax the
// farm's Lambda event-source filters use, as data and as a matcher: the CDK
// stack renders a Filter into an event source mapping's FilterCriteria, and
// the local runtime runs the same Filter over the records it reads, so that
// both invoke a handler for the same records.
//
// The subset: a pattern is a JSON object whose keys name fields of the event
// (all must match); a key's value is either a nested pattern or a list of
// rules, any one of which must match the field's value: a literal (string,
// number, boolean or null: equal), {"exists": true|false}, or
// {"anything-but": literal or [literals]} (the field is present and equal to
// none of them). Compile refuses anything else, so that a filter cannot use
// syntax the local matcher would get wrong.
package eventpattern

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
)

// Pattern is one event pattern: field name -> nested Pattern, or -> a list
// of rules ([]any of literals and the maps Exists and AnythingBut return).
type Pattern map[string]any

// Filter is a list of patterns; an event passes when any one matches (an
// event source mapping ORs its filters).
type Filter []Pattern

// Equal is the rule list matching any of values.
func Equal(values ...any) []any { return values }

// Exists is the rule list matching a field that is present (true) or
// absent (false). On DynamoDB records use it on the typed leaf
// (attr.S, attr.BOOL): EventBridge matches exists on leaves only.
func Exists(present bool) []any { return []any{map[string]any{"exists": present}} }

// AnythingBut is the rule list matching a present field equal to none of
// values.
func AnythingBut(values ...any) []any { return []any{map[string]any{"anything-but": values}} }

// JSON is the pattern as an event source mapping takes it: compact JSON,
// keys sorted.
func (p Pattern) JSON() string {
	raw, err := json.Marshal(p)
	if err != nil {
		panic(fmt.Sprintf("eventpattern: pattern is not JSON: %v", err)) // built from literals in code
	}
	return string(raw)
}

// Patterns are the filter's patterns as JSON, in order.
func (f Filter) Patterns() []string {
	out := make([]string, len(f))
	for i, p := range f {
		out[i] = p.JSON()
	}
	return out
}

// Matcher runs compiled patterns over events.
type Matcher struct {
	patterns []map[string]any
}

// Compile parses patterns given as JSON (as an event source mapping holds
// them) and checks that they use only the supported subset.
func Compile(patterns ...string) (*Matcher, error) {
	m := &Matcher{}
	for i, raw := range patterns {
		var p map[string]any
		dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil {
			return nil, fmt.Errorf("pattern %d: %w", i, err)
		}
		if err := check(p, ""); err != nil {
			return nil, fmt.Errorf("pattern %d: %w", i, err)
		}
		m.patterns = append(m.patterns, p)
	}
	return m, nil
}

// MustCompile is Compile of a Filter defined in code, which is valid.
func (f Filter) MustCompile() *Matcher {
	m, err := Compile(f.Patterns()...)
	if err != nil {
		panic(err)
	}
	return m
}

func check(p map[string]any, path string) error {
	if len(p) == 0 {
		return fmt.Errorf("%s: empty pattern", orRoot(path))
	}
	for k, v := range p {
		at := path + "." + k
		switch v := v.(type) {
		case map[string]any:
			if err := check(v, at); err != nil {
				return err
			}
		case []any:
			if len(v) == 0 {
				return fmt.Errorf("%s: empty rule list", at)
			}
			for _, r := range v {
				if err := checkRule(r, at); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%s: a field's value must be a pattern or a list of rules, not %T", at, v)
		}
	}
	return nil
}

func checkRule(r any, at string) error {
	op, ok := r.(map[string]any)
	if !ok {
		return checkLiteral(r, at)
	}
	if len(op) != 1 {
		return fmt.Errorf("%s: a rule object has one operator", at)
	}
	for name, arg := range op {
		switch name {
		case "exists":
			if _, ok := arg.(bool); !ok {
				return fmt.Errorf("%s: exists takes true or false", at)
			}
		case "anything-but":
			list, isList := arg.([]any)
			if !isList {
				list = []any{arg}
			}
			for _, l := range list {
				if err := checkLiteral(l, at); err != nil {
					return err
				}
			}
		default:
			return fmt.Errorf("%s: operator %q is not in the subset this matcher implements", at, name)
		}
	}
	return nil
}

func checkLiteral(v any, at string) error {
	switch v.(type) {
	case string, json.Number, bool, nil:
		return nil
	}
	return fmt.Errorf("%s: %T is not a literal", at, v)
}

func orRoot(path string) string {
	if path == "" {
		return "(root)"
	}
	return path
}

// Match reports whether an event, given as JSON, passes any pattern.
func (m *Matcher) Match(event []byte) (bool, error) {
	var ev any
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		return false, err
	}
	for _, p := range m.patterns {
		if matchObject(p, ev) {
			return true, nil
		}
	}
	return false, nil
}

// MatchValue is Match of a value that encodes to JSON (e.g. a Lambda
// event record).
func (m *Matcher) MatchValue(event any) (bool, error) {
	raw, err := json.Marshal(event)
	if err != nil {
		return false, err
	}
	return m.Match(raw)
}

// matchObject matches pattern p against ev, which may be absent (nil) or
// not an object: then every field is absent, which only exists:false
// accepts.
func matchObject(p map[string]any, ev any) bool {
	obj, _ := ev.(map[string]any)
	for k, want := range p {
		v, present := obj[k]
		switch want := want.(type) {
		case map[string]any:
			if !present {
				v = nil
			}
			if !matchObject(want, v) {
				return false
			}
		case []any:
			if !matchRules(want, v, present) {
				return false
			}
		}
	}
	return true
}

func matchRules(rules []any, v any, present bool) bool {
	if _, isObject := v.(map[string]any); isObject {
		present, v = false, nil // rules apply to leaves only
	}
	for _, r := range rules {
		if op, ok := r.(map[string]any); ok {
			if matchOperator(op, v, present) {
				return true
			}
			continue
		}
		if present && equalsAny(v, r) {
			return true
		}
	}
	return false
}

func matchOperator(op map[string]any, v any, present bool) bool {
	if want, ok := op["exists"].(bool); ok {
		return present == want
	}
	arg, ok := op["anything-but"]
	if !ok || !present {
		return false
	}
	list, isList := arg.([]any)
	if !isList {
		list = []any{arg}
	}
	return !slices.ContainsFunc(list, func(l any) bool { return equalsAny(v, l) })
}

// equalsAny: a literal equals a field's value, or one element of a field
// holding a list (EventBridge matches arrays element-wise).
func equalsAny(v, literal any) bool {
	if list, ok := v.([]any); ok {
		return slices.ContainsFunc(list, func(e any) bool { return equal(e, literal) })
	}
	return equal(v, literal)
}

func equal(a, b any) bool {
	na, aNum := a.(json.Number)
	nb, bNum := b.(json.Number)
	if aNum || bNum {
		if !aNum || !bNum {
			return false
		}
		fa, errA := na.Float64()
		fb, errB := nb.Float64()
		return errA == nil && errB == nil && fa == fb
	}
	switch a.(type) {
	case string, bool, nil:
		return a == b
	}
	return false
}
