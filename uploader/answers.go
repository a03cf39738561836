package uploader

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Reading Adobe's error answers, in every shape Adobe has used (v2
// error_code, OAuth error, v1 errors{}), and the Retry-After header.

// newAPIError reads what it can of an error answer. The body may be empty
// or not JSON (429 and 5xx answers often are).
func newAPIError(op, method, rawURL string, resp *http.Response, body []byte, now time.Time) *APIError {
	e := &APIError{
		Op:          op,
		Method:      method,
		URL:         redact(rawURL),
		StatusCode:  resp.StatusCode,
		AccessError: resp.Header.Get("X-Access-Error"),
		RequestID:   resp.Header.Get("X-Request-Id"),
		RetryAfter:  retryAfter(resp.Header.Get("Retry-After"), now),
		Body:        trimBody(body),
	}
	var v struct {
		ErrorCode        string          `json:"error_code"`
		Error            json.RawMessage `json:"error"`
		ErrorDescription string          `json:"error_description"`
		Code             json.RawMessage `json:"code"`
		Title            string          `json:"title"`
		Message          string          `json:"message"`
		Errors           json.RawMessage `json:"errors"`
	}
	if json.Unmarshal(body, &v) != nil {
		return e
	}
	e.Code = firstNonEmpty(v.ErrorCode, scalar(v.Error), scalar(v.Code))
	e.Message = firstNonEmpty(v.Message, v.ErrorDescription, v.Title)
	if e.Code == "" || e.Message == "" {
		if d := parseErrors(v.Errors); len(d) > 0 {
			e.Code = firstNonEmpty(e.Code, d[0].code)
			e.Message = firstNonEmpty(e.Message, d[0].message)
		}
	}
	return e
}

// retryAfter reads a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) time.Duration {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(h, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

func trimBody(b []byte) string {
	if len(b) > maxBody {
		b = b[:maxBody]
		// Do not cut a character in half.
		for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
			if utf8.RuneStart(b[i]) {
				if !utf8.FullRune(b[i:]) {
					b = b[:i]
				}
				break
			}
		}
	}
	return strings.ToValidUTF8(strings.TrimSpace(string(b)), "?")
}

// scalar returns a JSON string or number as text ("" for anything else).
func scalar(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// detail is one failure reason, whatever shape Adobe sent it in.
type detail struct{ code, message string }

func (d detail) String() string {
	switch {
	case d.code == "":
		return d.message
	case d.message == "":
		return d.code
	}
	return d.code + ": " + d.message
}

// parseErrors reads an "errors" member: a v2 array [{error_code, message}]
// or {errorCode, message}, or a v1 object {type, code, title, details[]}.
func parseErrors(raw json.RawMessage) []detail {
	if len(raw) == 0 {
		return nil
	}
	type item struct {
		ErrorCode  string          `json:"error_code"`
		ErrorCode2 string          `json:"errorCode"`
		Code       json.RawMessage `json:"code"`
		Type       string          `json:"type"`
		Title      string          `json:"title"`
		Message    string          `json:"message"`
		Reason     string          `json:"reason"`
		Details    json.RawMessage `json:"details"`
	}
	conv := func(it item) detail {
		return detail{
			code:    firstNonEmpty(it.ErrorCode, it.ErrorCode2, scalar(it.Code), it.Type),
			message: firstNonEmpty(it.Message, it.Title, it.Reason),
		}
	}
	var list []item
	if json.Unmarshal(raw, &list) == nil {
		var out []detail
		for _, it := range list {
			if d := conv(it); d.code != "" || d.message != "" {
				out = append(out, d)
			}
		}
		return out
	}
	var one item
	if json.Unmarshal(raw, &one) != nil {
		return nil
	}
	out := []detail{conv(one)}
	// v1: details is a list of {name, reason} or of strings.
	var sub []struct {
		Name   string `json:"name"`
		Reason string `json:"reason"`
	}
	if json.Unmarshal(one.Details, &sub) == nil {
		for _, s := range sub {
			if s.Name != "" || s.Reason != "" {
				out = append(out, detail{code: s.Name, message: s.Reason})
			}
		}
	} else {
		var strs []string
		if json.Unmarshal(one.Details, &strs) == nil {
			for _, s := range strs {
				out = append(out, detail{message: s})
			}
		}
	}
	if out[0].code == "" && out[0].message == "" {
		out = out[1:]
	}
	return out
}
