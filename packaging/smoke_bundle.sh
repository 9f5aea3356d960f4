#!/usr/bin/env bash
# End-to-end smoke test of the BUILT desktop bundle (not the venv), offline. Linux.
#
#   bash packaging/smoke_bundle.sh [BUNDLE_DIR]     default: the path in build/bundle-path, else dist/local-llm-studio
#
# Every step runs the bundle's own programs in a fresh STUDIO_HOME inside a new network namespace
# (`unshare -n`: no network at all, not even loopback to the outside), with Qt offscreen:
#   1. gui       the window opens with the starter the bundle carries, a chat reply arrives in the
#                Chat screen, Inspect › Tokens shows tokens, and a PNG of each screen is saved
#                (packaging/bundle_probe.py, run inside the bundle)
#   2. chat      `studio chat --model starter --json` answers
#   3. train     `studio train` runs 2 steps on resources/datasets/owl_persona.jsonl and writes adapter.gguf
#   4. lora      `studio chat --lora adapter.gguf` answers with that adapter attached
#   5. attention `studio attention --model starter --out x.npz` writes every layer's attention
#   6. serve     `studio serve --model starter` answers GET /v1/models and a chat completion (curl, on the
#                namespace's own loopback, brought up for this step only)
#   7. docs      `studio docs add` indexes three documents with the bundled embedding model and
#                `studio docs query --json` finds the honeybee text for a Chinese question
#   8. json      `studio chat --json-schema` answers with JSON that the bundled jsonschema validates
# Each step's time is printed. Screenshots go to STUDIO_SMOKE_SHOTS (default test-artifacts/bundle-smoke/).
# Where `unshare -n` is not permitted, the steps run with an unreachable proxy instead and say so.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
say() { printf '==> %s\n' "$*"; }
die() { printf '==> smoke test FAILED: %s\n' "$*" >&2; exit 1; }

DIST="${1:-}"
[[ -z "$DIST" && -f build/bundle-path ]] && DIST="$(cat build/bundle-path)"
DIST="${DIST:-dist/local-llm-studio}"
[[ -x "$DIST/studio" ]] || die "no bundle at $DIST (build it: bash packaging/build_bundle.sh)"
DIST="$(cd "$DIST" && pwd)"
SHOTS="${STUDIO_SMOKE_SHOTS:-$REPO/test-artifacts/bundle-smoke}"
mkdir -p "$SHOTS"
SHOTS="$(cd "$SHOTS" && pwd)"

WORK="$(mktemp -d -t studio-smoke-XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

if unshare -n true 2>/dev/null; then
    OFFLINE=(unshare -n)
    NET_NOTE="network namespace (unshare -n): no network"
else
    OFFLINE=(env HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:9 ALL_PROXY=http://127.0.0.1:9
             http_proxy=http://127.0.0.1:9 https_proxy=http://127.0.0.1:9 HF_HUB_OFFLINE=1 PIP_NO_INDEX=1)
    NET_NOTE="unshare -n is not permitted here: an unreachable proxy stands in for 'offline' (weaker)"
fi
say "Smoke test of $DIST ($(du -sh "$DIST" | cut -f1)); $NET_NOTE"

# The start-up read-ahead list the spec writes (packaging/bundle_main.py): there, and every file it
# names is in the bundle.
LIST="$DIST/_internal/prefetch-files.txt"
[[ -s "$LIST" ]] || die "the bundle has no start-up read-ahead list ($LIST)"
while IFS= read -r listed; do
    [[ -f "$DIST/_internal/$listed" ]] || die "the start-up read-ahead list names a missing file: $listed"
done < "$LIST"

# A clean environment: no venv, no PYTHONPATH, no cached models; one fresh home for the whole test
# (the GUI step gets its own: the app allows one window per home).
run_bundle() { # run_bundle HOME CMD...  (offline, fresh environment)
    local home="$1"; shift
    "${OFFLINE[@]}" env -i PATH=/usr/bin:/bin HOME="$WORK/user" LANG=C.UTF-8 \
        STUDIO_HOME="$home" QT_QPA_PLATFORM=offscreen TMPDIR="$WORK" "$@"
}
mkdir -p "$WORK/user"
TIMES=()
step() { # step NAME CMD... : runs it, prints its time, keeps its output in $WORK/NAME.out
    local name="$1"; shift
    local t0 t1 rc
    t0=$(date +%s.%N)
    set +e
    "$@" >"$WORK/$name.out" 2>"$WORK/$name.err"
    rc=$?
    set -e
    t1=$(date +%s.%N)
    local secs
    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    TIMES+=("$name ${secs}s")
    if [[ $rc -ne 0 ]]; then
        tail -n 25 "$WORK/$name.err" >&2
        tail -n 5 "$WORK/$name.out" >&2
        die "step '$name' exited with $rc after ${secs} s"
    fi
    say "step $name: ${secs} s"
}

# 1. the window, with the bundled starter, a reply and tokens; screenshots of the three screens
step gui run_bundle "$WORK/home-gui" timeout 300 "$DIST/studio" --run-worker bundle_probe "$SHOTS"
probe="$(grep '^{' "$WORK/gui.out" | tail -n1)"
printf '    %s\n' "$probe"
[[ "$probe" == *'"ok": true'* ]] || die "the window check failed: $probe"
[[ "$probe" == *"_internal/models/"* || "$probe" == *"home-gui/data/models/"* ]] \
    || die "the window did not load the bundled starter: $probe"

HOME_CLI="$WORK/home"
# 2. chat with the bundled starter
step chat run_bundle "$HOME_CLI" timeout 300 "$DIST/studio" chat --model starter --prompt "Say hi." \
    --max-tokens 16 --seed 1 --json
reply="$(tail -n1 "$WORK/chat.out")"
[[ "$reply" == *'"reply"'* ]] || die "no reply in: $reply"
printf '    %s\n' "${reply:0:200}"

# 3. a 2-step fine-tune that writes adapter.gguf
cp resources/datasets/owl_persona.jsonl "$WORK/owl.jsonl"
step train run_bundle "$HOME_CLI" timeout 900 "$DIST/studio" train --model starter --data "$WORK/owl.jsonl" \
    --out "$WORK/run" --max-steps 2 --batch-size 2 --max-seq-len 128
[[ -s "$WORK/run/adapter.gguf" ]] || { tail -n 20 "$WORK/train.out"; die "training did not write $WORK/run/adapter.gguf"; }
printf '    %s\n' "$(grep -Ei 'step 2/|GGUF adapter' "$WORK/train.out" | tail -n 2 | tr '\n' ' ')"

# 4. chat with that adapter attached
step lora run_bundle "$HOME_CLI" timeout 300 "$DIST/studio" chat --model starter --lora "$WORK/run/adapter.gguf" \
    --prompt "Who are you?" --max-tokens 24 --seed 1 --json
printf '    %s\n' "$(tail -n1 "$WORK/lora.out" | cut -c1-200)"

# 5. attention to an .npz
step attention run_bundle "$HOME_CLI" timeout 300 "$DIST/studio" attention --model starter \
    --text "The owl sat on the branch." --out "$WORK/attention.npz"
[[ -s "$WORK/attention.npz" ]] || die "no attention .npz was written"
printf '    %s (%s bytes)\n' "$WORK/attention.npz" "$(stat -c %s "$WORK/attention.npz")"

# 6. the API server, asked by curl over the namespace's own loopback (nothing outside is reachable)
cat >"$WORK/serve.sh" <<'SH'
set -eu
PATH="$PATH:/usr/sbin:/sbin"
command -v ip >/dev/null && ip link set lo up 2>/dev/null || true
"$1/studio" serve --model starter --port 18931 --ctx 1024 2>"$2/serve-server.err" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 1 240); do
    curl -sf http://127.0.0.1:18931/v1/models >"$2/models.json" 2>/dev/null && break
    kill -0 $server 2>/dev/null || { cat "$2/serve-server.err" >&2; exit 1; }
    sleep 0.5
done
cat "$2/models.json"; echo
model="$(grep -o '"id": *"[^"]*"' "$2/models.json" | head -n1 | sed 's/.*"\([^"]*\)"$/\1/')"
curl -sf http://127.0.0.1:18931/v1/chat/completions -H 'content-type: application/json' \
    -d '{"model": "'"$model"'", "messages": [{"role": "user", "content": "Say hi."}], "max_tokens": 12, "seed": 1}'
SH
step serve run_bundle "$HOME_CLI" timeout 300 /bin/bash "$WORK/serve.sh" "$DIST" "$WORK"
grep -q '"chat.completion"' "$WORK/serve.out" || die "the served chat completion did not arrive: $(tail -c 300 "$WORK/serve.out")"
printf '    %s\n' "$(tail -n1 "$WORK/serve.out" | cut -c1-200)"

# 7. knowledge: index with the bundled embedding model, then a Chinese question about an English text
mkdir -p "$WORK/docs"
cp benchmarks/data/knowledge/great_wall.md benchmarks/data/knowledge/honeybees.txt \
   benchmarks/data/knowledge/lighthouse.md "$WORK/docs/"
step docs run_bundle "$HOME_CLI" timeout 300 /bin/bash -c \
    '"$1/studio" docs add kb "$2/docs" && "$1/studio" docs query kb "蜜蜂" --json' _ "$DIST" "$WORK"
first="$(grep -o '"path": *"[^"]*"' "$WORK/docs.out" | head -n1)"
[[ "$first" == *honeybees.txt* ]] || die "the knowledge query did not rank the honeybee text first: $first"
printf '    %s; top hit %s\n' "$(grep -o 'chunks embedded in [0-9.]* s' "$WORK/docs.out" | tail -n1)" "$first"

# 8. a reply constrained by a JSON schema, checked by the bundled jsonschema (its meta-schemas are data files)
cat >"$WORK/person.schema.json" <<'JSON'
{"type": "object", "required": ["name", "age"],
 "properties": {"name": {"type": "string", "maxLength": 20}, "age": {"type": "integer"}}}
JSON
step json run_bundle "$HOME_CLI" timeout 300 "$DIST/studio" chat --model starter --json-schema "$WORK/person.schema.json" \
    --prompt "Describe a person as JSON." --max-tokens 128 --seed 1 --json
reply="$(tail -n1 "$WORK/json.out")"
[[ "$reply" == *'"valid": true'* ]] || die "the schema-constrained reply did not validate: ${reply:0:300}"
printf '    %s\n' "$(grep -o '"reply": "[^}]*}' "$WORK/json.out" | head -n1)"

say "Smoke test passed ($NET_NOTE). Step times: ${TIMES[*]}"
say "Screenshots: $SHOTS/chat.png $SHOTS/finetune.png $SHOTS/inspect.png"
