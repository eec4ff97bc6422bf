# Sourced by .ci/test and .ci/e2e (after `cd` to the repository root and `source .ci/env.sh`):
# start and stop the e2e server (debug binary $E2E_BIN, fresh SQLite in $E2E_DIR, port
# $E2E_PORT) and its SMTP sink, and run Playwright against it. Callers set E2E_BIN, E2E_DIR,
# E2E_PORT, E2E_PASSWORD, E2E_TOKEN and trap stop_server.
server_pid=""
smtp_pid=""
fakes_pid=""
MAIL_DIR="$E2E_DIR/mails"
# stop_pid PID: SIGTERM, up to 5 s to exit, then SIGKILL.
stop_pid() {
  local pid=$1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
stop_server() {
  stop_pid "$server_pid"; server_pid=""
  stop_pid "$smtp_pid"; smtp_pid=""
  stop_pid "$fakes_pid"; fakes_pid=""
}

# The fake outside services (end2end/fakes/serve.py: captcha providers), on a port they pick;
# Playwright gets their base URL as KEYFLOW_FAKES_URL.
start_fakes() {
  local log="$E2E_DIR/fakes.log"
  .venv/bin/python end2end/fakes/serve.py --host 127.0.0.1 --port 0 >"$log" 2>&1 &
  fakes_pid=$!
  for _ in $(seq 1 100); do
    FAKES_PORT=$(sed -n 's/^READY \([0-9]*\)$/\1/p' "$log" 2>/dev/null)
    [ -n "$FAKES_PORT" ] && { echo "fake services are up (pid $fakes_pid) on port $FAKES_PORT"; return 0; }
    kill -0 "$fakes_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "the fake services did not start:"; cat "$log"; fakes_pid=""
  return 1
}

# The SMTP sink the e2e server delivers to (each mail a JSON file in $MAIL_DIR), on a free port.
start_smtp() {
  local log="$E2E_DIR/smtp.log"
  SMTP_PORT=$(.venv/bin/python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') || return 1
  .venv/bin/python end2end/smtp_sink.py --host 127.0.0.1 --port "$SMTP_PORT" --dir "$MAIL_DIR" >"$log" 2>&1 &
  smtp_pid=$!
  for _ in $(seq 1 100); do
    grep -q '^READY ' "$log" 2>/dev/null && { echo "SMTP sink is up (pid $smtp_pid) on port $SMTP_PORT, mails in $MAIL_DIR"; return 0; }
    kill -0 "$smtp_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "the SMTP sink did not start:"; cat "$log"; smtp_pid=""
  return 1
}

start_server() {
  if ss -Hltn "sport = :$E2E_PORT" 2>/dev/null | grep -q .; then
    echo "port $E2E_PORT is already in use (set KEYFLOW_E2E_PORT to another port):"
    ss -Hltnp "sport = :$E2E_PORT"
    return 1
  fi
  rm -rf "$E2E_DIR" && mkdir -p "$E2E_DIR"
  start_smtp || return 1
  start_fakes || return 1
  # A fresh database each run, so bootstrap (akadmin + token) always happens.
  env DATABASE_URL="sqlite://$E2E_DIR/keyflow.db?mode=rwc" \
    LEPTOS_SITE_ADDR="127.0.0.1:$E2E_PORT" \
    KEYFLOW_BOOTSTRAP_PASSWORD="$E2E_PASSWORD" \
    KEYFLOW_BOOTSTRAP_TOKEN="$E2E_TOKEN" \
    KEYFLOW_EMAIL__HOST=127.0.0.1 \
    KEYFLOW_EMAIL__PORT="$SMTP_PORT" \
    KEYFLOW_EMAIL__FROM="keyflow@localhost" \
    KEYFLOW_TWILIO_API_URL="http://127.0.0.1:$FAKES_PORT" \
    KEYFLOW_LOG_LEVEL="${KEYFLOW_LOG_LEVEL:-info}" \
    "./$E2E_BIN" serve >"$E2E_DIR/server.log" 2>&1 &
  server_pid=$!
  local url="http://localhost:$E2E_PORT/-/health/ready/"
  for _ in $(seq 1 120); do
    if ! kill -0 "$server_pid" 2>/dev/null; then
      echo "keyflow exited during start-up:"; tail -n 40 "$E2E_DIR/server.log"; server_pid=""; return 1
    fi
    if curl -fsS -o /dev/null "$url" 2>/dev/null; then
      echo "keyflow is up (pid $server_pid) at http://localhost:$E2E_PORT"; return 0
    fi
    sleep 0.5
  done
  echo "keyflow did not answer $url within 60 s:"; tail -n 40 "$E2E_DIR/server.log"
  return 1
}

run_playwright() {
  rm -f end2end/playwright-report/results.json
  (cd end2end && KEYFLOW_BASE_URL="http://localhost:$E2E_PORT" KEYFLOW_TEST_PASSWORD="$E2E_PASSWORD" \
    KEYFLOW_TEST_TOKEN="$E2E_TOKEN" KEYFLOW_MAIL_DIR="$MAIL_DIR" \
    KEYFLOW_FAKES_URL="http://127.0.0.1:$FAKES_PORT" npx playwright test "$@")
}

