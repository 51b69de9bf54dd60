#!/usr/bin/env bash
# Builds the Debian package: target/debian/efi-poller_<version>-1_<arch>.deb.
#
#   packaging/build-deb.sh                          # release build (what operators install)
#   packaging/build-deb.sh --profile dev --no-build # the debug build already made (CI)
#
# Installs cargo-deb when it is missing. Set EFI_POLLER_MAINTAINER="Name <address>" to
# name yourself as the package's maintainer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

profile=release
build=yes
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile=${2:?--profile needs a name}; shift 2 ;;
    --no-build) build=no; shift ;;
    *) echo "usage: $0 [--profile NAME] [--no-build]" >&2; exit 2 ;;
  esac
done
case "$profile" in
  dev) out=target/debug ;;
  *) out=target/$profile ;;
esac

cargo deb --version 2>/dev/null | grep -qx "cargo-deb 3.8.0" || cargo install cargo-deb --locked --version 3.8.0

# The binary and every plugin the package ships (not the lab, not the test plugins).
if [ "$build" = yes ]; then
  cargo build --profile "$profile" -p efi-core -p hello-driver -p bec-ridgewave \
    -p baicells-atom -p telrad-cpe -p raemis -p magma -p genieacs -p sonar -p profiles
fi

# Shell completions and the manual page, generated from the command line's own definition.
mkdir -p "$out/package"
"$out/efi-poller" completions bash >"$out/package/efi-poller.bash"
"$out/efi-poller" completions zsh >"$out/package/_efi-poller"
"$out/efi-poller" completions fish >"$out/package/efi-poller.fish"
"$out/efi-poller" manual | gzip -9n >"$out/package/efi-poller.1.gz"

args=(-p efi-core --no-build --profile "$profile")
if [ -n "${EFI_POLLER_MAINTAINER:-}" ]; then
  args+=(--maintainer "$EFI_POLLER_MAINTAINER")
fi
cargo deb "${args[@]}"
