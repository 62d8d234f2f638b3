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
	key, err := readPrivateFile(path, source)
	if err != nil {
		return nil, err
	}
	key = bytes.TrimRight(key, "\r\n")
	if len(key) < domain.MinKeySize {
		return nil, usageError("%s %s: the key is %d bytes, at least %d needed (e.g. head -c 32 /dev/urandom | base64 > %s)",
			source, path, len(key), domain.MinKeySize, path)
	}
	return key, nil
}

// readPrivateFile reads a secret file, refusing one that is not a regular
// file, that its group or others may read or write, or longer than
// maxKeyFile. Errors are usage errors naming source and path, never the
// contents.
func readPrivateFile(path, source string) ([]byte, error) {
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
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	switch {
	case err != nil:
		return nil, usageError("%s %s: %v", source, path, err)
	case len(data) > maxKeyFile:
		return nil, usageError("%s %s: longer than %d bytes: not a key", source, path, maxKeyFile)
	}
	return data, nil
}
