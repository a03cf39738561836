package logging

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// jsonWalker copies a JSON document token by token, redacting as it goes.
type jsonWalker struct {
	r   *Redactor
	dec *json.Decoder
	out []byte
}

// value writes the value starting with tok; hidden replaces every value in
// it (it is under a key that names a secret).
func (w *jsonWalker) value(tok json.Token, hidden bool) error {
	switch t := tok.(type) {
	case json.Delim:
		isObject := t == '{'
		w.out = append(w.out, byte(t))
		for i := 0; w.dec.More(); i++ {
			if i > 0 {
				w.out = append(w.out, ',')
			}
			hid := hidden
			if isObject {
				kt, err := w.dec.Token()
				if err != nil {
					return err
				}
				k, _ := kt.(string)
				k = w.r.Redact(k)
				w.out = appendJSONString(w.out, k)
				w.out = append(w.out, ':')
				hid = hid || isSecretKey(k)
			}
			vt, err := w.dec.Token()
			if err != nil {
				return err
			}
			if err := w.value(vt, hid); err != nil {
				return err
			}
		}
		end, err := w.dec.Token()
		if err != nil {
			return err
		}
		w.out = append(w.out, byte(end.(json.Delim)))
	case string:
		switch {
		case hidden && t != "":
			t = Redacted
		default:
			t = w.r.Redact(t)
			// encoding/json writes a []byte as base64: look inside.
			if text, ok := base64Text(t); ok {
				if red := w.r.Redact(text); red != text {
					t = base64.StdEncoding.EncodeToString([]byte(red))
				}
			}
		}
		w.out = appendJSONString(w.out, t)
	case nil:
		w.out = append(w.out, "null"...)
	case json.Number, bool:
		if hidden {
			w.out = appendJSONString(w.out, Redacted)
			break
		}
		if n, ok := t.(json.Number); ok {
			w.out = append(w.out, n...)
		} else {
			w.out = strconv.AppendBool(w.out, t.(bool))
		}
	default:
		return fmt.Errorf("logging: unexpected JSON token %T", tok)
	}
	return nil
}

// base64Text returns what s decodes to if s is standard base64 (as
// encoding/json writes a []byte) of UTF-8 text.
func base64Text(s string) (string, bool) {
	if len(s) < 8 || len(s)%4 != 0 {
		return "", false
	}
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || !utf8.Valid(b) {
		return "", false
	}
	return string(b), true
}

// appendJSONString appends s as a JSON string, escaping as encoding/json
// does with HTML escaping off (as slog's JSON handler uses it).
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c == '\b':
				b = append(b, '\\', 'b')
			case c == '\f':
				b = append(b, '\\', 'f')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
