package amqp

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
)

// How presence messages look on the wire; doc.go has the table.

// presenceContentType is the content type of presence messages.
const presenceContentType = "application/json"

// presenceMessage builds the message announcing p: transient, its kind as
// type, p.Server as app-id when it fits, p.Sent as timestamp, and p as
// JSON body (encodePresence).
func presenceMessage(p domain.Presence) (amqp.Publishing, error) {
	body, err := encodePresence(p)
	if err != nil {
		return amqp.Publishing{}, err
	}
	msg := amqp.Publishing{
		ContentType:  presenceContentType,
		DeliveryMode: amqp.Transient,
		Type:         p.Kind.String(),
		Timestamp:    p.Sent,
		Body:         body,
	}
	if len(p.Server) <= maxShortString {
		msg.AppId = p.Server
	}
	return msg, nil
}

// presenceWire is a presence message's JSON body. Field names are stable;
// fields added later are ignored by older readers. Times are unix
// milliseconds, 0 for the zero time; Interval is whole milliseconds.
type presenceWire struct {
	Kind       string   `json:"kind"`
	Server     string   `json:"server,omitempty"`
	Queue      string   `json:"queue,omitempty"`
	Bindings   []string `json:"bindings,omitempty"`
	WorkGroups []string `json:"work_groups,omitempty"`
	Commands   []string `json:"commands,omitempty"`
	Version    string   `json:"version,omitempty"`
	Host       string   `json:"host,omitempty"`
	PID        int      `json:"pid,omitempty"`
	Started    int64    `json:"started_ms,omitempty"`
	Sent       int64    `json:"sent_ms,omitempty"`
	Interval   int64    `json:"interval_ms,omitempty"`
	Sig        string   `json:"sig,omitempty"` // domain.Presence.Signature, base64 std
}

// encodePresence renders p as a presence message body.
func encodePresence(p domain.Presence) ([]byte, error) {
	if p.Kind > domain.PresenceQuery {
		return nil, fmt.Errorf("unknown presence kind %d", p.Kind)
	}
	return json.Marshal(presenceWire{
		Kind: p.Kind.String(), Server: p.Server, Queue: p.Queue,
		Bindings: p.Bindings, WorkGroups: p.WorkGroups, Commands: p.Commands,
		Version: p.Version, Host: p.Host, PID: p.PID,
		Started: unixMilli(p.Started), Sent: unixMilli(p.Sent),
		Interval: p.Interval.Milliseconds(),
		Sig:      base64.StdEncoding.EncodeToString([]byte(p.Signature)),
	})
}

// decodePresence parses a presence message body; errors wrap errMalformed.
func decodePresence(body []byte) (domain.Presence, error) {
	if len(body) > MaxPresenceBytes {
		return domain.Presence{}, fmt.Errorf("%w: presence message is %d bytes, at most %d", errMalformed, len(body), MaxPresenceBytes)
	}
	var w presenceWire
	if err := json.Unmarshal(body, &w); err != nil {
		return domain.Presence{}, fmt.Errorf("%w: presence: %w", errMalformed, err)
	}
	kind, ok := presenceKind(w.Kind)
	if !ok {
		return domain.Presence{}, fmt.Errorf("%w: presence kind %q", errMalformed, truncate(w.Kind, 64))
	}
	if w.Interval < 0 || w.Interval > maxIntervalMs {
		return domain.Presence{}, fmt.Errorf("%w: presence interval %d ms out of range", errMalformed, w.Interval)
	}
	sig, err := base64.StdEncoding.DecodeString(w.Sig)
	if err != nil {
		return domain.Presence{}, fmt.Errorf("%w: presence signature: %w", errMalformed, err)
	}
	return domain.Presence{
		Signature: string(sig),
		Kind:      kind, Server: w.Server, Queue: w.Queue,
		Bindings: w.Bindings, WorkGroups: w.WorkGroups, Commands: w.Commands,
		Version: w.Version, Host: w.Host, PID: w.PID,
		Started: fromUnixMilli(w.Started), Sent: fromUnixMilli(w.Sent),
		Interval: time.Duration(w.Interval) * time.Millisecond,
	}, nil
}

// maxIntervalMs is the longest interval a time.Duration holds, in ms.
const maxIntervalMs = math.MaxInt64 / int64(time.Millisecond)

func presenceKind(s string) (domain.PresenceKind, bool) {
	for k := domain.PresenceHello; k <= domain.PresenceQuery; k++ {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
