package engine

// The engine's replies, decoded by an independent parser
// (github.com/insomniacslk/dhcp) and by wire.Packet, must say the same
// thing: a check on the encoder side of the codec (nested lengths, relay
// wrapping) that a round trip through our own decoder could not make.

import (
	"fmt"
	"math/rand"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv6"
	"github.com/tandemdhcp/tandem/netio/wire"
)

// summaryWire prints the fields both decoders understand, from wire.
func summaryWire(raw []byte) (string, error) {
	var p wire.Packet
	if err := p.Decode(raw); err != nil {
		return "", err
	}
	var sb strings.Builder
	for i := 0; i < p.NumRelays; i++ {
		r := &p.Relays[i]
		fmt.Fprintf(&sb, "relay %d %d %v %v %x\n", r.Type, r.HopCount, r.LinkAddr, r.PeerAddr, r.InterfaceID)
	}
	m := &p.Msg
	fmt.Fprintf(&sb, "msg %d %x client=%x server=%x\n", m.Type, m.XID, m.ClientID, m.ServerID)
	if m.HasPreference {
		fmt.Fprintf(&sb, "preference %d\n", m.Preference)
	}
	if m.RapidCommit {
		sb.WriteString("rapid-commit\n")
	}
	if m.HasStatus {
		fmt.Fprintf(&sb, "status %d %q\n", m.Status, m.StatusMsg)
	}
	ia := func(kind string, x *wire.IA) {
		fmt.Fprintf(&sb, "%s %d %d %d", kind, x.IAID, x.T1, x.T2)
		if x.HasStatus {
			fmt.Fprintf(&sb, " status=%d", x.Status)
		}
		sb.WriteByte('\n')
		for j := 0; j < x.NumAddrs; j++ {
			fmt.Fprintf(&sb, "  %v %d %d\n", x.Addrs[j].Addr, x.Addrs[j].Preferred, x.Addrs[j].Valid)
		}
		for j := 0; j < x.NumPrefixes; j++ {
			fmt.Fprintf(&sb, "  %v %d %d\n", x.Prefixes[j].Prefix, x.Prefixes[j].Preferred, x.Prefixes[j].Valid)
		}
	}
	for i := 0; i < m.NumIANA; i++ {
		ia("na", &m.IANA[i])
	}
	for i := 0; i < m.NumIAPD; i++ {
		ia("pd", &m.IAPD[i])
	}
	for i := 0; i+16 <= len(m.DNSServers); i += 16 {
		fmt.Fprintf(&sb, "dns %v\n", netip.AddrFrom16([16]byte(m.DNSServers[i:])))
	}
	for _, d := range decodeDomains(m.DomainList) {
		fmt.Fprintf(&sb, "domain %s\n", strings.TrimSuffix(d, "."))
	}
	return sb.String(), nil
}

func ipFrom(ip net.IP) netip.Addr { return netip.AddrFrom16([16]byte(ip.To16())) }

func secs(d time.Duration) uint32 { return uint32(d / time.Second) }

// summaryDHCP prints the same from insomniacslk/dhcp's parse.
func summaryDHCP(raw []byte) (string, error) {
	d, err := dhcpv6.FromBytes(raw)
	if err != nil {
		return "", err
	}
	var sb strings.Builder
	for d.IsRelay() {
		r := d.(*dhcpv6.RelayMessage)
		fmt.Fprintf(&sb, "relay %d %d %v %v %x\n", r.MessageType, r.HopCount, ipFrom(r.LinkAddr), ipFrom(r.PeerAddr), r.Options.InterfaceID())
		d = r.Options.RelayMessage()
		if d == nil {
			return "", fmt.Errorf("relay without RELAY_MSG")
		}
	}
	m := d.(*dhcpv6.Message)
	var client, server []byte
	if o := m.Options.ClientID(); o != nil {
		client = o.ToBytes()
	}
	if o := m.Options.ServerID(); o != nil {
		server = o.ToBytes()
	}
	fmt.Fprintf(&sb, "msg %d %x client=%x server=%x\n", m.MessageType, m.TransactionID[:], client, server)
	if m.GetOneOption(dhcpv6.OptionPreference) != nil {
		fmt.Fprintf(&sb, "preference %d\n", m.Options.Preference())
	}
	if m.GetOneOption(dhcpv6.OptionRapidCommit) != nil {
		sb.WriteString("rapid-commit\n")
	}
	if st := m.Options.Status(); st != nil {
		fmt.Fprintf(&sb, "status %d %q\n", st.StatusCode, st.StatusMessage)
	}
	for _, x := range m.Options.IANA() {
		fmt.Fprintf(&sb, "na %d %d %d", uint32(x.IaId[0])<<24|uint32(x.IaId[1])<<16|uint32(x.IaId[2])<<8|uint32(x.IaId[3]), secs(x.T1), secs(x.T2))
		if st := x.Options.Status(); st != nil {
			fmt.Fprintf(&sb, " status=%d", st.StatusCode)
		}
		sb.WriteByte('\n')
		for _, a := range x.Options.Addresses() {
			fmt.Fprintf(&sb, "  %v %d %d\n", ipFrom(a.IPv6Addr), secs(a.PreferredLifetime), secs(a.ValidLifetime))
		}
	}
	for _, x := range m.Options.IAPD() {
		fmt.Fprintf(&sb, "pd %d %d %d", uint32(x.IaId[0])<<24|uint32(x.IaId[1])<<16|uint32(x.IaId[2])<<8|uint32(x.IaId[3]), secs(x.T1), secs(x.T2))
		if st := x.Options.Status(); st != nil {
			fmt.Fprintf(&sb, " status=%d", st.StatusCode)
		}
		sb.WriteByte('\n')
		for _, p := range x.Options.Prefixes() {
			ones, _ := p.Prefix.Mask.Size()
			fmt.Fprintf(&sb, "  %v %d %d\n", netip.PrefixFrom(ipFrom(p.Prefix.IP), ones), secs(p.PreferredLifetime), secs(p.ValidLifetime))
		}
	}
	for _, ip := range m.Options.DNS() {
		fmt.Fprintf(&sb, "dns %v\n", ipFrom(ip))
	}
	if l := m.Options.DomainSearchList(); l != nil {
		for _, d := range l.Labels {
			fmt.Fprintf(&sb, "domain %s\n", strings.TrimSuffix(d, "."))
		}
	}
	return sb.String(), nil
}

// TestRepliesParseIndependently runs a random workload and checks every
// reply with both decoders.
func TestRepliesParseIndependently(t *testing.T) {
	cfg := workloadConfig()
	cfg.Options = append(cfg.Options, domainOption("example.com", "lab.example.net"))
	tr := newTester(t, cfg)
	n := 0
	tr.onReply = func(raw []byte) {
		n++
		a, err := summaryWire(raw)
		if err != nil {
			t.Fatalf("wire: %v", err)
		}
		b, err := summaryDHCP(raw)
		if err != nil {
			t.Fatalf("insomniacslk/dhcp: %v\n%s", err, a)
		}
		if a != b {
			t.Fatalf("decoders disagree:\nwire:\n%s\ninsomniacslk/dhcp:\n%s", a, b)
		}
	}
	m := tr.msgFor(wire.InformationRequest, 1, false, false)
	m.oro = []uint16{wire.OptDNSServers, wire.OptDomainList}
	tr.send(m)
	workload(t, tr, rand.New(rand.NewSource(99)), 1500)
	if n < 1000 {
		t.Fatalf("only %d replies checked", n)
	}
}
