#!/usr/bin/env bash
# The Debian package as an operator meets it: lintian, the files it carries, a real install
# (its user and group, who may read the configuration, the unit enabled but not started),
# the binary run as a member of the group and as an outsider, an upgrade that keeps the
# operator's configuration and state, a removal that keeps them and a purge that does not.
#
# Needs root and changes the machine it runs on (installs and purges the package, adds and
# removes two users): run it on a throwaway machine, as CI does. Build the package first
# (packaging/build-deb.sh). Undoes everything at the end, whatever happens.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

deb=$(ls -t target/debian/efi-poller_*.deb | head -n1)
member=efi-operator-test
outsider=efi-outsider-test
failures=0

check() {
  local what=$1
  shift
  if "$@"; then
    echo "  ok: $what"
  else
    echo "  FAILED: $what"
    failures=$((failures + 1))
  fi
}

# `efi-poller ARGS` as USER, in a directory that user may enter; prints what it says.
as_user() {
  local user=$1
  shift
  (cd /tmp && runuser -u "$user" -- /usr/bin/efi-poller "$@" 2>&1)
}

cleanup() {
  dpkg --purge efi-poller >/dev/null 2>&1 || true
  userdel "$member" >/dev/null 2>&1 || true
  userdel "$outsider" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

echo "== lintian $deb"
lintian --fail-on error "$deb"

echo "== what the package carries"
listing=$(dpkg-deb -c "$deb")
for path in ./usr/bin/efi-poller ./etc/efi-poller/config.toml \
  ./usr/lib/systemd/system/efi-poller.service ./usr/lib/sysusers.d/efi-poller.conf \
  ./usr/share/man/man1/efi-poller.1.gz ./usr/share/bash-completion/completions/efi-poller \
  ./usr/share/zsh/vendor-completions/_efi-poller \
  ./usr/share/fish/vendor_completions.d/efi-poller.fish; do
  check "$path" grep -q " $path\$" <<<"$listing"
done
plugins=(bec_ridgewave baicells_atom telrad_cpe hello_driver raemis magma genieacs sonar profiles)
for p in "${plugins[@]}"; do
  check "plugin lib$p.so" grep -q " ./usr/lib/efi-poller/plugins/lib$p.so\$" <<<"$listing"
done
check "no lab and no test plugin" bash -c '! grep -Eq "efi-lab|panicky|future_api|not_a_plugin" <<<"$1"' _ "$listing"
check "config.toml is a conffile" bash -c 'dpkg-deb -f "$1" >/dev/null && dpkg-deb -I "$1" conffiles | grep -qx /etc/efi-poller/config.toml' _ "$deb"

echo "== install"
dpkg -i "$deb"
check "system user efi-poller" getent passwd efi-poller
check "system group efi-poller" getent group efi-poller
check "/etc/efi-poller root:efi-poller 750" test "$(stat -c '%U:%G %a' /etc/efi-poller)" = "root:efi-poller 750"
check "/etc/efi-poller/profiles root:efi-poller 750" test "$(stat -c '%U:%G %a' /etc/efi-poller/profiles)" = "root:efi-poller 750"
check "config.toml root:efi-poller 640" test "$(stat -c '%U:%G %a' /etc/efi-poller/config.toml)" = "root:efi-poller 640"
check "/var/lib/efi-poller efi-poller:efi-poller 750" test "$(stat -c '%U:%G %a' /var/lib/efi-poller)" = "efi-poller:efi-poller 750"
check "the unit is enabled" test -L /etc/systemd/system/multi-user.target.wants/efi-poller.service
check "systemd-analyze verify" systemd-analyze verify --man=no /usr/lib/systemd/system/efi-poller.service
check "man page" bash -c 'man -l /usr/share/man/man1/efi-poller.1.gz 2>/dev/null | grep -q "efi-poller"'

echo "== run as a member of the group and as an outsider"
useradd --no-create-home --shell /usr/sbin/nologin --groups efi-poller "$member"
useradd --no-create-home --shell /usr/sbin/nologin "$outsider"
status=0
said=$(as_user "$member" config check) || status=$?
echo "$said" | sed 's/^/    /'
check "a member: config check reads the shipped file: valid, nothing to run yet (exit 3)" test "$status" = 3
check "a member: told what run lacks" bash -c 'grep -q "^/etc/efi-poller/config.toml: valid, but .efi-poller run. cannot start with it" <<<"$1" && grep -q "managed_subnets" <<<"$1"' _ "$said"
said=$(cd /tmp && runuser -u "$member" -- /usr/bin/efi-poller plugins list --json 2>/dev/null) || true
for p in bec-ridgewave baicells-atom telrad-cpe hello-driver raemis magma genieacs sonar profiles; do
  check "a member: plugins list shows $p from /usr/lib/efi-poller/plugins" \
    python3 -c 'import json,sys; rows=json.loads(sys.argv[1]); sys.exit(not any(r["name"]==sys.argv[2] and r["status"]=="ok" and r["file"].startswith("/usr/lib/efi-poller/plugins/") for r in rows))' "$said" "$p"
done
status=0
said=$(as_user "$outsider" config check) || status=$?
echo "$said" | sed 's/^/    /'
check "an outsider: refused (exit 2)" test "$status" = 2
check "an outsider: told the file and the fix" bash -c 'grep -q "/etc/efi-poller/config.toml: permission denied" <<<"$1" && grep -q "adduser \$USER efi-poller" <<<"$1"' _ "$said"
status=0
said=$(cd /var/lib/efi-poller && runuser -u efi-poller -- /usr/bin/efi-poller --config /etc/efi-poller/config.toml run 2>&1) || status=$?
echo "$said" | sed 's/^/    /'
check "the service user on the shipped config: not configured (exit 78)" test "$status" = 78

echo "== upgrade keeps the operator's configuration and state"
echo "# the operator's own line" >>/etc/efi-poller/config.toml
echo "token" >/etc/efi-poller/sonar.token
touch /var/lib/efi-poller/efi-poller-state.db
dpkg -i "$deb"
check "config.toml kept" grep -q "^# the operator's own line$" /etc/efi-poller/config.toml
check "config.toml still root:efi-poller 640" test "$(stat -c '%U:%G %a' /etc/efi-poller/config.toml)" = "root:efi-poller 640"
check "the state kept" test -f /var/lib/efi-poller/efi-poller-state.db

echo "== remove keeps them, purge does not"
dpkg --remove efi-poller
check "after remove: config.toml kept" test -f /etc/efi-poller/config.toml
check "after remove: the state kept" test -f /var/lib/efi-poller/efi-poller-state.db
dpkg --purge efi-poller
check "after purge: /etc/efi-poller gone" test ! -e /etc/efi-poller
check "after purge: /var/lib/efi-poller gone" test ! -e /var/lib/efi-poller
check "after purge: no mode override left" bash -c '! dpkg-statoverride --list | grep -q efi-poller'

if [ "$failures" -gt 0 ]; then
  echo "package test: $failures check(s) failed"
  exit 1
fi
echo "package test: every check passed"
