# Sourced by scripts/bench-sessions and scripts/bench-h2-guard: docshare-server
# processes on free loopback ports, for benchmarks. The caller sets BUILD,
# WORK, TOKEN and SECRET (both at least 32 bytes) and an array PIDS, which
# collects every process started here for the caller's cleanup. The per-token
# limits of issue 12 are off: a benchmark is one token at volume.

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# start_server NAME [FLAGS...]: sets GRPC_PORT and SERVER_PID once the server
# logs "started" (10 s at most); its log is $WORK/server-NAME.log.
start_server() {
  GRPC_PORT=$(free_port)
  local log_file="$WORK/server-$1.log"
  shift
  DOCSHARE_TOKEN_SECRET="$SECRET" DOCSHARE_ADMIN_TOKEN="$TOKEN" "$BUILD/docshare-server" \
    --grpc-address="127.0.0.1:$GRPC_PORT" --metrics-address="127.0.0.1:$(free_port)" \
    --token-share-rate=0 --token-check-file-rate=0 --max-token-watchers=0 "$@" \
    >"$log_file" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  for _ in $(seq 1 100); do
    grep -q '"event":"started"' "$log_file" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || { cat "$log_file" >&2; exit 1; }
    sleep 0.1
  done
}

stop_server() {
  kill -TERM "$SERVER_PID"
  wait "$SERVER_PID" 2>/dev/null || true
}
