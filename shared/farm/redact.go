package farm

import (
	"bytes"
	"encoding/json"
)

// Redacted replaces a secret value in a payload shown to other readers.
const Redacted = "[redacted]"

// Redact returns payload, a payload of type kind, with the values of the
// fields the type marks secret replaced by Redacted, for readers other than
// the job's owner and admins; the second result says whether anything was
// replaced. An unknown type's payload is returned as it is.
func (r *Registry) Redact(kind string, payload json.RawMessage) (json.RawMessage, bool) {
	typ, err := r.Lookup(kind)
	if err != nil {
		return payload, false
	}
	secrets := typ.Secrets()
	if len(secrets) == 0 {
		return payload, false
	}
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil {
		return payload, false
	}
	changed := false
	for _, sec := range secrets {
		raw, ok := fields[sec.Field]
		if !ok || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
			continue
		}
		var out json.RawMessage
		var did bool
		switch {
		case sec.Values:
			out, did = redactValues(raw)
		case sec.FollowOns:
			out, did = r.redactFollowOns(raw)
		default:
			out, did = json.RawMessage(`"`+Redacted+`"`), true
		}
		if did {
			fields[sec.Field], changed = out, true
		}
	}
	if !changed {
		return payload, false
	}
	b, err := json.Marshal(fields)
	if err != nil {
		return json.RawMessage(`{}`), true
	}
	return b, true
}

// redactValues keeps an object's keys and replaces every value.
func redactValues(raw json.RawMessage) (json.RawMessage, bool) {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return json.RawMessage(`"` + Redacted + `"`), true
	}
	if len(m) == 0 {
		return raw, false
	}
	out := make(map[string]string, len(m))
	for k := range m {
		out[k] = Redacted
	}
	b, _ := json.Marshal(out)
	return b, true
}

// redactFollowOns redacts each follow-on's payload as its type says.
func (r *Registry) redactFollowOns(raw json.RawMessage) (json.RawMessage, bool) {
	var list []map[string]json.RawMessage
	if json.Unmarshal(raw, &list) != nil {
		return json.RawMessage(`"` + Redacted + `"`), true
	}
	changed := false
	for _, f := range list {
		var kind string
		if json.Unmarshal(f["type"], &kind) != nil {
			continue
		}
		if p, did := r.Redact(kind, f["payload"]); did {
			f["payload"], changed = p, true
		}
	}
	if !changed {
		return raw, false
	}
	b, _ := json.Marshal(list)
	return b, true
}
