package policy

import (
	"fmt"
	"math/bits"
	"net/netip"
	"sort"
	"strings"
)

// ipFilter is APIM's ip-filter policy and the seed's check-ip form: allow
// only the listed caller addresses, or forbid them.
// Reference: https://learn.microsoft.com/azure/api-management/ip-filter-policy
//
// # Notes
//
//   - <address> accepts CIDR blocks as an extension; <address-range> is
//     inclusive at both ends.
//   - The seed's <check-ip addresses="203.0.113.0/24, 198.51.100.23">
//     <action>allow</action></check-ip> is supported as a documented
//     extension: comma-separated addresses and CIDR blocks.
//   - IPv4 and IPv6. An IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the
//     IPv4 address, in the list and from the caller. ::/0 covers IPv6 only.
//   - The caller is context.Request.IpAddress: Envoy's downstream address,
//     or an X-Forwarded-For entry when the plugin's clientIp option says so.
//   - action must be a constant (APIM allows expressions).
type ipFilter struct {
	stmtMeta
	forbid  bool
	set     *ipSet
	refused *Failure // CallerIpNotAllowed or CallerIpBlocked
	unknown *Failure // FailedToParseCallerIP
}

const ipDeniedBody = `{"statusCode":403,"message":"Forbidden"}`

func compileIPFilter(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "action"); err != nil {
		return nil, err
	}
	a, err := c.required(n, "action")
	if err != nil {
		return nil, err
	}
	action, err := c.constant(n, a)
	if err != nil {
		return nil, err
	}
	if err := c.only(n, "address", "address-range"); err != nil {
		return nil, err
	}
	b := &ipSetBuilder{}
	for _, ch := range n.Children {
		switch ch.Name {
		case "address":
			v, err := c.leafValue(ch)
			if err != nil {
				return nil, err
			}
			if !v.IsConst() {
				return nil, c.errf(ch, ch.Pos, "the address must be a constant or a named value")
			}
			if err := b.addText(v.Const()); err != nil {
				return nil, c.errf(ch, ch.TextPos, "%v", err)
			}
		case "address-range":
			if err := c.attrs(ch, "from", "to"); err != nil {
				return nil, err
			}
			from, err := c.required(ch, "from")
			if err != nil {
				return nil, err
			}
			to, err := c.required(ch, "to")
			if err != nil {
				return nil, err
			}
			fv, err := c.constant(ch, from)
			if err != nil {
				return nil, err
			}
			tv, err := c.constant(ch, to)
			if err != nil {
				return nil, err
			}
			if err := b.addRange(fv, tv); err != nil {
				return nil, c.errf(ch, ch.Pos, "%v", err)
			}
			if err := c.empty(ch); err != nil {
				return nil, err
			}
		}
	}
	if b.empty() {
		return nil, c.errf(n, n.Pos, "needs at least one <address> or <address-range>")
	}
	return c.newIPFilter(n, a, action, b)
}

// compileCheckIP reads the seed's form:
// <check-ip addresses="203.0.113.0/24, 198.51.100.23"><action>allow</action></check-ip>.
func compileCheckIP(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "addresses"); err != nil {
		return nil, err
	}
	a, err := c.required(n, "addresses")
	if err != nil {
		return nil, err
	}
	list, err := c.constant(n, a)
	if err != nil {
		return nil, err
	}
	if err := c.only(n, "action"); err != nil {
		return nil, err
	}
	if len(n.Children) != 1 {
		return nil, c.errf(n, n.Pos, "needs exactly one <action> (allow or forbid)")
	}
	act := n.Children[0]
	action, err := c.leafValue(act)
	if err != nil {
		return nil, err
	}
	if !action.IsConst() {
		return nil, c.errf(act, act.Pos, "the action must be allow or forbid")
	}
	b := &ipSetBuilder{}
	for _, item := range strings.Split(list, ",") {
		if err := b.addText(item); err != nil {
			return nil, c.errf(n, a.Pos, "attribute \"addresses\": %v", err)
		}
	}
	return c.newIPFilter(n, Attr{Name: "action", Pos: act.Pos}, action.Const(), b)
}

func (c *compiler) newIPFilter(n *Node, actionAttr Attr, action string, b *ipSetBuilder) (statement, error) {
	f := &ipFilter{stmtMeta: c.meta(n), set: b.build()}
	m := f.meta()
	fail := func(reason, msg string) *Failure {
		return &Failure{Source: n.Name, Reason: reason, Message: msg, PolicyID: m.id, scope: m.scope, Status: 403, Body: ipDeniedBody}
	}
	switch strings.ToLower(strings.TrimSpace(action)) {
	case "allow":
	case "forbid":
		f.forbid = true
		f.refused = fail("CallerIpBlocked", "Caller IP address is blocked. Access denied.")
	default:
		return nil, c.errf(n, actionAttr.Pos, "action must be allow or forbid, not %q", abbreviate(action))
	}
	f.unknown = fail("FailedToParseCallerIP", "Caller IP address could not be determined. Access denied.")
	return f, nil
}

func (f *ipFilter) run(x *Exec) error {
	ip, err := netip.ParseAddr(x.ClientIP())
	if err != nil {
		return f.unknown
	}
	in := f.set.contains(ip.Unmap())
	switch {
	case f.forbid && in:
		return f.refused
	case !f.forbid && !in:
		m := f.meta()
		return &Failure{Source: m.element, Reason: "CallerIpNotAllowed", PolicyID: m.id, scope: m.scope, Status: 403, Body: ipDeniedBody,
			Message: "Caller IP address " + ip.Unmap().String() + " is not allowed. Access denied."}
	}
	return nil
}

// ipSet is a set of IPv4 and IPv6 addresses as sorted, merged, inclusive
// ranges; contains is a binary search.
type ipSet struct {
	v4 []ipRange
	v6 []ipRange
}

// ipRange is an inclusive range; IPv4 addresses use the low word only.
type ipRange struct {
	lo, hi u128
}

type u128 struct{ hi, lo uint64 }

func (a u128) less(b u128) bool { return a.hi < b.hi || (a.hi == b.hi && a.lo < b.lo) }

func (a u128) next() (u128, bool) {
	lo, carry := bits.Add64(a.lo, 1, 0)
	hi, overflow := bits.Add64(a.hi, 0, carry)
	return u128{hi, lo}, overflow != 0
}

func toU128(a netip.Addr) u128 {
	b := a.As16()
	if a.Is4() {
		v := a.As4()
		return u128{0, uint64(v[0])<<24 | uint64(v[1])<<16 | uint64(v[2])<<8 | uint64(v[3])}
	}
	var hi, lo uint64
	for i := 0; i < 8; i++ {
		hi = hi<<8 | uint64(b[i])
		lo = lo<<8 | uint64(b[8+i])
	}
	return u128{hi, lo}
}

func (s *ipSet) contains(ip netip.Addr) bool {
	ranges := s.v6
	if ip.Is4() {
		ranges = s.v4
	}
	v := toU128(ip)
	// The first range whose end is not below v; v is inside it if it does
	// not start after v.
	i := sort.Search(len(ranges), func(i int) bool { return !ranges[i].hi.less(v) })
	return i < len(ranges) && !v.less(ranges[i].lo)
}

// ipSetBuilder collects ranges before they are sorted and merged.
type ipSetBuilder struct {
	v4, v6 []ipRange
}

func (b *ipSetBuilder) empty() bool { return len(b.v4)+len(b.v6) == 0 }

// addText adds one address or CIDR block.
func (b *ipSetBuilder) addText(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return fmt.Errorf("empty address")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%q is not an IP address or CIDR block", s)
		}
		if p.Addr().Zone() != "" {
			return fmt.Errorf("%q: zones are not supported", s)
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		p = p.Masked()
		lo := toU128(p.Addr())
		hi := lastOf(lo, p.Addr().BitLen()-p.Bits())
		b.add(p.Addr().Is4(), ipRange{lo, hi})
		return nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return fmt.Errorf("%q is not an IP address or CIDR block", s)
	}
	a = a.Unmap()
	v := toU128(a)
	b.add(a.Is4(), ipRange{v, v})
	return nil
}

// lastOf sets the low hostBits bits of lo.
func lastOf(lo u128, hostBits int) u128 {
	hi := lo
	switch {
	case hostBits >= 128:
		return u128{^uint64(0), ^uint64(0)}
	case hostBits >= 64:
		hi.lo = ^uint64(0)
		hi.hi |= (uint64(1) << (hostBits - 64)) - 1
	case hostBits > 0:
		hi.lo |= (uint64(1) << hostBits) - 1
	}
	return hi
}

func (b *ipSetBuilder) addRange(from, to string) error {
	f, err := netip.ParseAddr(strings.TrimSpace(from))
	if err != nil || f.Zone() != "" {
		return fmt.Errorf("from: %q is not an IP address", from)
	}
	t, err := netip.ParseAddr(strings.TrimSpace(to))
	if err != nil || t.Zone() != "" {
		return fmt.Errorf("to: %q is not an IP address", to)
	}
	f, t = f.Unmap(), t.Unmap()
	if f.Is4() != t.Is4() {
		return fmt.Errorf("from %s and to %s are not of the same IP version", f, t)
	}
	lo, hi := toU128(f), toU128(t)
	if hi.less(lo) {
		return fmt.Errorf("from %s is after to %s", f, t)
	}
	b.add(f.Is4(), ipRange{lo, hi})
	return nil
}

func (b *ipSetBuilder) add(is4 bool, r ipRange) {
	if is4 {
		b.v4 = append(b.v4, r)
	} else {
		b.v6 = append(b.v6, r)
	}
}

func (b *ipSetBuilder) build() *ipSet {
	return &ipSet{v4: merge(b.v4), v6: merge(b.v6)}
}

// merge sorts ranges and joins overlapping and adjacent ones.
func merge(rs []ipRange) []ipRange {
	if len(rs) == 0 {
		return nil
	}
	sort.Slice(rs, func(i, j int) bool { return rs[i].lo.less(rs[j].lo) })
	out := []ipRange{rs[0]}
	for _, r := range rs[1:] {
		last := &out[len(out)-1]
		next, overflow := last.hi.next()
		if overflow || !next.less(r.lo) { // r starts at or before last.hi+1
			if last.hi.less(r.hi) {
				last.hi = r.hi
			}
			continue
		}
		out = append(out, r)
	}
	return out
}
