// Package logging builds hotfolder's log/slog logger and keeps secrets out
// of every line it writes. hotfolder runs overnight under systemd, its log
// goes to journald or a file, and that log is pasted into support tickets:
// an Adobe client secret, an access token, an AWS key or the signature of a
// presigned URL must never reach it, whichever code logs them and however.
//
// [New] returns a logger writing slog's text or JSON lines; [NewHandler]
// returns its handler. Every record goes through the same [Redactor] before
// the text or JSON handler formats it: the message, every attribute value
// of every kind (strings, errors, fmt.Stringer and other values as the
// handler would print them, groups recursively, slog.LogValuer values once
// resolved), attribute keys, and the attributes and groups given to
// With/WithGroup. Otherwise the output is the standard handler's: time,
// level, msg, attributes.
//
// [Redact] and [Redactor.Redact] apply the same rules to a plain string, for
// errors printed outside slog. [OpenFile] opens the file behind -log-file.
//
// # Rules
//
// Each hidden value becomes [Redacted] ("[REDACTED]"); what surrounds it
// (scheme, host, path, parameter and field names, attribute keys) is kept.
// A credential name is one that, ignoring case and '_', '-', '.' and
// spaces, ends in secret, token, password, passwd, credential(s),
// signature, authorization, secretaccesskey, privatekey or accountkey, or
// is sig, cookie or set-cookie: access_token, client_secret, X-Amz-Signature,
// X-Amz-Credential, X-Amz-Security-Token, Signature, ADOBE_CLIENT_SECRET,
// AccessToken, an Azure connection string's AccountKey… but not token_type, client_id or x-api-key.
//
//   - Secrets: each value given in Options.Secrets, wherever it appears, also
//     URL-, JSON- or Go-escaped. Values shorter than 6 bytes are ignored, so
//     that a short one cannot blank out every line.
//   - Authorization: what follows "Bearer " or "Basic " (any case), unless
//     it is a short plain word ("the bearer token expired").
//   - Parameters and fields with a credential name: the value, in
//     name=value form (it runs to &, whitespace, a quote or one of
//     , ; # < > ( ) [ ] { }, or is quoted), in name%3Dvalue form (a URL
//     inside a URL, up to %26), in JSON "name":"value" form (also with
//     escaped quotes), in Go's %+v form {Name:value}, and on a header line
//     "X-Amz-Security-Token: value". OAuth's code parameter is hidden in
//     name=value form only where a query or form field starts (after ?, &
//     or at the start), because "code" elsewhere is usually an error code.
//   - The password in a URL's user info (scheme://user:password@host).
//   - AWS access key IDs: AKIA or ASIA followed by 16 upper-case letters or
//     digits.
//   - JSON Web Tokens: base64url segments joined by dots, the first
//     starting with eyJ (an encoded '{"'). Two segments are enough, so the
//     emulator's tokens are hidden too.
//   - Attributes (and JSON fields inside logged values) with a credential
//     name as key have their whole value replaced, whatever its kind; a
//     group under such a key, or opened by WithGroup with such a name, has
//     every value in it replaced. An empty string is left empty: it hides
//     nothing, and token="" tells a reader there was none.
//
// Values that are not strings are first rendered as the standard handler
// would render them (Error, String, MarshalText, %+v for text; encoding/json
// for JSON, looking inside base64 []byte too), and that rendering is
// redacted, so a struct, map or error cannot smuggle a secret past.
//
// The rules err on the side of hiding: a harmless value that looks like a
// credential may be hidden too. They cannot recognise a secret that looks
// like nothing (an AWS secret access key is 40 random characters): pass such
// values in Options.Secrets ([EnvSecrets] collects the usual ones).
package logging
