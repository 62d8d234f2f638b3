package amqp

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/topicrpc/topicrpc/domain"
)

// The fleet register's message: the whole register, one JSON array of
// domain.Registration, gzip-compressed; persistent.
//
//	type               "register"
//	content-type       application/json
//	content-encoding   gzip
//	delivery-mode      2 (persistent: the register outlives a broker restart)
//	timestamp          when it was written
//	body               gzip([{"server":…,"queue":…,"bindings":[…],…}, …]); times
//	                   are unix milliseconds (wireRegistration)

// MaxRegisterBytes bounds a register message, compressed and expanded: a
// reader refuses a larger one instead of growing its memory with it.
const MaxRegisterBytes = 64 << 20

// wireRegistration is a domain.Registration on the wire: times in unix
// milliseconds, which decode several times faster than RFC 3339 text.
type wireRegistration struct {
	Server     string   `json:"server"`
	Queue      string   `json:"queue"`
	Bindings   []string `json:"bindings"`
	WorkGroups []string `json:"work_groups,omitempty"`
	Commands   []string `json:"commands,omitempty"`
	Version    string   `json:"version,omitempty"`
	Host       string   `json:"host,omitempty"`
	PID        int      `json:"pid,omitempty"`
	Joined     int64    `json:"joined"`
	Started    int64    `json:"started"`
	Seen       int64    `json:"seen"`
	Left       int64    `json:"left,omitempty"`
	Sig        string   `json:"sig,omitempty"` // domain.Registration.Signature, base64 std
}

func toWire(r domain.Registration) wireRegistration {
	w := wireRegistration{Server: r.Server, Queue: r.Queue, Bindings: r.Bindings, WorkGroups: r.WorkGroups,
		Commands: r.Commands, Version: r.Version, Host: r.Host, PID: r.PID,
		Joined: r.Joined.UnixMilli(), Started: r.Started.UnixMilli(), Seen: r.Seen.UnixMilli()}
	if !r.Left.IsZero() {
		w.Left = r.Left.UnixMilli()
	}
	if r.Signature != "" {
		w.Sig = base64.StdEncoding.EncodeToString([]byte(r.Signature))
	}
	return w
}

func fromWire(w wireRegistration) domain.Registration {
	r := domain.Registration{Server: w.Server, Queue: w.Queue, Bindings: w.Bindings, WorkGroups: w.WorkGroups,
		Commands: w.Commands, Version: w.Version, Host: w.Host, PID: w.PID,
		Joined: time.UnixMilli(w.Joined), Started: time.UnixMilli(w.Started), Seen: time.UnixMilli(w.Seen)}
	if w.Left != 0 {
		r.Left = time.UnixMilli(w.Left)
	}
	if sig, err := base64.StdEncoding.DecodeString(w.Sig); err == nil {
		r.Signature = string(sig) // one that does not decode fails verification where it matters
	}
	return r
}

func encodeRegister(g *domain.Register, now time.Time) (amqp.Publishing, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	regs := make([]wireRegistration, len(g.All()))
	for i, r := range g.All() {
		regs[i] = toWire(r)
	}
	if err := json.NewEncoder(zw).Encode(regs); err != nil {
		return amqp.Publishing{}, fmt.Errorf("encode the register: %w", err)
	}
	if err := zw.Close(); err != nil {
		return amqp.Publishing{}, fmt.Errorf("encode the register: %w", err)
	}
	if buf.Len() > MaxRegisterBytes {
		return amqp.Publishing{}, fmt.Errorf("encode the register: %d bytes compressed, at most %d", buf.Len(), MaxRegisterBytes)
	}
	return amqp.Publishing{Type: "register", ContentType: "application/json", ContentEncoding: "gzip",
		DeliveryMode: amqp.Persistent, Timestamp: now, Body: buf.Bytes()}, nil
}

// decodeRegister reads a register message. Registrations that fail
// domain.Registration.Validate at now are left out and counted in skipped;
// a message that is not a register at all is an error.
func decodeRegister(body []byte, now time.Time) (g *domain.Register, skipped int, err error) {
	if len(body) > MaxRegisterBytes {
		return nil, 0, fmt.Errorf("%w: register is %d bytes, at most %d", errMalformed, len(body), MaxRegisterBytes)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, 0, fmt.Errorf("%w: register: %v", errMalformed, err)
	}
	data, err := io.ReadAll(io.LimitReader(zr, MaxRegisterBytes+1))
	switch {
	case err != nil:
		return nil, 0, fmt.Errorf("%w: register: %v", errMalformed, err)
	case len(data) > MaxRegisterBytes:
		return nil, 0, fmt.Errorf("%w: register expands past %d bytes", errMalformed, MaxRegisterBytes)
	}
	// One pass as a register is written; entry by entry, to leave out the
	// malformed ones, only when that fails.
	var wire []wireRegistration
	if json.Unmarshal(data, &wire) != nil {
		var raw []json.RawMessage
		if err := json.Unmarshal(data, &raw); err != nil {
			return nil, 0, fmt.Errorf("%w: register: %v", errMalformed, err)
		}
		wire = make([]wireRegistration, 0, len(raw))
		for _, m := range raw {
			var w wireRegistration
			if json.Unmarshal(m, &w) != nil {
				skipped++
				continue
			}
			wire = append(wire, w)
		}
	}
	if len(wire) > domain.MaxRegistered {
		return nil, 0, fmt.Errorf("%w: register lists %d servers, at most %d", errMalformed, len(wire), domain.MaxRegistered)
	}
	regs := make([]domain.Registration, 0, len(wire))
	for _, w := range wire {
		r := fromWire(w)
		if r.Validate(now) != nil {
			skipped++
			continue
		}
		regs = append(regs, r)
	}
	return domain.NewRegister(regs), skipped, nil
}
