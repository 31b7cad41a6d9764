package engine

// Tests for the RFC 8156 endpoint state machine, one per transition arc,
// named after the draft -06 section that states it (as the fact sheet cites
// it), plus a two-endpoint simulation with random partitions, restarts and
// operator commands.

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/tandemdhcp/tandem/netio/wire"
)

const epT0 int64 = 1_800_000_000 // an arbitrary "now", Unix seconds

const epMCLT = 3600 // seconds; epCfg's MCLT

func epCfg(r Role) EndpointConfig {
	return EndpointConfig{Role: r, MCLT: epMCLT * time.Second, StartupTime: 10 * time.Second}
}

var epRoles = []Role{RolePrimary, RoleSecondary}

var epAllStates = []State{
	StateStartup, StateNormal, StateCommInterrupted, StatePartnerDown, StatePotentialConflict,
	StateRecover, StateRecoverWait, StateRecoverDone, StateResolutionInterrupted, StateConflictDone,
}

// epForce builds an endpoint already in state s (bypassing entry actions),
// with a stored record showing it has communicated and operated until now.
// With comm, communications are OK and the partner last reported partner.
func epForce(role Role, s State, now int64, comm bool, partner State) *Endpoint {
	e := NewEndpoint(epCfg(role), &StoredState{State: s, StartTime: now - 100, Communicated: true, LastOperated: now}, now-100)
	e.state = s
	if s == StatePartnerDown {
		e.st.PartnerDownTime = now - 100
	}
	if comm {
		e.connected, e.commOK, e.heardFirst = true, true, true
		e.st.PartnerState = partner
	}
	return e
}

// epFmt renders actions compactly: kind(state) and, for STATE, its flags.
func epFmt(acts []Action) string {
	var b strings.Builder
	for i, a := range acts {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(a.Kind.String())
		switch a.Kind {
		case ActSendState:
			fmt.Fprintf(&b, "(%s", a.State)
			if a.Flags != 0 {
				b.WriteByte(',')
				if a.Flags&wire.ServerFlagAckStartup != 0 {
					b.WriteByte('A')
				}
				if a.Flags&wire.ServerFlagStartup != 0 {
					b.WriteByte('S')
				}
				if a.Flags&wire.ServerFlagCommunicated != 0 {
					b.WriteByte('C')
				}
			}
			b.WriteByte(')')
		case ActPersist, ActAlarm:
			fmt.Fprintf(&b, "(%s)", a.State)
		}
	}
	return b.String()
}

func epWant(t *testing.T, e *Endpoint, st State, acts []Action, want string) {
	t.Helper()
	if e.State() != st {
		t.Errorf("state = %s, want %s", e.State(), st)
	}
	if got := epFmt(acts); got != want {
		t.Errorf("actions:\n got %s\nwant %s", got, want)
	}
}

const fC = wire.ServerFlagCommunicated
const fS = wire.ServerFlagStartup

// --- wire values, names -----------------------------------------------------

func TestRFC8156_5_5_19_StateWireValues(t *testing.T) {
	// IANA's option 132 values (Wireshark and liblcb agree); also the
	// stored encoding, so a change here is a format break.
	want := map[State]uint8{
		StateStartup: 1, StateNormal: 2, StateCommInterrupted: 3, StatePartnerDown: 4,
		StatePotentialConflict: 5, StateRecover: 6, StateRecoverWait: 7, StateRecoverDone: 8,
		StateResolutionInterrupted: 9, StateConflictDone: 10,
	}
	names := map[State]string{
		StateStartup: "startup", StateNormal: "normal", StateCommInterrupted: "communications-interrupted",
		StatePartnerDown: "partner-down", StatePotentialConflict: "potential-conflict", StateRecover: "recover",
		StateRecoverWait: "recover-wait", StateRecoverDone: "recover-done",
		StateResolutionInterrupted: "resolution-interrupted", StateConflictDone: "conflict-done",
	}
	for s, v := range want {
		if uint8(s) != v {
			t.Errorf("%s = %d, want %d", s, s, v)
		}
		if s.String() != names[s] {
			t.Errorf("String(%d) = %q, want %q", v, s.String(), names[s])
		}
	}
	for _, bad := range []State{0, 11, 255} {
		if bad.Valid() || bad.String() != "invalid" {
			t.Errorf("state %d: Valid=%v String=%q", bad, bad.Valid(), bad.String())
		}
	}
}

// --- responsiveness (§8.x.1, facts §11 table) ------------------------------------

func TestRFC8156_8_1_ResponsivenessTable(t *testing.T) {
	type row struct {
		svc      [2]Service // primary, secondary
		alloc    [2]bool
		mcltCaps bool
	}
	N, R, A := ServeNone, ServeRenewOwn, ServeAll
	table := map[State]row{
		StateStartup:               {[2]Service{N, N}, [2]bool{false, false}, true},
		StateNormal:                {[2]Service{A, R}, [2]bool{true, false}, true},
		StateCommInterrupted:       {[2]Service{A, A}, [2]bool{true, true}, true},
		StatePartnerDown:           {[2]Service{A, A}, [2]bool{true, true}, false},
		StatePotentialConflict:     {[2]Service{N, N}, [2]bool{false, false}, true},
		StateRecover:               {[2]Service{N, N}, [2]bool{false, false}, true},
		StateRecoverWait:           {[2]Service{N, N}, [2]bool{false, false}, true},
		StateRecoverDone:           {[2]Service{R, R}, [2]bool{false, false}, true},
		StateResolutionInterrupted: {[2]Service{A, A}, [2]bool{true, true}, true},
		StateConflictDone:          {[2]Service{A, A}, [2]bool{true, true}, true},
	}
	for _, s := range epAllStates {
		for i, role := range epRoles {
			e := epForce(role, s, epT0, false, 0)
			w := table[s]
			if e.Service() != w.svc[i] || e.MayAllocate() != w.alloc[i] || e.MCLTCapped() != w.mcltCaps {
				t.Errorf("%s/%s: service=%s alloc=%v capped=%v, want %s %v %v", s, role,
					e.Service(), e.MayAllocate(), e.MCLTCapped(), w.svc[i], w.alloc[i], w.mcltCaps)
			}
			if (e.PartnerPoolUsableAt() != 0) != (s == StatePartnerDown) {
				t.Errorf("%s/%s: PartnerPoolUsableAt = %d", s, role, e.PartnerPoolUsableAt())
			}
		}
	}
}

// --- §8.3 STARTUP -------------------------------------------------------------

func TestRFC8156_8_3_1_Startup_UnresponsiveAndSendsRecordedStateWithFlag(t *testing.T) {
	st := &StoredState{State: StateNormal, StartTime: epT0 - 500, Communicated: true}
	e := NewEndpoint(epCfg(RolePrimary), st, epT0)
	if e.State() != StateStartup || e.Service() != ServeNone {
		t.Fatalf("state %s service %s", e.State(), e.Service())
	}
	acts := e.CommUp(epT0+1, nil)
	epWant(t, e, StateStartup, acts, "send-state(normal,SC)")
	if acts[0].Start != epT0-500 {
		t.Errorf("start = %d, want the recorded %d", acts[0].Start, epT0-500)
	}
	// STARTUP is never recorded: a restart must still find NORMAL.
	if got := e.Stored().State; got != StateNormal {
		t.Errorf("stored state = %s", got)
	}
}

func TestRFC8156_8_3_2_Startup_TimerExpires_ToPreviousState(t *testing.T) {
	cases := []struct {
		stored State
		want   State
		acts   string
	}{
		// Step 2: states that need communications take their comm-failed arc.
		{StateNormal, StateCommInterrupted, "alarm(communications-interrupted) persist(communications-interrupted)"},
		{StatePotentialConflict, StateResolutionInterrupted, "alarm(resolution-interrupted) persist(resolution-interrupted)"},
		{StateCommInterrupted, StateCommInterrupted, "persist(communications-interrupted)"},
		{StatePartnerDown, StatePartnerDown, "persist(partner-down)"},
		{StateRecover, StateRecover, "persist(recover)"},
		{StateRecoverWait, StateRecoverWait, "persist(recover-wait)"},
		{StateRecoverDone, StateRecoverDone, "persist(recover-done)"},
		{StateResolutionInterrupted, StateResolutionInterrupted, "alarm(resolution-interrupted) persist(resolution-interrupted)"},
		{StateConflictDone, StateConflictDone, "persist(conflict-done)"},
	}
	for _, c := range cases {
		t.Run(c.stored.String(), func(t *testing.T) {
			st := &StoredState{State: c.stored, StartTime: epT0 - 50, Communicated: true, LastOperated: epT0 - 5}
			e := NewEndpoint(epCfg(RolePrimary), st, epT0)
			if e.NextTimer() != epT0+10 {
				t.Errorf("NextTimer = %d", e.NextTimer())
			}
			if acts := e.Tick(epT0+9, nil); len(acts) != 0 || e.State() != StateStartup {
				t.Fatalf("before the timer: %s %s", e.State(), epFmt(acts))
			}
			epWant(t, e, c.want, e.Tick(epT0+10, nil), c.acts)
			if c.want == c.stored && e.Stored().StartTime != epT0-50 {
				t.Errorf("resumed state lost its start time: %d", e.Stored().StartTime)
			}
			if c.want != c.stored && (e.Stored().StartTime != epT0+10 || e.Stored().Previous != c.stored) {
				t.Errorf("stored %+v", e.Stored())
			}
		})
	}
}

func TestRFC8156_8_3_2_Startup_NoStoredState_ToRecover(t *testing.T) {
	// §8.2 vs §8.3.2: we follow §8.3.2 — RECOVER for both roles.
	for _, role := range epRoles {
		e := NewEndpoint(epCfg(role), nil, epT0)
		if e.Stored().State != 0 {
			t.Fatalf("fresh stored state = %s", e.Stored().State)
		}
		epWant(t, e, StateRecover, e.Tick(epT0+10, nil), "persist(recover)")
		if e.Stored().State != StateRecover || e.Stored().Communicated {
			t.Errorf("%s: stored %+v", role, e.Stored())
		}
	}
	// An invalid record counts as none.
	e := NewEndpoint(epCfg(RolePrimary), &StoredState{State: StateStartup}, epT0)
	epWant(t, e, StateRecover, e.Tick(epT0+10, nil), "persist(recover)")
}

func TestRFC8156_8_3_2_Startup_StartupPartnerDownOption(t *testing.T) {
	cfg := epCfg(RolePrimary)
	cfg.StartupPartnerDown = true
	e := NewEndpoint(cfg, nil, epT0)
	epWant(t, e, StatePartnerDown, e.Tick(epT0+10, nil), "persist(partner-down)")
	if e.PartnerPoolUsableAt() != epT0+10+epMCLT {
		t.Errorf("PartnerPoolUsableAt = %d", e.PartnerPoolUsableAt())
	}
	// Not for a server that has talked to its partner before.
	e = NewEndpoint(cfg, &StoredState{State: StateCommInterrupted, Communicated: true}, epT0)
	epWant(t, e, StateCommInterrupted, e.Tick(epT0+10, nil), "persist(communications-interrupted)")
}

func TestRFC8156_8_3_2_Startup_PartnerDownSinceWeOperated_ToRecover(t *testing.T) {
	st := &StoredState{State: StateNormal, Communicated: true, LastOperated: epT0 - 1000}
	e := NewEndpoint(epCfg(RoleSecondary), st, epT0)
	acts := e.CommUp(epT0, nil)
	acts = e.PartnerState(epT0+1, StatePartnerDown, fC, epT0-900, acts[:0])
	epWant(t, e, StateRecover, acts, "persist(recover) send-state(recover,C) send-updreq")
}

func TestRFC8156_8_3_2_Startup_PartnerDownBeforeWeStopped_ToPotentialConflict(t *testing.T) {
	for _, pdStart := range []int64{epT0 - 2000, epT0 - 1000 + timeSlack} { // earlier, or a tie within 5 s
		st := &StoredState{State: StateCommInterrupted, Communicated: true, LastOperated: epT0 - 1000}
		e := NewEndpoint(epCfg(RolePrimary), st, epT0)
		e.CommUp(epT0, nil)
		acts := e.PartnerState(epT0+1, StatePartnerDown, fC, pdStart, nil)
		epWant(t, e, StatePotentialConflict, acts, "persist(potential-conflict) send-state(potential-conflict,C) send-updreq")
	}
}

func TestRFC8156_8_3_2_Startup_CommOK_TakesArcFromPreviousState(t *testing.T) {
	// Recorded NORMAL → CURRENT-STATE COMM-INTERRUPTED → partner NORMAL → NORMAL.
	e := NewEndpoint(epCfg(RoleSecondary), &StoredState{State: StateNormal, Communicated: true}, epT0)
	e.CommUp(epT0, nil)
	acts := e.PartnerState(epT0+1, StateNormal, fC, epT0-5000, nil)
	epWant(t, e, StateNormal, acts, "persist(normal) send-state(normal,C) resend-unacked send-poolreq")
	if e.Stored().Previous != StateCommInterrupted {
		t.Errorf("previous = %s", e.Stored().Previous)
	}
	// Recorded POTENTIAL-CONFLICT → RESOLUTION-INTERRUPTED → comm OK → PC.
	e = NewEndpoint(epCfg(RolePrimary), &StoredState{State: StatePotentialConflict, Communicated: true}, epT0)
	e.CommUp(epT0, nil)
	acts = e.PartnerState(epT0+1, StatePotentialConflict, fC, epT0-5000, nil)
	epWant(t, e, StatePotentialConflict, acts, "persist(potential-conflict) send-state(potential-conflict,C) send-updreq")
}

func TestRFC8156_8_3_2_Startup_PartnerInStartup_NoArcsUntilItLeaves(t *testing.T) {
	// Both boot together: a flagged STATE ends our STARTUP (step 5) but
	// takes no comm-OK arc; we answer with ACK_STARTUP so the partner can
	// leave STARTUP too, and its unflagged STATE then drives the arcs.
	e := NewEndpoint(epCfg(RolePrimary), &StoredState{State: StateNormal, Communicated: true}, epT0)
	epWant(t, e, StateStartup, e.CommUp(epT0, nil), "send-state(normal,SC)")
	acts := e.PartnerState(epT0+1, StateNormal, fS|fC, epT0-100, nil)
	epWant(t, e, StateCommInterrupted, acts, "alarm(communications-interrupted) persist(communications-interrupted) send-state(communications-interrupted,AC)")
	if e.CommOK() {
		t.Error("comm OK on a STARTUP-flagged STATE")
	}
	acts = e.PartnerState(epT0+2, StateCommInterrupted, fC, epT0+2, nil)
	epWant(t, e, StateNormal, acts, "persist(normal) send-state(normal,C) resend-unacked")
}

func TestRFC8156_8_3_2_Startup_ResumedPartnerDownKeepsEntryTime(t *testing.T) {
	st := &StoredState{State: StatePartnerDown, StartTime: epT0 - 5000, PartnerDownTime: epT0 - 5000, Communicated: true}
	e := NewEndpoint(epCfg(RoleSecondary), st, epT0)
	e.Tick(epT0+10, nil)
	if e.State() != StatePartnerDown || e.PartnerPoolUsableAt() != epT0-5000+epMCLT {
		t.Errorf("%s usable at %d", e.State(), e.PartnerPoolUsableAt())
	}
}

// --- §8.4 PARTNER-DOWN ---------------------------------------------------------

func TestRFC8156_8_4_2_PartnerDown_PartnerOperating_ToPotentialConflict(t *testing.T) {
	for _, p := range []State{StateNormal, StateCommInterrupted, StatePartnerDown, StatePotentialConflict,
		StateResolutionInterrupted, StateConflictDone} {
		for _, role := range epRoles {
			e := epForce(role, StatePartnerDown, epT0, true, StateRecover)
			want := "persist(potential-conflict) send-state(potential-conflict,C)"
			if role == RolePrimary || p == StateConflictDone {
				want += " send-updreq" // §8.10: the primary asks on entry, the secondary once P is done
			}
			epWant(t, e, StatePotentialConflict, e.PartnerState(epT0, p, fC, epT0, nil), want)
		}
	}
}

func TestRFC8156_8_4_2_PartnerDown_PartnerRecovering_Stays(t *testing.T) {
	for _, p := range []State{StateRecover, StateRecoverWait} {
		e := epForce(RolePrimary, StatePartnerDown, epT0, true, 0)
		epWant(t, e, StatePartnerDown, e.PartnerState(epT0, p, fC, epT0, nil), "persist(partner-down)")
	}
}

func TestRFC8156_8_4_2_PartnerDown_PartnerRecoverDone_ToNormal(t *testing.T) {
	e := epForce(RolePrimary, StatePartnerDown, epT0, true, StateRecoverWait)
	acts := e.PartnerState(epT0, StateRecoverDone, fC, epT0, nil)
	epWant(t, e, StateNormal, acts, "persist(normal) send-state(normal,C) resend-unacked")
	if e.Stored().PartnerDownTime != 0 {
		t.Error("PARTNER_DOWN_TIME kept outside PARTNER-DOWN")
	}
}

func TestRFC8156_8_4_2_PartnerDown_IgnoresStartupFlag(t *testing.T) {
	e := epForce(RolePrimary, StatePartnerDown, epT0, false, 0)
	e.CommUp(epT0, nil)
	// The partner reports NORMAL with STARTUP: no transition, but it gets
	// our STATE (with ACK_STARTUP) so that it can leave STARTUP.
	acts := e.PartnerState(epT0, StateNormal, fS|fC, epT0-9000, nil)
	epWant(t, e, StatePartnerDown, acts, "persist(partner-down) send-state(partner-down,AC)")
	if acts[1].PartnerDown != epT0-100 {
		t.Errorf("PARTNER_DOWN_TIME = %d", acts[1].PartnerDown)
	}
	// It left STARTUP in RECOVER (its NORMAL was older than our PD).
	epWant(t, e, StatePartnerDown, e.PartnerState(epT0+1, StateRecover, fC, epT0+1, nil), "persist(partner-down) send-state(partner-down,C)")
}

func TestRFC8156_8_4_1_PartnerDown_ServesUncappedPartnerPoolAfterMCLT(t *testing.T) {
	e := epForce(RoleSecondary, StateCommInterrupted, epT0, false, 0)
	acts, err := e.AdminPartnerDown(epT0+7, nil)
	if err != nil {
		t.Fatal(err)
	}
	epWant(t, e, StatePartnerDown, acts, "persist(partner-down)")
	if e.Service() != ServeAll || !e.MayAllocate() || e.MCLTCapped() {
		t.Errorf("service %s alloc %v capped %v", e.Service(), e.MayAllocate(), e.MCLTCapped())
	}
	if e.PartnerPoolUsableAt() != epT0+7+epMCLT || e.Stored().PartnerDownTime != epT0+7 {
		t.Errorf("usable at %d, stored %+v", e.PartnerPoolUsableAt(), e.Stored())
	}
}

func TestRFC8156_8_4_PartnerDown_CommFails_Stays(t *testing.T) {
	e := epForce(RolePrimary, StatePartnerDown, epT0, true, StateRecover)
	epWant(t, e, StatePartnerDown, e.CommDown(epT0, nil), "")
}

// --- §8.5 RECOVER -----------------------------------------------------------------

func TestRFC8156_8_5_2_Recover_PartnerResolving_ToPotentialConflict(t *testing.T) {
	for _, p := range []State{StatePotentialConflict, StateResolutionInterrupted, StateConflictDone} {
		e := epForce(RoleSecondary, StateRecover, epT0, false, 0)
		e.CommUp(epT0, nil)
		want := "persist(potential-conflict) send-state(potential-conflict,C)"
		if p == StateConflictDone {
			want += " send-updreq" // the primary is already done: ask at once
		}
		epWant(t, e, StatePotentialConflict, e.PartnerState(epT0, p, fC, epT0, nil), want)
	}
}

func TestRFC8156_8_5_2_Recover_UpdReqThenUpdDone_ToRecoverWait(t *testing.T) {
	for _, p := range []State{StateNormal, StateCommInterrupted, StatePartnerDown, StateRecover, StateRecoverWait, StateRecoverDone} {
		e := epForce(RoleSecondary, StateRecover, epT0, false, 0)
		e.CommUp(epT0, nil)
		epWant(t, e, StateRecover, e.PartnerState(epT0, p, fC, epT0, nil), "persist(recover) send-updreq")
		// Duplicate STATE: no second request.
		epWant(t, e, StateRecover, e.PartnerState(epT0, p, fC, epT0, nil), "")
		epWant(t, e, StateRecoverWait, e.UpdDone(epT0+1, nil), "persist(recover-wait) send-state(recover-wait,C)")
	}
}

func TestRFC8156_8_5_2_Recover_LostStorage_SendsUpdReqAll(t *testing.T) {
	e := NewEndpoint(epCfg(RolePrimary), nil, epT0)
	e.CommUp(epT0, nil)
	acts := e.PartnerState(epT0+1, StatePartnerDown, fC, epT0-10000, nil)
	epWant(t, e, StateRecover, acts, "persist(recover) send-state(recover) send-updreqall")
	if e.Stored().Communicated {
		t.Error("COMMUNICATED set before the UPDREQALL completed")
	}
	acts = e.UpdDone(epT0+2, nil)
	epWant(t, e, StateRecoverWait, acts, "persist(recover-wait) send-state(recover-wait,C)")
}

func TestRFC8156_8_5_2_Recover_CommFails_StaysAndReissues(t *testing.T) {
	e := epForce(RolePrimary, StateRecover, epT0, false, 0)
	e.CommUp(epT0, nil)
	epWant(t, e, StateRecover, e.PartnerState(epT0, StatePartnerDown, fC, epT0-50, nil), "persist(recover) send-updreq")
	epWant(t, e, StateRecover, e.CommDown(epT0+1, nil), "")
	// A stale UPDDONE from the dead connection does not count.
	epWant(t, e, StateRecover, e.UpdDone(epT0+2, nil), "")
	epWant(t, e, StateRecover, e.CommUp(epT0+3, nil), "send-state(recover,C)")
	epWant(t, e, StateRecover, e.PartnerState(epT0+3, StatePartnerDown, fC, epT0-50, nil), "send-updreq")
	epWant(t, e, StateRecoverWait, e.UpdDone(epT0+4, nil), "persist(recover-wait) send-state(recover-wait,C)")
}

// --- §8.6 RECOVER-WAIT -----------------------------------------------------------

func TestRFC8156_8_6_2_RecoverWait_MCLTFromDownTime_ToRecoverDone(t *testing.T) {
	down := epT0 - 600
	st := &StoredState{State: StateCommInterrupted, Communicated: true, LastOperated: down}
	e := NewEndpoint(epCfg(RoleSecondary), st, epT0)
	e.CommUp(epT0, nil)
	e.PartnerState(epT0, StatePartnerDown, fC, down+100, nil) // PD since after we stopped → RECOVER
	e.UpdDone(epT0+5, nil)
	if e.State() != StateRecoverWait || e.NextTimer() != down+epMCLT {
		t.Fatalf("%s until %d, want until %d", e.State(), e.NextTimer(), down+epMCLT)
	}
	epWant(t, e, StateRecoverWait, e.Tick(down+epMCLT-1, nil), "")
	epWant(t, e, StateRecoverDone, e.Tick(down+epMCLT, nil), "persist(recover-done) send-state(recover-done,C)")
}

func TestRFC8156_8_6_2_RecoverWait_DownTimeUnknown_MCLTFromStart(t *testing.T) {
	e := NewEndpoint(epCfg(RoleSecondary), nil, epT0)
	e.CommUp(epT0+3, nil)
	e.PartnerState(epT0+3, StatePartnerDown, fC, epT0-9000, nil) // the partner knew us: we lost our disk
	e.UpdDone(epT0+200, nil)
	if e.State() != StateRecoverWait || e.NextTimer() != epT0+epMCLT {
		t.Fatalf("%s until %d, want boot+MCLT %d", e.State(), e.NextTimer(), epT0+epMCLT)
	}
	epWant(t, e, StateRecoverDone, e.Tick(epT0+epMCLT, nil), "persist(recover-done) send-state(recover-done,C)")
}

func TestRFC8156_8_6_2_RecoverWait_NeverRanFailover_NoWait(t *testing.T) {
	// Neither side has a record of the other (§8.3.2 TIME-OF-FAILURE 0).
	e := NewEndpoint(epCfg(RolePrimary), nil, epT0)
	e.CommUp(epT0, nil)
	epWant(t, e, StateRecover, e.PartnerState(epT0, StateRecover, 0, epT0, nil), "persist(recover) send-state(recover,C) send-updreq")
	epWant(t, e, StateRecoverDone, e.UpdDone(epT0+1, nil), "persist(recover-done) send-state(recover-done,C)")
}

func TestRFC8156_8_6_2_RecoverWait_CommDown_TimerStillFires(t *testing.T) {
	e := NewEndpoint(epCfg(RoleSecondary), nil, epT0)
	e.CommUp(epT0, nil)
	e.PartnerState(epT0, StateCommInterrupted, fC, epT0-9000, nil)
	e.UpdDone(epT0+1, nil)
	epWant(t, e, StateRecoverWait, e.CommDown(epT0+2, nil), "")
	epWant(t, e, StateRecoverDone, e.Tick(epT0+epMCLT, nil), "persist(recover-done)")
}

// --- §8.7 RECOVER-DONE -----------------------------------------------------------

func TestRFC8156_8_7_2_RecoverDone_PartnerNormalOrRecoverDone_ToNormal(t *testing.T) {
	for _, p := range []State{StateNormal, StateRecoverDone} {
		e := epForce(RoleSecondary, StateRecoverDone, epT0, true, StatePartnerDown)
		epWant(t, e, StateNormal, e.PartnerState(epT0, p, fC, epT0, nil),
			"persist(normal) send-state(normal,C) resend-unacked send-poolreq")
	}
}

func TestRFC8156_8_7_2_RecoverDone_PartnerRecovering_ToCommInterrupted(t *testing.T) {
	for _, p := range []State{StateRecover, StateRecoverWait} {
		e := epForce(RolePrimary, StateRecoverDone, epT0, true, StateNormal)
		epWant(t, e, StateCommInterrupted, e.PartnerState(epT0, p, fC, epT0, nil),
			"persist(communications-interrupted) send-state(communications-interrupted,C)")
	}
}

func TestRFC8156_8_7_2_RecoverDone_PartnerPotentialConflict_ToPotentialConflict(t *testing.T) {
	e := epForce(RolePrimary, StateRecoverDone, epT0, true, StatePartnerDown)
	epWant(t, e, StatePotentialConflict, e.PartnerState(epT0, StatePotentialConflict, fC, epT0, nil),
		"persist(potential-conflict) send-state(potential-conflict,C) send-updreq")
}

func TestRFC8156_8_7_2_RecoverDone_PartnerDownOrInterrupted_Waits(t *testing.T) {
	// Those partners move to NORMAL on our RECOVER-DONE (§8.4.2, §8.9.2).
	for _, p := range []State{StatePartnerDown, StateCommInterrupted} {
		e := epForce(RoleSecondary, StateRecoverDone, epT0, true, 0)
		epWant(t, e, StateRecoverDone, e.PartnerState(epT0, p, fC, epT0, nil), "persist(recover-done)")
	}
}

func TestRFC8156_8_7_2_RecoverDone_CommFails_Stays(t *testing.T) {
	e := epForce(RoleSecondary, StateRecoverDone, epT0, true, StatePartnerDown)
	epWant(t, e, StateRecoverDone, e.CommDown(epT0, nil), "")
}

// --- §8.8 NORMAL ----------------------------------------------------------------

func TestRFC8156_8_8_Normal_Entry_ResendsUnackedThenSecondaryPoolReq(t *testing.T) {
	for _, role := range epRoles {
		e := epForce(role, StateCommInterrupted, epT0, true, StateCommInterrupted)
		want := "persist(normal) send-state(normal,C) resend-unacked"
		if role == RoleSecondary {
			want += " send-poolreq"
		}
		epWant(t, e, StateNormal, e.PartnerState(epT0, StateNormal, fC, epT0, nil), want)
	}
}

func TestRFC8156_8_8_2_Normal_CommFails_ToCommInterruptedWithAlarm(t *testing.T) {
	e := epForce(RolePrimary, StateNormal, epT0, true, StateNormal)
	epWant(t, e, StateCommInterrupted, e.CommDown(epT0, nil),
		"alarm(communications-interrupted) persist(communications-interrupted)")
	// A reconnect without CommDown counts as a failure first.
	e = epForce(RolePrimary, StateNormal, epT0, true, StateNormal)
	epWant(t, e, StateCommInterrupted, e.CommUp(epT0, nil),
		"alarm(communications-interrupted) persist(communications-interrupted) send-state(communications-interrupted,C)")
}

func TestRFC8156_8_8_2_Normal_UnexpectedPartnerState(t *testing.T) {
	// Unexpected partner state → CI, "then take the appropriate transition
	// from there" — CI's comm-OK arcs, composed.
	cases := []struct {
		role Role
		p    State
		want State
	}{
		{RolePrimary, StateNormal, StateNormal},
		{RolePrimary, StateCommInterrupted, StateNormal},
		{RolePrimary, StateRecoverDone, StateNormal},
		{RoleSecondary, StateConflictDone, StateNormal}, // the primary follows us (§8.12.2)
		{RolePrimary, StateConflictDone, StatePotentialConflict},
		{RolePrimary, StatePartnerDown, StatePotentialConflict},
		{RoleSecondary, StatePotentialConflict, StatePotentialConflict},
		{RolePrimary, StateResolutionInterrupted, StatePotentialConflict},
		{RolePrimary, StateRecover, StateCommInterrupted},
		{RoleSecondary, StateRecoverWait, StateCommInterrupted},
	}
	for _, c := range cases {
		e := epForce(c.role, StateNormal, epT0, true, StateNormal)
		acts := e.PartnerState(epT0, c.p, fC, epT0, nil)
		if e.State() != c.want {
			t.Errorf("%s in normal, partner %s: got %s (%s), want %s", c.role, c.p, e.State(), epFmt(acts), c.want)
		}
		if strings.Contains(epFmt(acts), "alarm") != (c.want == StateCommInterrupted) { // §8.9: from NORMAL
			t.Errorf("%s, partner %s: alarm %s", c.role, c.p, epFmt(acts))
		}
	}
}

func TestRFC8156_8_8_2_Normal_ExternalCommand_ToPartnerDown(t *testing.T) {
	e := epForce(RolePrimary, StateNormal, epT0, true, StateNormal)
	acts, err := e.AdminPartnerDown(epT0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Announced; the partner (NORMAL) answers POTENTIAL-CONFLICT (§8.8.2 via
	// §8.9.2), which then takes us there too (§8.4.2).
	epWant(t, e, StatePartnerDown, acts, "persist(partner-down) send-state(partner-down,C)")
	epWant(t, e, StatePotentialConflict, e.PartnerState(epT0+1, StatePotentialConflict, fC, epT0+1, nil),
		"persist(potential-conflict) send-state(potential-conflict,C) send-updreq")
}

// --- §8.9 COMMUNICATIONS-INTERRUPTED -------------------------------------------

func TestRFC8156_8_9_2_CommInterrupted_AutoPartnerDownTimer(t *testing.T) {
	cfg := epCfg(RolePrimary)
	cfg.AutoPartnerDown = 300 * time.Second
	e := NewEndpoint(cfg, &StoredState{State: StateNormal, Communicated: true}, epT0)
	e.CommUp(epT0, nil)
	e.PartnerState(epT0, StateNormal, fC, epT0, nil)
	e.CommDown(epT0+100, nil)
	if e.State() != StateCommInterrupted || e.NextTimer() != epT0+400 {
		t.Fatalf("%s, timer %d", e.State(), e.NextTimer())
	}
	epWant(t, e, StateCommInterrupted, e.Tick(epT0+399, nil), "")
	epWant(t, e, StatePartnerDown, e.Tick(epT0+400, nil), "persist(partner-down)")
	if e.PartnerPoolUsableAt() != epT0+400+epMCLT {
		t.Errorf("usable at %d", e.PartnerPoolUsableAt())
	}
}

func TestRFC8156_8_9_2_CommInterrupted_NoAutoPartnerDown(t *testing.T) {
	e := epForce(RolePrimary, StateNormal, epT0, true, StateNormal)
	e.CommDown(epT0, nil)
	if e.NextTimer() != 0 {
		t.Errorf("timer %d with auto-partner-down off", e.NextTimer())
	}
	epWant(t, e, StateCommInterrupted, e.Tick(epT0+1e6, nil), "")
}

func TestRFC8156_8_9_2_CommInterrupted_ExternalCommand_ToPartnerDown(t *testing.T) {
	e := epForce(RolePrimary, StateCommInterrupted, epT0, false, 0)
	acts, err := e.AdminPartnerDown(epT0, nil)
	if err != nil {
		t.Fatal(err)
	}
	epWant(t, e, StatePartnerDown, acts, "persist(partner-down)")
}

func TestRFC8156_8_9_2_CommInterrupted_PartnerNormal_ToNormal(t *testing.T) {
	for _, p := range []State{StateNormal, StateCommInterrupted, StateRecoverDone} {
		e := epForce(RolePrimary, StateCommInterrupted, epT0, false, 0)
		e.CommUp(epT0, nil)
		epWant(t, e, StateNormal, e.PartnerState(epT0, p, fC, epT0, nil), "persist(normal) send-state(normal,C) resend-unacked")
	}
}

func TestRFC8156_8_9_2_CommInterrupted_PartnerRecovering_Stays(t *testing.T) {
	// RECOVER per the text; RECOVER-WAIT is not covered (UNVERIFIED): stay.
	for _, p := range []State{StateRecover, StateRecoverWait} {
		e := epForce(RolePrimary, StateCommInterrupted, epT0, false, 0)
		e.CommUp(epT0, nil)
		epWant(t, e, StateCommInterrupted, e.PartnerState(epT0, p, fC, epT0, nil), "persist(communications-interrupted)")
	}
}

func TestRFC8156_8_9_2_CommInterrupted_PartnerConflicting_ToPotentialConflict(t *testing.T) {
	for _, p := range []State{StatePartnerDown, StatePotentialConflict, StateConflictDone, StateResolutionInterrupted} {
		e := epForce(RoleSecondary, StateCommInterrupted, epT0, false, 0)
		e.CommUp(epT0, nil)
		want := "persist(potential-conflict) send-state(potential-conflict,C)"
		if p == StateConflictDone {
			want += " send-updreq"
		}
		epWant(t, e, StatePotentialConflict, e.PartnerState(epT0, p, fC, epT0, nil), want)
	}
}

// --- §8.10 POTENTIAL-CONFLICT ------------------------------------------------------

func TestRFC8156_8_10_PotentialConflict_PrimaryAsks_SecondaryWaits(t *testing.T) {
	p := epForce(RolePrimary, StateRecover, epT0, false, 0)
	p.CommUp(epT0, nil)
	epWant(t, p, StatePotentialConflict, p.PartnerState(epT0, StatePotentialConflict, fC, epT0, nil),
		"persist(potential-conflict) send-state(potential-conflict,C) send-updreq")
	s := epForce(RoleSecondary, StateRecover, epT0, false, 0)
	s.CommUp(epT0, nil)
	epWant(t, s, StatePotentialConflict, s.PartnerState(epT0, StatePotentialConflict, fC, epT0, nil),
		"persist(potential-conflict) send-state(potential-conflict,C)")
	if p.Service() != ServeNone || s.Service() != ServeNone {
		t.Error("responsive in POTENTIAL-CONFLICT")
	}
}

func TestRFC8156_8_10_2_PotentialConflict_CommFails_ToResolutionInterrupted(t *testing.T) {
	for _, role := range epRoles {
		e := epForce(role, StatePotentialConflict, epT0, true, StatePotentialConflict)
		epWant(t, e, StateResolutionInterrupted, e.CommDown(epT0, nil),
			"alarm(resolution-interrupted) persist(resolution-interrupted)")
	}
}

func TestRFC8156_8_10_2_PotentialConflict_UpdDone_PrimaryToConflictDone(t *testing.T) {
	e := epForce(RolePrimary, StateCommInterrupted, epT0, false, 0)
	e.CommUp(epT0, nil)
	e.PartnerState(epT0, StatePartnerDown, fC, epT0, nil) // → PC, UPDREQ
	epWant(t, e, StateConflictDone, e.UpdDone(epT0+1, nil), "persist(conflict-done) send-state(conflict-done,C)")
}

func TestRFC8156_8_10_2_PotentialConflict_SecondaryAsksOncePrimaryDone_UpdDone_ToNormal(t *testing.T) {
	e := epForce(RoleSecondary, StateCommInterrupted, epT0, false, 0)
	e.CommUp(epT0, nil)
	epWant(t, e, StatePotentialConflict, e.PartnerState(epT0, StatePotentialConflict, fC, epT0, nil),
		"persist(potential-conflict) send-state(potential-conflict,C)")
	// An UPDDONE we did not ask for changes nothing.
	epWant(t, e, StatePotentialConflict, e.UpdDone(epT0+1, nil), "")
	epWant(t, e, StatePotentialConflict, e.PartnerState(epT0+2, StateConflictDone, fC, epT0+2, nil),
		"persist(potential-conflict) send-updreq")
	epWant(t, e, StateNormal, e.UpdDone(epT0+3, nil),
		"persist(normal) send-state(normal,C) resend-unacked send-poolreq")
}

// --- §8.11 RESOLUTION-INTERRUPTED --------------------------------------------------

func TestRFC8156_8_11_2_ResolutionInterrupted_CommOK_ToPotentialConflict(t *testing.T) {
	for _, p := range []State{StateNormal, StatePartnerDown, StatePotentialConflict, StateRecover, StateResolutionInterrupted} {
		e := epForce(RoleSecondary, StateResolutionInterrupted, epT0, false, 0)
		e.CommUp(epT0, nil)
		epWant(t, e, StatePotentialConflict, e.PartnerState(epT0, p, fC, epT0, nil),
			"persist(potential-conflict) send-state(potential-conflict,C)")
	}
}

func TestRFC8156_8_11_2_ResolutionInterrupted_ExternalCommand_ToPartnerDown(t *testing.T) {
	e := epForce(RolePrimary, StateResolutionInterrupted, epT0, false, 0)
	acts, err := e.AdminPartnerDown(epT0, nil)
	if err != nil {
		t.Fatal(err)
	}
	epWant(t, e, StatePartnerDown, acts, "persist(partner-down)")
}

// --- §8.12 CONFLICT-DONE ---------------------------------------------------------

func TestRFC8156_8_12_2_ConflictDone_CommFails_Stays(t *testing.T) {
	e := epForce(RolePrimary, StateConflictDone, epT0, true, StatePotentialConflict)
	epWant(t, e, StateConflictDone, e.CommDown(epT0, nil), "")
	e.CommUp(epT0+1, nil)
	epWant(t, e, StateConflictDone, e.PartnerState(epT0+1, StatePotentialConflict, fC, epT0, nil), "persist(conflict-done)")
}

func TestRFC8156_8_12_2_ConflictDone_PartnerNormal_ToNormal(t *testing.T) {
	e := epForce(RolePrimary, StateConflictDone, epT0, true, StatePotentialConflict)
	epWant(t, e, StateNormal, e.PartnerState(epT0, StateNormal, fC, epT0, nil), "persist(normal) send-state(normal,C) resend-unacked")
}

// --- external command outside its states -----------------------------------------

func TestEndpointAdminPartnerDownRefused(t *testing.T) {
	for _, s := range []State{StateStartup, StatePotentialConflict, StateRecover, StateRecoverWait,
		StateRecoverDone, StateConflictDone} {
		e := epForce(RolePrimary, s, epT0, false, 0)
		acts, err := e.AdminPartnerDown(epT0, make([]Action, 0, 4))
		if !errors.Is(err, ErrPartnerDownState) || len(acts) != 0 || e.State() != s {
			t.Errorf("%s: err %v, acts %s, state %s", s, err, epFmt(acts), e.State())
		}
	}
	// Already down: a repeated command is a no-op, not an error.
	e := epForce(RolePrimary, StatePartnerDown, epT0, false, 0)
	if acts, err := e.AdminPartnerDown(epT0, nil); err != nil || len(acts) != 0 {
		t.Errorf("repeat: %v %s", err, epFmt(acts))
	}
}

// --- §6.3 / §6.4 STATE --------------------------------------------------------------

func TestRFC8156_6_4_DuplicateStateChangesNothing(t *testing.T) {
	e := epForce(RolePrimary, StateNormal, epT0, true, StateNormal)
	e.st.PartnerStart = epT0
	epWant(t, e, StateNormal, e.PartnerState(epT0+30, StateNormal, fC, epT0, nil), "")
	if e.Stored().LastPartnerMsg != epT0+30 {
		t.Errorf("last partner message %d", e.Stored().LastPartnerMsg)
	}
	// Invalid states are ignored.
	for _, bad := range []State{0, StateStartup, 11} {
		epWant(t, e, StateNormal, e.PartnerState(epT0+31, bad, fC, epT0, nil), "")
	}
}

func TestRFC8156_6_3_PartnerDownTimeOnlyInPartnerDown(t *testing.T) {
	e := epForce(RoleSecondary, StateCommInterrupted, epT0, false, 0)
	e.AdminPartnerDown(epT0+1, nil)
	acts := e.CommUp(epT0+2, nil)
	if acts[0].State != StatePartnerDown || acts[0].PartnerDown != epT0+1 || acts[0].Start != epT0+1 {
		t.Errorf("STATE %+v", acts[0])
	}
	acts = e.PartnerState(epT0+3, StateRecoverDone, fC, epT0+3, nil)
	for _, a := range acts {
		if a.Kind == ActSendState && (a.State != StateNormal || a.PartnerDown != 0) {
			t.Errorf("STATE %+v", a)
		}
	}
}

// --- two endpoints ----------------------------------------------------------------

// epPair wires a primary (side 0) and a secondary (side 1) through an
// in-order, lossless simulated link that drops everything in flight when it
// goes down, with a simulated clock and each side's "disk" (what ActPersist
// last wrote). The partner answers UPDREQ/UPDREQALL with UPDDONE, as the
// replicator does once the BNDUPDs it streams are acked.
type epPair struct {
	t    testing.TB
	now  int64
	cfg  [2]EndpointConfig
	ep   [2]*Endpoint
	disk [2]*StoredState
	up   bool
	q    [2][]epMsg // q[i]: in flight towards side i
	acts []Action
	log  []string
	// trans lists every state change as "side input:new-state".
	trans []string
	last  [2]State
}

type epMsgKind uint8

const (
	epMsgState epMsgKind = iota
	epMsgUpdReq
	epMsgUpdDone
)

type epMsg struct {
	kind  epMsgKind
	st    State
	flags uint8
	start int64
}

func newEpPair(t testing.TB, apd time.Duration) *epPair {
	p := &epPair{t: t, now: epT0, acts: make([]Action, 0, 16)}
	for i, r := range epRoles {
		p.cfg[i] = epCfg(r)
		p.cfg[i].AutoPartnerDown = apd
		p.ep[i] = NewEndpoint(p.cfg[i], nil, p.now)
		p.last[i] = StateStartup
	}
	return p
}

var epSide = [2]string{"P", "S"}

func (p *epPair) logf(format string, args ...any) {
	p.log = append(p.log, fmt.Sprintf("t=%+d ", p.now-epT0)+fmt.Sprintf(format, args...))
}

func (p *epPair) fail(format string, args ...any) {
	p.t.Helper()
	tail := p.log
	if len(tail) > 60 {
		tail = tail[len(tail)-60:]
	}
	p.t.Fatalf("%s\n%s\ntrace (last %d):\n  %s", fmt.Sprintf(format, args...), p.states(), len(tail), strings.Join(tail, "\n  "))
}

func (p *epPair) states() string {
	return fmt.Sprintf("P=%s S=%s up=%v", p.ep[0].State(), p.ep[1].State(), p.up)
}

// do carries out side i's actions, checking that every STATE it sends was
// persisted first (§6.3).
func (p *epPair) do(i int, what string, acts []Action) {
	p.t.Helper()
	if len(acts) > 0 || what != "tick" {
		p.logf("%s %s → %s  [%s]", epSide[i], what, epFmt(acts), p.states())
	}
	for _, a := range acts {
		switch a.Kind {
		case ActPersist:
			st := p.ep[i].Stored()
			p.disk[i] = &st
		case ActSendState:
			if a.Flags&wire.ServerFlagStartup != 0 {
				if p.ep[i].State() != StateStartup {
					p.fail("%s sent STARTUP flag in %s", epSide[i], p.ep[i].State())
				}
			} else if d := p.disk[i]; d == nil || d.State != a.State || d.StartTime != a.Start {
				p.fail("%s sent STATE %s@%d before persisting it (disk %+v)", epSide[i], a.State, a.Start, d)
			}
			if p.up {
				p.q[1-i] = append(p.q[1-i], epMsg{kind: epMsgState, st: a.State, flags: a.Flags, start: a.Start})
			}
		case ActSendUpdReq, ActSendUpdReqAll:
			if !p.up || !p.ep[i].CommOK() {
				p.fail("%s sent %s without communications", epSide[i], a.Kind)
			}
			p.q[1-i] = append(p.q[1-i], epMsg{kind: epMsgUpdReq})
		case ActResendUnacked, ActSendPoolReq:
			if !p.ep[i].CommOK() {
				p.fail("%s: %s without communications", epSide[i], a.Kind)
			}
		}
	}
	if s := p.ep[i].State(); s != p.last[i] {
		p.last[i] = s
		p.trans = append(p.trans, fmt.Sprintf("%s %s:%s", epSide[i], what, s))
	}
	for j := range 2 {
		e := p.ep[j]
		if !e.State().Valid() || e.Stored().State == StateStartup {
			p.fail("%s: bad state %s / stored %s", epSide[j], e.State(), e.Stored().State)
		}
	}
}

func (p *epPair) connect() {
	p.up = true
	p.do(0, "comm-up", p.ep[0].CommUp(p.now, p.acts[:0]))
	p.do(1, "comm-up", p.ep[1].CommUp(p.now, p.acts[:0]))
}

func (p *epPair) disconnect() {
	p.up = false
	p.q[0], p.q[1] = p.q[0][:0], p.q[1][:0]
	p.do(0, "comm-down", p.ep[0].CommDown(p.now, p.acts[:0]))
	p.do(1, "comm-down", p.ep[1].CommDown(p.now, p.acts[:0]))
}

// restart crashes side i; lose also loses its disk.
func (p *epPair) restart(i int, lose bool) {
	if p.up {
		p.up = false
		p.q[0], p.q[1] = p.q[0][:0], p.q[1][:0]
		p.do(1-i, "comm-down", p.ep[1-i].CommDown(p.now, p.acts[:0]))
	}
	if lose {
		p.disk[i] = nil
	}
	p.ep[i] = NewEndpoint(p.cfg[i], p.disk[i], p.now)
	p.last[i] = StateStartup
	p.logf("%s restart lose=%v (disk %+v)", epSide[i], lose, p.disk[i])
}

func (p *epPair) tick(d int64) {
	p.now += d
	p.do(0, "tick", p.ep[0].Tick(p.now, p.acts[:0]))
	p.do(1, "tick", p.ep[1].Tick(p.now, p.acts[:0]))
}

func (p *epPair) admin(i int) {
	acts, err := p.ep[i].AdminPartnerDown(p.now, p.acts[:0])
	p.do(i, fmt.Sprintf("admin-partner-down(err=%v)", err != nil), acts)
}

func (p *epPair) deliver(i int) bool {
	if len(p.q[i]) == 0 {
		return false
	}
	m := p.q[i][0]
	p.q[i] = p.q[i][1:]
	switch m.kind {
	case epMsgState:
		p.do(i, fmt.Sprintf("recv STATE %s/%#x", m.st, m.flags), p.ep[i].PartnerState(p.now, m.st, m.flags, m.start, p.acts[:0]))
	case epMsgUpdReq:
		p.q[1-i] = append(p.q[1-i], epMsg{kind: epMsgUpdDone})
	case epMsgUpdDone:
		p.do(i, "recv UPDDONE", p.ep[i].UpdDone(p.now, p.acts[:0]))
	}
	return true
}

// drain delivers until both directions are empty; a ping-pong fails.
func (p *epPair) drain() {
	for n := 0; p.deliver(0) || p.deliver(1); n++ {
		if n > 100 {
			p.fail("no quiescence after 100 messages")
		}
	}
}

// checkQuiet holds once the link is up and everything in flight has been
// delivered: the pair never serves new clients from both sides, and
// PARTNER-DOWN only faces a partner that is still recovering (§8.4: "the
// other server MUST NOT be operating").
func (p *epPair) checkQuiet() {
	a, b := p.ep[0], p.ep[1]
	if a.MayAllocate() && b.MayAllocate() {
		p.fail("both allocate while in contact")
	}
	if a.Service() == ServeAll && b.Service() == ServeAll {
		p.fail("both fully responsive while in contact")
	}
	for i := range 2 {
		if p.ep[i].State() == StatePartnerDown {
			if o := p.ep[1-i].State(); o != StateRecover && o != StateRecoverWait {
				p.fail("%s in partner-down facing %s", epSide[i], o)
			}
		}
		if !p.ep[i].CommOK() {
			p.fail("%s: comm not OK after the exchange", epSide[i])
		}
	}
}

// settle connects, and keeps the link up with time passing until both are
// in NORMAL; it fails if that takes longer than the STARTUP timer plus two
// MCLTs (RECOVER-WAIT is the longest wait).
func (p *epPair) settle() {
	p.t.Helper()
	if !p.up {
		p.connect()
	}
	deadline := p.now + 2*epMCLT + 60
	for {
		p.drain()
		p.checkQuiet()
		if p.ep[0].State() == StateNormal && p.ep[1].State() == StateNormal {
			return
		}
		if p.now > deadline {
			p.fail("not both NORMAL %ds after reconnecting", 2*epMCLT+60)
		}
		p.tick(epMCLT / 8)
	}
}

func TestRFC8156_8_FreshPairReachesNormal(t *testing.T) {
	p := newEpPair(t, 0)
	p.connect()
	p.drain()
	p.checkQuiet()
	if p.ep[0].State() != StateNormal || p.ep[1].State() != StateNormal || p.now != epT0 {
		p.fail("a new pair should reach NORMAL at once (no RECOVER-WAIT)")
	}
	if !p.disk[0].Communicated || !p.disk[1].Communicated {
		p.fail("COMMUNICATED not recorded")
	}
}

func TestRFC8156_8_5_Figure7_RecoverFromPartnerDown(t *testing.T) {
	p := newEpPair(t, 0)
	p.settle()
	p.tick(60)
	p.disconnect()
	p.tick(60)
	p.admin(0) // the operator declares S down
	p.tick(600)
	p.restart(1, true) // S comes back with an empty disk
	p.connect()
	p.drain()
	if p.ep[0].State() != StatePartnerDown || p.ep[1].State() != StateRecoverWait {
		p.fail("want P partner-down, S recover-wait")
	}
	if !strings.Contains(strings.Join(p.log, "\n"), "send-updreqall") {
		p.fail("S lost its disk but did not send UPDREQALL")
	}
	// RECOVER-WAIT: MCLT from S's restart (its down time is unknown).
	p.tick(epMCLT - 1)
	p.drain()
	if p.ep[1].State() != StateRecoverWait {
		p.fail("left RECOVER-WAIT early")
	}
	p.tick(1)
	p.drain()
	if p.ep[0].State() != StateNormal || p.ep[1].State() != StateNormal {
		p.fail("want both NORMAL")
	}
}

func TestRFC8156_8_10_Figure8_ResolvePotentialConflict(t *testing.T) {
	p := newEpPair(t, 0)
	p.settle()
	p.disconnect()
	p.admin(0)
	p.admin(1) // both declared PARTNER-DOWN: both serve
	p.tick(300)
	p.connect()
	// P and S exchange PARTNER-DOWN → both POTENTIAL-CONFLICT; P asks, gets
	// UPDDONE → CONFLICT-DONE; S sees it, asks, gets UPDDONE → NORMAL;
	// P sees NORMAL → NORMAL.
	p.drain()
	p.checkQuiet()
	got := p.trans[len(p.trans)-7:]
	want := []string{
		"P admin-partner-down(err=false):partner-down",
		"S admin-partner-down(err=false):partner-down",
		"P recv STATE partner-down/0x1:potential-conflict",
		"S recv STATE partner-down/0x1:potential-conflict",
		"P recv UPDDONE:conflict-done", // S then sends its UPDREQ (no state change)
		"S recv UPDDONE:normal",
		"P recv STATE normal/0x1:normal",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		p.fail("transitions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestRFC8156_8_3_BothRestartTogether(t *testing.T) {
	p := newEpPair(t, 0)
	p.settle()
	p.restart(0, false)
	p.restart(1, false)
	p.connect()
	p.drain()
	if p.now != epT0 || p.ep[0].State() != StateNormal || p.ep[1].State() != StateNormal {
		p.fail("two restarted NORMAL servers should be back in NORMAL without waiting for the STARTUP timer")
	}
}

// TestEndpointPairProperty drives the pair with seeded random partitions,
// restarts (some losing the disk), operator partner-down commands, message
// deliveries and time, checking the §6.3 ordering and the serving rules
// after every step and, whenever the link has been up long enough for every
// message to arrive, that PARTNER-DOWN never faces an operating partner.
// Each run ends with the link kept up: the pair must reach NORMAL/NORMAL.
func TestEndpointPairProperty(t *testing.T) {
	seeds, steps := 300, 400
	if testing.Short() {
		seeds = 50
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 0x8156))
		var apd time.Duration
		if seed%2 == 1 {
			apd = time.Duration(r.IntN(2*epMCLT)+1) * time.Second
		}
		p := newEpPair(t, apd)
		p.logf("seed %d apd %v", seed, apd)
		for range steps {
			switch n := r.IntN(100); {
			case n < 10:
				if p.up {
					p.disconnect()
				} else {
					p.connect()
				}
			case n < 50:
				p.deliver(r.IntN(2))
			case n < 65:
				p.tick(int64(r.IntN(epMCLT / 2)))
				if r.IntN(2) == 0 { // the caller persists Stored() now and then
					for i := range 2 {
						if p.disk[i] != nil {
							st := p.ep[i].Stored()
							p.disk[i] = &st
						}
					}
				}
			case n < 72:
				p.admin(r.IntN(2))
			case n < 77:
				p.restart(r.IntN(2), r.IntN(4) == 0)
			default:
				if p.up {
					p.drain()
					p.checkQuiet()
				}
			}
		}
		p.settle()
		if t.Failed() {
			return
		}
	}
}

// §8.10: in POTENTIAL-CONFLICT neither side sends lazy updates unasked —
// the secondary answers the primary's UPDREQ, the primary sends its own
// only from CONFLICT-DONE — and no side sends before the partner's STATE
// has told it which state it is in. Crossed updates after both were in
// PARTNER-DOWN leave each server holding the other's client.
func TestRFC8156_8_10_PotentialConflict_NoLazyUpdatesUntilConflictDone(t *testing.T) {
	for _, role := range epRoles {
		e := epForce(role, StatePartnerDown, epT0, false, StatePartnerDown)
		e.CommUp(epT0, nil)
		if e.SendsUpdates() {
			t.Errorf("%v: sends updates on a new connection before the partner's STATE", role)
		}
		e.PartnerState(epT0, StatePartnerDown, 0, epT0-100, nil)
		if e.State() != StatePotentialConflict || e.SendsUpdates() {
			t.Errorf("%v in %v after the partner's PARTNER-DOWN: SendsUpdates %v, want potential-conflict and false",
				role, e.State(), e.SendsUpdates())
		}
		if role == RoleSecondary {
			e.PartnerState(epT0+1, StateConflictDone, 0, epT0, nil)
			if e.SendsUpdates() {
				t.Errorf("secondary sends unasked updates in potential-conflict while the primary is in conflict-done")
			}
		}
		e.UpdDone(epT0+2, nil)
		want := map[Role]State{RolePrimary: StateConflictDone, RoleSecondary: StateNormal}[role]
		if e.State() != want || !e.SendsUpdates() {
			t.Errorf("%v after UPDDONE: %v, SendsUpdates %v; want %v and true", role, e.State(), e.SendsUpdates(), want)
		}
	}
}
