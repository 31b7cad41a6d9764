package engine

import "github.com/tandemdhcp/tandem/netio/wire"

// Configured options in replies. Each level's option data was encoded when
// the config was read (Option.Data), so a reply only chooses and appends:
// for every code the client's ORO asks for, the most specific level that
// has it (Options), checked against where RFC 8415 lets the option go.
// Nothing here allocates: the pools of a reply are pointers into the
// config, noted in a fixed array while the reply is built.

// replyPools remembers the pools the resources of the reply being built
// came from, address pools first: their options are a level.
type replyPools struct {
	na, pd   [wire.MaxIAs]*Options
	nNA, nPD int
}

func (r *replyPools) add(k Kind, o *Options) {
	if o == nil || len(*o) == 0 {
		return
	}
	if k == KindPD {
		if r.nPD < len(r.pd) {
			r.pd[r.nPD] = o
			r.nPD++
		}
		return
	}
	if r.nNA < len(r.na) {
		r.na[r.nNA] = o
		r.nNA++
	}
}

// appendOptions appends the configured options the client asked for: for
// each code in the ORO, in its order, the first level that has it. The
// levels are walked in place (no list of them is built), most specific
// first.
func (e *Engine) appendOptions(b []byte, in *Input, sn int) []byte {
	m := &in.Pkt.Msg
	if m.NumORO == 0 || !e.hasOptions {
		return b
	}
	for i := 0; i < m.NumORO; i++ {
		code := m.ORO[i]
		if !sendable(code, m.Type) || askedBefore(m, i) {
			continue
		}
		if o, ok := e.optionFor(code, sn); ok {
			b = wire.AppendOption(b, o.Code, o.Data)
		}
	}
	return b
}

// optionFor finds the option with code at the most specific level of the
// request being answered: reservation, classes, reply pools, subnet,
// global (Options).
func (e *Engine) optionFor(code uint16, sn int) (Option, bool) {
	if e.resv != nil {
		if o, ok := e.resv.Options.Get(code); ok {
			return o, true
		}
	}
	for cls, i := e.cls, 0; cls != 0; cls, i = cls>>1, i+1 {
		if cls&1 != 0 {
			if o, ok := e.cfg.Classes[i].Options.Get(code); ok {
				return o, true
			}
		}
	}
	for i := 0; i < e.pools.nNA; i++ {
		if o, ok := e.pools.na[i].Get(code); ok {
			return o, true
		}
	}
	for i := 0; i < e.pools.nPD; i++ {
		if o, ok := e.pools.pd[i].Get(code); ok {
			return o, true
		}
	}
	if sn >= 0 {
		if o, ok := e.subnets[sn].cfg.Options.Get(code); ok {
			return o, true
		}
	}
	return e.cfg.Options.Get(code)
}

// sendable reports whether an option may go in the answer to a message of
// type t: INFORMATION_REFRESH_TIME only in the Reply to an
// Information-request (RFC 8415 §21.23).
func sendable(code uint16, t wire.MsgType) bool {
	return code != wire.OptInfoRefresh || t == wire.InformationRequest
}

// askedBefore reports whether ORO entry i repeats an earlier one.
func askedBefore(m *wire.Message, i int) bool {
	for j := 0; j < i; j++ {
		if m.ORO[j] == m.ORO[i] {
			return true
		}
	}
	return false
}
