package policy

import (
	"fmt"
	"net/netip"
	"testing"
)

func TestIPSet(t *testing.T) {
	b := &ipSetBuilder{}
	for _, s := range []string{"10.0.0.0/8", "192.0.2.1", "::ffff:198.51.100.7", "2001:db8::/32", "2001:db8:1::/48", "fe80::1", "::ffff:203.0.113.0/120"} {
		if err := b.addText(s); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range [][2]string{{"172.16.0.10", "172.16.0.20"}, {"172.16.0.15", "172.16.0.30"}, {"172.16.0.31", "172.16.0.31"}, {"2001:db9::1", "2001:db9::ff"}} {
		if err := b.addRange(r[0], r[1]); err != nil {
			t.Fatal(err)
		}
	}
	s := b.build()
	tests := []struct {
		ip   string
		want bool
	}{
		{"10.0.0.0", true}, {"10.255.255.255", true}, {"11.0.0.0", false}, {"9.255.255.255", false},
		{"192.0.2.1", true}, {"192.0.2.0", false}, {"192.0.2.2", false},
		{"198.51.100.7", true}, {"::ffff:198.51.100.7", true}, {"::ffff:10.1.2.3", true},
		{"203.0.113.0", true}, {"203.0.113.255", true}, {"203.0.114.0", false},
		{"172.16.0.9", false}, {"172.16.0.10", true}, {"172.16.0.25", true}, {"172.16.0.30", true}, {"172.16.0.31", true}, {"172.16.0.32", false},
		{"2001:db8::", true}, {"2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", true}, {"2001:db9::", false}, {"2001:db7:ffff::1", false},
		{"2001:db9::1", true}, {"2001:db9::ff", true}, {"2001:db9::100", false},
		{"fe80::1", true}, {"fe80::2", false},
		{"::a00:1", false}, // ::10.0.0.1 (IPv4-compatible, not mapped) is IPv6
	}
	for _, tc := range tests {
		if got := s.contains(netip.MustParseAddr(tc.ip).Unmap()); got != tc.want {
			t.Errorf("contains(%s) = %v, want %v", tc.ip, got, tc.want)
		}
	}
	// 10/8, 172.16.0.10-31 (overlapping and adjacent ranges merged), 192.0.2.1,
	// 198.51.100.7 and 203.0.113.0/24.
	if got, want := len(s.v4), 5; got != want {
		t.Errorf("IPv4 ranges after merging = %d, want %d", got, want)
	}
	if got, want := len(s.v6), 3; got != want { // 2001:db8::/32 absorbs 2001:db8:1::/48
		t.Errorf("IPv6 ranges after merging = %d, want %d", got, want)
	}
}

func TestIPSet_edges(t *testing.T) {
	tests := []struct {
		entry   string
		in, out []string
	}{
		{"0.0.0.0/0", []string{"0.0.0.0", "255.255.255.255", "::ffff:1.2.3.4"}, []string{"::1", "2001:db8::1"}},
		{"::/0", []string{"::", "::1", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"1.2.3.4"}},
		{"203.0.113.9/32", []string{"203.0.113.9"}, []string{"203.0.113.8", "203.0.113.10"}},
		{"2001:db8::9/128", []string{"2001:db8::9"}, []string{"2001:db8::8", "2001:db8::a"}},
		{"203.0.113.77/24", []string{"203.0.113.0", "203.0.113.255"}, []string{"203.0.112.255"}}, // host bits are masked
		{"255.255.255.255/32", []string{"255.255.255.255"}, []string{"255.255.255.254"}},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128", []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"}, []string{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe"}},
		{"::ffff:0:0/96", []string{"0.0.0.0", "255.255.255.255"}, []string{"::1"}},
	}
	for _, tc := range tests {
		b := &ipSetBuilder{}
		if err := b.addText(tc.entry); err != nil {
			t.Fatalf("%s: %v", tc.entry, err)
		}
		s := b.build()
		for _, ip := range tc.in {
			if !s.contains(netip.MustParseAddr(ip).Unmap()) {
				t.Errorf("%s should contain %s", tc.entry, ip)
			}
		}
		for _, ip := range tc.out {
			if s.contains(netip.MustParseAddr(ip).Unmap()) {
				t.Errorf("%s should not contain %s", tc.entry, ip)
			}
		}
	}
}

func TestIPFilter(t *testing.T) {
	const allow = `<ip-filter action="allow">
  <address>13.66.201.169</address>
  <address-range from="13.66.140.128" to="13.66.140.143" />
  <address>2001:db8::/64</address>
</ip-filter>`
	const forbid = `<ip-filter action="forbid"><address>198.51.100.1</address></ip-filter>`
	const seed = `<check-ip addresses="203.0.113.0/24, 198.51.100.23">
<action>allow</action>
</check-ip>`
	tests := []struct {
		name, policy, ip string
		wantReason       string // "" allowed
		wantMessage      string
	}{
		{"allow: listed address", allow, "13.66.201.169", "", ""},
		{"allow: range start", allow, "13.66.140.128", "", ""},
		{"allow: range end", allow, "13.66.140.143", "", ""},
		{"allow: after range", allow, "13.66.140.144", "CallerIpNotAllowed", "Caller IP address 13.66.140.144 is not allowed. Access denied."},
		{"allow: IPv6 CIDR", allow, "2001:db8::42", "", ""},
		{"allow: mapped IPv4 caller", allow, "::ffff:13.66.201.169", "", ""},
		{"allow: unknown caller", allow, "", "FailedToParseCallerIP", "Caller IP address could not be determined. Access denied."},
		{"forbid: listed", forbid, "198.51.100.1", "CallerIpBlocked", "Caller IP address is blocked. Access denied."},
		{"forbid: other", forbid, "198.51.100.2", "", ""},
		{"seed check-ip: in CIDR", seed, "203.0.113.200", "", ""},
		{"seed check-ip: single", seed, "198.51.100.23", "", ""},
		{"seed check-ip: other", seed, "198.51.100.24", "CallerIpNotAllowed", "Caller IP address 198.51.100.24 is not allowed. Access denied."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustCompile(t, inboundDoc(tc.policy), nil)
			x := p.NewExec(headers{"@ip": tc.ip}, nil)
			r := x.Inbound()
			if tc.wantReason == "" {
				if r.Action != Continue {
					t.Fatalf("denied: %+v %+v", r, x.LastError())
				}
				return
			}
			if r.Status != 403 || r.Body != `{"statusCode":403,"message":"Forbidden"}` {
				t.Fatalf("got %+v", r)
			}
			if le := x.LastError(); le.Reason != tc.wantReason || le.Message != tc.wantMessage {
				t.Fatalf("last error = %+v", le)
			}
		})
	}
}

func TestIPFilter_errors(t *testing.T) {
	tests := []struct{ name, policy, want string }{
		{"bad address", `<ip-filter action="allow"><address>300.1.1.1</address></ip-filter>`, `policy:3:36: address: "300.1.1.1" is not an IP address or CIDR block`},
		{"bad CIDR", `<ip-filter action="allow"><address>10.0.0.0/33</address></ip-filter>`, `policy:3:36: address: "10.0.0.0/33" is not an IP address or CIDR block`},
		{"reversed range", `<ip-filter action="allow"><address-range from="10.0.0.9" to="10.0.0.1"/></ip-filter>`, `policy:3:27: address-range: from 10.0.0.9 is after to 10.0.0.1`},
		{"mixed range", `<ip-filter action="allow"><address-range from="10.0.0.1" to="::1"/></ip-filter>`, `policy:3:27: address-range: from 10.0.0.1 and to ::1 are not of the same IP version`},
		{"unknown action", `<ip-filter action="deny"><address>10.0.0.1</address></ip-filter>`, `policy:3:12: ip-filter: action must be allow or forbid, not "deny"`},
		{"no addresses", `<ip-filter action="allow"></ip-filter>`, `policy:3:1: ip-filter: needs at least one <address> or <address-range>`},
		{"missing action", `<ip-filter><address>10.0.0.1</address></ip-filter>`, `policy:3:1: ip-filter: missing required attribute "action"`},
		{"check-ip bad entry", `<check-ip addresses="203.0.113.0/24, nope"><action>allow</action></check-ip>`, `policy:3:11: check-ip: attribute "addresses": "nope" is not an IP address or CIDR block`},
		{"check-ip empty entry", `<check-ip addresses="203.0.113.0/24,,"><action>allow</action></check-ip>`, `policy:3:11: check-ip: attribute "addresses": empty address`},
		{"check-ip bad action", `<check-ip addresses="10.0.0.1"><action>permit</action></check-ip>`, `policy:3:32: check-ip: action must be allow or forbid, not "permit"`},
		{"check-ip without action", `<check-ip addresses="10.0.0.1"/>`, `policy:3:1: check-ip: needs exactly one <action> (allow or forbid)`},
		{"outside inbound", "<policies><outbound><ip-filter action=\"allow\"><address>10.0.0.1</address></ip-filter></outbound></policies>", `policy:1:21: ip-filter: not allowed in <outbound>`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			doc := tc.policy
			if doc[1] != 'p' {
				doc = inboundDoc(tc.policy)
			}
			_, err := Compile(doc, Options{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v\nwant  %s", err, tc.want)
			}
		})
	}
}

// BenchmarkIPFilter compares a lookup in 10 entries with one in 10,000.
func BenchmarkIPFilter(b *testing.B) {
	for _, n := range []int{10, 10_000} {
		bl := &ipSetBuilder{}
		for i := 0; i < n; i++ {
			// Disjoint /32s and /24s spread over the space.
			if err := bl.addText(fmt.Sprintf("%d.%d.%d.%d", 10+i%200, (i/200)%256, i%256, 1)); err != nil {
				b.Fatal(err)
			}
		}
		s := bl.build()
		in := netip.MustParseAddr(fmt.Sprintf("%d.%d.%d.1", 10+(n-1)%200, ((n-1)/200)%256, (n-1)%256))
		out := netip.MustParseAddr("9.9.9.9")
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if !s.contains(in) || s.contains(out) {
					b.Fatal("wrong answer")
				}
			}
		})
	}
}
