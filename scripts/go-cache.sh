# Sourced by scripts/build-collector and scripts/build-jaeger: where built binaries and
# Go's caches live, and a Go toolchain on PATH.
#
# The cache is per user and outside the checkout (${XDG_CACHE_HOME:-$HOME/.cache}/crocotel)
# so that a fresh clone on the same machine (CI's) reuses binaries and Go modules already
# built or downloaded; CROCOTEL_CACHE_DIR moves it. Binaries are keyed by a hash of their
# inputs, so clones at different commits share the cache safely.
cache="${CROCOTEL_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/crocotel}"
mkdir -p "$cache"
cache="$(cd "$cache" && pwd)"

if ! command -v go >/dev/null 2>&1; then
  export PATH="$PATH:/usr/local/go/bin"
fi
go version >/dev/null || { echo "$(basename "$0"): no Go toolchain found" >&2; exit 1; }

export GOMODCACHE="$cache/go/mod" GOCACHE="$cache/go/build" GOBIN="$cache/go/bin"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-modcacherw" GOTOOLCHAIN="${GOTOOLCHAIN:-local}" CGO_ENABLED=0
