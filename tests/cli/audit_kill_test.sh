#!/usr/bin/env bash
# A real crash during append: `stacklab audit append --count N` is SIGKILLed at a random moment,
# several times, on the same log; then `audit check --repair` must recover it. Native only (a
# process to kill and a real file system).
# usage: audit_kill_test.sh build/native/stacklab [rounds]
#
# What it asserts, for every round r (a random delay before the SIGKILL, see below):
#   1. `audit check --repair --pubkey` exits 0 and reports the log valid: a torn tail (if the kill
#      cut a record) is truncated, nothing else is changed, every signed tree head parses, signs
#      exactly the entries before it and verifies with the key.
#   2. every committed entry is kept: the appender prints "committed I" on stderr only after the
#      fsync of entry I, so with L the last index printed, the log holds at least L + 1 entries, and
#      at most L + 2 (the entry being written when the kill came may have reached the file whole).
#   3. the new entries are the ones written: the leaf hash of entry L (from `audit prove`) is
#      SHA-256(0x00 || "round r #k") for the k the appender gave it.
#   4. nothing committed before is lost or changed: `audit prove --from` gives a consistency proof
#      from the previous round's size whose old root equals the root `audit check` reported after
#      that round, and `audit verify-proof` accepts it (RFC 9162 §2.1.4).
# Then further appends work on the recovered log (size + 1, check clean).
# Two logs: small entries ("round r #k"), and large ones (a 2 MiB --data-file) whose write() is
# long enough that a kill may land inside it and tear the record. Each append is one write()
# followed by fsync, so a kill mostly lands in the fsync and torn tails are rare; the script
# counts the ones it saw (printed, not asserted: where a kill lands is chance). A torn record on
# purpose is tests/cli/cli_test.sh's truncation case.
set -u
cli=$1
rounds=${2:-8}
tmp=$(mktemp -d)
trap 'kill -KILL $pid 2>/dev/null; rm -rf "$tmp"' EXIT
pid=
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
bad() { failed=$((failed + 1)); echo "FAIL $1"; [ -n "${2:-}" ] && sed 's/^/     /' <<<"$2"; }
num() { grep -o "\"$1\": [0-9]*" "$2" | head -1 | grep -o '[0-9]*$'; }
str() { grep -o "\"$1\": \"[^\"]*\"" "$2" | head -1 | sed 's/.*: "\(.*\)"/\1/'; }

[ -x "$cli" ] || { echo "FAIL CLI missing: $cli"; exit 1; }
"$cli" keygen --out "$tmp/keys" >/dev/null || { echo "FAIL keygen"; exit 1; }
now=2026-01-01T00:00:00Z
torn=0

run_rounds() {  # $1: log, $2: "small" | "big"
    local log=$1 kind=$2 size=0 root="" r delay last entries base
    for r in $(seq 1 "$rounds"); do
        # Small entries: 20-400 ms. Large ones take longer to start and to fsync: 100-1500 ms.
        if [ "$kind" = big ]; then
            delay=$(awk -v x=$RANDOM 'BEGIN { printf "%.3f", 0.1 + (x % 1401) / 1000 }')
        else
            delay=$(awk -v x=$RANDOM 'BEGIN { printf "%.3f", 0.02 + (x % 381) / 1000 }')
        fi
        local data_opt=(--data "round $r")
        if [ "$kind" = big ]; then
            { printf 'round %s' "$r"; head -c $((2 << 20)) /dev/zero | tr '\0' 'x'; } >"$tmp/data"
            data_opt=(--data-file "$tmp/data")
        fi
        "$cli" audit append --log "$log" "${data_opt[@]}" --count 1000000 --key "$tmp/keys/secret.key" --now $now \
            >/dev/null 2>"$tmp/progress" &
        pid=$!
        sleep "$delay"
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        pid=
        last=$(grep -o '^committed [0-9]*' "$tmp/progress" | tail -1 | cut -d' ' -f2)
        [ -z "$last" ] && last=$((size - 1))  # killed before its first commit
        base=$size
        if [ ! -e "$log" ] && [ "$last" -lt 0 ]; then
            ok "$kind round $r (kill after ${delay}s): killed before its first write; no log, nothing committed"
            continue
        fi
        "$cli" audit check --log "$log" --pubkey "$tmp/keys/public.key" --repair --json >"$tmp/check" 2>"$tmp/e"
        local rc=$?
        if grep -q '"repaired"' "$tmp/check"; then torn=$((torn + 1)); fi
        entries=$(num entries "$tmp/check")
        if [ $rc -ne 0 ] || [ -z "$entries" ]; then
            bad "$kind round $r (kill after ${delay}s): audit check --repair failed" "$(cat "$tmp/e" "$tmp/check")"
            return
        fi
        if [ "$entries" -ge $((last + 1)) ] && [ "$entries" -le $((last + 2)) ]; then
            ok "$kind round $r (kill after ${delay}s): log valid, $entries entries, committed up to index $last kept$(grep -q '"repaired"' "$tmp/check" && echo ", torn tail of $(num dropped_bytes "$tmp/check") bytes dropped")"
        else
            bad "$kind round $r: $entries entries after recovery, but entry $last was committed" "$(cat "$tmp/check")"
        fi
        if [ "$last" -ge "$base" ]; then
            local k=$((last - base)) want got
            # The RFC 9162 leaf hash SHA-256(0x00 || data), computed by coreutils, not by StackLab.
            if [ "$kind" = big ]; then
                want=$( { printf '\0'; cat "$tmp/data"; printf ' #%s' $k; } | sha256sum | cut -d' ' -f1)
            else
                want=$( { printf '\0'; printf 'round %s #%s' "$r" $k; } | sha256sum | cut -d' ' -f1)
            fi
            "$cli" audit prove --log "$log" --index "$last" --json >"$tmp/incl" 2>"$tmp/e"
            got=$(str leaf_hash "$tmp/incl")
            [ -n "$got" ] && [ "$want" = "$got" ] && ok "$kind round $r: entry $last holds \"round $r #$k\"" \
                || bad "$kind round $r: entry $last is not \"round $r #$k\"" "$want / $got $(cat "$tmp/e")"
        fi
        if [ "$size" -gt 0 ]; then
            "$cli" audit prove --log "$log" --from "$size" --json >"$tmp/cons" 2>"$tmp/e"
            if [ "$(str old_root "$tmp/cons")" = "$root" ] && "$cli" audit verify-proof --proof "$tmp/cons" >/dev/null 2>>"$tmp/e"; then
                ok "$kind round $r: consistent with the $size entries and root of round $((r - 1))"
            else
                bad "$kind round $r: not consistent with the previous round" "$(cat "$tmp/e" "$tmp/cons")"
            fi
        fi
        size=$entries
        root=$(str root "$tmp/check")
    done
    # The recovered log takes further appends.
    "$cli" audit append --log "$log" --data "after the crashes" --key "$tmp/keys/secret.key" --now $now >/dev/null 2>"$tmp/e" \
        && "$cli" audit check --log "$log" --pubkey "$tmp/keys/public.key" --json >"$tmp/check" 2>>"$tmp/e" \
        && [ "$(num entries "$tmp/check")" = $((size + 1)) ] && grep -q '"status": "clean"' "$tmp/check" \
        && ok "$kind: an append after recovery gives $((size + 1)) entries and a clean, valid log" \
        || bad "$kind: append after recovery failed" "$(cat "$tmp/e" "$tmp/check")"
}

run_rounds "$tmp/small.log" small
run_rounds "$tmp/big.log" big
echo "torn tails recovered: $torn of $((2 * rounds)) kills"
echo "$passed passed, $failed failed"
[ $failed -eq 0 ]
