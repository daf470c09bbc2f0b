#!/usr/bin/env bash
# run_tls_bulk.sh SQUALL_HTTP_SERVER HYPER_TLS_BULK
#
# Bulk TLS throughput: a 100 MiB response over TLS, server CPU per MB, squall's demo server
# (`http_server --tls-cert --tls-key`, `GET /stream?chunks=100&size=1048576`: chunked) beside
# hyper + tokio-rustls (`hyper_tls_bulk`, the same route) and nginx (Debian package, one
# worker, a 100 MiB static file: Content-Length, read from the page cache), interleaved
# rounds, the same ECDSA P-256 certificate (made here with the openssl CLI).
# Client: `curl -k -o /dev/null` (OpenSSL), one new connection per download.
# Server CPU: utime+stime of the serving process from /proc/PID/stat (all its threads; for
# nginx the worker) before and after REPS downloads.
# Prints per server and round: wall MB/s (what curl saw) and MB per server CPU second
# ("MB/s per core"); 1 MB = 10^6 bytes.
#
# Knobs: ROUNDS (3), REPS downloads per measurement (3), SERVER_CPU (1) and CLIENT_CPU (0)
# for taskset (empty: no pinning), PORT0 (first of three ports, 9443), WORK (default: a
# temporary directory, removed at the end).
# Stops only the processes it started, by PID.
set -euo pipefail
SQUALL=${1:?usage: run_tls_bulk.sh SQUALL_HTTP_SERVER HYPER_TLS_BULK}
HYPER=${2:?usage: run_tls_bulk.sh SQUALL_HTTP_SERVER HYPER_TLS_BULK}
SQUALL=$(realpath "$SQUALL"); HYPER=$(realpath "$HYPER")
ROUNDS=${ROUNDS:-3}; REPS=${REPS:-3}; SERVER_CPU=${SERVER_CPU-1}; CLIENT_CPU=${CLIENT_CPU-0}
PORT0=${PORT0:-9443}
MADE_WORK=0
if [[ -z "${WORK:-}" ]]; then WORK=$(mktemp -d /tmp/tls_bulk.XXXXXX); MADE_WORK=1; fi
mkdir -p "$WORK"; chmod 755 "$WORK"
SIZE=$((100 * 1024 * 1024))
pin() { if [[ -n "$1" ]]; then echo "taskset -c $1"; fi; }

# Certificate: ECDSA P-256 leaf for localhost / 127.0.0.1, self-signed CA.
cd "$WORK"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
openssl req -x509 -new "${ec[@]}" -keyout ca.key -out ca.pem -days 30 -subj "/CN=bench CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -new "${ec[@]}" -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
printf '%s\n' "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth" "subjectAltName=DNS:localhost,IP:127.0.0.1" >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 4096 -days 30 \
  -extfile server.ext -out server.pem 2>/dev/null
mkdir -p www
head -c "$SIZE" /dev/zero | tr '\0' x >www/bulk

P_SQUALL=$PORT0; P_HYPER=$((PORT0 + 1)); P_NGINX=$((PORT0 + 2))
cat >nginx.conf <<EOF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    default_type text/plain;
    client_body_temp_path $WORK/body;
    proxy_temp_path $WORK/proxy;
    fastcgi_temp_path $WORK/fastcgi;
    uwsgi_temp_path $WORK/uwsgi;
    scgi_temp_path $WORK/scgi;
    server {
        listen 127.0.0.1:$P_NGINX ssl;
        ssl_certificate $WORK/server.pem;
        ssl_certificate_key $WORK/server.key;
        ssl_protocols TLSv1.2 TLSv1.3;
        root $WORK/www;
    }
}
EOF

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ $MADE_WORK == 1 ]]; then rm -rf "$WORK"; fi
}
trap cleanup EXIT
$(pin "$SERVER_CPU") "$SQUALL" --port "$P_SQUALL" --tls-cert server.pem --tls-key server.key >squall.out 2>squall.err &
pids+=($!); PID_SQUALL=$!
$(pin "$SERVER_CPU") "$HYPER" --port "$P_HYPER" --tls-cert server.pem --tls-key server.key >hyper.out 2>hyper.err &
pids+=($!); PID_HYPER=$!
$(pin "$SERVER_CPU") nginx -p "$WORK" -c "$WORK/nginx.conf" -e "$WORK/error.log" -g 'daemon off;' &
pids+=($!); NGINX_MASTER=$!
for _ in $(seq 100); do
  if grep -q listening squall.out hyper.out 2>/dev/null && [[ -n "$(cat /proc/$NGINX_MASTER/task/$NGINX_MASTER/children 2>/dev/null)" ]] &&
     ss -Hltn "sport = :$P_NGINX" | grep -q . && grep -q listening hyper.out && grep -q listening squall.out; then break; fi
  sleep 0.1
done
PID_NGINX=$(tr -d ' ' </proc/$NGINX_MASTER/task/$NGINX_MASTER/children)
echo "# squall pid=$PID_SQUALL hyper pid=$PID_HYPER nginx worker pid=$PID_NGINX; $(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg)"

ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
url() {
  case $1 in
    squall) echo "https://127.0.0.1:$P_SQUALL/stream?chunks=100&size=1048576" ;;
    hyper) echo "https://127.0.0.1:$P_HYPER/stream?chunks=100&size=1048576" ;;
    nginx) echo "https://127.0.0.1:$P_NGINX/bulk" ;;
  esac
}
pid_of() { case $1 in squall) echo "$PID_SQUALL" ;; hyper) echo "$PID_HYPER" ;; nginx) echo "$PID_NGINX" ;; esac; }
# The negotiated protocol and cipher, once per server.
for s in squall hyper nginx; do
  echo "# $s: $(curl -k -sv -o /dev/null "$(url $s)" 2>&1 | grep -m1 'SSL connection using' | sed 's/^\* //')"
done
printf '%-7s %5s %12s %10s %14s\n' server round wall_MB/s cpu_s MB/cpu_s
for r in $(seq "$ROUNDS"); do
  for s in squall hyper nginx; do
    pid=$(pid_of $s); u=$(url $s)
    c0=$(ticks "$pid"); t0=$(date +%s.%N); bytes=0
    for _ in $(seq "$REPS"); do
      b=$($(pin "$CLIENT_CPU") curl -k -s -o /dev/null -w '%{size_download}' "$u")
      [[ "$b" == "$SIZE" ]] || { echo "$s: got $b bytes, expected $SIZE" >&2; exit 1; }
      bytes=$((bytes + b))
    done
    t1=$(date +%s.%N); c1=$(ticks "$pid")
    awk -v s=$s -v r=$r -v b=$bytes -v t=$(echo "$t1 - $t0" | bc) -v c=$((c1 - c0)) -v hz=$hz 'BEGIN {
      cpu = c / hz; printf "%-7s %5d %12.0f %10.2f %14.0f\n", s, r, b / 1e6 / t, cpu, (cpu > 0 ? b / 1e6 / cpu : 0) }'
  done
done
echo "# load after: $(cut -d' ' -f1-3 /proc/loadavg)"
