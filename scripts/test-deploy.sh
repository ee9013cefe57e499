#!/usr/bin/env bash
# Tests of the fleet-deployment files in deploy/:
#   - shellcheck of the deploy scripts, ansible-lint (production profile) of deploy/ansible;
#   - the example playbook run for real against this machine, for scopes user,
#     managed and all_users: first run changed, second run unchanged, check mode
#     unchanged, doctor healthy, and state=absent puts Codex's files back byte for
#     byte; an unreachable service fails the host unless allowed;
#   - the Jamf policy script and extension attribute (managed);
#   - deploy/install.sh against a fake release served on 127.0.0.1: installs and
#     runs setup, and refuses an archive whose checksum does not match.
# Every home, Codex home and system root is a temporary directory; the only
# server binds 127.0.0.1 on a port the OS picks.
#
# KEEP_TMP=1 keeps the scratch directory (and every run's log) for a look afterwards.
#
# Installs what it needs when missing: ansible-core and ansible-lint (pinned, from
# PyPI, into .tools/ansible-venv) and the pinned Codex CLI (from npm, into .tools/).
set -euo pipefail

cd "$(dirname "$0")/.."
root=$(pwd)

ansible_core_version=2.19.14
ansible_lint_version=26.10.1
codex_version=0.171.0
tools="$root/.tools"
venv="$tools/ansible-venv"
jobs="${CARGO_BUILD_JOBS:-2}"

passed=0
skipped=0
step() { printf '\n==> %s\n' "$*"; }
ok() {
  passed=$((passed + 1))
  printf '  ok: %s\n' "$*"
}
skip() {
  skipped=$((skipped + 1))
  printf '  SKIPPED: %s\n' "$*"
}
fail() {
  printf '  FAIL: %s\n' "$*" >&2
  printf 'deploy: %d passed, 1 failed\n' "$passed"
  exit 1
}
started=$SECONDS

step "cargo build"
# Before HOME moves to the scratch directory: cargo and rustup live in the real one.
cargo build -j"$jobs" --bins
bin_dir="$root/target/debug"
for b in codex-guard codex-guard-hook; do
  [ -x "$bin_dir/$b" ] || fail "$bin_dir/$b was not built"
done

step "Codex CLI @openai/codex@$codex_version"
codex_bin="${CODEX_BIN:-$tools/codex-$codex_version/node_modules/.bin/codex}"
if [ ! -x "$codex_bin" ]; then
  mkdir -p "$tools/codex-$codex_version"
  npm install --no-audit --no-fund --prefix "$tools/codex-$codex_version" "@openai/codex@$codex_version"
fi

work=$(mktemp -d)
server_pid=
alice_uid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

# Nothing below may touch the real home, Codex home or /etc; settings from the
# caller's environment must not leak into the runs either.
mkdir -p "$work/home" "$work/tmp"
export HOME="$work/home" TMPDIR="$work/tmp" XDG_CACHE_HOME="$work/home/.cache" XDG_CONFIG_HOME="$work/home/.config"
# Ansible expands ~ of the remote user through the password database, not $HOME.
export ANSIBLE_HOME="$work/home/.ansible" ANSIBLE_LOCAL_TEMP="$work/home/.ansible/tmp" ANSIBLE_REMOTE_TMP="$work/home/.ansible/tmp"
export LC_ALL=C.UTF-8 NO_COLOR=1 ANSIBLE_NOCOLOR=1 ANSIBLE_FORCE_COLOR=0 PIP_DISABLE_PIP_VERSION_CHECK=1
while read -r name; do unset "$name"; done < <(compgen -e | grep -E '^(CODEX_GUARD_|AKTO_|ANSIBLE_CONFIG$)')
unset CODEX_HOME
# Codex writes under its home even for --version.
"$codex_bin" --version

step "shellcheck"
if command -v shellcheck >/dev/null 2>&1; then
  shellcheck deploy/install.sh deploy/jamf/*.sh scripts/test-deploy.sh
  ok "shellcheck: deploy/install.sh, deploy/jamf/*.sh, scripts/test-deploy.sh"
  shellcheck -s sh deploy/install.sh
  ok "shellcheck -s sh: deploy/install.sh is POSIX sh"
else
  skip "shellcheck is not installed (apt-get install shellcheck)"
fi

step "ansible-core $ansible_core_version and ansible-lint $ansible_lint_version in $venv"
if [ ! -x "$venv/bin/pip" ]; then
  rm -rf "$venv"
  if ! python3 -m venv "$venv"; then
    # Debian ships venv (ensurepip) separately from python3.
    if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
      rm -rf "$venv"
      apt-get install -y python3-venv >/dev/null ||
        { apt-get update >/dev/null && apt-get install -y python3-venv >/dev/null; }
      python3 -m venv "$venv"
    else
      fail "python3 -m venv failed: install python3-venv (apt-get install python3-venv)"
    fi
  fi
fi
# An exact pin that is already installed needs no index.
"$venv/bin/pip" install -q "ansible-core==$ansible_core_version" ||
  fail "pip could not install ansible-core $ansible_core_version into $venv"
have_lint=1
if ! "$venv/bin/pip" install -q "ansible-lint==$ansible_lint_version" "ansible-core==$ansible_core_version"; then
  have_lint=0
  printf '  NOTE: pip could not install ansible-lint %s; the lint step is skipped\n' "$ansible_lint_version"
fi
export PATH="$venv/bin:$PATH"
ansible-playbook --version | sed -n 1p

step "ansible-lint --profile production deploy/ansible"
if [ "$have_lint" = 1 ]; then
  # No path argument: the project is deploy/ansible (its .ansible-lint), every file in it.
  (cd deploy/ansible && ansible-lint --offline --profile production)
  ok "ansible-lint: production profile, no findings"
else
  skip "ansible-lint could not be installed"
fi

step "local HTTP server on 127.0.0.1 (fake release and fake ingestion service)"
release="$work/release"
mkdir -p "$release"
# GET serves the release files; POST answers as Akto's ingestion endpoint does (a
# success with no verdict), so setup's probe of the service passes.
cat >"$work/serve.py" <<'PY'
import functools, http.server, sys

class Handler(http.server.SimpleHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not self.path.startswith("/api/http-proxy"):
            self.send_error(404)
            return
        body = b'{"success":true,"data":{}}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

handler = functools.partial(Handler, directory=sys.argv[1])
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
print(f"Serving HTTP on 127.0.0.1 port {server.server_address[1]}", flush=True)
server.serve_forever()
PY
python3 -u "$work/serve.py" "$release" >"$work/http.log" 2>&1 &
server_pid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/^Serving HTTP on 127\.0\.0\.1 port \([0-9][0-9]*\).*/\1/p' "$work/http.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "the HTTP server did not start: $(cat "$work/http.log")"
service_url="http://127.0.0.1:$port"
ok "serving $release at $service_url"

# ---- Ansible -------------------------------------------------------------

# play VARS_JSON LOG [extra ansible-playbook args...]: runs the example playbook
# against localhost and leaves the recap's changed count in $changed.
changed=
play() {
  local vars=$1 log=$2
  shift 2
  if ! ansible-playbook -i localhost, -c local deploy/ansible/playbook.yml \
    -e "ansible_python_interpreter=$venv/bin/python" -e "@$vars" "$@" >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    fail "ansible-playbook failed (log above)"
  fi
  local recap
  recap=$(grep -E '^localhost +:' "$log") || fail "no PLAY RECAP in $log"
  [[ $recap =~ changed=([0-9]+) ]] || fail "cannot read the recap: $recap"
  changed=${BASH_REMATCH[1]}
  if [[ ! $recap =~ failed=0 ]] || [[ ! $recap =~ unreachable=0 ]]; then fail "recap: $recap"; fi
}

# changed_tasks LOG: the tasks a run reported changed, for a failure message.
changed_tasks() {
  awk '/^TASK \[/ { t = $0; sub(/^TASK \[/, "", t); sub(/\] \**$/, "", t) } /^changed:/ { print "    " t }' "$1" | sort -u
}

# json_get FILE EXPR: prints a value from a JSON document (EXPR indexes `d`).
json_get() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }

# write_vars FILE KEY=JSON...: the extra-vars file of one run.
write_vars() {
  local file=$1
  shift
  python3 - "$file" "$@" <<'PY'
import json, sys
out = {}
for kv in sys.argv[2:]:
    k, v = kv.split("=", 1)
    out[k] = json.loads(v)
json.dump(out, open(sys.argv[1], "w"), indent=1)
PY
}

# Settings travel the way a fleet sends them: a fleet config dict rendered to TOML.
fleet_vars=("codex_guard_fleet_config={\"url\": \"$service_url\", \"blocking\": true, \"fail_closed\": false, \"timeout_ms\": 4000}")

# Every path under a system root, without the directories uninstall keeps its safety
# backup in (root's for a managed install, each user's own for --all-users; checked on
# their own).
tree() {
  (cd "$1" && find . | grep -v '^\./var/lib/codex-guard\(/\|$\)' | grep -vx '\./var\(/lib\)\?' |
    grep -v '^\./home/[^/]*/\.local\(/state\(/codex-guard\(/.*\)\?\)\?\)\?$' | sort)
}

run_ansible_case() {
  local scope=$1 case_dir="$work/ansible-$1"
  local sysroot="$case_dir/root" codex_home="$case_dir/codex" install_dir="$case_dir/root/usr/local/bin"
  local before="$case_dir/before" vars="$case_dir/vars.json" absent_vars="$case_dir/absent.json"
  mkdir -p "$sysroot/etc/codex" "$sysroot/usr/local/lib" "$install_dir" "$codex_home" "$before"
  local protected=()
  if [ "$scope" = all_users ]; then
    # One person in the system root's passwd; setup runs as that uid, which must
    # be able to reach the home through the scratch directories.
    chmod 755 "$work"
    codex_home="$sysroot/home/alice/.codex"
    printf 'alice:x:%s:%s::/home/alice:/bin/sh\n' "$alice_uid" "$alice_uid" >"$sysroot/etc/passwd"
    mkdir -p "$codex_home"
  fi
  if [ "$scope" != managed ]; then
    # A Codex home with the user's own settings and hook, which must survive untouched.
    printf '# my own settings: keep this comment\nmodel = "o3"\n\n[tui]\nnotifications = true\n' >"$codex_home/config.toml"
    cat >"$codex_home/hooks.json" <<'JSON'
{
  "hooks": {
    "Stop": [
      { "hooks": [ { "type": "command", "command": "echo my-own-stop-hook", "timeout": 5 } ] }
    ]
  }
}
JSON
    protected=("$codex_home/config.toml" "$codex_home/hooks.json")
    if [ "$scope" = all_users ]; then chown -R "$alice_uid:$alice_uid" "$sysroot/home/alice"; fi
  else
    # A machine policy that is not codex-guard's, which must survive untouched.
    printf '# Machine policy, owned by IT\nallowed_approval_policies = ["on-request"]\n' >"$sysroot/etc/codex/requirements.toml"
    protected=("$sysroot/etc/codex/requirements.toml")
  fi
  for f in "${protected[@]}"; do cp "$f" "$before/$(basename "$f")"; done
  tree "$sysroot" >"$case_dir/tree-before"

  local common=(
    "codex_guard_scope=\"$scope\""
    "codex_guard_binary_dir=\"$bin_dir\""
    "codex_guard_install_dir=\"$install_dir\""
    "codex_guard_system_root=\"$sysroot\""
    "codex_guard_codex_bin=\"$codex_bin\""
  )
  if [ "$scope" = user ]; then common+=("codex_guard_codex_home=\"$codex_home\""); fi
  write_vars "$vars" "${common[@]}" "${fleet_vars[@]}"
  write_vars "$absent_vars" "${common[@]}" "${fleet_vars[@]}" 'codex_guard_state="absent"'

  local t0=$SECONDS
  play "$vars" "$case_dir/run1.log"
  [ "$changed" -gt 0 ] || fail "$scope: first run reported changed=0"
  ok "$scope: first run installs (changed=$changed, fleet config with url $service_url)"
  if [ "$scope" = all_users ]; then
    grep -q 'codex-guard setup: 1 user(s)' "$case_dir/run1.log" || fail "$scope: the role did not check the users"
    grep -q 'codex-guard-hook' "$codex_home/hooks.json" || fail "$scope: alice's hooks.json has no codex-guard handler"
    [ "$(stat -c %u "$codex_home/codex-guard/config.toml")" = "$alice_uid" ] ||
      fail "$scope: alice's codex-guard files are not hers"
    ok "$scope: alice's Codex home holds codex-guard's handlers, her files owned by her"
  else
    grep -q 'codex-guard doctor says healthy' "$case_dir/run1.log" || fail "$scope: the role did not report doctor healthy"
    ok "$scope: the role's doctor check says healthy"
  fi

  play "$vars" "$case_dir/run2.log"
  [ "$changed" -eq 0 ] || fail "$scope: second identical run reported changed=$changed:
$(changed_tasks "$case_dir/run2.log")"
  ok "$scope: second identical run changed=0"

  # all_users: doctor as root would start Codex as root in alice's home.
  if [ "$scope" != all_users ]; then
    local doctor_args=(doctor --json --system-root "$sysroot" --codex-bin "$codex_bin")
    if [ "$scope" = user ]; then doctor_args+=(--codex-home "$codex_home"); else doctor_args+=(--managed); fi
    "$install_dir/codex-guard" "${doctor_args[@]}" >"$case_dir/doctor.json" || true
    local status
    status=$(json_get "$case_dir/doctor.json" 'd["status"]')
    [ "$status" = healthy ] || fail "$scope: doctor says $status: $(cat "$case_dir/doctor.json")"
    ok "$scope: codex-guard doctor --json says healthy"
  fi

  local fleet="$sysroot/etc/codex-guard/fleet.toml"
  [ "$(stat -c %a "$fleet")" = 600 ] || fail "$scope: $fleet is not mode 0600"
  grep -q "^url = \"$service_url\"$" "$fleet" || fail "$scope: $fleet lacks the url: $(cat "$fleet")"
  ok "$scope: fleet config rendered to TOML, mode 0600"

  play "$vars" "$case_dir/check.log" --check --diff
  [ "$changed" -eq 0 ] || fail "$scope: check mode on an installed host reported changed=$changed:
$(changed_tasks "$case_dir/check.log")"
  ok "$scope: check mode (setup --dry-run) on an installed host changed=0"

  play "$absent_vars" "$case_dir/absent1.log"
  [ "$changed" -gt 0 ] || fail "$scope: state=absent reported changed=0"
  ok "$scope: state=absent removes (changed=$changed)"
  for f in "${protected[@]}"; do
    cmp "$before/$(basename "$f")" "$f" || fail "$scope: $f differs from before the install"
  done
  ok "$scope: byte-identical after absent: ${protected[*]#"$case_dir/"}"
  for b in codex-guard codex-guard-hook; do
    [ ! -e "$install_dir/$b" ] || fail "$scope: $install_dir/$b is still there"
  done
  ok "$scope: binaries removed"
  # A managed uninstall keeps its safety backup (the undo) in a root-only directory of
  # the system root; nothing else may stay.
  local backups="$sysroot/var/lib/codex-guard/uninstall-backups"
  if [ "$scope" = managed ]; then
    [ "$(stat -c %a "$backups")" = 700 ] || fail "$scope: $backups is not a private (0700) directory"
    compgen -G "$backups/*-uninstall-managed.tar.gz" >/dev/null || fail "$scope: no safety backup in $backups"
    ok "$scope: the safety backup is in $backups (0700)"
  fi
  if [ "$scope" = all_users ]; then
    backups="$sysroot/home/alice/.local/state/codex-guard/uninstall-backups"
    [ "$(stat -c %a:%u "$backups")" = "700:$alice_uid" ] ||
      fail "$scope: $backups is not alice's private (0700) directory: $(stat -c %a:%u "$backups")"
    compgen -G "$backups/codex-guard-uninstall-*.tar.gz" >/dev/null || fail "$scope: no safety backup in $backups"
    ok "$scope: alice's safety backup is in her own $backups (0700)"
  fi
  tree "$sysroot" >"$case_dir/tree-after"
  diff "$case_dir/tree-before" "$case_dir/tree-after" || fail "$scope: the system root holds other files than before"
  ok "$scope: the system root holds the same files as before, the safety backup aside"

  play "$absent_vars" "$case_dir/absent2.log"
  [ "$changed" -eq 0 ] || fail "$scope: a second state=absent reported changed=$changed:
$(changed_tasks "$case_dir/absent2.log")"
  ok "$scope: second state=absent changed=0 ($((SECONDS - t0)) s)"
}

step "Ansible: example playbook, scope user"
run_ansible_case user

step "Ansible: example playbook, scope managed"
run_ansible_case managed

step "Ansible: example playbook, scope all_users (one user in the system root's passwd)"
alice_uid=4242
while getent passwd "$alice_uid" >/dev/null; do alice_uid=$((alice_uid + 1)); done
run_ansible_case all_users

step "Ansible: an unreachable service fails the host, unless codex_guard_fail_on_degraded is false"
dc="$work/ansible-degraded"
mkdir -p "$dc/codex" "$dc/root" "$dc/bin"
# A port that was free a moment ago: nothing answers there.
closed_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
degraded_common=(
  'codex_guard_scope="user"'
  "codex_guard_binary_dir=\"$bin_dir\""
  "codex_guard_install_dir=\"$dc/bin\""
  "codex_guard_system_root=\"$dc/root\""
  "codex_guard_codex_home=\"$dc/codex\""
  "codex_guard_codex_bin=\"$codex_bin\""
  "codex_guard_url=\"http://127.0.0.1:$closed_port\""
)
write_vars "$dc/strict.json" "${degraded_common[@]}"
write_vars "$dc/lenient.json" "${degraded_common[@]}" 'codex_guard_fail_on_degraded=false'
if ansible-playbook -i localhost, -c local deploy/ansible/playbook.yml \
  -e "ansible_python_interpreter=$venv/bin/python" -e "@$dc/strict.json" >"$dc/strict.log" 2>&1; then
  fail "an unreachable service did not fail the play"
fi
grep -q "installed but degraded (setup exit 1): http://127.0.0.1:$closed_port is unreachable" "$dc/strict.log" ||
  fail "the failure does not say the service is unreachable: $(tail -n 30 "$dc/strict.log")"
ok "unreachable service: setup exit 1 fails the host (default codex_guard_fail_on_degraded)"
play "$dc/lenient.json" "$dc/lenient.log"
grep -q 'codex-guard doctor says degraded' "$dc/lenient.log" || fail "lenient run: doctor did not say degraded"
grep -q 'is unreachable' "$dc/lenient.log" || fail "lenient run: setup's warning was not shown"
ok "codex_guard_fail_on_degraded=false: installed, doctor degraded tolerated, warnings shown"

# ---- Jamf ----------------------------------------------------------------

step "Jamf policy script and extension attribute, managed, in a temporary system root"
jr="$work/jamf"
mkdir -p "$jr/root/etc/codex" "$jr/root/usr/local/lib" "$jr/logs" "$jr/before"
printf '# Machine policy, owned by IT\nallowed_approval_policies = ["on-request"]\n' >"$jr/root/etc/codex/requirements.toml"
cp "$jr/root/etc/codex/requirements.toml" "$jr/before/"
jamf_env=(env CODEX_GUARD_SYSTEM_ROOT="$jr/root" CODEX_GUARD_BIN="$bin_dir/codex-guard"
  CODEX_GUARD_LOG_DIR="$jr/logs" CODEX_BIN="$codex_bin")
rc=0
# Jamf's $1..$3, then $4 url, $5 token, $6 mode, $7 extra setup arguments, $8 scope.
"${jamf_env[@]}" bash deploy/jamf/install.sh / test-mac "" "$service_url" jamf-test-token atlas "--observe" managed \
  >"$jr/out.json" 2>"$jr/err.log" || rc=$?
[ "$rc" -eq 0 ] || fail "jamf install.sh exited $rc: $(cat "$jr/err.log")"
[ "$(json_get "$jr/out.json" 'd["status"]')" = changed ] || fail "jamf install.sh: $(cat "$jr/out.json")"
[ "$(json_get "$jr/out.json" 'd["blocking"]')" = False ] || fail "jamf install.sh did not pass --observe: $(cat "$jr/out.json")"
grep -q 'scope=managed exit=0 {' "$jr/logs/jamf-setup.log" || fail "jamf install.sh logged no result"
ok "jamf install.sh: managed setup from policy parameters (exit 0, JSON logged)"
ea=$("${jamf_env[@]}" bash deploy/jamf/extension-attribute.sh)
[ "$ea" = "<result>healthy</result>" ] || fail "extension attribute printed: $ea"
ok "jamf extension-attribute.sh: $ea"
ea=$(env CODEX_GUARD_BIN="$jr/missing/codex-guard" bash deploy/jamf/extension-attribute.sh)
[ "$ea" = "<result>not installed</result>" ] || fail "extension attribute without codex-guard printed: $ea"
ok "jamf extension-attribute.sh without codex-guard: $ea"
"$bin_dir/codex-guard" uninstall --managed --silent --json --system-root "$jr/root" >/dev/null ||
  fail "uninstall --managed after the Jamf run failed"
cmp "$jr/before/requirements.toml" "$jr/root/etc/codex/requirements.toml" ||
  fail "requirements.toml differs after uninstall --managed"
ok "uninstall --managed: requirements.toml byte-identical"

# ---- install.sh ----------------------------------------------------------

step "deploy/install.sh against a fake release at $service_url"
version=$("$bin_dir/codex-guard" --version | awk '{print $2}')
case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) target=x86_64-unknown-linux-gnu ;;
  Linux-aarch64) target=aarch64-unknown-linux-gnu ;;
  Darwin-x86_64) target=x86_64-apple-darwin ;;
  Darwin-arm64) target=aarch64-apple-darwin ;;
  *) fail "no release target for $(uname -sm)" ;;
esac
name="codex-guard-$version-$target"
stage="$work/stage/$name"
mkdir -p "$stage"
cp "$bin_dir/codex-guard" "$bin_dir/codex-guard-hook" README.md "$stage/"
printf 'Apache License 2.0 (test archive)\n' >"$stage/LICENSE"
tar -czf "$release/$name.tar.gz" -C "$work/stage" "$name"
# Another target's archive beside it: install.sh must pick its own.
cp "$release/$name.tar.gz" "$release/codex-guard-$version-riscv64gc-unknown-linux-gnu.tar.gz"
(cd "$release" && sha256sum -- *.tar.gz >SHA256SUMS)
ok "release $name.tar.gz with SHA256SUMS"

inst="$work/install"
mkdir -p "$inst/codex" "$inst/root"
setup_args=(--silent --json --local-only --codex-home "$inst/codex" --system-root "$inst/root")
rc=0
CODEX_GUARD_RELEASE_URL="$service_url" sh deploy/install.sh --prefix "$inst/prefix" "${setup_args[@]}" \
  >"$inst/out.json" 2>"$inst/err.log" || rc=$?
[ "$rc" -eq 0 ] || fail "install.sh exited $rc: $(cat "$inst/err.log")"
for b in codex-guard codex-guard-hook; do
  cmp "$bin_dir/$b" "$inst/prefix/bin/$b" || fail "install.sh did not install $b"
  [ -x "$inst/prefix/bin/$b" ] || fail "$inst/prefix/bin/$b is not executable"
done
ok "latest: installed codex-guard and codex-guard-hook into --prefix/bin"
[ "$(json_get "$inst/out.json" 'd["status"]')" = changed ] || fail "setup did not report changed: $(cat "$inst/out.json")"
[ -f "$inst/codex/hooks.json" ] || fail "setup wrote no hooks.json"
ok "latest: setup ran with the passed arguments (status changed)"
grep -q 'sha256 verified' "$inst/err.log" || fail "install.sh did not report the checksum: $(cat "$inst/err.log")"
ok "latest: install.sh verified the sha256"

rc=0
# Fed on stdin, as `curl ... | sh -s -- ARGS` runs it.
CODEX_GUARD_RELEASE_URL="$service_url" CODEX_GUARD_VERSION="v$version" sh -s -- \
  --prefix "$inst/prefix" -- "${setup_args[@]}" <deploy/install.sh >"$inst/out2.json" 2>"$inst/err2.log" || rc=$?
[ "$rc" -eq 0 ] || fail "install.sh (pinned) exited $rc: $(cat "$inst/err2.log")"
[ "$(json_get "$inst/out2.json" 'd["status"]')" = unchanged ] || fail "pinned rerun: $(cat "$inst/out2.json")"
ok "pinned CODEX_GUARD_VERSION=v$version, piped to sh -s: reinstall, setup unchanged"

rc=0
CODEX_GUARD_RELEASE_URL="$service_url" CODEX_GUARD_VERSION=9.9.9 sh deploy/install.sh \
  --prefix "$inst/prefix-missing" --no-setup >/dev/null 2>"$inst/err3.log" || rc=$?
[ "$rc" -eq 12 ] || fail "a version missing from SHA256SUMS: exit $rc, expected 12: $(cat "$inst/err3.log")"
[ ! -e "$inst/prefix-missing" ] || fail "a missing version installed something"
ok "a version SHA256SUMS does not list: exit 12, nothing installed"

# One flipped byte in the archive: the checksum must catch it before anything runs.
python3 - "$release/$name.tar.gz" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0xFF
open(p, "wb").write(b)
PY
mkdir -p "$inst/codex2"
rc=0
CODEX_GUARD_RELEASE_URL="$service_url" sh deploy/install.sh --prefix "$inst/prefix-bad" \
  --silent --json --local-only --codex-home "$inst/codex2" --system-root "$inst/root" \
  >"$inst/out-bad.json" 2>"$inst/err-bad.log" || rc=$?
[ "$rc" -eq 12 ] || fail "corrupt archive: install.sh exited $rc, expected 12: $(cat "$inst/err-bad.log")"
grep -q 'checksum mismatch' "$inst/err-bad.log" || fail "corrupt archive: no checksum message: $(cat "$inst/err-bad.log")"
[ ! -e "$inst/prefix-bad" ] || fail "corrupt archive: something was installed under $inst/prefix-bad"
[ -z "$(ls -A "$inst/codex2")" ] || fail "corrupt archive: setup ran anyway"
[ ! -s "$inst/out-bad.json" ] || fail "corrupt archive: setup printed $(cat "$inst/out-bad.json")"
ok "corrupt archive: exit 12, 'checksum mismatch', nothing installed, setup not run"

printf '\n==> done in %d s\n' "$((SECONDS - started))"
if [ "$skipped" -gt 0 ]; then
  printf 'deploy: %d passed, 0 failed, %d skipped\n' "$passed" "$skipped"
else
  printf 'deploy: %d passed, 0 failed\n' "$passed"
fi
