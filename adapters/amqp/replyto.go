package amqp

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"strings"
	"unicode/utf8"
)

// directReplyPrefix starts the reply-to address RabbitMQ gives a request
// published by a consumer of direct reply-to: the prefix, the base64 of the
// consuming channel's pid, '.', and a key.
const directReplyPrefix = directReplyTo + "."

// replyable reports whether a reply may be published to replyTo. Any queue
// name may be (an unknown one drops the reply), but not every direct
// reply-to address: RabbitMQ 3.10 decodes the pid inside the address in the
// channel that publishes the reply, and a malformed one crashes that
// channel and closes the whole connection (541 INTERNAL_ERROR). Every
// request the connection held would then go back to its queue, the
// malformed one included, and crash the connection again when redelivered.
//
// So a direct reply-to address must hold exactly what RabbitMQ writes
// (rabbit_direct_reply_to v2, pid_recomposition): standard base64 of an
// Erlang external-term pid (NEW_PID_EXT or PID_EXT) whose node is a UTF-8
// atom "name@digits", then '.' and a key without dots. A forged address of
// that shape naming a node the broker does not know still crashes RabbitMQ
// 3.10 (its deliver_reply does not expect decoding to say error); that
// cannot be told apart here: replyGuard (replyguard.go) sends the first
// reply to each node over a connection of its own.
func replyable(replyTo string) bool {
	var buf [maxPid]byte
	_, direct, ok := directNode(replyTo, &buf)
	return ok && (direct || replyTo != "")
}

// directNode returns the node hash of a direct reply-to address (the
// digits after '@' in the pid's node, which is all RabbitMQ 3.10 decodes
// the node from: "reply@<hash>" and "x@<hash>" reach the same node), with
// direct true; ok reports whether replyTo is well-formed (see replyable).
// For any other address it returns direct false and ok true. The hash is
// written into buf (which must hold maxPid bytes) and is valid while buf is;
// directNode allocates nothing.
func directNode(replyTo string, buf *[maxPid]byte) (hash []byte, direct, ok bool) {
	rest, direct := strings.CutPrefix(replyTo, directReplyPrefix)
	if !direct {
		return nil, false, true
	}
	if hash, ok = pidNode(rest, buf); !ok {
		return nil, true, false
	}
	return hash, true, true
}

// maxPid bounds the decoded pid of a direct reply-to address: a node atom
// of up to 255 characters of up to 4 bytes, its tag and length, and the
// 12-byte tail.
const maxPid = 3 + 2 + 255*4 + 12

// pidNode parses what follows directReplyPrefix into buf and returns the
// pid's node hash, without leading zeros.
func pidNode(rest string, buf *[maxPid]byte) ([]byte, bool) {
	enc, key, ok := strings.Cut(rest, ".")
	if !ok || enc == "" || key == "" || strings.Contains(key, ".") ||
		base64.StdEncoding.DecodedLen(len(enc)) > maxPid {
		return nil, false
	}
	var src [(maxPid + 2) / 3 * 4]byte
	n, err := base64.StdEncoding.Decode(buf[:], src[:copy(src[:], enc)])
	b := buf[:n]
	if err != nil || len(b) < 4 || b[0] != 131 || (b[1] != 88 && b[1] != 103) {
		return nil, false
	}
	var node, tail []byte
	switch b[2] {
	case 118: // ATOM_UTF8_EXT: 2-byte length
		if len(b) < 5 {
			return nil, false
		}
		n := int(binary.BigEndian.Uint16(b[3:5]))
		if len(b) < 5+n {
			return nil, false
		}
		node, tail = b[5:5+n], b[5+n:]
	case 119: // SMALL_ATOM_UTF8_EXT: 1-byte length
		n := int(b[3])
		if len(b) < 4+n {
			return nil, false
		}
		node, tail = b[4:4+n], b[4+n:]
	default:
		return nil, false
	}
	// id, serial and a 4-byte (NEW_PID_EXT) or 1-byte (PID_EXT) creation
	if len(tail) != 12 && len(tail) != 9 {
		return nil, false
	}
	name, hash, ok := bytes.Cut(node, []byte("@"))
	if !ok || len(name) == 0 || len(hash) == 0 || !utf8.Valid(node) || utf8.RuneCount(node) > 255 {
		return nil, false
	}
	for _, c := range hash {
		if c < '0' || c > '9' {
			return nil, false
		}
	}
	// RabbitMQ reads the digits as a number: 007 is 7.
	if trimmed := bytes.TrimLeft(hash, "0"); len(trimmed) > 0 {
		return trimmed, true
	}
	return hash[len(hash)-1:], true
}
