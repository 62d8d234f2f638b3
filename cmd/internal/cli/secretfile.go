package cli

import (
	"bytes"
	"io"
	"os"
)

// readSecret reads a secret (a token) from the file path that flag names,
// like authKey reads a key: a regular file that its group and others may
// not read or write, at most maxKeyFile bytes, trailing newlines dropped,
// at least min bytes. Every problem is a usage error naming the file,
// never its contents.
func readSecret(flag, path string, min int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, usageError("%s: %v", flag, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	switch {
	case err != nil:
		return nil, usageError("%s: %v", flag, err)
	case !fi.Mode().IsRegular():
		return nil, usageError("%s %s: not a regular file", flag, path)
	case fi.Mode().Perm()&0o077 != 0:
		return nil, usageError("%s %s: readable or writable by group or others (mode %04o); run chmod 600 %s",
			flag, path, fi.Mode().Perm(), path)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	switch {
	case err != nil:
		return nil, usageError("%s %s: %v", flag, path, err)
	case len(b) > maxKeyFile:
		return nil, usageError("%s %s: longer than %d bytes", flag, path, maxKeyFile)
	}
	b = bytes.TrimRight(b, "\r\n")
	if len(b) < min {
		return nil, usageError("%s %s: %d bytes, at least %d needed (e.g. head -c 24 /dev/urandom | base64 > %s)", flag, path, len(b), min, path)
	}
	return b, nil
}
