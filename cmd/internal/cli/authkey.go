package cli

import (
	"bytes"
	"io"
	"os"

	"github.com/topicrpc/topicrpc/domain"
)

// maxKeyFile bounds what is read from a key file.
const maxKeyFile = 64 << 10

// authKey returns the secret key named by --auth-key-file, else
// $TOPICRPC_AUTH_KEY_FILE, or nil when neither is set (requests unsigned).
//
// The key is the file's bytes without trailing newlines: at least
// domain.MinKeySize of them (generate one with
// `head -c 32 /dev/urandom | base64 > FILE; chmod 600 FILE`). A file that its
// group or others may read or write is refused, like ssh refuses such
// private keys. Every problem is a usage error (exit 64) naming the file,
// never its contents.
func (o *options) authKey() ([]byte, error) {
	path, source := o.authKeyFile, o.env.source("auth-key-file")
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError("%s: %v", source, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, usageError("%s: %v", source, err)
	case !fi.Mode().IsRegular():
		return nil, usageError("%s %s: not a regular file", source, path)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, usageError("%s %s: readable or writable by group or others (mode %04o); run chmod 600 %s",
			source, path, fi.Mode().Perm(), path)
	}
	key, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	switch {
	case err != nil:
		return nil, usageError("%s %s: %v", source, path, err)
	case len(key) > maxKeyFile:
		return nil, usageError("%s %s: longer than %d bytes; a key needs %d to 64", source, path, maxKeyFile, domain.MinKeySize)
	}
	key = bytes.TrimRight(key, "\r\n")
	if len(key) < domain.MinKeySize {
		return nil, usageError("%s %s: the key is %d bytes, at least %d needed (e.g. head -c 32 /dev/urandom | base64 > %s)",
			source, path, len(key), domain.MinKeySize, path)
	}
	return key, nil
}
