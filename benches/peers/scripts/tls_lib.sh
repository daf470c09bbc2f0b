# Helpers for the TLS measuring scripts (sourced after lib.sh, not run).
# A TLS server command gets "--port 0 --tls-cert CERT --tls-key KEY" appended and must print
# "listening on https://HOST:PORT" (hyper_tls_hello, nginx_tls_hello.sh, squall's
# examples/http_server). Certificates: tls_certs.sh in a temporary directory per run.

HZ=$(getconf CLK_TCK)
TLS_DIR=""

# tls_make_certs: CA + server certificate in a fresh temporary directory; sets TLS_DIR,
# TLS_CA, TLS_CERT, TLS_KEY. tls_cleanup removes it (and stops what lib.sh started).
tls_make_certs() {
  TLS_DIR=$(mktemp -d /tmp/squall-tls-bench.XXXXXX)
  "$SCRIPTS_DIR/tls_certs.sh" "$TLS_DIR"
  TLS_CA=$TLS_DIR/ca.pem; TLS_CERT=$TLS_DIR/server.pem; TLS_KEY=$TLS_DIR/server.key
}
tls_cleanup() {
  cleanup
  [[ -n "$TLS_DIR" ]] && rm -rf "$TLS_DIR"
  TLS_DIR=""
}

# work_pid PID: the process doing the server's work: PID itself, or, while PID has exactly
# one child, that child (nginx_tls_hello.sh -> nginx master -> the one worker).
work_pid() {
  local p=$1 kids _
  for _ in 1 2 3 4; do
    read -ra kids <<<"$(cat "/proc/$p/task/$p/children" 2>/dev/null)"
    [[ ${#kids[@]} -eq 1 ]] || break
    p=${kids[0]}
  done
  echo "$p"
}

# cpu_ticks PID: utime+stime in clock ticks ("-" when gone).
cpu_ticks() {
  if [[ -r /proc/$1/stat ]]; then awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; else echo "-"; fi
}

# start_tls_server NAME LOG CPU CMD... -> SERVER_PID, SERVER_PORT, WORK_PID
# Starts CMD --port 0 --tls-cert .. --tls-key .. (lib.sh start_server: fd limit raised,
# pinned when CPU is not "-") and waits up to STARTUP_WAIT [60] s for its listening line.
# Returns 3 after printing "NOTLS label=NAME ..." when the line says http:// (no TLS),
# 1 when the server exits or never prints the line.
start_tls_server() {
  local name=$1 log=$2 cpu=$3 line _; shift 3
  rm -f "$log"   # start_server's redirection happens in the background: no stale line
  start_server "$log" "$cpu" "$@" --port 0 --tls-cert "$TLS_CERT" --tls-key "$TLS_KEY"
  SERVER_PORT=""
  for _ in $(seq $(( ${STARTUP_WAIT:-60} * 10 ))); do
    line=$(grep -a -m1 -o 'listening on [a-z]*://[^ ]*' "$log" 2>/dev/null || true)
    if [[ -n "$line" ]]; then
      if [[ "$line" != "listening on https://"* ]]; then
        echo "NOTLS label=$name printed '$line' when started with --tls-cert/--tls-key"
        stop_pid "$SERVER_PID"
        return 3
      fi
      SERVER_PORT=${line##*:}; SERVER_PORT=${SERVER_PORT%%/*}
      break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z "$SERVER_PORT" ]]; then
    echo "FAIL label=$name: no 'listening on https://HOST:PORT' line (server $(kill -0 "$SERVER_PID" 2>/dev/null && echo still running || echo exited)); its output:"
    tail -5 "$log" | sed 's/^/    /'
    stop_pid "$SERVER_PID"
    return 1
  fi
  WORK_PID=$(work_pid "$SERVER_PID")
}
