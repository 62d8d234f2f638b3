package domain

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"unicode/utf8"
)

// Signed replies: a server holding the fleet key signs every reply it sends
// (SignReply) — acks, progress and results alike — and a client holding the
// key accepts only replies that verify (VerifyReply): a reply proves it comes
// from a key holder, for this very call, with this outcome. What is signed is
// ReplyPayload, every integer big-endian:
//
//	field("topicrpc-reply-v1")  version tag
//	field(CallID)               the call it answers: unique per call
//	field(Server)               who answers
//	byte(Kind)
//	field(Code)
//	field(Result)
//	field(Error)                as it travels: at most MaxErrorText bytes
//	int64(Elapsed)              nanoseconds
//
// A reply cannot be moved to another call, another server, or changed in
// outcome, text or timing without the key.

// ReplySignatureVersion is the version tag that starts every reply payload.
const ReplySignatureVersion = "topicrpc-reply-v1"

// MaxErrorText bounds Reply.Error as it travels: transports cut longer text
// there (ClipError), and a server cuts it before signing so that what is
// signed is what arrives.
const MaxErrorText = 16 << 10

// ClipError returns s cut to at most MaxErrorText bytes on a rune boundary.
func ClipError(s string) string {
	if len(s) <= MaxErrorText {
		return s
	}
	n := MaxErrorText
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// ReplyPayload returns the bytes SignReply authenticates for r.
func ReplyPayload(r *Reply) []byte {
	b := make([]byte, 0, 4*6+len(ReplySignatureVersion)+len(r.CallID)+len(r.Server)+len(r.Code)+
		len(r.Result)+len(r.Error)+1+8)
	b = appendField(b, ReplySignatureVersion)
	b = appendField(b, r.CallID)
	b = appendField(b, r.Server)
	b = append(b, byte(r.Kind))
	b = appendField(b, r.Code)
	b = appendField(b, r.Result)
	b = appendField(b, r.Error)
	return binary.BigEndian.AppendUint64(b, uint64(r.Elapsed))
}

// SignReply sets r.Signature to HMAC-SHA256(key, ReplyPayload(r)). Set every
// other field, CallID included, first; Error is clipped to MaxErrorText.
func SignReply(key []byte, r *Reply) {
	r.Error = ClipError(r.Error)
	r.Signature = string(replyMAC(key, r))
}

// VerifyReply reports whether r.Signature is HMAC-SHA256(key,
// ReplyPayload(r)), comparing in constant time. An unsigned reply does not
// verify.
func VerifyReply(key []byte, r *Reply) bool {
	return len(r.Signature) == sha256.Size && hmac.Equal([]byte(r.Signature), replyMAC(key, r))
}

func replyMAC(key []byte, r *Reply) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(ReplyPayload(r))
	return h.Sum(nil)
}
