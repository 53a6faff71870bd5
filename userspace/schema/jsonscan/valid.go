package jsonscan

// Valid reports whether b is one valid JSON value (surrounded by optional
// whitespace), exactly as encoding/json.Valid does: the RFC 8259 grammar,
// strings may hold any bytes but control characters (UTF-8 is not checked),
// at most maxDepth nested arrays and objects. It is several times faster
// than json.Valid's state machine (BenchmarkValid), which matters because
// every request body is validated once before anything trusts it.
func Valid(b []byte) bool {
	v := validator{b: b}
	i, ok := v.value(SkipWS(b, 0), 0)
	return ok && SkipWS(b, i) == len(b)
}

// ValidObject is Valid for a body that should be a JSON object, and in the
// same pass hands each of its top-level members to member: the key without
// quotes (still escaped) and the value's span, in order, duplicates
// included. object reports whether the value is an object; member is
// called only for one, and may have been called for members before the
// point where an invalid one fails.
func ValidObject(b []byte, member func(key []byte, vs, ve int)) (valid, object bool) {
	i := SkipWS(b, 0)
	if i >= len(b) || b[i] != '{' {
		return Valid(b), false
	}
	v := validator{b: b}
	i, ok := v.object(i, 0, member)
	return ok && SkipWS(b, i) == len(b), true
}

// maxDepth is encoding/json's nesting limit.
const maxDepth = 10000

type validator struct{ b []byte }

// plain marks the bytes a string may hold without a closer look: not '"',
// not '\\', not a control character.
var plain = func() (t [256]bool) {
	for c := 0x20; c < 256; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// value checks the value starting at b[i] and returns the index after it.
func (v *validator) value(i, depth int) (int, bool) {
	b := v.b
	if i >= len(b) {
		return i, false
	}
	switch c := b[i]; {
	case c == '"':
		return v.str(i)
	case c == '{':
		return v.object(i, depth, nil)
	case c == '[':
		if depth >= maxDepth {
			return i, false
		}
		i = SkipWS(b, i+1)
		if i < len(b) && b[i] == ']' {
			return i + 1, true
		}
		for {
			var ok bool
			if i, ok = v.value(i, depth+1); !ok {
				return i, false
			}
			i = SkipWS(b, i)
			if i >= len(b) {
				return i, false
			}
			switch b[i] {
			case ',':
				i = SkipWS(b, i+1)
			case ']':
				return i + 1, true
			default:
				return i, false
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return v.number(i)
	case c == 't':
		return v.literal(i, "true")
	case c == 'f':
		return v.literal(i, "false")
	case c == 'n':
		return v.literal(i, "null")
	}
	return i, false
}

// object checks the object starting at b[i] and returns the index after
// it, calling member, when not nil, for each of its members.
func (v *validator) object(i, depth int, member func(key []byte, vs, ve int)) (int, bool) {
	b := v.b
	if depth >= maxDepth {
		return i, false
	}
	i = SkipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, true
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return i, false
		}
		ks := i
		var ok bool
		if i, ok = v.str(i); !ok {
			return i, false
		}
		ke := i
		i = SkipWS(b, i)
		if i >= len(b) || b[i] != ':' {
			return i, false
		}
		vs := SkipWS(b, i+1)
		if i, ok = v.value(vs, depth+1); !ok {
			return i, false
		}
		if member != nil {
			member(b[ks+1:ke-1], vs, i)
		}
		i = SkipWS(b, i)
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case ',':
			i = SkipWS(b, i+1)
		case '}':
			return i + 1, true
		default:
			return i, false
		}
	}
}

func (v *validator) literal(i int, lit string) (int, bool) {
	if len(v.b)-i < len(lit) || string(v.b[i:i+len(lit)]) != lit {
		return i, false
	}
	return i + len(lit), true
}

// str checks the string starting at b[i] == '"'.
func (v *validator) str(i int) (int, bool) {
	b := v.b
	i++
	for {
		for i+8 <= len(b) && plain[b[i]] && plain[b[i+1]] && plain[b[i+2]] && plain[b[i+3]] &&
			plain[b[i+4]] && plain[b[i+5]] && plain[b[i+6]] && plain[b[i+7]] {
			i += 8
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			return i, false
		}
		switch b[i] {
		case '"':
			return i + 1, true
		case '\\':
			if i+1 >= len(b) {
				return i, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					return i, false
				}
				for _, h := range b[i+2 : i+6] {
					if !isHex(h) {
						return i, false
					}
				}
				i += 6
			default:
				return i, false
			}
		default: // a control character
			return i, false
		}
	}
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// number checks -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at b[i].
func (v *validator) number(i int) (int, bool) {
	b := v.b
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return i, false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return i, false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return i, false
		}
		i = j
	}
	return i, true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
