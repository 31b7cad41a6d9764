package engine

import "time"

// The endpoint's transitions (RFC 8156 §8; endpoint.go has the states,
// inputs and what each state lets the server do): the timers each state
// runs, the STARTUP algorithm, the arcs taken when communications are OK,
// and what entering a state does. Every input of endpoint.go calls begin,
// changes state through enter, and ends with finish, which turns the change
// into actions.

// timers fires the current state's deadlines.
func (e *Endpoint) timers(now int64) {
	switch e.state {
	case StateStartup:
		if now >= e.startupUntil {
			// Step 6. StartupPartnerDown applies to a server that has never
			// talked to its partner (step 1's "newly commissioned").
			to := e.startupPrev
			if e.cfg.StartupPartnerDown && !e.st.Communicated {
				to = StatePartnerDown
			}
			e.enter(now, to)
		}
	case StateCommInterrupted:
		if e.apdAt != 0 && now >= e.apdAt { // §8.9.2
			e.enter(now, StatePartnerDown)
		}
	}
	// Not a case above: RECOVER-WAIT may be entered by the STARTUP arc.
	if e.state == StateRecoverWait && now >= e.rwUntil { // §8.6.2, comm up or not
		e.enter(now, StateRecoverDone)
	}
}

// leaveStartup is §8.3.2 step 5: communications OK while in STARTUP.
func (e *Endpoint) leaveStartup(now int64, partner State, partnerStart int64) {
	cur := e.startupPrev
	if partner == StatePartnerDown {
		// The partner entered PARTNER-DOWN after we last operated: it has
		// been the only server, and we must learn its bindings (RECOVER).
		// Before (or within the 5 s skew): we may have been serving at the
		// same time, so conflicts are possible.
		if partnerStart > e.st.LastOperated+timeSlack {
			cur = StateRecover
		} else {
			cur = StatePotentialConflict
		}
	}
	e.enter(now, cur)
}

// evaluate takes the comm-OK arcs for the partner's state p until nothing
// changes (one arc always reaches a fixed point; the bound is a guard).
func (e *Endpoint) evaluate(now int64, p State) {
	for range 4 {
		to := e.okArc(p)
		if to == e.state {
			return
		}
		e.enter(now, to)
	}
}

// okArc is the transition for our state given communications OK and the
// partner in p (RFC 8156 §8.4.2–§8.12.2).
func (e *Endpoint) okArc(p State) State {
	s := e.state
	switch s {
	case StatePartnerDown: // §8.4.2
		switch p {
		case StateNormal, StateCommInterrupted, StatePartnerDown,
			StatePotentialConflict, StateResolutionInterrupted, StateConflictDone:
			return StatePotentialConflict
		case StateRecoverDone:
			return StateNormal
		}
	case StateRecover: // §8.5.2; otherwise stay and send UPDREQ (finish)
		switch p {
		case StatePotentialConflict, StateResolutionInterrupted, StateConflictDone:
			return StatePotentialConflict
		}
	case StateRecoverDone: // §8.7.2; PD and CI: stay, they move on our RD
		switch p {
		case StateNormal, StateRecoverDone:
			return StateNormal
		case StateRecover, StateRecoverWait:
			return StateCommInterrupted
		case StatePotentialConflict:
			return StatePotentialConflict
		}
	case StateNormal:
		// §8.8.2: a partner state NORMAL does not expect sends us to CI,
		// "then take the appropriate transition from there". Written here
		// as the composition with CI's comm-OK arcs so that no CI blip
		// (alarm, persisted start time) is produced for a state CI would
		// leave at once. Expected: NORMAL; COMM-INT (a partner that saw a
		// drop we missed — CI would go straight back to NORMAL);
		// RECOVER-DONE (we just left PARTNER-DOWN on it); CONFLICT-DONE for
		// the secondary (the primary follows us to NORMAL).
		switch p {
		case StatePartnerDown, StatePotentialConflict, StateResolutionInterrupted:
			return StatePotentialConflict
		case StateConflictDone:
			if e.cfg.Role == RolePrimary {
				return StatePotentialConflict
			}
		case StateRecover, StateRecoverWait:
			return StateCommInterrupted
		}
	case StateCommInterrupted: // §8.9.2
		switch p {
		case StateNormal, StateCommInterrupted, StateRecoverDone:
			return StateNormal
		case StatePartnerDown, StatePotentialConflict, StateConflictDone, StateResolutionInterrupted:
			return StatePotentialConflict
		}
		// RECOVER: stay (§8.9.2). RECOVER-WAIT is not covered by the text
		// (UNVERIFIED); stay, like RECOVER: the partner is still unable to
		// serve and moves to RECOVER-DONE by its own timer, which takes us
		// to NORMAL.
	case StateResolutionInterrupted: // §8.11.2
		return StatePotentialConflict
	case StateConflictDone: // §8.12.2
		if p == StateNormal {
			return StateNormal
		}
	}
	// POTENTIAL-CONFLICT and RECOVER-WAIT have no partner-state arcs.
	return s
}

// enter moves to state to, recording it for stable storage and doing what
// entry requires (§8.1: record the new state and its start time).
func (e *Endpoint) enter(now int64, to State) {
	from := e.state
	if from == to {
		return
	}
	if e.serving() {
		e.st.LastOperated = now
	}
	// Leaving STARTUP for the very state that was recorded is not a new
	// state: keep its start time and PARTNER-DOWN entry, so that
	// PartnerPoolUsableAt and the partner's step-5 comparison are not reset
	// by a restart.
	resumed := from == StateStartup && to == e.st.State
	if !resumed {
		e.st.Previous = e.st.State
		e.st.State = to
		e.st.StartTime = now
		if to == StatePartnerDown {
			e.st.PartnerDownTime = now
		} else {
			e.st.PartnerDownTime = 0
		}
	}
	e.state = to
	e.dirty = true
	e.updOut, e.updAll = false, false

	switch to {
	case StateCommInterrupted:
		// §8.9: the auto-partner-down timer starts on entry, re-entry after
		// a restart included (the conservative reading: a restart never
		// brings PARTNER-DOWN sooner).
		e.apdAt = 0
		if e.cfg.AutoPartnerDown > 0 {
			e.apdAt = now + int64(e.cfg.AutoPartnerDown/time.Second)
		}
		// §8.9: SHOULD alarm when coming from NORMAL — also when NORMAL was
		// the recorded state before a restart.
		if from == StateNormal || (from == StateStartup && e.startupRaw == StateNormal) {
			e.alarm = to
		}
	case StateResolutionInterrupted: // §8.11
		e.alarm = to
	case StateRecoverWait:
		e.rwUntil = e.recoverWaitUntil()
	}
}

// recoverWaitUntil is §8.6.2's timer: (time the server went down, if known,
// else the time it started) + MCLT. With a stored record the recorded time
// of operation is the down time (0 if it never served: nothing to wait for).
// Without one the down time is unknown, so the wait runs from boot — unless
// neither we nor the partner (its COMMUNICATED flag in its first STATE) have
// ever run failover, when §8.6.2 allows no wait at all; this is §8.3.2's
// TIME-OF-FAILURE = 0 for a genuinely new pair.
func (e *Endpoint) recoverWaitUntil() int64 {
	switch {
	case e.fresh && !e.partnerKnewUs:
		return 0 // neither side has ever run failover
	case e.hadStored && !e.fresh:
		return e.storedDown + e.mclt
	}
	// No record, or a record that says we never talked to a partner who
	// says we did (an old or foreign disk): the down time is unknown.
	return e.bootTime + e.mclt
}

func (e *Endpoint) serving() bool {
	switch e.state {
	case StateNormal, StateCommInterrupted, StatePartnerDown, StateResolutionInterrupted,
		StateConflictDone, StateRecoverDone:
		return true
	}
	return false
}

func (e *Endpoint) begin(now int64) State {
	e.dirty, e.sendState, e.alarm = false, false, 0
	if e.serving() {
		e.st.LastOperated = now
	}
	return e.state
}

// finish appends what the input's changes require: persist, then tell the
// partner, then the requests the new state makes of the partner.
func (e *Endpoint) finish(now int64, from State, acts []Action) []Action {
	if e.serving() {
		e.st.LastOperated = now
	}
	changed := e.state != from
	// An alarm is for where the input left us: STARTUP → CI → NORMAL on one
	// STATE (a restart in NORMAL finding the partner in NORMAL) is no alarm.
	if e.alarm != 0 && e.alarm == e.state {
		acts = append(acts, Action{Kind: ActAlarm, State: e.alarm})
	}
	if e.dirty {
		acts = append(acts, Action{Kind: ActPersist, State: e.st.State})
	}
	if e.connected && (changed || e.sendState) {
		acts = append(acts, e.stateAction())
	}
	if !e.commOK {
		return acts
	}
	if changed && e.state == StateNormal {
		// §8.8: unacked BNDUPDs first, then the secondary's POOLREQ.
		acts = append(acts, Action{Kind: ActResendUnacked, State: StateNormal})
		if e.cfg.Role == RoleSecondary {
			acts = append(acts, Action{Kind: ActSendPoolReq, State: StateNormal})
		}
	}
	if !e.updOut && e.wantsUpdate() {
		e.updOut, e.updAll = true, e.needAll
		k := ActSendUpdReq
		if e.needAll {
			k = ActSendUpdReqAll
		}
		acts = append(acts, Action{Kind: k, State: e.state})
	}
	return acts
}

// wantsUpdate: RECOVER asks once communications are OK (§8.5.2; a partner in
// a conflict state would have moved us to POTENTIAL-CONFLICT); the primary
// asks on entering POTENTIAL-CONFLICT; the secondary asks once the primary
// is in CONFLICT-DONE (§8.10.2). A storage-less server asks with UPDREQALL
// even in POTENTIAL-CONFLICT: UPDREQ would leave it with only the partner's
// unacked changes.
func (e *Endpoint) wantsUpdate() bool {
	switch e.state {
	case StateRecover:
		return true
	case StatePotentialConflict:
		return e.cfg.Role == RolePrimary || e.st.PartnerState == StateConflictDone
	}
	return false
}

// stateAction is the STATE to send now (§6.3, §8.3.1: in STARTUP, the
// recorded state with the STARTUP flag).
// StateMessage is the STATE this endpoint would send now (an ActSendState).
// While disconnected the endpoint announces no change (nobody to tell); the
// caller reads this to keep the STATE its link opens the next connection
// with current, so a server that entered PARTNER-DOWN while cut off does
// not greet its partner with the NORMAL it last sent (found by the pair
// simulation, seed 1486: the restarted partner skipped RECOVER).
func (e *Endpoint) StateMessage() Action { return e.stateAction() }

func (e *Endpoint) stateAction() Action {
	a := Action{Kind: ActSendState, State: e.state, Flags: e.Flags(), Start: e.st.StartTime}
	if e.state == StateStartup {
		a.State = e.startupRaw
	}
	if a.State == StatePartnerDown {
		a.PartnerDown = e.st.PartnerDownTime
	}
	return a
}
