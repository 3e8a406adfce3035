package policy_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/apimguard/apimguard/internal/corpus"
)

// TestCorpus_engine replays every case file of the corpus (examples/*/*.yaml)
// against the engine natively: the tier of the three that runs without the
// module. cmd/apimguard replays the same files under wazero and
// envoy-test/corpus_test.go through a real Envoy.
func TestCorpus_engine(t *testing.T) {
	files, err := corpus.Files("..")
	if err != nil || len(files) == 0 {
		t.Fatalf("no case files under ../examples (%v)", err)
	}
	for _, file := range files {
		s, err := corpus.Load(file)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, tc := range s.Cases {
			t.Run(filepath.Base(file)+"/"+tc.Name, func(t *testing.T) {
				o, err := corpus.RunEngine(s, tc)
				if err != nil {
					t.Fatal(err)
				}
				if problems := tc.Check(o); len(problems) > 0 {
					t.Error(strings.Join(problems, "\n"))
				}
			})
		}
	}
}
