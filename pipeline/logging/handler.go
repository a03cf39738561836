package logging

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
)

// Options configure [New] and [NewHandler]. The zero value writes text
// lines at level Info and hides what the built-in rules recognise.
type Options struct {
	// Format is "text" (slog's key=value lines, the default when empty) or
	// "json" (one JSON object per line).
	Format string
	// Level is the minimum level written; nil means slog.LevelInfo.
	Level slog.Leveler
	// Secrets are exact values hidden wherever they appear: the client
	// secret, the AWS secret access key and session token… Empty values
	// and values shorter than 6 bytes are ignored. Identifiers that are not
	// secret (the client ID, the access key ID) need not be listed.
	Secrets []string
}

// New returns a logger writing to w in opt.Format, with every secret
// hidden (see the package documentation). Writes to w are serialised, one
// Write per line. The error is for an unknown format.
func New(w io.Writer, opt Options) (*slog.Logger, error) {
	h, err := NewHandler(w, opt)
	if err != nil {
		return nil, err
	}
	return slog.New(h), nil
}

// NewHandler returns the handler behind [New]: slog's text or JSON handler
// for w, behind a [Redactor] built from opt.Secrets. It is safe for
// concurrent use, as are the handlers its WithAttrs and WithGroup return.
func NewHandler(w io.Writer, opt Options) (slog.Handler, error) {
	ho := &slog.HandlerOptions{Level: opt.Level}
	h := &handler{r: NewRedactor(opt.Secrets)}
	switch opt.Format {
	case "", "text":
		h.inner = slog.NewTextHandler(w, ho)
	case "json":
		h.inner, h.json = slog.NewJSONHandler(w, ho), true
	default:
		return nil, fmt.Errorf("logging: unknown log format %q (want text or json)", opt.Format)
	}
	return h, nil
}

// handler redacts each record, and the attributes and groups it is given,
// before passing them to inner.
type handler struct {
	inner slog.Handler
	r     *Redactor
	json  bool // inner is slog's JSON handler: values are rendered as it does
	// hidden: a group opened by WithGroup named a secret, so every value
	// below it is replaced.
	hidden bool
}

var _ slog.Handler = (*handler)(nil)

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *handler) Handle(ctx context.Context, rec slog.Record) error {
	out := slog.NewRecord(rec.Time, rec.Level, h.r.Redact(rec.Message), rec.PC)
	var buf [8]slog.Attr // most records have fewer attributes
	attrs := buf[:0]
	rec.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, h.attr(a, h.hidden))
		return true
	})
	out.AddAttrs(attrs...)
	return h.inner.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	red := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		red[i] = h.attr(a, h.hidden)
	}
	return &handler{inner: h.inner.WithAttrs(red), r: h.r, json: h.json, hidden: h.hidden}
}

func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	name = h.r.Redact(name)
	return &handler{inner: h.inner.WithGroup(name), r: h.r, json: h.json, hidden: h.hidden || isSecretKey(name)}
}

// attr returns a with its key and value redacted; hidden replaces every
// value (a is under a key that names a secret).
func (h *handler) attr(a slog.Attr, hidden bool) slog.Attr {
	if a.Key == "" && a.Value.Kind() == slog.KindAny && a.Value.Any() == nil {
		return a // the empty Attr, which handlers ignore: keep it empty
	}
	if a.Key != "" {
		a.Key = h.r.Redact(a.Key)
		hidden = hidden || isSecretKey(a.Key)
	}
	a.Value = h.value(a.Value, hidden)
	return a
}

func (h *handler) value(v slog.Value, hidden bool) slog.Value {
	v = v.Resolve()
	switch v.Kind() {
	case slog.KindGroup:
		group := v.Group()
		red := make([]slog.Attr, len(group))
		for i, a := range group {
			red[i] = h.attr(a, hidden)
		}
		return slog.GroupValue(red...)
	case slog.KindString:
		s := v.String()
		if hidden && s != "" {
			return slog.StringValue(Redacted)
		}
		if r := h.r.Redact(s); r != s {
			return slog.StringValue(r)
		}
		return v
	}
	if hidden {
		return slog.StringValue(Redacted)
	}
	if v.Kind() == slog.KindAny {
		if x := v.Any(); x != nil {
			return h.anyValue(x)
		}
	}
	return v // numbers, bools, times, durations: nothing to hide
}

// anyValue renders x as the inner handler would, redacts that and returns
// a value the inner handler prints the same way.
func (h *handler) anyValue(x any) (v slog.Value) {
	defer func() {
		// A String, Error or MarshalJSON method that panics must not take
		// an overnight run down with it.
		if p := recover(); p != nil {
			if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
				v = slog.StringValue("<nil>")
				return
			}
			v = slog.StringValue("!PANIC: " + h.r.Redact(fmt.Sprint(p)))
		}
	}()
	if h.json {
		// As slog's JSON handler: an error's text, unless it marshals
		// itself; anything else as encoding/json writes it.
		if err, ok := x.(error); ok {
			if _, jm := x.(json.Marshaler); !jm {
				return slog.StringValue(h.r.Redact(err.Error()))
			}
		}
		raw, err := h.r.redactJSON(x)
		if err != nil {
			return slog.StringValue("!ERROR:" + h.r.Redact(err.Error()))
		}
		return slog.AnyValue(raw)
	}
	// As slog's text handler: MarshalText, a byte slice (always quoted),
	// or fmt's %+v (which uses Error and String).
	if tm, ok := x.(encoding.TextMarshaler); ok {
		data, err := tm.MarshalText()
		if err != nil {
			return slog.StringValue("!ERROR:" + h.r.Redact(err.Error()))
		}
		return slog.StringValue(h.r.Redact(string(data)))
	}
	if rv := reflect.ValueOf(x); rv.Kind() == reflect.Slice && rv.Type().Elem().Kind() == reflect.Uint8 {
		return slog.AnyValue([]byte(h.r.Redact(string(rv.Bytes()))))
	}
	return slog.StringValue(h.r.Redact(fmt.Sprintf("%+v", x)))
}

// redactJSON marshals x as slog's JSON handler does (no HTML escaping) and
// redacts the result: every string by the rules, every value under a key
// that names a secret replaced. The result is valid JSON in the original
// order.
func (r *Redactor) redactJSON(x any) (json.RawMessage, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return nil, err
	}
	w := jsonWalker{r: r, dec: json.NewDecoder(strings.NewReader(b.String()))}
	w.dec.UseNumber()
	tok, err := w.dec.Token()
	if err != nil {
		return nil, err
	}
	if err := w.value(tok, false); err != nil {
		return nil, err
	}
	return w.out, nil
}
