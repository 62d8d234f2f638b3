package domain

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
)

// Identities: a caller or a server may hold an Ed25519 key pair of its own,
// named after it. It signs with its private key (PrivateKey); whoever is
// given its public key (PublicKey, collected in a Keyring) can check that a
// request comes from that caller, or a reply, presence message or register
// entry from that server. Unlike the shared fleet key (HMAC), a public key
// lets its holder verify but not sign: a server trusting alice's public key
// cannot act as alice, and a client trusting q1's cannot answer as q1.
//
// Both keys travel as one line of text, the name inside:
//
//	topicrpc-ed25519 NAME BASE64           public key (32 bytes)
//	topicrpc-ed25519-private NAME BASE64   private key: its 32-byte seed
//
// Files may hold several lines (public keys only), and blank lines and lines
// starting with '#'.

// Key line tags.
const (
	PublicKeyTag  = "topicrpc-ed25519"
	PrivateKeyTag = "topicrpc-ed25519-private"
)

// ErrBadKeyFile is wrapped by every error about a key's text.
var ErrBadKeyFile = errors.New("bad key")

// ValidateIdentityName reports whether name can name a key pair: a server
// name (one word) without '/', '\\', '@', ':' or control characters, so
// that NAME.key and NAME.pub are plain file names and a policy can tell
// names from groups (@name).
func ValidateIdentityName(name string) error {
	if err := validateWord("identity name", name); err != nil {
		return err
	}
	for _, r := range name {
		if strings.ContainsRune(`/\@:`, r) || unicode.IsControl(r) {
			return fmt.Errorf("%w: identity name %q has %q: want letters, digits, '-' or '_'", ErrBadName, name, r)
		}
	}
	return nil
}

// PublicKey is a named Ed25519 public key.
type PublicKey struct {
	Name string
	Key  ed25519.PublicKey
}

// PrivateKey is a named Ed25519 private key. Never log it.
type PrivateKey struct {
	Name string
	Key  ed25519.PrivateKey
}

// GenerateKey returns a new key pair named name, reading randomness from
// rand (crypto/rand.Reader).
func GenerateKey(name string, rand io.Reader) (PrivateKey, error) {
	if err := ValidateIdentityName(name); err != nil {
		return PrivateKey{}, err
	}
	_, priv, err := ed25519.GenerateKey(rand)
	if err != nil {
		return PrivateKey{}, fmt.Errorf("generate key %s: %w", name, err)
	}
	return PrivateKey{Name: name, Key: priv}, nil
}

// Public returns k's public key.
func (k PrivateKey) Public() PublicKey {
	return PublicKey{Name: k.Name, Key: k.Key.Public().(ed25519.PublicKey)}
}

// String never shows the key.
func (k PrivateKey) String() string { return "private key " + k.Name }

// MarshalText returns k as one line: PrivateKeyTag, the name, the seed in
// standard base64, and a newline.
func (k PrivateKey) MarshalText() []byte {
	return keyLine(PrivateKeyTag, k.Name, k.Key.Seed())
}

// MarshalText returns k as one line: PublicKeyTag, the name, the key in
// standard base64, and a newline.
func (k PublicKey) MarshalText() []byte { return keyLine(PublicKeyTag, k.Name, k.Key) }

func keyLine(tag, name string, key []byte) []byte {
	return fmt.Appendf(nil, "%s %s %s\n", tag, name, base64.StdEncoding.EncodeToString(key))
}

// ParsePrivateKey reads a private key written by MarshalText. Errors wrap
// ErrBadKeyFile and never quote the key.
func ParsePrivateKey(text []byte) (PrivateKey, error) {
	var keys []PrivateKey
	err := eachKeyLine(text, PrivateKeyTag, ed25519.SeedSize, func(_ int, name string, seed []byte) {
		keys = append(keys, PrivateKey{Name: name, Key: ed25519.NewKeyFromSeed(seed)})
	})
	switch {
	case err != nil:
		return PrivateKey{}, err
	case len(keys) != 1:
		return PrivateKey{}, fmt.Errorf("%w: want one %s line, found %d", ErrBadKeyFile, PrivateKeyTag, len(keys))
	}
	return keys[0], nil
}

// ParsePublicKeys reads the public keys of a file: one per line, as
// MarshalText writes them. Errors wrap ErrBadKeyFile and name the line.
func ParsePublicKeys(text []byte) ([]PublicKey, error) {
	var keys []PublicKey
	err := eachKeyLine(text, PublicKeyTag, ed25519.PublicKeySize, func(_ int, name string, key []byte) {
		keys = append(keys, PublicKey{Name: name, Key: ed25519.PublicKey(key)})
	})
	return keys, err
}

// eachKeyLine calls fn for every key line of text, checking its tag, name
// and key size.
func eachKeyLine(text []byte, tag string, size int, fn func(line int, name string, key []byte)) error {
	for i, line := range bytes.Split(text, []byte("\n")) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		f := strings.Fields(string(line))
		if len(f) != 3 || f[0] != tag {
			return fmt.Errorf("%w: line %d: want %q, a name and a base64 key", ErrBadKeyFile, i+1, tag)
		}
		if err := ValidateIdentityName(f[1]); err != nil {
			return fmt.Errorf("%w: line %d: %v", ErrBadKeyFile, i+1, err)
		}
		key, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil || len(key) != size {
			return fmt.Errorf("%w: line %d: the key of %s is not %d bytes of base64", ErrBadKeyFile, i+1, f[1], size)
		}
		fn(i+1, f[1], key)
	}
	return nil
}

// Keyring holds the public keys a party trusts, by name; a name may have
// several (while its key is rotated: the new one is added, then the old one
// removed). It is immutable once made, so safe for concurrent use.
type Keyring struct {
	keys map[string][]ed25519.PublicKey
	n    int
}

// NewKeyring returns a keyring of keys; a key given twice counts once.
func NewKeyring(keys ...PublicKey) *Keyring {
	k := &Keyring{keys: make(map[string][]ed25519.PublicKey)}
	for _, pk := range keys {
		dup := false
		for _, have := range k.keys[pk.Name] {
			dup = dup || have.Equal(pk.Key)
		}
		if !dup {
			k.keys[pk.Name] = append(k.keys[pk.Name], pk.Key)
			k.n++
		}
	}
	return k
}

// Len returns how many keys k holds; 0 for a nil keyring.
func (k *Keyring) Len() int {
	if k == nil {
		return 0
	}
	return k.n
}

// Has reports whether k holds a key for name.
func (k *Keyring) Has(name string) bool { return k != nil && len(k.keys[name]) > 0 }

// Verify reports whether sig is a signature of payload by one of name's
// keys. A nil keyring verifies nothing.
func (k *Keyring) Verify(name string, payload, sig []byte) bool {
	if k == nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	for _, pub := range k.keys[name] {
		if ed25519.Verify(pub, payload, sig) {
			return true
		}
	}
	return false
}
