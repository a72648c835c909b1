# Citus for the distributed test and benchmark: find it, or build it once from a source
# tarball, and start a throwaway coordinator with workers. Source it; do not run it.
#
# An installed Citus (citus.so in the server's library folder, as Citus's own packages install
# it) is used as it is: the private install tree links that folder. Without one, CITUS_SOURCE
# may name a Citus source tarball (citus-X.Y.Z.tar.gz) or a folder holding one; it is compiled
# once into a cache folder outside the source tree, keyed by the Citus and PostgreSQL versions
# ($CITUS_CACHE, default ~/.cache/health_score/citus-X.Y.Z-pg...), so later runs only install
# it (a few seconds). Patches (*.patch) beside the tarball are applied before compiling.
# Without either, there is no Citus, and citus_find says why.

# The shared helpers (log, ensure_packages, run_as_owner, pick_port), when the caller has not
# sourced them already, without the shell options common.sh sets for the scripts (a TAP test
# runs on after a failing command).
if ! declare -F pick_port >/dev/null; then
    citus_shell_options=$(set +o)
    source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
    eval "$citus_shell_options"
fi

# Debian packages a build from source needs beyond the server's headers.
CITUS_BUILD_PACKAGES="libcurl4-openssl-dev liblz4-dev libzstd-dev libkrb5-dev libssl-dev libselinux1-dev libxslt1-dev libpam0g-dev libreadline-dev flex bison autoconf"

# citus_find INSTALL_ROOT: make Citus loadable by the private install under INSTALL_ROOT (the
# DESTDIR of the server's tree); prints how it was found, or returns 1 and prints why there is none.
citus_find() {
    local root=$1 pg_config=${PG_CONFIG:-pg_config} pkglibdir tarball src cache patch
    pkglibdir=$("$pg_config" --pkglibdir)
    if [ -e "$pkglibdir/citus.so" ]; then
        echo "installed Citus ($pkglibdir/citus.so)"
        return 0
    fi
    if [ -z "${CITUS_SOURCE:-}" ]; then
        echo "Citus is not installed ($pkglibdir/citus.so) and CITUS_SOURCE names no source tarball"
        return 1
    fi
    tarball=$CITUS_SOURCE
    [ -d "$tarball" ] && tarball=$(ls "$tarball"/citus-*.tar.gz 2>/dev/null | sort -V | tail -n 1)
    if [ ! -f "$tarball" ]; then
        echo "CITUS_SOURCE=$CITUS_SOURCE is no Citus source tarball (citus-X.Y.Z.tar.gz) nor a folder holding one"
        return 1
    fi
    src=$(basename "$tarball" .tar.gz)
    cache=${CITUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/health_score/$src-pg$("$pg_config" --version | awk '{ print $2 }')}
    mkdir -p "$(dirname "$cache")"
    # One build at a time (test runs may start together); the others wait and then install.
    (
        flock 9
        if [ ! -f "$cache/.built" ]; then
            (ensure_packages $CITUS_BUILD_PACKAGES) >&2 ||
                { echo "compiling $src needs the Debian packages $CITUS_BUILD_PACKAGES"; exit 1; }
            log "compiling $src once into $cache (about 3 minutes on 2 cores)"
            rm -rf "$cache" && mkdir -p "$cache"
            tar -xzf "$tarball" -C "$cache" --strip-components=1
            for patch in "$(dirname "$tarball")"/*.patch; do
                [ -f "$patch" ] && (cd "$cache" && patch -s -p1 <"$patch")
            done
            (cd "$cache" && ./configure -q --without-libcurl PG_CONFIG="$pg_config" >"$cache/.configure.log" 2>&1 &&
                make -s -j"$(nproc)" >"$cache/.make.log" 2>&1) ||
                { echo "compiling $src failed (see $cache/.configure.log and .make.log)"; exit 1; }
            touch "$cache/.built"
        fi
        make -s -C "$cache" install PG_CONFIG="$pg_config" DESTDIR="$root" >/dev/null 2>&1 ||
            { echo "installing $src from $cache failed"; exit 1; }
    ) 9>"$cache.lock" || return 1
    echo "$src built from $tarball (cached in $cache)"
}

# citus_cluster DIR WORKERS [postgresql.conf lines...]: a coordinator and WORKERS workers,
# each its own throwaway cluster under DIR, unprivileged, on a private socket folder and port
# (no TCP: the nodes reach each other through their socket folders). Creates the database
# $CITUS_DB (default postgres) with the citus extension on every node and registers the
# workers. Sets CITUS_PORTS (coordinator first) and CITUS_SOCKET; citus_stop stops them.
citus_cluster() {
    local dir=$1 workers=$2 i port node ports=() line
    shift 2
    CITUS_DIR=$dir CITUS_SOCKET="$dir/socket" CITUS_DB=${CITUS_DB:-postgres}
    mkdir -p "$CITUS_SOCKET" && chmod 777 "$dir" "$CITUS_SOCKET"
    [ "$(id -u)" -eq 0 ] && chown postgres: "$CITUS_SOCKET"
    for i in $(seq 0 "$workers"); do
        node="$dir/node$i"
        run_as_owner "$PGBIN/initdb" -D "$node" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null || return 1
        port=$(pick_port 30000 "$CITUS_SOCKET")
        {
            echo "listen_addresses = ''"
            echo "port = $port"
            echo "unix_socket_directories = '$CITUS_SOCKET'"
            echo "shared_preload_libraries = 'citus'"
            echo "citus.local_hostname = '$CITUS_SOCKET'"
            echo "fsync = off"
            echo "max_connections = 100"
            echo "shared_buffers = 128MB"
            echo "work_mem = 64MB"
            echo "timezone = 'UTC'"
            echo "jit = off"
            for line in "$@"; do echo "$line"; done
        } >>"$node/postgresql.conf"
        run_as_owner "$PGBIN/pg_ctl" -D "$node" -l "$dir/node$i.log" -w -t 60 start >/dev/null || return 1
        ports+=("$port")
    done
    CITUS_PORTS=("${ports[@]}")
    for port in "${CITUS_PORTS[@]}"; do
        [ "$CITUS_DB" = postgres ] || "$PGBIN/createdb" -h "$CITUS_SOCKET" -p "$port" -U postgres "$CITUS_DB" || return 1
        citus_psql "$port" -c 'CREATE EXTENSION citus' >/dev/null || return 1
    done
    citus_psql "${CITUS_PORTS[0]}" -c "SELECT citus_set_coordinator_host('$CITUS_SOCKET', ${CITUS_PORTS[0]})" >/dev/null || return 1
    for port in "${CITUS_PORTS[@]:1}"; do
        citus_psql "${CITUS_PORTS[0]}" -c "SELECT citus_add_node('$CITUS_SOCKET', $port)" >/dev/null || return 1
    done
}

# citus_psql PORT PSQL-ARGS...: psql on a node of the cluster, quiet, stopping at the first error.
citus_psql() {
    local port=$1
    shift
    "$PGBIN/psql" -X -q -At -v ON_ERROR_STOP=1 -h "$CITUS_SOCKET" -p "$port" -U postgres -d "$CITUS_DB" "$@"
}

# citus_stop: stop every node of the cluster (leaves DIR to the caller).
citus_stop() {
    local node
    for node in "${CITUS_DIR:-/nonexistent}"/node*/; do
        [ -f "$node/postmaster.pid" ] && run_as_owner "$PGBIN/pg_ctl" -D "$node" -m immediate -w stop >/dev/null 2>&1
    done
    return 0
}
