package amqp

import (
	"errors"
	"net/url"
	"strings"
)

// redacted replaces a password in URLs and error messages.
const redacted = "xxxxx"

// RedactURL returns rawURL with its password replaced by "xxxxx", for logs and
// error messages: "amqp://guest:secret@host:5672/" becomes
// "amqp://guest:xxxxx@host:5672/". It works on URLs that do not parse too
// (an unescaped '@' or '/' in the password), erring on the side of hiding: all
// text between the first ':' after the scheme and the last '@' is replaced.
// A list of URLs (SplitURLs) is redacted URL by URL, commas kept.
func RedactURL(rawURL string) string {
	if urls := SplitURLs(rawURL); len(urls) > 1 {
		for i, u := range urls {
			urls[i] = redactOne(u)
		}
		return strings.Join(urls, ",")
	}
	return redactOne(rawURL)
}

// redactOne is RedactURL for one URL.
func redactOne(rawURL string) string {
	at, colon := userinfo(rawURL)
	if at < 0 || colon < 0 {
		return rawURL // no password
	}
	return rawURL[:colon+1] + redacted + rawURL[at:]
}

// userinfo finds the user information of rawURL: at is the index of the '@'
// that ends it and colon the index of the ':' before the password; both are
// -1 when absent.
func userinfo(rawURL string) (at, colon int) {
	start := 0
	if i := strings.Index(rawURL, "://"); i >= 0 {
		start = i + len("://")
	}
	at = strings.LastIndexByte(rawURL[start:], '@')
	if at < 0 {
		return -1, -1
	}
	at += start
	colon = strings.IndexByte(rawURL[start:at], ':')
	if colon >= 0 {
		colon += start
	}
	return at, colon
}

// password returns the password in rawURL as written and percent-decoded,
// or empty strings when there is none.
func password(rawURL string) (raw, decoded string) {
	at, colon := userinfo(rawURL)
	if at < 0 || colon < 0 {
		return "", ""
	}
	raw = rawURL[colon+1 : at]
	decoded = raw
	if d, err := url.PathUnescape(raw); err == nil {
		decoded = d
	}
	return raw, decoded
}

// scrubbedError is err with the password removed from its message. Unwrap
// still reaches err, so errors.Is keeps working.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// scrub returns err, or a copy of it whose message no longer holds the
// password of rawURL, should a library have put the URL into it.
func scrub(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	raw, decoded := password(rawURL)
	if raw == "" && decoded == "" {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, p := range []string{raw, decoded, url.QueryEscape(decoded)} {
		if p != "" {
			clean = strings.ReplaceAll(clean, p, redacted)
		}
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

// urlError returns the reason inside a *url.Error, whose message would
// otherwise repeat the whole URL, password included.
func urlError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
