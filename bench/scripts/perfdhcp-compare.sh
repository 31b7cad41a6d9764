#!/usr/bin/env bash
# tandem vs ISC Kea, measured the same way in the same run (perfdhcp).
#
# This is the method of /work/shared/bench/kea/run.sh (the Kea anchors)
# applied to `tandem serve`: a private L2 topology of network namespaces,
# perfdhcp as the direct (multicast) client, and per case a search for the
# highest offered rate at which both the SOLICIT-ADVERTISE and the
# REQUEST-REPLY drop ratios stay under MAX_DROP_PCT (1 %) while perfdhcp
# really sent >= MIN_SENT_PCT (99 %) of RATE*DURATION. Then, in the same run
# and on the same machine, it calls the Kea script for its standalone cases,
# so both sets of figures come from one run; it prints one combined summary
# table and writes it, with every run, to RESULTS.
#
# Topology (all names carry the "tc" prefix, so it never clashes with
# run.sh's "ka" names; nothing else is touched):
#
#   netns tccli                                   netns tcs1
#   perfdhcp -l tcbr0                             tandem serve (standalone)
#        |                                        tcv1s 2001:db8:77::1/64 + fe80::/64
#   [bridge tcbr0, mcast snooping off]--tcv1b ==== veth ==== tcv1s
#                    \---------------tcv2b ==== veth ==== tcv2s
#                                                 netns tcs2 (idle, as in run.sh's
#                                                 standalone cases: a second port
#                                                 the bridge floods to)
#
# tandem cases (select with CASES="..."):
#   t_st    standalone, journal synced before every reply (the default), IA_NA
#           (perfdhcp default): compare with Kea b_st / b_mt (memfile persist=true)
#   t_pd    as t_st, perfdhcp -e prefix-only (IA_PD)
#   t_both  as t_st, perfdhcp -e address-and-prefix (IA_NA + IA_PD)
# Kea cases (KEA_CASES="...", passed to run.sh as CASES; "" skips Kea):
#   default "b_st b_mt a_st" (see run.sh's header for all of them)
#
# Every rate point starts tandem with a fresh, empty data-dir on a real disk
# (mktemp -d under DATA_PARENT=/var/tmp, refused if that is tmpfs/ramfs), so
# the journal's fsync per commit batch is real.
#
# Usage (root):  bench/scripts/perfdhcp-compare.sh          (~15-20 min with defaults)
#   GRID="2000 5000" REFINE_STEPS=0 CONFIRM=0 KEA_CASES="b_st" bench/scripts/perfdhcp-compare.sh
#   SERVER_CPUSET=1 PERF_CPUSET=0 bench/scripts/perfdhcp-compare.sh   (pin servers / perfdhcp)
set -euo pipefail
export LC_ALL=C

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# ---------------------------------------------------------------- tunables --
# Same names and defaults as run.sh where they mean the same thing; they are
# also handed to run.sh, so both servers are searched identically.
DURATION=${DURATION:-10}                  # perfdhcp -p (seconds), at most 11
CLIENTS=${CLIENTS:-1000000}               # perfdhcp -R
PERF_OPTS=${PERF_OPTS-}                   # extra perfdhcp options for every run
GRID=${GRID:-"2000 5000 10000 15000 20000 30000"}  # coarse search, ascending
REFINE_STEPS=${REFINE_STEPS:-2}           # bisection steps after the grid
REFINE_QUANTUM=${REFINE_QUANTUM:-250}     # bisection rates are multiples of this
MAX_DROP_PCT=${MAX_DROP_PCT:-1}           # pass: both drop ratios < this
MIN_SENT_PCT=${MIN_SENT_PCT:-99}          # pass: perfdhcp really sent >= this % of rate*DURATION
REF_RATE=${REF_RATE:-2000}                # rate whose delays go in the summary table
CONFIRM=${CONFIRM:-1}                     # extra runs at the max clean rate (run-to-run noise)
CASES=${CASES-"t_st t_pd t_both"}         # tandem cases ("" = skip tandem)
KEA_CASES=${KEA_CASES-"b_st b_mt a_st"}   # Kea cases for run.sh ("" = skip Kea)
CEILING_RATES=${CEILING_RATES-}           # handed to run.sh: perfdhcp-alone ceiling ("" = skip)
ORDER=${ORDER:-tandem-first}              # tandem-first | kea-first
SERVER_CPUSET=${SERVER_CPUSET-}           # taskset -c list for the server under test (both)
TANDEM_CPUSET=${TANDEM_CPUSET-$SERVER_CPUSET}
KEA_CPUSET=${KEA_CPUSET-$SERVER_CPUSET}
PERF_CPUSET=${PERF_CPUSET-}               # taskset -c list for perfdhcp (both)
TANDEM_BIN=${TANDEM_BIN-}                 # prebuilt binary; empty = build a private copy of the repo's
TANDEM_OPTS=${TANDEM_OPTS-}               # extra `tandem serve` flags (e.g. "--journal-batch 1024")
TANDEM_LOG_LEVEL=${TANDEM_LOG_LEVEL:-warn} # like Kea at WARN: no per-lease logging
DATA_PARENT=${DATA_PARENT:-/var/tmp}      # run folder + data-dirs live here (must be a real disk)
BUILD_TRIES=${BUILD_TRIES:-5}             # go build attempts, 60 s apart (a file may be mid-edit)
KEA_SCRIPT=${KEA_SCRIPT:-/work/shared/bench/kea/run.sh}
RESULTS=${RESULTS:-$HERE/perfdhcp-results.md}
KEEP_RUNDIR=${KEEP_RUNDIR:-0}             # 1 = keep configs, logs, data-dirs, raw output
JOURNAL_CHECK=${JOURNAL_CHECK:-1}         # 1 = after each point's SIGTERM, `tandem journal replay` must
                                          #     reproduce the live server's digest and last seq
PERFDHCP=${PERFDHCP:-/usr/sbin/perfdhcp}

# ------------------------------------------------------------ fixed names --
NS_CLI=tccli; NS_S1=tcs1; NS_S2=tcs2; ALL_NS="$NS_CLI $NS_S1 $NS_S2"
BR=tcbr0
S1_IF=tcv1s; S1_BR=tcv1b; S1_IP=2001:db8:77::1
S2_IF=tcv2s; S2_BR=tcv2b; S2_IP=2001:db8:77::2
CONTROL=127.0.0.1:8547                    # inside netns tcs1 (its own loopback)
SERVER_DUID=00:02:00:00:09:bf:30:31       # fixed DUID-EN (2495, "01"), like the Kea config
PERF_TIMEOUT=$((DURATION + 4))            # hard bound on one perfdhcp run (<= 15 s)
START_TIMEOUT=${START_TIMEOUT:-15}        # seconds for tandem to answer on its control API
STOP_TIMEOUT=${STOP_TIMEOUT:-15}          # seconds after SIGTERM before SIGKILL
SRV_PREFIX=(); PERF_PREFIX=()
[[ -n $TANDEM_CPUSET ]] && SRV_PREFIX=(taskset -c "$TANDEM_CPUSET")
[[ -n $PERF_CPUSET ]] && PERF_PREFIX=(taskset -c "$PERF_CPUSET")

RUNDIR=""
SRV_PID=""                                # PID of the tandem we started
PERF_PID=""                               # PID of the running perfdhcp (timeout) wrapper
KEA_RUN_PID=""                            # PID of the run.sh (timeout) wrapper
BUILD_PID=""                              # PID of the go build (timeout) wrapper
CLK_TCK=$(getconf CLK_TCK)

exec 3>&2
log()  { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&3; }
die()  { log "ERROR: $*"; exit 1; }

# --------------------------------------------------------------- teardown --
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    set +e
    [[ -n $PERF_PID ]] && kill "$PERF_PID" 2>/dev/null
    [[ -n $BUILD_PID ]] && kill "$BUILD_PID" 2>/dev/null
    if [[ -n $KEA_RUN_PID ]]; then
        # run.sh tears its own "ka" namespaces down on TERM (its trap).
        kill -TERM "$KEA_RUN_PID" 2>/dev/null
        local t; for t in $(seq 300); do kill -0 "$KEA_RUN_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$KEA_RUN_PID" 2>/dev/null
    fi
    srv_stop
    for ns in $ALL_NS; do
        ip netns list | grep -qw "^$ns" && ip netns del "$ns"
    done
    if [[ -n $RUNDIR && -d $RUNDIR ]]; then
        if [[ $KEEP_RUNDIR == 1 ]]; then log "run folder kept: $RUNDIR"; else rm -rf "$RUNDIR"; fi
    fi
    log "teardown done (exit $rc)"
    exit "$rc"
}

# ------------------------------------------------------------- preflight --
preflight() {
    [[ $(id -u) == 0 ]] || die "must run as root (network namespaces)"
    local c
    for c in ip sysctl awk sed sort timeout curl jq getconf go stat findmnt "$PERFDHCP"; do
        command -v "$c" >/dev/null || die "missing command: $c"
    done
    if [[ -n $KEA_CASES ]]; then [[ -x $KEA_SCRIPT ]] || die "Kea script not found/executable: $KEA_SCRIPT"; fi
    (( DURATION + 4 <= 15 )) || die "DURATION too long: each perfdhcp run must stay <= 15 s"
    local c2; for c2 in $CASES; do case $c2 in t_st|t_pd|t_both) ;; *) die "unknown case $c2 (t_st t_pd t_both)";; esac; done
    local fstype; fstype=$(stat -f -c %T "$DATA_PARENT")
    case $fstype in tmpfs|ramfs) die "DATA_PARENT=$DATA_PARENT is $fstype: the journal must be on a real disk so fsync is real";; esac
    local ns pid
    for ns in $ALL_NS; do
        if ip netns list | grep -qw "^$ns"; then
            log "removing stale namespace $ns from an earlier run"
            for pid in $(ip netns pids "$ns"); do kill "$pid" 2>/dev/null || true; done
            sleep 1
            ip netns del "$ns"
        fi
    done
}

# Build a private binary in the run folder (the repo's bin/ is left alone and
# later edits cannot change the binary mid-run). Retries: another engineer's
# file may be mid-edit.
build_tandem() {
    if [[ -n $TANDEM_BIN ]]; then
        [[ -x $TANDEM_BIN ]] || die "TANDEM_BIN=$TANDEM_BIN is not executable"
        return 0
    fi
    local i
    for ((i = 1; i <= BUILD_TRIES; i++)); do
        # In the background and waited for, so that a signal is handled at once.
        (cd "$REPO" && exec timeout 300 go build -o "$RUNDIR/tandem" ./cmd/tandem) > "$RUNDIR/build.out" 2>&1 &
        BUILD_PID=$!
        local brc=0; wait "$BUILD_PID" || brc=$?
        BUILD_PID=""
        if (( brc == 0 )); then
            TANDEM_BIN=$RUNDIR/tandem
            log "built tandem ($(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo ?)$( [[ -n $(cd "$REPO" && git status --porcelain 2>/dev/null | head -1) ]] && echo ", dirty tree")) -> $TANDEM_BIN"
            return 0
        fi
        log "go build failed (try $i/$BUILD_TRIES): $(head -3 "$RUNDIR/build.out" | tr '\n' ' ')"
        (( i < BUILD_TRIES )) && { sleep 60 & wait $!; }
    done
    die "could not build tandem"
}

# -------------------------------------------------------------- topology --
# Same as run.sh's topology_up, with tc names.
topology_up() {
    local ns i
    for ns in $ALL_NS; do
        ip netns add "$ns"
        ip netns exec "$ns" sysctl -qw net.ipv6.conf.all.accept_dad=0 net.ipv6.conf.default.accept_dad=0
        ip -n "$ns" link set lo up
    done
    ip -n "$NS_CLI" link add "$BR" type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    ip link add "$S1_BR" netns "$NS_CLI" type veth peer name "$S1_IF" netns "$NS_S1"
    ip link add "$S2_BR" netns "$NS_CLI" type veth peer name "$S2_IF" netns "$NS_S2"
    for i in "$S1_BR" "$S2_BR"; do
        ip -n "$NS_CLI" link set "$i" master "$BR"
        ip netns exec "$NS_CLI" sysctl -qw "net.ipv6.conf.$i.disable_ipv6=1"
        ip -n "$NS_CLI" link set "$i" up
    done
    ip -n "$NS_CLI" link set "$BR" up
    ip -n "$NS_S1" addr add "$S1_IP/64" dev "$S1_IF" nodad; ip -n "$NS_S1" link set "$S1_IF" up
    ip -n "$NS_S2" addr add "$S2_IP/64" dev "$S2_IF" nodad; ip -n "$NS_S2" link set "$S2_IF" up
    local t
    for t in $(seq 50); do
        if ip -n "$NS_CLI" -6 addr show dev "$BR" scope link | grep -q 'inet6 fe80' &&
           ip -n "$NS_S1" -6 addr show dev "$S1_IF" scope link | grep -q 'inet6 fe80' &&
           ip -n "$NS_S2" -6 addr show dev "$S2_IF" scope link | grep -q 'inet6 fe80' &&
           ! ip -n "$NS_CLI" -6 addr show dev "$BR" | grep -q tentative; then
            log "topology up: $NS_CLI($BR) <-> $NS_S1($S1_IF) + $NS_S2($S2_IF)"
            return 0
        fi
        sleep 0.2
    done
    die "link-local addresses did not come up"
}

# ---------------------------------------------------------------- tandem --
# Same subnet, pools and lifetimes as run.sh's kea-dhcp6-standalone.json.in:
# 2001:db8:1::/64 on the server's link, a /80 address pool, a /34 pool of /56s,
# T1 1000 s, T2 2000 s, preferred 3000 s, valid 4000 s, fixed DUID-EN.
render_config() {
    local out=$1 data=$2
    cat > "$out" <<EOF
# perfdhcp-compare.sh: tandem standalone, direct clients on $S1_IF.
server:
  data-dir: $data
  duid: "$SERVER_DUID"
  interfaces: [$S1_IF]
  control: "$CONTROL"

lifetimes: {preferred: 3000s, valid: 4000s, t1: 1000s, t2: 2000s}

subnets:
  - prefix: 2001:db8:1::/64
    interface: $S1_IF
    pools: ["2001:db8:1:0:1::/80"]
    pd-pools:
      - {prefix: "2001:db8:8000::/34", delegated-length: 56}
EOF
}

ctl_get() {  # ctl_get PATH: GET on tandem's control API inside tcs1
    ip netns exec "$NS_S1" curl -sf -m 3 "http://$CONTROL$1"
}

srv_start() {
    local dir=$RUNDIR/s1 t
    rm -rf "$dir"; mkdir -p "$dir"
    render_config "$dir/tandem.yaml" "$dir/data"
    # A config error should stop the script, not look like 100 % drops.
    timeout 10 "$TANDEM_BIN" config check "$dir/tandem.yaml" > "$dir/check.out" 2>&1 ||
        { cat "$dir/check.out" >&2; die "invalid config $dir/tandem.yaml"; }
    # `ip netns exec` and `taskset` exec in place, so $! is tandem's own PID.
    # TANDEM_OPTS is split into words on purpose.
    ip netns exec "$NS_S1" "${SRV_PREFIX[@]}" "$TANDEM_BIN" serve --config "$dir/tandem.yaml" \
        --log-level "$TANDEM_LOG_LEVEL" $TANDEM_OPTS >> "$dir/tandem.log" 2>&1 &
    SRV_PID=$!
    for t in $(seq $((START_TIMEOUT * 10))); do
        kill -0 "$SRV_PID" 2>/dev/null || { tail -20 "$dir/tandem.log" >&2; SRV_PID=""; die "tandem exited at start"; }
        if ctl_get /v1/status 2>/dev/null | jq -e '.leases.na_active != null' >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    tail -20 "$dir/tandem.log" >&2
    die "tandem did not answer on its control API within ${START_TIMEOUT}s"
}

# srv_stop: SIGTERM (tandem flushes its journal), bounded; sets STOP_INFO.
STOP_INFO="-"
srv_stop() {
    [[ -n $SRV_PID ]] || return 0
    local pid=$SRV_PID t rc t0 t1
    t0=$(date +%s.%N)
    kill -TERM "$pid" 2>/dev/null || true
    for t in $(seq $((STOP_TIMEOUT * 10))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null || true
        STOP_INFO="KILLED after ${STOP_TIMEOUT}s"
    else
        rc=0; wait "$pid" 2>/dev/null || rc=$?
        t1=$(date +%s.%N)
        STOP_INFO=$(awk -v a="$t0" -v b="$t1" -v rc="$rc" 'BEGIN{printf "exit %d in %.1fs", rc, b-a}')
    fi
    SRV_PID=""
}

rcvbuf_errs() { ip netns exec "$1" awk '$1 == "Udp6RcvbufErrors" {print $2}' /proc/net/snmp6; }
proc_cpu() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# ------------------------------------------------------------ one point --
M_PASS=0; RUN_NO=0

perfdhcp_run() {  # identical to run.sh's
    local tag=$1 rate=$2; shift 2
    local out=$RUNDIR/$tag.out
    { TIMEFORMAT='%3U %3S'; time {
        timeout -k 1 "$PERF_TIMEOUT" ip netns exec "$NS_CLI" "${PERF_PREFIX[@]}" \
            "$PERFDHCP" -6 -l "$BR" -r "$rate" -R "$CLIENTS" -p "$DURATION" $PERF_OPTS "$@" > "$out" 2>&1 &
        PERF_PID=$!
        wait "$PERF_PID" || true
        PERF_PID=""
    }; } 2> "$RUNDIR/$tag.cpu"
}

parse_perfdhcp() {  # identical to run.sh's
    awk '
        /^Rate:/                          { rate = $2 }
        /Statistics for: SOLICIT-ADVERTISE/ { s = "sa" }
        /Statistics for: REQUEST-REPLY/     { s = "rr" }
        /^sent packets:/     { v[s, "sent"] = $3 }
        /^received packets:/ { v[s, "rcvd"] = $3 }
        /^drops:/            { v[s, "drops"] = $2 }
        /^avg delay:/        { v[s, "avg"] = $3 }
        /^max delay:/        { v[s, "max"] = $3 }
        function g(k1, k2) { return ((k1, k2) in v) ? v[k1, k2] : "NA" }
        END {
            printf "%s", (rate == "" ? "NA" : rate)
            split("sa rr", ss, " ")
            for (i = 1; i <= 2; i++)
                printf " %s %s %s %s %s", g(ss[i], "sent"), g(ss[i], "rcvd"), g(ss[i], "drops"), g(ss[i], "avg"), g(ss[i], "max")
            printf "\n"
        }' "$1"
}

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b+0 == 0) print "100.000"; else printf "%.3f\n", 100*a/b }'; }

case_extra() {
    case $1 in
        t_st)   echo "" ;;
        t_pd)   echo "-e prefix-only" ;;
        t_both) echo "-e address-and-prefix" ;;
    esac
}

measure() {
    local case=$1 rate=$2 tag s_a s_b
    local -a extra; read -r -a extra <<<"$(case_extra "$case")"
    RUN_NO=$((RUN_NO + 1)); tag=$(printf '%03d_%s_%s' "$RUN_NO" "$case" "$rate")
    srv_start

    s_a=$(proc_cpu "$SRV_PID")
    local rc_a rs_a rc_b rs_b
    rc_a=$(rcvbuf_errs "$NS_CLI"); rs_a=$(rcvbuf_errs "$NS_S1")
    perfdhcp_run "$tag" "$rate" "${extra[@]}"
    rc_b=$(rcvbuf_errs "$NS_CLI"); rs_b=$(rcvbuf_errs "$NS_S1")
    s_b=$(proc_cpu "$SRV_PID")
    local rcvbuf="$((rc_b - rc_a)) / $((rs_b - rs_a))"

    local r sa_sent sa_rcvd sa_drops sa_avg sa_max rr_sent rr_rcvd rr_drops rr_avg rr_max
    read -r r sa_sent sa_rcvd sa_drops sa_avg sa_max rr_sent rr_rcvd rr_drops rr_avg rr_max < <(parse_perfdhcp "$RUNDIR/$tag.out")
    local sent_pct sa_dp rr_dp srv_cpu perf_cpu
    sent_pct=$(pct "$sa_sent" $((rate * DURATION)))
    sa_dp=$(pct "$sa_drops" "$sa_sent"); rr_dp=$(pct "$rr_drops" "$rr_sent")
    [[ $sa_drops == NA ]] && sa_dp=100.000
    [[ $rr_drops == NA ]] && rr_dp=100.000
    srv_cpu=$(awk -v d=$((s_b - s_a)) -v h="$CLK_TCK" -v p="$DURATION" 'BEGIN{printf "%.0f", 100*d/h/p}')
    # The .cpu file can hold more than one `time` line; the last is perfdhcp's.
    perf_cpu=$(awk -v p="$DURATION" 'NF == 2 {u = $1; s = $2} END {printf "%.0f", 100*(u+s)/p}' "$RUNDIR/$tag.cpu")

    local verdict=PASS why=""
    if awk -v s="$sent_pct" -v m="$MIN_SENT_PCT" 'BEGIN{exit !(s < m)}'; then verdict=FAIL; why="client-limited(sent ${sent_pct}%)"; fi
    if awk -v a="$sa_dp" -v b="$rr_dp" -v m="$MAX_DROP_PCT" 'BEGIN{exit !(a >= m || b >= m)}'; then verdict=FAIL; why="${why:+$why,}drops"; fi

    # Server-side view (GET /v1/status): active leases, journal events, and
    # packet counters (received / replied / engine drops / send+commit errors).
    local st leases="?" jseq="?" pk="?"
    st=$(ctl_get /v1/status 2>/dev/null || echo '{}')
    leases=$(jq -r '"\(.leases.na_active // "?") / \(.leases.pd_active // "?")"' <<<"$st" 2>/dev/null || echo "?")
    jseq=$(jq -r '.journal.seq // "?"' <<<"$st" 2>/dev/null || echo "?")
    local jdig; jdig=$(jq -r '.journal.digest // "?"' <<<"$st" 2>/dev/null || echo "?")
    pk=$(jq -r '.packets // {} | "\(.received // "?") / \(.replied // "?") / \([to_entries[] | select(.key | startswith("dropped_")) | .value] | add // 0) / \((.send_errors // 0) + (.commit_errors // 0))"' <<<"$st" 2>/dev/null || echo "?")
    local drops_detail
    drops_detail=$(jq -r '.packets // {} | [to_entries[] | select((.key | startswith("dropped_")) and .value > 0) | "\(.key | ltrimstr("dropped_"))=\(.value)"] | join(",")' <<<"$st" 2>/dev/null || echo "")
    srv_stop
    # Durability: what a restart would rebuild from disk must be what the
    # server had (and had replied about) when it was stopped.
    local jcheck="-"
    if [[ $JOURNAL_CHECK == 1 ]]; then
        local rp rseq rdig
        if rp=$(timeout 60 "$TANDEM_BIN" journal replay --data-dir "$RUNDIR/s1/data" --json 2> "$RUNDIR/replay.err"); then
            rseq=$(jq -r '.last_seq // "?"' <<<"$rp" 2>/dev/null || echo "?")
            rdig=$(jq -r '.digest // "?"' <<<"$rp" 2>/dev/null || echo "?")
            if [[ $rseq == "$jseq" && $rdig == "$jdig" ]]; then jcheck="ok"
            else jcheck="MISMATCH live seq=$jseq digest=$jdig, replay seq=$rseq digest=$rdig"; fi
        else
            jcheck="replay failed: $(head -1 "$RUNDIR/replay.err")"
        fi
        [[ $jcheck == ok ]] || log "[$case] JOURNAL CHECK: $jcheck"
    fi
    local logw
    logw=$(grep -c -E '"level":"(warn|error|dpanic|panic|fatal)"' "$RUNDIR/s1/tandem.log" 2>/dev/null || true)
    [[ -n $logw ]] || logw=0
    if [[ $KEEP_RUNDIR == 1 ]]; then
        cp "$RUNDIR/s1/tandem.log" "$RUNDIR/$tag.tandem.log" 2>/dev/null || true
        cp "$RUNDIR/s1/tandem.yaml" "$RUNDIR/$tag.tandem.yaml" 2>/dev/null || true
    fi

    M_PASS=0; [[ $verdict == PASS ]] && M_PASS=1
    # | case | rate | sent % | SA drop % | RR drop % | exch/s done | SA avg/max | RR avg/max | tandem CPU % | perfdhcp CPU % | rcvbuf cli/srv | rx/replied/engine-dropped/errors | leases na/pd | journal seq | replay check | stop | log warn+ | verdict |
    RUN_ROWS+=("| $case | $rate | $sent_pct | $sa_dp | $rr_dp | $r | $sa_avg / $sa_max | $rr_avg / $rr_max | $srv_cpu | $perf_cpu | $rcvbuf | $pk${drops_detail:+ ($drops_detail)} | $leases | $jseq | $jcheck | $STOP_INFO | $logw | $verdict${why:+ ($why)} |")
    LAST_DELAY="$sa_avg / $sa_max | $rr_avg / $rr_max"
    LAST_DROPS="$sa_dp / $rr_dp"; LAST_CPU="$srv_cpu / $perf_cpu"; LAST_LEASES="$leases"
    log "[$case] rate=$rate sent=${sent_pct}% drops SA=${sa_dp}% RR=${rr_dp}% done=${r}/s delay(avg/max ms) SA=$sa_avg/$sa_max RR=$rr_avg/$rr_max cpu(tandem/perf %)=$srv_cpu/$perf_cpu rcvbuf-drops(cli/srv)=$rcvbuf pkts(rx/replied/dropped/err)=$pk${drops_detail:+ ($drops_detail)} leases(na/pd)=$leases journal-seq=$jseq replay=$jcheck stop=[$STOP_INFO] log-warn+=$logw -> $verdict${why:+ ($why)}"
}

# -------------------------------------------------------------- search ---
declare -a RUN_ROWS=() SUMMARY_ROWS=() COMBINED_ROWS=()
LAST_DELAY=""; LAST_DROPS=""; LAST_CPU=""; LAST_LEASES=""

describe() {
    case $1 in
        t_st)   echo "tandem standalone, journal fsync'd per batch, IA_NA" ;;
        t_pd)   echo "tandem standalone, journal fsync'd per batch, PD: -e prefix-only" ;;
        t_both) echo "tandem standalone, journal fsync'd per batch, -e address-and-prefix" ;;
    esac
}

# search_case CASE: same grid + bisection + confirmation as run.sh.
search_case() {
    local case=$1 lo=0 hi="" r mid ref_delay="n/a" fail_info="none (all grid rates passed)" best_cpu="-" best_delay="- | -" best_leases="-"
    log "=== case $case: $(describe "$case")"
    for r in $GRID; do
        measure "$case" "$r"
        [[ $r == "$REF_RATE" ]] && ref_delay=$LAST_DELAY
        if (( M_PASS )); then
            lo=$r; best_cpu=$LAST_CPU; best_delay=$LAST_DELAY; best_leases=$LAST_LEASES
        else
            hi=$r; fail_info="$r ($LAST_DROPS)"; break
        fi
    done
    local i
    if [[ -n $hi ]]; then
        for ((i = 0; i < REFINE_STEPS; i++)); do
            mid=$(( (lo + hi) / 2 / REFINE_QUANTUM * REFINE_QUANTUM ))
            (( mid > lo && mid < hi )) || break
            measure "$case" "$mid"
            if (( M_PASS )); then
                lo=$mid; best_cpu=$LAST_CPU; best_delay=$LAST_DELAY; best_leases=$LAST_LEASES
            else
                hi=$mid; fail_info="$mid ($LAST_DROPS)"
            fi
        done
    fi
    local best=$lo confirmed=""
    if (( lo == 0 )); then
        best="< ${GRID%% *}"
    elif (( CONFIRM > 0 )); then
        local passes=1
        for ((i = 0; i < CONFIRM; i++)); do
            measure "$case" "$lo"
            (( M_PASS )) && passes=$((passes + 1))
        done
        confirmed=" (passed $passes/$((CONFIRM + 1)))"
    fi
    log "=== case $case: max clean rate $best exch/s$confirmed"
    # Same columns as run.sh's summary, plus the server column first.
    COMBINED_ROWS+=("| tandem | $case | $(describe "$case") | **$best**$confirmed | $fail_info | $ref_delay | $best_delay | $best_cpu | $best_leases |")
}

# ------------------------------------------------------------------ Kea ---
KEA_RC=""; KEA_NOTE=""
run_kea() {
    [[ -n $KEA_CASES ]] || { KEA_NOTE="Kea skipped (KEA_CASES empty)"; return 0; }
    local n_grid n_pts n_cases n_ceil bound
    n_grid=$(wc -w <<<"$GRID"); n_cases=$(wc -w <<<"$KEA_CASES"); n_ceil=$(wc -w <<<"$CEILING_RATES")
    n_pts=$((n_grid + REFINE_STEPS + CONFIRM))
    # Per point: start (<= 10 s), perfdhcp (<= PERF_TIMEOUT+1), stop (<= 10 s), slack.
    bound=${KEA_TIMEOUT:-$((120 + n_cases * n_pts * (PERF_TIMEOUT + 30) + n_ceil * (PERF_TIMEOUT + 2)))}
    log "=== Kea: $KEA_SCRIPT CASES=\"$KEA_CASES\" (bounded to ${bound}s)"
    KEA_RC=0
    # Same search parameters; Kea's own pinning variable gets the server cpuset.
    timeout -k 20 "$bound" env CASES="$KEA_CASES" RESULTS="$RUNDIR/kea.md" \
        DURATION="$DURATION" CLIENTS="$CLIENTS" PERF_OPTS="$PERF_OPTS" GRID="$GRID" \
        REFINE_STEPS="$REFINE_STEPS" REFINE_QUANTUM="$REFINE_QUANTUM" MAX_DROP_PCT="$MAX_DROP_PCT" \
        MIN_SENT_PCT="$MIN_SENT_PCT" REF_RATE="$REF_RATE" CONFIRM="$CONFIRM" \
        CEILING_RATES="$CEILING_RATES" KEA_CPUSET="$KEA_CPUSET" PERF_CPUSET="$PERF_CPUSET" \
        KEEP_RUNDIR="$KEEP_RUNDIR" "$KEA_SCRIPT" > "$RUNDIR/kea.stdout" 2>&1 &
    KEA_RUN_PID=$!
    # Show run.sh's progress lines as they come.
    tail -n +1 -f --pid="$KEA_RUN_PID" "$RUNDIR/kea.stdout" 2>/dev/null | grep --line-buffered -E '^[0-9]{2}:[0-9]{2}:[0-9]{2} ' | sed -u 's/^/  [kea] /' >&3 &
    local tail_pid=$!
    wait "$KEA_RUN_PID" || KEA_RC=$?
    KEA_RUN_PID=""
    wait "$tail_pid" 2>/dev/null || true
    if [[ $KEA_RC != 0 || ! -f $RUNDIR/kea.md ]]; then
        KEA_NOTE="Kea script failed (exit $KEA_RC; 124 = timed out after ${bound}s); last lines: $(tail -3 "$RUNDIR/kea.stdout" | tr '\n' ' ')"
        log "$KEA_NOTE"
        return 0
    fi
    # Kea summary: | case | configuration | max | lowest failing | @REF SA | @REF RR | @max SA | @max RR | CPU kea/perf | HA |
    # run.sh writes a single "-" for both "@max" delays of a case that never
    # passed (one column short); pad it so the columns line up.
    local line
    while IFS= read -r line; do
        COMBINED_ROWS+=("$(awk -F'|' '{
            n = NF - 2; for (i = 1; i <= n; i++) { c[i] = $(i + 1); gsub(/^ +| +$/, "", c[i]) }
            if (n == 9) { for (i = 10; i > 7; i--) c[i] = c[i - 1]; c[7] = "-" }
            printf "| Kea | %s | %s | %s | %s | %s | %s | %s | %s | %s | - |", c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9]
        }' <<<"$line")")
    done < <(sed -n '/^| case | configuration/,/^$/p' "$RUNDIR/kea.md" | grep -E '^\| [a-z_]+ \|' | grep -v '^| case |')
}

# ------------------------------------------------------------- report ---
pinning_desc() {
    if [[ -z $TANDEM_CPUSET && -z $KEA_CPUSET && -z $PERF_CPUSET ]]; then
        echo "none (perfdhcp and the server share all $(nproc) cores)"
    else
        echo "tandem on CPU ${TANDEM_CPUSET:-any}, kea-dhcp6 on CPU ${KEA_CPUSET:-any}, perfdhcp on CPU ${PERF_CPUSET:-any} (taskset)"
    fi
}

summary_table() {
    echo "| server | case | configuration | max clean rate (exch/s) | lowest failing rate tried (SA / RR drop %) | delay @${REF_RATE}/s SA | delay @${REF_RATE}/s RR | delay @max SA | delay @max RR | CPU @max server / perfdhcp (%) | leases @max (tandem: NA / PD active) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|"
    printf '%s\n' "${COMBINED_ROWS[@]}"
}

write_report() {
    local tmp cpu_model kea_ver
    cpu_model=$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)
    kea_ver=$(/usr/sbin/kea-dhcp6 -v 2>/dev/null | head -1 || echo "?")
    tmp=$(mktemp "$RESULTS.XXXXXX")
    {
        echo "# tandem vs Kea: perfdhcp, same method, same run"
        echo
        echo "- Date: $(date -u '+%Y-%m-%d %H:%M UTC')"
        echo "- tandem: $TANDEM_DESC; Kea: kea-dhcp6 $kea_ver; perfdhcp $("$PERFDHCP" -v 2>&1 | awk '/VERSION/{print $2}' | head -1)"
        echo "- Machine: nproc=$(nproc), $cpu_model, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
        echo "- Load: \`perfdhcp -6 -l BRIDGE -r RATE -R $CLIENTS -p $DURATION${PERF_OPTS:+ $PERF_OPTS}\` (t_pd adds \`-e prefix-only\`, t_both \`-e address-and-prefix\`), direct multicast clients on a netns bridge (tandem: $NS_CLI/$BR; Kea: run.sh's kacli/kabr0, same topology)"
        echo "- Pass rule: SOLICIT-ADVERTISE and REQUEST-REPLY drop ratios both < ${MAX_DROP_PCT}% and perfdhcp sent >= ${MIN_SENT_PCT}% of RATE*${DURATION}"
        echo "- Search (both servers): grid \`$GRID\` upward until the first failure, then $REFINE_STEPS bisection step(s) (multiples of $REFINE_QUANTUM); every point restarts the server with an empty lease DB; the max clean rate is re-run $CONFIRM more time(s) (\"passed k/n\")"
        echo "- CPU pinning: $(pinning_desc)"
        echo "- tandem persistence: data-dir (journal) on $DATA_FS_DESC, a fresh directory per point; every lease change is fsync'd (per commit batch) before the reply that reveals it. Kea b_*: memfile persist=true (write per lease, no fsync); a_*: in memory only."
        echo "- tandem serve flags: \`--log-level $TANDEM_LOG_LEVEL${TANDEM_OPTS:+ $TANDEM_OPTS}\`; config: subnet 2001:db8:1::/64 on the link, pool 2001:db8:1:0:1::/80, pd-pool 2001:db8:8000::/34 → /56, T1/T2/preferred/valid 1000/2000/3000/4000 s, fixed DUID-EN (as Kea's template)"
        echo "- Order: $ORDER. ${KEA_NOTE}"
        echo "- Scripts: \`bench/scripts/perfdhcp-compare.sh\` (this), \`$KEA_SCRIPT\` (Kea, CASES=\"$KEA_CASES\")"
        echo
        echo "## Summary"
        echo
        echo "Rates are offered 4-way exchanges per second (SOLICIT-ADVERTISE-REQUEST-REPLY); delays in ms, avg / max (perfdhcp)."
        echo
        summary_table
        echo
        echo "CPU: per-process user+system time as % of one core over the ${DURATION}s test period (the machine has $(nproc) cores = $(( $(nproc) * 100 ))%)."
        echo
        echo "## tandem: all runs"
        echo
        echo "| case | rate | sent % of rate*${DURATION}s | SA drop % | RR drop % | exch/s completed | SA avg / max ms | RR avg / max ms | tandem CPU % | perfdhcp CPU % | UDP rcvbuf drops client / server | server packets received / replied / engine-dropped / send+commit errors | leases NA / PD active | journal seq | journal replay after stop = live digest | SIGTERM stop | log lines warn+ | verdict |"
        echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        printf '%s\n' "${RUN_ROWS[@]}"
        echo
        if [[ -f $RUNDIR/kea.md ]]; then
            echo "## Kea: all runs (from run.sh, same run)"
            echo
            sed -n '/^## All runs/,/^## Notes/p' "$RUNDIR/kea.md" | sed '1d;$d'
            if grep -q '^## perfdhcp.s own ceiling' "$RUNDIR/kea.md"; then
                echo "## perfdhcp's own ceiling (from run.sh)"
                sed -n '/^## perfdhcp.s own ceiling/,/^## All runs/p' "$RUNDIR/kea.md" | sed '1d;$d'
            fi
        fi
        echo "## Notes"
        echo
        echo "- Server packets (tandem, GET /v1/status just before SIGTERM): \"received\" counts datagrams read on the"
        echo "  multicast socket, which also receives REQUESTs for other servers' ADVERTISEs (none here) and any"
        echo "  retransmissions; \"engine-dropped\" sums the engine's dropped_* counters (named in brackets when non-zero)."
        echo "- Journal check (JOURNAL_CHECK=$JOURNAL_CHECK): after each point's SIGTERM, \`tandem journal replay\` on the"
        echo "  data-dir must give the last seq and state digest the live server reported (GET /v1/status) before the stop."
        echo "- Where drops happen: \"UDP rcvbuf drops\" are the kernel's Udp6RcvbufErrors in the client (perfdhcp) and"
        echo "  server namespaces during the run. tandem sends the replies of one journal commit (group commit, one fsync"
        echo "  per drained batch) together, so when it is the client's socket that overflows while the server's"
        echo "  counters show received = replied, the replies were sent and perfdhcp could not drain them in time."
        echo "- The run folder and data-dirs are deleted at exit unless KEEP_RUNDIR=1."
        echo "- Noise: the machine may be shared; near the edge the same rate can pass and then fail. Compare the two"
        echo "  servers inside one run, and re-run before trusting a small difference (see run.sh's results.md for"
        echo "  Kea's run-to-run range)."
    } > "$tmp"
    chmod 644 "$tmp"
    mv "$tmp" "$RESULTS"
}

# ---------------------------------------------------------------- main ---
TANDEM_DESC="?"; DATA_FS_DESC="?"
run_tandem() {
    [[ -n $CASES ]] || return 0
    topology_up
    local c
    for c in $CASES; do search_case "$c"; done
    # Free the bridge before Kea builds its own (not required, names differ).
    local ns; for ns in $ALL_NS; do ip netns del "$ns" 2>/dev/null || true; done
}

main() {
    preflight
    trap cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    RUNDIR=$(mktemp -d "$DATA_PARENT/tctandem.XXXXXX")
    DATA_FS_DESC="$(findmnt -n -o FSTYPE,SOURCE -T "$RUNDIR" | awk '{print $1" ("$2")"}') at $RUNDIR (real disk, not tmpfs)"
    [[ -n $CASES ]] && build_tandem
    if [[ -n $CASES ]]; then
        TANDEM_DESC="$("$TANDEM_BIN" version 2>/dev/null || echo tandem), commit $(cd "$REPO" && git rev-parse --short HEAD 2>/dev/null || echo ?)$( [[ -n $(cd "$REPO" && git status --porcelain 2>/dev/null | head -1) ]] && echo " + uncommitted changes")"
    fi
    log "nproc=$(nproc), run folder $RUNDIR; tandem journal on $DATA_FS_DESC; fsync is real"
    if [[ $ORDER == kea-first ]]; then run_kea; run_tandem; else run_tandem; run_kea; fi
    write_report
    echo
    echo "## Summary ($(date -u '+%Y-%m-%d %H:%M UTC'), nproc=$(nproc), one run; pinning: $(pinning_desc))"
    echo "tandem journal: $DATA_FS_DESC, fsync per commit batch. ${KEA_NOTE}"
    echo
    summary_table
    log "results written to $RESULTS"
}

main "$@"
