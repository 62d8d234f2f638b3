package domain_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	"github.com/topicrpc/topicrpc/domain"
)

func mustKey(t testing.TB, name string) domain.PrivateKey {
	t.Helper()
	k, err := domain.GenerateKey(name, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyTextRoundTrip(t *testing.T) {
	t.Parallel()
	k := mustKey(t, "alice")
	priv, err := domain.ParsePrivateKey(k.MarshalText())
	if err != nil {
		t.Fatal(err)
	}
	if priv.Name != "alice" || !priv.Key.Equal(k.Key) {
		t.Fatalf("private key did not round-trip: %v", priv)
	}
	pubText := k.Public().MarshalText()
	if !bytes.HasPrefix(pubText, []byte("topicrpc-ed25519 alice ")) || bytes.Count(pubText, []byte("\n")) != 1 {
		t.Fatalf("public key line: %q", pubText)
	}
	pubs, err := domain.ParsePublicKeys(append([]byte("# alice, rotated\n\n"), pubText...))
	if err != nil {
		t.Fatal(err)
	}
	if len(pubs) != 1 || pubs[0].Name != "alice" || !pubs[0].Key.Equal(k.Public().Key) {
		t.Fatalf("public keys: %v", pubs)
	}
	if strings.Contains(k.String(), string(priv.MarshalText()[25:])) || k.String() != "private key alice" {
		t.Errorf("String shows %q", k.String())
	}
}

func TestKeyTextErrors(t *testing.T) {
	t.Parallel()
	k := mustKey(t, "bob")
	pub := string(k.Public().MarshalText())
	for _, tc := range []struct {
		name, text, want string
		private          bool
	}{
		{"wrong tag", strings.Replace(pub, "topicrpc-ed25519", "ssh-ed25519", 1), "line 1", false},
		{"private line in a .pub", string(k.MarshalText()), "line 1", false},
		{"short key", "topicrpc-ed25519 bob AAAA\n", "not 32 bytes", false},
		{"bad base64", "topicrpc-ed25519 bob !!!!\n", "not 32 bytes", false},
		{"bad name", "topicrpc-ed25519 a.b " + strings.Fields(pub)[2] + "\n", "line 1", false},
		{"group-like name", "topicrpc-ed25519 @ops " + strings.Fields(pub)[2] + "\n", "'@'", false},
		{"extra field", "# c\n" + strings.TrimSpace(pub) + " extra\n", "line 2", false},
		{"no private key", "# nothing\n", "found 0", true},
		{"two private keys", string(k.MarshalText()) + string(k.MarshalText()), "found 2", true},
		{"public as private", pub, "line 1", true},
	} {
		var err error
		if tc.private {
			_, err = domain.ParsePrivateKey([]byte(tc.text))
		} else {
			_, err = domain.ParsePublicKeys([]byte(tc.text))
		}
		if !errors.Is(err, domain.ErrBadKeyFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want ErrBadKeyFile mentioning %q", tc.name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), strings.Fields(pub)[2]) {
			t.Errorf("%s: the error quotes the key", tc.name)
		}
	}
}

func TestKeyringRotation(t *testing.T) {
	t.Parallel()
	old, cur, eve := mustKey(t, "alice"), mustKey(t, "alice"), mustKey(t, "eve")
	msg := []byte("payload")
	ring := domain.NewKeyring(old.Public(), cur.Public(), cur.Public())
	if ring.Len() != 2 || !ring.Has("alice") || ring.Has("eve") {
		t.Fatalf("keyring: len %d", ring.Len())
	}
	for _, tc := range []struct {
		who  string
		key  domain.PrivateKey
		want bool
	}{
		{"alice", old, true}, {"alice", cur, true}, {"alice", eve, false}, {"eve", eve, false},
	} {
		sig := sign(tc.key, msg)
		if got := ring.Verify(tc.who, msg, sig); got != tc.want {
			t.Errorf("%s signed by %s's key: %v, want %v", tc.who, tc.key.Name, got, tc.want)
		}
	}
	// The old key removed: what it signs no longer verifies.
	ring = domain.NewKeyring(cur.Public())
	if ring.Verify("alice", msg, sign(old, msg)) || !ring.Verify("alice", msg, sign(cur, msg)) {
		t.Error("after rotation the old key still verifies, or the new one does not")
	}
	var none *domain.Keyring
	if none.Verify("alice", msg, sign(cur, msg)) || none.Len() != 0 || none.Has("alice") {
		t.Error("a nil keyring verifies")
	}
}

func sign(k domain.PrivateKey, msg []byte) []byte { return ed25519.Sign(k.Key, msg) }

func TestValidateIdentityName(t *testing.T) {
	t.Parallel()
	for name, ok := range map[string]bool{
		"alice": true, "q1": true, "ops-bot_2": true, "": false, "a.b": false, "a/b": false,
		"@ops": false, "a:b": false, "a b": false, "a*": false, "a\x1b": false, strings.Repeat("x", 256): false,
	} {
		if err := domain.ValidateIdentityName(name); (err == nil) != ok {
			t.Errorf("%q: %v, want ok %v", name, err, ok)
		}
	}
}

// FuzzParsePublicKeys: any text either gives keys with valid names and
// 32-byte keys, or an error that never quotes the text's key material.
func FuzzParsePublicKeys(f *testing.F) {
	k := mustKey(f, "alice")
	f.Add(string(k.Public().MarshalText()))
	f.Add("# c\n\ntopicrpc-ed25519 bob AAAA\n")
	f.Add(string(k.MarshalText()))
	f.Fuzz(func(t *testing.T, text string) {
		keys, err := domain.ParsePublicKeys([]byte(text))
		if err != nil {
			return
		}
		for _, pk := range keys {
			if domain.ValidateIdentityName(pk.Name) != nil || len(pk.Key) != 32 {
				t.Fatalf("accepted %q: %v", pk.Name, pk.Key)
			}
		}
		if _, err := domain.ParsePrivateKey([]byte(text)); err == nil && len(keys) > 0 {
			t.Fatal("one text parsed as both public and private keys")
		}
	})
}
