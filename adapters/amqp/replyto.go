package amqp

import (
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
// cannot be told apart here.
func replyable(replyTo string) bool {
	rest, direct := strings.CutPrefix(replyTo, directReplyPrefix)
	if !direct {
		return replyTo != ""
	}
	enc, key, ok := strings.Cut(rest, ".")
	if !ok || enc == "" || key == "" || strings.Contains(key, ".") {
		return false
	}
	b, err := base64.StdEncoding.DecodeString(enc)
	if err != nil || len(b) < 4 || b[0] != 131 || (b[1] != 88 && b[1] != 103) {
		return false
	}
	var node, tail []byte
	switch b[2] {
	case 118: // ATOM_UTF8_EXT: 2-byte length
		if len(b) < 5 {
			return false
		}
		n := int(binary.BigEndian.Uint16(b[3:5]))
		if len(b) < 5+n {
			return false
		}
		node, tail = b[5:5+n], b[5+n:]
	case 119: // SMALL_ATOM_UTF8_EXT: 1-byte length
		n := int(b[3])
		if len(b) < 4+n {
			return false
		}
		node, tail = b[4:4+n], b[4+n:]
	default:
		return false
	}
	// id, serial and a 4-byte (NEW_PID_EXT) or 1-byte (PID_EXT) creation
	if len(tail) != 12 && len(tail) != 9 {
		return false
	}
	name, hash, ok := strings.Cut(string(node), "@")
	if !ok || name == "" || hash == "" || !utf8.Valid(node) || utf8.RuneCount(node) > 255 {
		return false
	}
	for _, c := range []byte(hash) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
