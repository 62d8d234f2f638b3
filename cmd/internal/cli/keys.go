package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/topicrpc/topicrpc/domain"
)

// Key pairs (domain/identity.go): `topicrpc keygen NAME` writes NAME.key
// (the private key, mode 600) and NAME.pub (one line: the public key and
// its name). --identity FILE signs with a private key; a directory of .pub
// files (--trust-callers on servers, --trust-servers on clients) is what a
// program believes. The name inside a key counts, not its file name, and a
// name may have several keys (rotation: add the new one, then remove the
// old).

// maxKeyFiles bounds the .pub files read from one directory.
const maxKeyFiles = 10_000

// keys is what a program signs with and what it trusts.
type keys struct {
	fleet    []byte             // --auth-key-file
	identity *domain.PrivateKey // --identity
	trusted  *domain.Keyring    // --trust-callers (server) or --trust-servers (client)
}

// trust is what the program believes: the fleet key and the trusted keys.
func (k keys) trust() domain.Trust { return domain.Trust{FleetKey: k.fleet, Keys: k.trusted} }

// keys reads --auth-key-file, --identity and the trusted directory (dir,
// named by flag); every problem is a usage error.
func (o *options) keys(dir, flag string) (keys, error) {
	var k keys
	var err error
	if k.fleet, err = o.authKey(); err != nil {
		return k, err
	}
	if k.identity, err = o.loadIdentity(); err != nil {
		return k, err
	}
	if dir != "" {
		k.trusted, err = loadKeyring(dir, o.env.source(flag))
	}
	return k, err
}

// loadIdentity reads the private key --identity names, or nil.
func (o *options) loadIdentity() (*domain.PrivateKey, error) {
	path, source := o.identityFile, o.env.source("identity")
	if path == "" {
		return nil, nil
	}
	data, err := readPrivateFile(path, source)
	if err != nil {
		return nil, err
	}
	k, err := domain.ParsePrivateKey(data)
	if err != nil {
		return nil, usageError("%s %s: %v", source, path, err)
	}
	return &k, nil
}

// loadKeyring reads every *.pub file of dir. A directory without one is an
// error: trusting nobody would refuse every signed request (or reply).
func loadKeyring(dir, source string) (*domain.Keyring, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err == nil && len(files) == 0 {
		if _, err = os.Stat(dir); err == nil {
			err = errors.New("no .pub files in it (make them with topicrpc keygen NAME)")
		}
	}
	if err != nil {
		return nil, usageError("%s %s: %v", source, dir, err)
	}
	if len(files) > maxKeyFiles {
		return nil, usageError("%s %s: %d .pub files, at most %d", source, dir, len(files), maxKeyFiles)
	}
	var all []domain.PublicKey
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, usageError("%s: %v", source, err)
		}
		ks, err := domain.ParsePublicKeys(data)
		if err != nil {
			return nil, usageError("%s %s: %v", source, f, err)
		}
		all = append(all, ks...)
	}
	return domain.NewKeyring(all...), nil
}

func newKeygenCmd(o *options) *cobra.Command {
	var dir string
	c := &cobra.Command{
		Use:   "keygen NAME",
		Short: "Make an Ed25519 key pair: NAME.key (private, mode 600) and NAME.pub",
		Long: `keygen makes a key pair for a caller or a server named NAME: NAME.key, the
private key (mode 600; give it to that caller or server only, with --identity),
and NAME.pub, one line with the name and the public key (give it to whoever must
believe NAME: servers, with --trust-callers DIR, for a caller; clients, with
--trust-servers DIR, for a server). It never overwrites a file.`,
		Example: `  topicrpc keygen alice --dir ~/.topicrpc       # a caller
  topicrpc keygen q1 --dir /etc/topicrpc         # a server: its name, as in topicrpcd --name`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			priv, pub, err := keygen(args[0], dir)
			if err != nil {
				return err
			}
			fmt.Fprintf(o.io.Out, "%s\n%s\n", priv, pub)
			return nil
		},
	}
	c.Flags().StringVar(&dir, "dir", ".", "directory to write NAME.key and NAME.pub in")
	return c
}

// keygen writes NAME.key and NAME.pub in dir and returns their paths. It
// refuses (exit 64) a bad name, and an existing file: a key is never
// overwritten.
func keygen(name, dir string) (privPath, pubPath string, err error) {
	if err := domain.ValidateIdentityName(name); err != nil {
		return "", "", usageError("keygen: %v", err)
	}
	k, err := domain.GenerateKey(name, rand.Reader)
	if err != nil {
		return "", "", err
	}
	privPath, pubPath = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".pub")
	for _, p := range []string{privPath, pubPath} {
		if _, err := os.Lstat(p); err == nil {
			return "", "", usageError("keygen: %s exists; remove it first or choose another name or --dir", p)
		}
	}
	if err := writeNew(privPath, k.MarshalText(), 0o600); err != nil {
		return "", "", err
	}
	pub := k.Public()
	if err := writeNew(pubPath, pub.MarshalText(), 0o644); err != nil {
		_ = os.Remove(privPath) // a half pair is no use
		return "", "", err
	}
	return privPath, pubPath, nil
}

// writeNew creates path with data, failing if it exists.
func writeNew(path string, data []byte, perm fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return usageError("keygen: %s exists; remove it first or choose another name or --dir", path)
		}
		return usageError("keygen: %v", err)
	}
	if err := f.Chmod(perm); err != nil { // the umask may have taken bits away, never added any
		f.Close()
		return fmt.Errorf("keygen: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("keygen: write %s: %w", path, err)
	}
	return f.Close()
}
