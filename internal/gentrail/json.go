package gentrail

import (
	"fmt"
	"strconv"
)

// The generator writes JSON with its own small encoder so that the order of every object's
// keys is the order CloudTrail uses (and so is fixed), and so that large archives are quick
// to make.

// kv is one member of an obj.
type kv struct {
	k string
	v any
}

// obj is a JSON object whose members keep their order. A nil obj is JSON null.
type obj []kv

// arr is a JSON array. A nil arr is JSON null; arr{} is [].
type arr []any

// appendJSON appends v's JSON encoding to b. v is nil, string, bool, int, int64, float64,
// obj, arr or []string.
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case string:
		return appendString(b, x)
	case bool:
		return strconv.AppendBool(b, x)
	case int:
		return strconv.AppendInt(b, int64(x), 10)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case float64:
		return strconv.AppendFloat(b, x, 'f', -1, 64)
	case obj:
		if x == nil {
			return append(b, "null"...)
		}
		b = append(b, '{')
		for i, m := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, m.k)
			b = append(b, ':')
			b = appendJSON(b, m.v)
		}
		return append(b, '}')
	case arr:
		if x == nil {
			return append(b, "null"...)
		}
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	case []string:
		if x == nil {
			return append(b, "null"...)
		}
		a := make(arr, len(x))
		for i, e := range x {
			a[i] = e
		}
		return appendJSON(b, a)
	default:
		panic(fmt.Sprintf("gentrail: cannot encode %T as JSON", v))
	}
}

// jsonText returns v's JSON encoding as a string (for fields CloudTrail logs as JSON text).
func jsonText(v any) string { return string(appendJSON(nil, v)) }

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. s must be valid UTF-8 (all generated text is).
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
