package logging

import (
	"slices"
	"strings"
)

// The rules are hand-written scanners rather than regular expressions: a
// case-insensitive pattern for every credential form costs Go's regexp
// tens of microseconds per string (measured: 65 µs for a one-line error,
// 190 µs for a presigned URL), these cost well under one.

// A span is a part of a string to hide: s[start:end].
type span struct{ start, end int }

// spans collects what the rules find in one string. Each rule scans the
// same string, so what one hides cannot stop another from seeing its own
// (in "Authorization=Bearer abc" the parameter rule hides Bearer and the
// authorization rule hides abc).
type spans struct {
	s     string
	n     int     // spans found
	first [8]span // the first ones: no allocation for most strings
	more  []span  // the others
}

// hide records s[start:end], unless it is empty or already [Redacted].
func (sp *spans) hide(start, end int) {
	if start >= end || sp.s[start:end] == Redacted {
		return
	}
	if sp.n < len(sp.first) {
		sp.first[sp.n] = span{start, end}
	} else {
		sp.more = append(sp.more, span{start, end})
	}
	sp.n++
}

// apply returns s with each span, overlapping ones merged, replaced by
// [Redacted]; s itself when there are none.
func (sp *spans) apply() string {
	if sp.n == 0 {
		return sp.s
	}
	list := append(sp.first[:min(sp.n, len(sp.first))], sp.more...)
	slices.SortFunc(list, func(a, b span) int { return a.start - b.start })
	var b strings.Builder
	last := 0
	for i := 0; i < len(list); {
		cur := list[i]
		for i++; i < len(list) && list[i].start <= cur.end; i++ {
			cur.end = max(cur.end, list[i].end)
		}
		b.WriteString(sp.s[last:cur.start])
		b.WriteString(Redacted)
		last = cur.end
	}
	b.WriteString(sp.s[last:])
	return b.String()
}

// isNameByte reports whether c may be part of a parameter or field name.
func isNameByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.'
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// endsValue reports whether c ends an unquoted parameter value: whitespace,
// a quote, or a character that separates values in URLs, lists and code.
func endsValue(c byte) bool {
	switch c {
	case '&', '"', '\'', '\\', ',', ';', '#', '<', '>', '(', ')', '{', '}', '[', ']':
		return true
	}
	return isSpace(c)
}

// findParams finds the values of credential parameters and fields:
// name=value, name%3Dvalue, "name":"value", {Name:value} and header lines
// (Name: value).
func findParams(sp *spans) {
	s := sp.s
	for i := 0; i < len(s); {
		j := strings.IndexAny(s[i:], "=:%")
		if j < 0 {
			break
		}
		i += j
		next := i + 1
		switch s[i] {
		case '=':
			next = max(next, paramValue(sp, i, i+1, true))
		case '%':
			if i+2 < len(s) && s[i+1] == '3' && (s[i+2] == 'd' || s[i+2] == 'D') {
				next = max(next, paramValue(sp, i, i+3, false))
			}
		case ':':
			next = max(next, colonValue(sp, i))
		}
		i = next
	}
}

// paramName returns where the name ending at end starts, and the byte
// before it (0 at the start of s). A name after a percent escape (%26sig,
// %3Fcode) starts after it, and the escaped byte is the one before.
func paramName(s string, end int) (start int, before byte) {
	start = end
	for start > 0 && isNameByte(s[start-1]) {
		start--
	}
	if start > 0 && s[start-1] == '%' && end-start > 2 && isHex(s[start]) && isHex(s[start+1]) {
		return start + 2, unhex(s[start])<<4 | unhex(s[start+1])
	}
	if start > 0 {
		before = s[start-1]
	}
	return start, before
}

// isCredParam reports whether name=… holds a credential: a secret key, or
// OAuth's code where a query or form field starts (elsewhere "code" is
// usually an error code).
func isCredParam(name string, start int, before byte) bool {
	if isSecretKey(name) {
		return true
	}
	return strings.EqualFold(name, "code") && (start == 0 || before == '?' || before == '&')
}

// paramValue hides the value of name=value (sep is the '=', from where the
// value may start after spaces) or name%3Dvalue (plain false: the value is
// URL-encoded and ends at %26). It returns where scanning goes on, or -1.
func paramValue(sp *spans, sep, from int, plain bool) int {
	s := sp.s
	ne := sep
	if plain {
		for ne > 0 && (s[ne-1] == ' ' || s[ne-1] == '\t') {
			ne--
		}
	}
	ns, before := paramName(s, ne)
	if ns == ne || !isCredParam(s[ns:ne], ns, before) {
		return -1
	}
	v := from
	if !plain {
		e := v
		for e < len(s) && !endsValue(s[e]) {
			if s[e] == '%' {
				if e+2 >= len(s) || !isHex(s[e+1]) || !isHex(s[e+2]) || s[e+1] == '2' && s[e+2] == '6' {
					break
				}
				e += 2
			}
			e++
		}
		sp.hide(v, e)
		return e
	}
	for v < len(s) && (s[v] == ' ' || s[v] == '\t') {
		v++
	}
	switch {
	case strings.HasPrefix(s[v:], `\"`): // inside a quoted string: token=\"abc\"
		e := strings.Index(s[v+2:], `\"`)
		if e < 0 {
			e = len(s)
		} else {
			e += v + 2
		}
		sp.hide(v+2, e)
		return e
	case v < len(s) && s[v] == '"': // token="a b"
		e := v + 1
		for e < len(s) && s[e] != '"' {
			if s[e] == '\\' {
				e++
			}
			e++
		}
		e = min(e, len(s))
		sp.hide(v+1, e)
		return e
	}
	e := v
	for e < len(s) && !endsValue(s[e]) {
		e++
	}
	sp.hide(v, e)
	return e
}

// colonValue hides the value after the colon at i when it follows a
// credential name: in JSON ("name":"value", also with escaped quotes), in
// a header line (X-Amz-Security-Token: value) or in Go's %+v ({Token:value}).
// It returns where scanning goes on, or -1.
func colonValue(sp *spans, i int) int {
	s := sp.s
	// JSON: the name is quoted, the value a string.
	q := i
	for q > 0 && (s[q-1] == ' ' || s[q-1] == '\t') {
		q--
	}
	if q > 0 && s[q-1] == '"' {
		ne := q - 1
		escaped := ne > 0 && s[ne-1] == '\\'
		if escaped {
			ne--
		}
		ns := ne
		for ns > 0 && isNameByte(s[ns-1]) {
			ns--
		}
		open := ns > 0 && s[ns-1] == '"' && (!escaped || ns > 1 && s[ns-2] == '\\')
		if !open || ns == ne || !isSecretKey(s[ns:ne]) {
			return -1
		}
		v := i + 1
		for v < len(s) && (s[v] == ' ' || s[v] == '\t') {
			v++
		}
		switch {
		case strings.HasPrefix(s[v:], `\"`):
			v += 2
		case v < len(s) && s[v] == '"':
			v++
		default:
			return -1 // a number, object or array: not a string credential
		}
		e := v
		for e < len(s) && s[e] != '"' {
			if s[e] == '\\' {
				if e+1 < len(s) && s[e+1] == '"' {
					break
				}
				e++
			}
			e++
		}
		e = min(e, len(s))
		sp.hide(v, e)
		return e
	}

	ns := i
	for ns > 0 && isNameByte(s[ns-1]) {
		ns--
	}
	if ns == i || !isSecretKey(s[ns:i]) {
		return -1
	}
	// A header line: the name starts the line and has a '-' (so that
	// prose such as "token: HTTP 401" is left alone); the value is the
	// rest of the line.
	if (ns == 0 || s[ns-1] == '\n') && strings.IndexByte(s[ns+1:i], '-') >= 0 && !strings.Contains(s[ns:i], ".") {
		v := i + 1
		for v < len(s) && (s[v] == ' ' || s[v] == '\t') {
			v++
		}
		e := v
		for e < len(s) && s[e] != '\r' && s[e] != '\n' {
			e++
		}
		sp.hide(v, e)
		return e
	}
	// Go's %+v: {Name:value}, the name after a space or an opening
	// bracket, the value straight after the colon.
	if ns > 0 {
		switch c := s[ns-1]; {
		case c == '{' || c == '(' || c == '[' || c == ',' || isSpace(c):
		default:
			return -1
		}
	}
	e := i + 1
	for e < len(s) && (s[e] == '#' || !endsValue(s[e])) { // a '#' is a Go value's
		e++
	}
	sp.hide(i+1, e)
	return e
}

// findAuth finds the credentials after Bearer and Basic (any case), but not
// an English word after them ("the bearer token expired").
func findAuth(sp *spans) {
	s := sp.s
	for i := 0; i < len(s); i++ {
		if s[i]|0x20 != 'b' || i > 0 && isWordByte(s[i-1]) {
			continue
		}
		var n int
		switch {
		case len(s)-i > 6 && strings.EqualFold(s[i:i+6], "bearer"):
			n = 6
		case len(s)-i > 5 && strings.EqualFold(s[i:i+5], "basic"):
			n = 5
		default:
			continue
		}
		v := i + n
		for v < len(s) && (s[v] == ' ' || s[v] == '\t') {
			v++
		}
		if v == i+n {
			continue // "bearers", "basically"
		}
		e := v
		for e < len(s) && isToken68Byte(s[e]) {
			e++
		}
		for e < len(s) && s[e] == '=' {
			e++
		}
		// The credentials end the word: "bearer expires_in=3600" is none.
		if e == v || e < len(s) && (isWordByte(s[e]) || isToken68Byte(s[e]) || s[e] == '=') || isWord(s[v:e]) {
			i = e - 1
			continue
		}
		sp.hide(v, e)
		i = e - 1
	}
}

func isWordByte(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_'
}

// isToken68Byte: the characters of HTTP credentials (RFC 9110 token68,
// without the trailing '=').
func isToken68Byte(c byte) bool {
	return isWordByte(c) || c == '-' || c == '.' || c == '~' || c == '+' || c == '/'
}

// isWord reports whether v is a short run of letters: a word, where a
// credential would be longer or hold digits or punctuation.
func isWord(v string) bool {
	if len(v) >= 16 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if c := v[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

// findUserinfo finds the password in scheme://user:password@host.
func findUserinfo(sp *spans) {
	s := sp.s
	for i := 0; ; {
		j := strings.Index(s[i:], "://")
		if j < 0 {
			break
		}
		start := i + j + 3
		end := start
		for end < len(s) && !isSpace(s[end]) && !strings.ContainsRune("/?#\"'<>", rune(s[end])) {
			end++
		}
		if at := strings.LastIndexByte(s[start:end], '@'); at >= 0 {
			if c := strings.IndexByte(s[start:start+at], ':'); c >= 0 {
				sp.hide(start+c+1, start+at)
			}
		}
		i = end
	}
}

// findAWSKeyIDs finds AKIA… and ASIA… access key IDs.
func findAWSKeyIDs(sp *spans) {
	s := sp.s
	for i := 0; i+20 <= len(s); {
		j := strings.IndexByte(s[i:], 'A')
		if j < 0 || i+j+20 > len(s) {
			break
		}
		i += j
		if p := s[i : i+4]; p != "AKIA" && p != "ASIA" {
			i++
			continue
		}
		e := i + 4
		for e < i+20 && ('A' <= s[e] && s[e] <= 'Z' || '0' <= s[e] && s[e] <= '9') {
			e++
		}
		if e < i+20 {
			i++
			continue
		}
		sp.hide(i, e)
		i = e
	}
}

// findJWTs finds JSON Web Tokens: base64url segments joined by dots, the
// first starting with eyJ ('{"' encoded). Two segments are enough.
func findJWTs(sp *spans) {
	s := sp.s
	segment := func(i int) int { // end of the base64url run at i
		for i < len(s) && (isWordByte(s[i]) || s[i] == '-') {
			i++
		}
		return i
	}
	for i := 0; ; {
		j := strings.Index(s[i:], "eyJ")
		if j < 0 {
			break
		}
		i += j
		e := segment(i + 3)
		if e == i+3 || e+1 >= len(s) || s[e] != '.' {
			i = max(i+3, e) // an eyJ later in the run ends where this one does
			continue
		}
		e2 := segment(e + 1)
		if e2 == e+1 {
			i = e + 1
			continue
		}
		if e2 < len(s) && s[e2] == '.' {
			e2 = segment(e2 + 1)
		}
		sp.hide(i, e2)
		i = e2
	}
}
