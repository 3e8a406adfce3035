package policy

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/apimguard/apimguard/internal/testsupport/testpki"
	"github.com/apimguard/apimguard/policy/clientcert"
)

// crlWorld is FuzzCRLSelect's PKI: under one root, three issuing CA keys
// with one name (a CA renewed twice), two leaves of each with the same two
// serial numbers, and for each key a CRL revoking each subset of them.
type crlWorld struct {
	root    *testpki.CA
	keys    [3]*testpki.CA
	leaves  [3][2]*x509.Certificate // [key][serial]
	crls    [3][4]string            // [key][revoked subset: bit 0 the first serial, bit 1 the second]
	rootCRL string
	certs   map[string]string
	mu      sync.Mutex
	byMask  map[uint16]*clientCerts
}

var (
	crlWorldOnce sync.Once
	theCRLWorld  *crlWorld
)

func newCRLWorld(tb testing.TB) *crlWorld {
	w := &crlWorld{root: testpki.NewCA(tb, "Contoso Root"), byMask: map[uint16]*clientCerts{}}
	w.certs = map[string]string{"root": testpki.PEM(w.root.Cert)}
	w.rootCRL = w.root.CRL(time.Hour)
	serials := [2]*big.Int{big.NewInt(100), big.NewInt(101)}
	for k := range w.keys {
		w.keys[k] = w.root.Intermediate("Contoso Issuing CA")
		w.certs["issuing-"+itoa(k)] = testpki.PEM(w.keys[k].Cert)
		for s, serial := range serials {
			w.leaves[k][s] = w.keys[k].Issue(testpki.Leaf{Subject: pkix.Name{CommonName: "client"}, Serial: serial}).Cert
		}
		for subset := range w.crls[k] {
			var revoked []*big.Int
			for s, serial := range serials {
				if subset&(1<<s) != 0 {
					revoked = append(revoked, serial)
				}
			}
			w.crls[k][subset] = w.keys[k].CRL(time.Hour, revoked...)
		}
	}
	return w
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

// config compiles the configuration whose CRLs are the root's and those
// mask selects (bit 4k+subset: key k's CRL revoking subset), once per mask.
func (w *crlWorld) config(tb testing.TB, mask uint16) *clientCerts {
	w.mu.Lock()
	defer w.mu.Unlock()
	if cc := w.byMask[mask]; cc != nil {
		return cc
	}
	cfg := ClientCertificates{Trust: []string{"root"}, CRLs: []string{w.rootCRL}}
	for k := range w.crls {
		for subset := range w.crls[k] {
			if mask&(1<<(4*k+subset)) != 0 {
				cfg.CRLs = append(cfg.CRLs, w.crls[k][subset])
			}
		}
	}
	cc, err := compileClientCerts(cfg, w.certs, nil)
	if err != nil {
		tb.Fatalf("mask %#x: %v", mask, err)
	}
	w.byMask[mask] = cc
	return cc
}

// FuzzCRLSelect: whichever CRLs are configured, whichever certificate is
// presented with whichever intermediate, with the chain to the trust built
// or not, a certificate is revoked exactly when a CRL signed by the key
// that issued it lists its serial number, and its status is unknown when
// that key has no CRL; a serial number revoked by another key of the same
// CA name never counts.
func FuzzCRLSelect(f *testing.F) {
	f.Add(uint16(0x0002), uint8(0), uint8(0), true)  // key 0's CRL revokes serial 100; leaf key 0 serial 100
	f.Add(uint16(0x0002), uint8(2), uint8(2), true)  // the same CRL; leaf key 1 serial 100: unknown
	f.Add(uint16(0x0012), uint8(2), uint8(2), false) // key 1's CRL revokes nothing; same serial as key 0's revoked one
	f.Add(uint16(0x0fff), uint8(5), uint8(0), true)  // every CRL; key 2's leaf presented with key 0's certificate
	f.Fuzz(func(t *testing.T, mask uint16, leaf, presentedWith uint8, trust bool) {
		crlWorldOnce.Do(func() { theCRLWorld = newCRLWorld(t) })
		w := theCRLWorld
		mask &= 0x0fff
		k, s := int(leaf%6)/2, int(leaf%6)%2
		cc := w.config(t, mask)
		c, err := clientcert.Parse(w.leaves[k][s].Raw, []*x509.Certificate{w.keys[int(presentedWith%3)].Cert})
		if err != nil {
			t.Fatal(err)
		}
		got := cc.verify(c, certChecks{notBefore: true, notAfter: true, trust: trust, revocation: true})

		want := ""
		switch {
		case trust && int(presentedWith%3) != k:
			want = reasonNotTrusted // the intermediate that signed it is not in the chain
		case mask&(0xf<<(4*k)) == 0:
			want = reasonRevocationUnknown
		default:
			for subset := 0; subset < 4; subset++ {
				if mask&(1<<(4*k+subset)) != 0 && subset&(1<<s) != 0 {
					want = reasonRevoked
				}
			}
		}
		if got != want {
			t.Fatalf("CRLs %#x, leaf of key %d serial %d presented with key %d's certificate, trust %v: %q, want %q", mask, k, 100+s, presentedWith%3, trust, got, want)
		}
	})
}
