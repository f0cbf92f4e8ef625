package marketplace

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"unicode/utf8"
)

// The decoder reads a candidate record in one validating pass (checkJSON) and then walks
// the parts it wants as sub-slices of the record: members of objects, elements of arrays,
// raw values. It reads what encoding/json would read, field for field — keys matched
// exactly or case-insensitively, the last of duplicate keys winning, escapes decoded — but
// validates once, copies nothing it does not keep and builds no maps; decoding with
// encoding/json (a validation per nested Unmarshal, a map per object) was most of the
// per-event cost. reference_test.go holds the encoding/json decoder this one replaced, and
// a fuzz test checks that both give the same event for any input.

// maxDepth is encoding/json's nesting limit: a document nested deeper is invalid.
const maxDepth = 10000

// checkJSON reports whether b holds exactly one JSON value (whitespace around it allowed),
// by the grammar encoding/json accepts: any byte from 0x20 up inside strings (invalid UTF-8
// too), no control characters, escapes \" \\ \/ \b \f \n \r \t \uXXXX, and at most maxDepth
// levels of nesting.
func checkJSON(b []byte) bool {
	var stackBuf [32]byte
	stack := stackBuf[:0] // '{' or '[' for each open container
	i := ws(b, 0)
	for {
		// A value starts at i.
		if i >= len(b) {
			return false
		}
		switch c := b[i]; {
		case c == '{' || c == '[':
			if stack = append(stack, c); len(stack) > maxDepth {
				return false
			}
			i = ws(b, i+1)
			if i < len(b) && b[i] == c+2 { // '}' or ']'
				stack = stack[:len(stack)-1]
				i++
				break
			}
			if c == '{' {
				if i = memberKey(b, i); i < 0 {
					return false
				}
			}
			continue
		case c == '"':
			if i = stringEnd(b, i); i < 0 {
				return false
			}
		case c == '-' || '0' <= c && c <= '9':
			if i = numberEnd(b, i); i < 0 {
				return false
			}
		case c == 't':
			if !bytes.HasPrefix(b[i:], []byte("true")) {
				return false
			}
			i += 4
		case c == 'f':
			if !bytes.HasPrefix(b[i:], []byte("false")) {
				return false
			}
			i += 5
		case c == 'n':
			if !bytes.HasPrefix(b[i:], []byte("null")) {
				return false
			}
			i += 4
		default:
			return false
		}
		// A value ended at i: close containers until one continues with a comma.
		for {
			i = ws(b, i)
			if len(stack) == 0 {
				return i == len(b)
			}
			if i >= len(b) {
				return false
			}
			top := stack[len(stack)-1]
			if b[i] == top+2 {
				stack = stack[:len(stack)-1]
				i++
				continue
			}
			if b[i] != ',' {
				return false
			}
			i = ws(b, i+1)
			if top == '{' {
				if i = memberKey(b, i); i < 0 {
					return false
				}
			}
			break
		}
	}
}

// memberKey reads an object member's key and colon at i and returns where its value
// starts, or -1.
func memberKey(b []byte, i int) int {
	if i >= len(b) || b[i] != '"' {
		return -1
	}
	if i = stringEnd(b, i); i < 0 {
		return -1
	}
	if i = ws(b, i); i >= len(b) || b[i] != ':' {
		return -1
	}
	return ws(b, i+1)
}

// ws returns the index of the first byte from i on that is not JSON whitespace.
func ws(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// stringEnd checks the JSON string whose opening quote is at i and returns the index after
// its closing quote, or -1. It passes over eight plain bytes at a time.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		for i+8 <= len(b) && !special8(binary.LittleEndian.Uint64(b[i:])) {
			i += 8
		}
		if i >= len(b) {
			break
		}
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			if i++; i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// special8 reports whether any of the eight bytes in x ends or escapes a string or is a
// control character: a quote, a backslash or a byte below 0x20 (the classic SWAR tests for
// a zero byte and for a byte less than n, which never miss one).
func special8(x uint64) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	return ((quote-ones)&^quote|(backslash-ones)&^backslash|(x-ones*0x20)&^x)&highs != 0
}

// numberEnd checks the JSON number starting at i and returns the index after it, or -1.
func numberEnd(b []byte, i int) int {
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		if i++; i >= len(b) || b[i] < '0' || b[i] > '9' {
			return -1
		}
		i = digits(b, i)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		if i++; i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return -1
		}
		i = digits(b, i)
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// The functions below read JSON that checkJSON has accepted (a record, or a part of one),
// so they do not check it again.

// valueEnd returns the index after the valid JSON value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\n' && b[i] != '\r' && b[i] != '\t' {
		i++
	}
	return i
}

// trimmed returns the valid JSON value raw without the whitespace around it.
func trimmed(raw []byte) []byte {
	raw = raw[ws(raw, 0):]
	for len(raw) > 0 && (raw[len(raw)-1] == ' ' || raw[len(raw)-1] == '\n' || raw[len(raw)-1] == '\r' || raw[len(raw)-1] == '\t') {
		raw = raw[:len(raw)-1]
	}
	return raw
}

// isNull reports whether the trimmed value v is JSON null.
func isNull(v []byte) bool { return len(v) == 4 && string(v) == "null" }

// members iterates over the members of a valid JSON object: key is the key's JSON string
// (quotes included), val its value without surrounding whitespace.
type members struct {
	b []byte
	i int
}

// newMembers starts iterating over raw's members; ok is false when raw (a valid JSON
// value) is not an object.
func newMembers(raw []byte) (m members, ok bool) {
	raw = trimmed(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return members{}, false
	}
	return members{b: raw, i: 1}, true
}

func (m *members) next() (key, val []byte, ok bool) {
	i := ws(m.b, m.i)
	if i >= len(m.b) || m.b[i] == '}' {
		return nil, nil, false
	}
	if m.b[i] == ',' {
		i = ws(m.b, i+1)
	}
	k := stringEnd(m.b, i)
	key = m.b[i:k]
	i = ws(m.b, ws(m.b, k)+1) // past the colon
	end := valueEnd(m.b, i)
	m.i = end
	return key, m.b[i:end], true
}

// elements returns the elements of raw when raw (a valid JSON value) is an array.
func elements(raw []byte) ([][]byte, bool) {
	raw = trimmed(raw)
	if len(raw) == 0 || raw[0] != '[' {
		return nil, false
	}
	var out [][]byte
	for i := ws(raw, 1); i < len(raw) && raw[i] != ']'; {
		end := valueEnd(raw, i)
		out = append(out, raw[i:end])
		if i = ws(raw, end); i < len(raw) && raw[i] == ',' {
			i = ws(raw, i+1)
		}
	}
	if out == nil {
		out = [][]byte{} // an empty array is still an array
	}
	return out, true
}

// keyText returns a member key's text (its JSON string decoded as encoding/json decodes
// keys: escapes resolved, invalid UTF-8 as U+FFFD) without copying when it has no escapes.
func keyText(key []byte) []byte {
	inner := key[1 : len(key)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return inner
	}
	var s string
	json.Unmarshal(key, &s) // key is a valid JSON string
	return []byte(s)
}

// A field is a struct field encoding/json would decode a member into: name is its JSON
// name; list marks a []json.RawMessage field, which only an array or null sets (another
// value is a type error, which leaves it as it was).
type field struct {
	name string
	list bool
}

// fields reads the members of the JSON object raw that encoding/json would decode into
// struct fields fs (keys matched exactly or case-insensitively, the last of duplicates
// winning) and stores their values in vals, nil for absent. isObject is false when raw is
// not an object; ok is also false when a list field got a value that is not an array —
// what encoding/json's Unmarshal reports as an error after decoding the other fields.
func fields(raw []byte, fs []field, vals [][]byte) (isObject, ok bool) {
	m, isObject := newMembers(raw)
	if !isObject {
		return false, false
	}
	ok = true
	for {
		key, val, more := m.next()
		if !more {
			return true, ok
		}
		name := keyText(key)
		ascii := isASCII(name)
		for i, f := range fs {
			if !foldEq(name, ascii, f.name) {
				continue
			}
			if f.list && val[0] != '[' && !isNull(val) {
				ok = false
				break
			}
			vals[i] = val
			break
		}
	}
}

// foldEq reports whether name equals s under Unicode case folding (bytes.EqualFold, which
// is how encoding/json matches keys to field names, and how strings.EqualFold compares map
// keys). ascii says name is all ASCII, the common case, compared without decoding runes.
func foldEq(name []byte, ascii bool, s string) bool {
	if !ascii {
		return bytes.EqualFold(name, []byte(s))
	}
	if len(name) != len(s) {
		return false
	}
	for i := range len(name) {
		c, d := name[i], s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'A' <= d && d <= 'Z' {
			d += 'a' - 'A'
		}
		if c != d {
			return false
		}
	}
	return true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// textOf reads a scalar the way the text type's UnmarshalJSON does; absent is not ok.
func textOf(val []byte) text {
	var t text
	if val != nil {
		t.UnmarshalJSON(val)
	}
	return t
}

// flagOf reads a boolean the way the flag type's UnmarshalJSON does; absent is unknown.
func flagOf(val []byte) flag {
	var f flag
	if val != nil {
		f.UnmarshalJSON(val)
	}
	return f
}

// listOf returns the elements of a list field's value (nil for absent or null).
func listOf(val []byte) [][]byte {
	list, _ := elements(val)
	return list
}

// A foldMatch is a member of an object whose key matched one of the keys looked for.
type foldMatch struct {
	key      int    // which of the keys
	name     []byte // the member's key text
	val      []byte
	shadowed bool // a later member has the same key text: encoding/json's map keeps that one
}

// foldMembers collects the members of the JSON object raw whose keys strings.EqualFold one
// of keys — what encoding/json leaves in a map[string]json.RawMessage for those keys. ok is
// false when raw is not an object.
func foldMembers(raw []byte, keys ...string) (found []foldMatch, ok bool) {
	m, ok := newMembers(raw)
	if !ok {
		return nil, false
	}
	for {
		k, val, more := m.next()
		if !more {
			return found, true
		}
		name := keyText(k)
		ascii := isASCII(name)
		for ki, key := range keys {
			if !foldEq(name, ascii, key) {
				continue
			}
			for i := range found {
				if bytes.Equal(found[i].name, name) {
					found[i].shadowed = true
				}
			}
			found = append(found, foldMatch{key: ki, name: name, val: val})
			break
		}
	}
}

// pick returns, of the found members for keys[key], the value of the smallest key text in
// sorted order — as taking sorted map keys would — passing over the values accept rejects
// (accept nil accepts any).
func pick(found []foldMatch, key int, accept func(val []byte) bool) ([]byte, bool) {
	var best *foldMatch
	for {
		best = nil
		for i := range found {
			f := &found[i]
			if f.key != key || f.shadowed || best != nil && bytes.Compare(f.name, best.name) >= 0 {
				continue
			}
			best = f
		}
		if best == nil {
			return nil, false
		}
		if accept == nil || accept(best.val) {
			return best.val, true
		}
		best.shadowed = true // passed over: try the next key text
	}
}

// foldLookup finds key in the JSON object raw: pick over foldMembers for one key.
func foldLookup(raw []byte, key string) ([]byte, bool) {
	found, ok := foldMembers(raw, key)
	if !ok {
		return nil, false
	}
	return pick(found, 0, nil)
}
