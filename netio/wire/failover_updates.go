package wire

// Builders for the failover messages of the update and pool exchanges
// (RFC 8156 §5.3.3–§5.3.7): UPDREQ, UPDREQALL, UPDDONE, POOLREQ and
// POOLRESP. None carries an option; what they mean is the message type and
// the transaction-id (§5.4: the initiator's request sets a fresh one, and
// UPDDONE and POOLRESP echo the request's). Each is decoded by
// FailoverMsg.Decode and built only here, beside it.
//
// The sent-time is 0: the partner link stamps it as the frame leaves
// (§5.2, as late as possible). Each appends one whole frame (the 2-byte
// length included) to b and allocates nothing when b has room.

// headerOnly appends a frame of type t with no options.
func headerOnly(b []byte, t MsgType, xid uint32) []byte {
	b, f := BeginFrame(b, t, xid, 0)
	return EndFrame(b, f)
}

// AppendUpdReq appends an UPDREQ (§5.3.5): send me every binding change I
// have not acknowledged. xid is fresh (unique among outstanding messages).
func AppendUpdReq(b []byte, xid uint32) []byte { return headerOnly(b, UpdReq, xid) }

// AppendUpdReqAll appends an UPDREQALL (§5.3.6): send me every binding
// (I lost my database). xid is fresh.
func AppendUpdReqAll(b []byte, xid uint32) []byte { return headerOnly(b, UpdReqAll, xid) }

// AppendUpdDone appends an UPDDONE (§5.3.7): everything the UPDREQ or
// UPDREQALL asked for has been sent and acknowledged. xid is the
// request's.
func AppendUpdDone(b []byte, xid uint32) []byte { return headerOnly(b, UpdDone, xid) }

// AppendPoolReq appends a POOLREQ (§5.3.3): the secondary asks the primary
// to balance the delegable prefixes. xid is fresh.
func AppendPoolReq(b []byte, xid uint32) []byte { return headerOnly(b, PoolReq, xid) }

// AppendPoolResp appends a POOLRESP (§5.3.4): the primary has taken the
// task of balancing; the prefixes follow as BNDUPDs. xid is the POOLREQ's.
func AppendPoolResp(b []byte, xid uint32) []byte { return headerOnly(b, PoolResp, xid) }
