package amqp

import (
	"encoding/base64"
	"encoding/binary"
	"strings"
	"testing"
)

// pidAddress builds a direct reply-to address the way RabbitMQ 3.10 does
// (NEW_PID_EXT with an ATOM_UTF8_EXT node), for node and tail bytes of
// id, serial and creation.
func pidAddress(node string, tail int) string {
	b := []byte{131, 88, 118}
	b = binary.BigEndian.AppendUint16(b, uint16(len(node)))
	b = append(b, node...)
	b = append(b, make([]byte, tail)...)
	return directReplyPrefix + base64.StdEncoding.EncodeToString(b) + ".ROd1XrsTMfvZkHA6nSYMRg=="
}

func TestReplyable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		replyTo string
		want    bool
	}{
		// As RabbitMQ 3.10.8 writes it.
		{"amq.rabbitmq.reply-to.g1h2AA9yZXBseUAxMjg2MDgxMDAAABqMAAAAAWsBmsY=.ROd1XrsTMfvZkHA6nSYMRg==", true},
		{pidAddress("reply@128608100", 12), true},
		{pidAddress("reply@1", 9), true}, // PID_EXT's 1-byte creation
		{"my-reply-queue", true},
		{"amq.gen-JzTY20BRgKO-HjmUJj0wLg", true},
		{strings.Repeat("q", 255), true},
		{"", false},
		{"amq.rabbitmq.reply-to.", false},
		{"amq.rabbitmq.reply-to.abc", false},
		{"amq.rabbitmq.reply-to.abc.def", false},                                           // not base64 of a pid
		{"amq.rabbitmq.reply-to.g2dkABN0b3BpY3JwY0Bsb2NhbGhvc3QAAAAAAAAAAAA.bogus", false}, // unpadded, ATOM_EXT
		{"amq.rabbitmq.reply-to.g1h2AA9yZXBseUAxMjg2MDgxMDAAABqMAAAAAWsBmsY=.", false},
		{"amq.rabbitmq.reply-to.g1h2AA9yZXBseUAxMjg2MDgxMDAAABqMAAAAAWsBmsY=.a.b", false},
		{"amq.rabbitmq.reply-to..ROd1XrsTMfvZkHA6nSYMRg==", false},
		{pidAddress("reply", 12), false},        // no @hash: RabbitMQ would parse the host name as a number
		{pidAddress("reply@host", 12), false},   // the hash must be digits
		{pidAddress("reply@", 12), false},       // empty hash
		{pidAddress("@123", 12), false},         // empty name
		{pidAddress("reply@12\xff", 12), false}, // not UTF-8
		{pidAddress("reply@123", 11), false},    // wrong tail
		{pidAddress("reply@123", 0), false},     // no tail
		{pidAddress(strings.Repeat("n", 300)+"@1", 12), false},
	}
	for _, tc := range tests {
		if got := replyable(tc.replyTo); got != tc.want {
			t.Errorf("replyable(%q) = %v, want %v", tc.replyTo, got, tc.want)
		}
	}
}

// FuzzReplyable: no input makes replyable panic.
func FuzzReplyable(f *testing.F) {
	f.Add("amq.rabbitmq.reply-to.g1h2AA9yZXBseUAxMjg2MDgxMDAAABqMAAAAAWsBmsY=.ROd1XrsTMfvZkHA6nSYMRg==")
	f.Add("amq.rabbitmq.reply-to.x.y")
	f.Fuzz(func(_ *testing.T, s string) { replyable(s) })
}

func TestCheckBody(t *testing.T) {
	t.Parallel()
	if err := checkBody(10, 10); err != nil {
		t.Errorf("a body at the limit: %v", err)
	}
	if err := checkBody(11, 10); err == nil || !strings.Contains(err.Error(), "11 bytes, at most 10") {
		t.Errorf("a body over the limit: %v", err)
	}
}
