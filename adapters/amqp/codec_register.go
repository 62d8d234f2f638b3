package amqp

import (
	"bytes"
	"compress/gzip"
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
//	body               gzip([{"server":…,"queue":…,"bindings":[…],…}, …])

// MaxRegisterBytes bounds a register message, compressed and expanded: a
// reader refuses a larger one instead of growing its memory with it.
const MaxRegisterBytes = 64 << 20

func encodeRegister(g *domain.Register, now time.Time) (amqp.Publishing, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	regs := g.All()
	if regs == nil {
		regs = []domain.Registration{}
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
	var raw []json.RawMessage
	if err := json.NewDecoder(io.LimitReader(zr, MaxRegisterBytes)).Decode(&raw); err != nil {
		return nil, 0, fmt.Errorf("%w: register: %v", errMalformed, err)
	}
	if len(raw) > domain.MaxRegistered {
		return nil, 0, fmt.Errorf("%w: register lists %d servers, at most %d", errMalformed, len(raw), domain.MaxRegistered)
	}
	regs := make([]domain.Registration, 0, len(raw))
	for _, m := range raw {
		var r domain.Registration
		if json.Unmarshal(m, &r) != nil || r.Validate(now) != nil {
			skipped++
			continue
		}
		regs = append(regs, r)
	}
	return domain.NewRegister(regs), skipped, nil
}
