#!/usr/bin/env bash
# check-package.sh DEB checks topicrpc's Debian package: its control fields,
# conffiles and files (dpkg-deb -I / -c), its maintainer scripts (sh -n),
# the systemd unit (systemd-analyze verify, where installed), then unpacks
# it into a temporary root (dpkg -x: nothing is installed on this machine)
# and runs the programs from there: --version, the man pages, the
# completion scripts, the default config; then installs it with dpkg into a
# throwaway root (dpkg --root), again, and removes and purges it. One line
# per check; exit 1 on the first failure.
set -euo pipefail

deb="${1:?usage: check-package.sh DEB}"
[ -f "$deb" ] || { echo "check-package: $deb: no such file" >&2; exit 1; }

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

root="$(mktemp -d "${TMPDIR:-/tmp}/topicrpc-deb.XXXXXX")"
trap 'rm -rf "$root"' EXIT

# The control fields.
name="$(basename "$deb" .deb)"
IFS=_ read -r pkg version arch <<<"$name"
[ "$(dpkg-deb -f "$deb" Package)" = topicrpc ] || fail "Package is not topicrpc"
[ "$(dpkg-deb -f "$deb" Version)" = "$version" ] || fail "Version $(dpkg-deb -f "$deb" Version), the file name says $version"
[ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "Architecture $(dpkg-deb -f "$deb" Architecture), the file name says $arch"
ok "control: $pkg $version $arch"

# The conffiles and the maintainer scripts.
dpkg-deb --ctrl-tarfile "$deb" | tar -x -C "$root"
[ "$(cat "$root/conffiles")" = /etc/topicrpc/topicrpcd.yaml ] || fail "conffiles: $(cat "$root/conffiles"), want /etc/topicrpc/topicrpcd.yaml"
ok "conffiles: /etc/topicrpc/topicrpcd.yaml"
for s in postinst prerm postrm; do
	[ -x "$root/$s" ] || fail "$s is missing or not executable"
	sh -n "$root/$s" || fail "$s: syntax"
done
ok "maintainer scripts: postinst prerm postrm"
rm -rf "${root:?}"/*

# The files.
listing="$(dpkg-deb -c "$deb")"
for f in ./usr/bin/topicrpc ./usr/bin/topicrpcd ./usr/lib/systemd/system/topicrpcd.service \
	./usr/lib/sysusers.d/topicrpc.conf ./etc/topicrpc/topicrpcd.yaml \
	./usr/share/man/man1/topicrpc.1.gz ./usr/share/man/man1/topicrpcd.1.gz ./usr/share/man/man1/topicrpc-call.1.gz \
	./usr/share/bash-completion/completions/topicrpc ./usr/share/bash-completion/completions/topicrpcd \
	./usr/share/zsh/vendor-completions/_topicrpc ./usr/share/zsh/vendor-completions/_topicrpcd \
	./usr/share/fish/vendor_completions.d/topicrpc.fish ./usr/share/fish/vendor_completions.d/topicrpcd.fish \
	./usr/share/doc/topicrpc/copyright; do
	grep -q " $f\$" <<<"$listing" || fail "the package lacks $f"
done
grep -q '^-rw-r----- .* ./etc/topicrpc/topicrpcd.yaml$' <<<"$listing" || fail "/etc/topicrpc/topicrpcd.yaml is not mode 640"
grep -q '^-rwxr-xr-x .* ./usr/bin/topicrpcd$' <<<"$listing" || fail "/usr/bin/topicrpcd is not mode 755"
ok "files: $(grep -c '^-' <<<"$listing") files, programs, unit, sysusers, config, man pages, completions"

# Unpacked into a throwaway root.
dpkg -x "$deb" "$root"
for p in topicrpc topicrpcd; do
	v="$("$root/usr/bin/$p" --version)" || fail "$p --version failed"
	grep -Eq "^$p ${version%%+*} \(commit [0-9a-f]{7,}.*, built [0-9TZ:-]+; go[0-9.]+ linux/$arch\)$" <<<"$v" ||
		fail "$p --version: $v (want version, commit, build date, Go version)"
	ok "installed $p --version: $v"
done
"$root/usr/bin/topicrpcd" --config "$root/etc/topicrpc/topicrpcd.yaml" --print-config >/dev/null ||
	fail "topicrpcd does not accept the packaged /etc/topicrpc/topicrpcd.yaml"
ok "the packaged config: topicrpcd --print-config accepts it"
for page in "$root"/usr/share/man/man1/*.1.gz; do
	gzip -t "$page" || fail "$page: not gzip"
	zcat "$page" | grep -q '^\.TH ' || fail "$page: no .TH title"
done
if command -v man >/dev/null 2>&1; then
	MANWIDTH=80 man -l "$root/usr/share/man/man1/topicrpcd.1.gz" 2>/dev/null | grep -q -- '--config' || fail "man topicrpcd: no --config"
fi
ok "man pages: $(ls "$root"/usr/share/man/man1 | wc -l), each gzip with a title"
copyright="$root/usr/share/doc/topicrpc/copyright"
for m in "Go standard library" github.com/rabbitmq/amqp091-go go.uber.org/fx github.com/spf13/cobra; do
	grep -q "^Files: (linked into the programs) .*$m" "$copyright" || fail "the copyright file lacks the licence of $m"
done
ok "copyright: the licences of the standard library and $(grep -c "^Files: (linked into the programs) Go module" "$copyright") linked modules"
bash -n "$root/usr/share/bash-completion/completions/topicrpc" || fail "bash completion: syntax"
bash -n "$root/usr/share/bash-completion/completions/topicrpcd" || fail "bash completion: syntax"
if command -v zsh >/dev/null 2>&1; then zsh -n "$root/usr/share/zsh/vendor-completions/_topicrpcd" || fail "zsh completion: syntax"; fi
if command -v fish >/dev/null 2>&1; then fish -n "$root/usr/share/fish/vendor_completions.d/topicrpcd.fish" || fail "fish completion: syntax"; fi
ok "completions: bash syntax checked$(command -v zsh >/dev/null 2>&1 && echo ', zsh')$(command -v fish >/dev/null 2>&1 && echo ', fish')"

# A real install with dpkg, into a throwaway root (dpkg --root, the
# maintainer scripts run on that tree through $DPKG_ROOT): the user is
# created there, the config file given its group; installing again keeps
# an edited config; remove keeps it, purge removes it.
inst="$root/dpkg-root"
mkdir -p "$inst/var/lib/dpkg/updates" "$inst/var/lib/dpkg/info"
: >"$inst/var/lib/dpkg/status"
dpkg_root() {
	dpkg --root="$inst" --force-script-chrootless --log=/dev/null "$@" </dev/null >>"$root/dpkg.out" 2>&1 ||
		{ cat "$root/dpkg.out" >&2; return 1; }
}
dpkg_root -i "$deb" || fail "dpkg -i into $inst"
dpkg --root="$inst" -s topicrpc | grep -qx 'Status: install ok installed' || fail "dpkg -i: not installed"
grep -q '^topicrpc:[^:]*:[0-9]*:[0-9]*:' "$inst/etc/passwd" || fail "postinst created no topicrpc user"
gid="$(awk -F: '$1 == "topicrpc" { print $3 }' "$inst/etc/group")"
[ "$(stat -c '%u:%g %a' "$inst/etc/topicrpc/topicrpcd.yaml")" = "0:$gid 640" ] ||
	fail "/etc/topicrpc/topicrpcd.yaml is $(stat -c '%u:%g %a' "$inst/etc/topicrpc/topicrpcd.yaml"), want 0:$gid 640"
"$inst/usr/bin/topicrpcd" --version >/dev/null || fail "the installed topicrpcd --version"
echo "# edited" >>"$inst/etc/topicrpc/topicrpcd.yaml"
dpkg_root -i "$deb" || fail "dpkg -i a second time"
tail -1 "$inst/etc/topicrpc/topicrpcd.yaml" | grep -qx '# edited' || fail "installing again lost the edited config"
dpkg_root -r topicrpc || fail "dpkg -r"
[ ! -e "$inst/usr/bin/topicrpcd" ] && [ -f "$inst/etc/topicrpc/topicrpcd.yaml" ] || fail "dpkg -r: want the programs gone, the config kept"
dpkg_root -P topicrpc || fail "dpkg -P"
[ ! -e "$inst/etc/topicrpc/topicrpcd.yaml" ] || fail "dpkg -P kept the config"
ok "dpkg -i into a throwaway root: user topicrpc, config root:topicrpc 640, reinstall keeps an edited config, -r keeps it, -P removes it"

# The unit, against the unpacked program.
unit="$root/usr/lib/systemd/system/topicrpcd.service"
for want in User=topicrpc 'ExecStart=/usr/bin/topicrpcd --config /etc/topicrpc/topicrpcd.yaml' Restart=on-failure \
	KillSignal=SIGTERM NoNewPrivileges=yes ProtectSystem=strict ProtectHome=yes PrivateTmp=yes; do
	grep -qxF "$want" "$unit" || fail "the unit lacks $want"
done
if command -v systemd-analyze >/dev/null 2>&1; then
	mkdir "$root/verify"
	sed "s|/usr/bin/topicrpcd|$root/usr/bin/topicrpcd|" "$unit" >"$root/verify/topicrpcd.service"
	systemd-analyze verify --man=no "$root/verify/topicrpcd.service" || fail "systemd-analyze verify"
	exposure="$(systemd-analyze security --offline=yes "$root/verify/topicrpcd.service" 2>/dev/null | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]* [A-Z]*\).*/\1/p' || true)"
	ok "unit: systemd-analyze verify passed${exposure:+; exposure $exposure}"
else
	echo "note: systemd-analyze is not installed: the unit's directives were checked, not verified by systemd"
fi
echo "package ok: $deb"
