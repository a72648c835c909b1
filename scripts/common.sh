# Shared by scripts/demo, scripts/test and bench/*: package checks, a private build of the
# extension and a throwaway PostgreSQL cluster. Source it; do not run it.
#
# The cluster never touches the machine's own PostgreSQL: the extension is installed into a
# private copy of the server's install tree (as PostgreSQL's own "make check" does), and the
# cluster runs from that copy as an unprivileged user, on a private socket folder and port.

set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/$PG_MAJOR/bin/pg_config}
[ -x "$PG_CONFIG" ] || PG_CONFIG=$(command -v pg_config || echo pg_config)

# Debian packages each command needs; the test suite also needs pgTAP, pg_prove, pg_cron and
# sqlsmith, and the drivers BI tools use (psqlODBC with unixODBC, the JDBC driver and a JDK).
BASE_PACKAGES="make gcc postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR"
TEST_PACKAGES="postgresql-$PG_MAJOR-pgtap libtap-parser-sourcehandler-pgtap-perl postgresql-$PG_MAJOR-cron sqlsmith
               odbc-postgresql unixodbc unixodbc-dev libpostgresql-jdbc-java default-jdk-headless"

# scripts/report needs node with npm (for vega-cli) and jq; its test also opens it in Chromium.
REPORT_PACKAGES="jq"
BROWSER_PACKAGES="chromium fonts-dejavu-core"

log() { printf '==> %s\n' "$*" >&2; }

# ensure_packages PKG...: install what is missing when root, otherwise name it and stop.
ensure_packages() {
    local missing=() pkg
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -eq 0 ]; then
        log "installing Debian packages: ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    else
        echo "missing Debian packages: ${missing[*]}" >&2
        echo "install them with: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
}

# ensure_node: node and npm, from Debian's packages when either is missing (a node that comes
# with its own npm is left alone).
ensure_node() {
    command -v node >/dev/null && command -v npm >/dev/null && return 0
    ensure_packages nodejs npm
}

# The unprivileged user the cluster runs as: ourselves, or Debian's postgres user under root.
run_as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

# build_private_install: compile a snapshot of the source tree in $WORK/build
# (so concurrent runs never share object files or test results) and install it into
# $WORK/inst, a copy of the server's install tree (binaries copied, the rest linked).
build_private_install() {
    local bindir sharedir pkglibdir
    bindir=$("$PG_CONFIG" --bindir)
    sharedir=$("$PG_CONFIG" --sharedir)
    pkglibdir=$("$PG_CONFIG" --pkglibdir)
    BUILD="$WORK/build"
    mkdir -p "$BUILD"
    tar -C "$TOP" --exclude=./.git --exclude=./results --exclude='*.o' --exclude='*.so' \
        --exclude='*.bc' --exclude=./build -cf - . | tar -C "$BUILD" -xf -
    log "building health_score"
    # COPT: extra compiler flags; scripts/test (and so CI) makes warnings errors.
    make -C "$BUILD" -s PG_CONFIG="$PG_CONFIG" COPT="${COPT:-}" >/dev/null
    make -C "$BUILD" -s PG_CONFIG="$PG_CONFIG" install DESTDIR="$WORK/inst" >/dev/null
    # The server finds its share and lib folders relative to its own binary, so the binaries
    # must be real copies; the rest can be symbolic links (never overwriting our files).
    mkdir -p "$WORK/inst$bindir" "$WORK/inst$sharedir" "$WORK/inst$pkglibdir"
    cp -a "$bindir/." "$WORK/inst$bindir/"
    cp -rsn "$sharedir/." "$WORK/inst$sharedir/"
    cp -rsn "$pkglibdir/." "$WORK/inst$pkglibdir/"
    PGBIN="$WORK/inst$bindir"
    chmod -R a+rX "$WORK"
}

# start_cluster [postgresql.conf lines...]: initdb and start on a private socket and port.
start_cluster() {
    PGDATA_DIR="$WORK/data"
    SOCKET_DIR="$WORK/socket"
    mkdir -p "$SOCKET_DIR"
    chmod 777 "$WORK" "$SOCKET_DIR"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$SOCKET_DIR"; fi
    run_as_owner "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    PGPORT_PRIVATE=$(pick_port 20000 "$SOCKET_DIR")
    {
        echo "listen_addresses = ''"
        echo "port = $PGPORT_PRIVATE"
        echo "unix_socket_directories = '$SOCKET_DIR'"
        echo "fsync = off"
        echo "max_worker_processes = 16"
        echo "max_parallel_workers = 8"
        echo "shared_buffers = 512MB"
        echo "work_mem = 64MB"
        echo "maintenance_work_mem = 256MB"
        echo "timezone = 'UTC'"
        local line
        for line in "$@"; do echo "$line"; done
    } >>"$PGDATA_DIR/postgresql.conf"
    run_as_owner "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$WORK/server.log" -w -t 60 start >/dev/null
    export PGHOST="$SOCKET_DIR" PGPORT="$PGPORT_PRIVATE" PGUSER=postgres PGDATABASE=postgres
    log "throwaway cluster on port $PGPORT (socket folder $SOCKET_DIR)"
}

# pick_port BASE SOCKET_DIR: a port in BASE to BASE+9999 that nothing listens on, neither on TCP
# nor with a socket in SOCKET_DIR (the single server takes 20000-29999, Citus's nodes
# 30000-39999, so that the two never race for a port).
pick_port() {
    local base=$1 socket_dir=$2 port
    while :; do
        port=$((base + RANDOM % 10000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && [ ! -e "$socket_dir/.s.PGSQL.$port" ]; then
            echo "$port"
            return
        fi
    done
}

# cleanup: stop the cluster and remove every trace; installed as an EXIT trap.
cleanup() {
    local rc=$?
    if [ -n "${PGDATA_DIR:-}" ] && [ -f "$PGDATA_DIR/postmaster.pid" ]; then
        run_as_owner "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    if [ $rc -ne 0 ] && [ -f "${WORK:-}/server.log" ]; then
        echo "--- last lines of the server log ---" >&2
        tail -n 20 "$WORK/server.log" >&2 || true
    fi
    [ -n "${WORK:-}" ] && rm -rf "$WORK"
    exit $rc
}

# setup_cluster [postgresql.conf lines...]: the whole sequence, with cleanup on any exit.
setup_cluster() {
    WORK=$(mktemp -d /tmp/health_score.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    build_private_install
    start_cluster "$@"
}
