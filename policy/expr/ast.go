package expr

// The AST of the supported C# subset.
type node interface{ offset() int }

type (
	identNode struct {
		name string
		off  int
	}
	intLit struct {
		v   int64
		off int
	}
	doubleLit struct {
		v   float64
		off int
	}
	strLit struct {
		v   string
		off int
	}
	charLit struct {
		v   rune
		off int
	}
	boolLit struct {
		v   bool
		off int
	}
	nullLit   struct{ off int }
	interpLit struct {
		lits  []string // len(holes)+1 literal pieces around the holes
		holes []node
		off   int
	}
	memberNode struct {
		x        node
		name     string
		nullCond bool // x?.name
		off      int
	}
	indexNode struct {
		x, index node
		off      int
	}
	callNode struct {
		fn       node // identNode or memberNode
		typeArgs []string
		args     []node
		off      int
	}
	outArg struct {
		name     string
		declType string // "out Jwt jwt" declares; empty for "out jwt"
		off      int
	}
	unaryNode struct {
		op  string
		x   node
		off int
	}
	binaryNode struct {
		op   string
		x, y node
		off  int
	}
	condNode struct {
		c, a, b node
		off     int
	}
	castNode struct {
		typ string
		x   node
		off int
		as  bool // x as T: null instead of a failed cast
	}
	newArrayNode struct {
		elemType string // "" for new [] {...}
		elems    []node
		off      int
	}
	// anonNode is new { name = value, ... }: a JObject here.
	anonNode struct {
		names  []string
		values []node
		off    int
	}
	// newObjNode is new Class(args).
	newObjNode struct {
		class string
		args  []node
		off   int
	}
	lambdaNode struct {
		param string
		body  node
		off   int
	}
	// namedArg is name: value in an argument list (preserveContent: true).
	namedArg struct {
		name string
		x    node
		off  int
	}
)

func (n *identNode) offset() int    { return n.off }
func (n *intLit) offset() int       { return n.off }
func (n *doubleLit) offset() int    { return n.off }
func (n *strLit) offset() int       { return n.off }
func (n *charLit) offset() int      { return n.off }
func (n *boolLit) offset() int      { return n.off }
func (n *nullLit) offset() int      { return n.off }
func (n *interpLit) offset() int    { return n.off }
func (n *memberNode) offset() int   { return n.off }
func (n *indexNode) offset() int    { return n.off }
func (n *callNode) offset() int     { return n.off }
func (n *outArg) offset() int       { return n.off }
func (n *unaryNode) offset() int    { return n.off }
func (n *binaryNode) offset() int   { return n.off }
func (n *condNode) offset() int     { return n.off }
func (n *castNode) offset() int     { return n.off }
func (n *newArrayNode) offset() int { return n.off }
func (n *lambdaNode) offset() int   { return n.off }
func (n *newObjNode) offset() int   { return n.off }
func (n *anonNode) offset() int     { return n.off }
func (n *namedArg) offset() int     { return n.off }

// Statements of an @{ ... } block.
type stmt interface{ offset() int }

type (
	declStmt struct {
		typ, name string
		init      node // nil for "Jwt jwt;"
		off       int
	}
	assignStmt struct {
		name  string
		value node
		off   int
	}
	returnStmt struct {
		x   node
		off int
	}
	ifStmt struct {
		cond      node
		then, els []stmt
		off       int
	}
	exprStmt struct {
		x   node
		off int
	}
	// loopStmt is while (cond) body, for (init; cond; step) body and
	// foreach (typ name in seq) body.
	loopStmt struct {
		init       stmt // for: nil or a declaration or assignment
		cond       node // nil: true
		step       stmt // for: nil or an assignment
		body       []stmt
		each, name string // foreach: the declared type and variable
		seq        node   // foreach: the sequence
		off        int
	}
	// jumpStmt is break or continue.
	jumpStmt struct {
		brk bool
		off int
	}
	// tryStmt is try { body } catch [(Exception [name])] { handler };
	// using (declaration) body is a block: body after the declaration.
	tryStmt struct {
		body, handler []stmt
		name          string // the caught exception's variable, or ""
		off           int
	}
	// setIndexStmt is target[key]...[key] = value on a JToken variable.
	setIndexStmt struct {
		target *indexNode
		value  node
		off    int
	}
	blockStmt struct {
		body []stmt
		off  int
	}
	// funcStmt is a local function: ret name(type param, ...) { body } or
	// => expression;.
	funcStmt struct {
		ret, name string
		params    [][2]string // type, name
		body      []stmt
		off       int
	}
	// switchStmt is switch (x) { case a: case b: ... default: ... }.
	switchStmt struct {
		x        node
		sections []switchSection
		off      int
	}
)

// switchSection is one group of case labels (no labels: default) and its
// statements.
type switchSection struct {
	labels []node
	isDef  bool
	body   []stmt
}

func (s *loopStmt) offset() int     { return s.off }
func (s *jumpStmt) offset() int     { return s.off }
func (s *tryStmt) offset() int      { return s.off }
func (s *blockStmt) offset() int    { return s.off }
func (s *switchStmt) offset() int   { return s.off }
func (s *funcStmt) offset() int     { return s.off }
func (s *setIndexStmt) offset() int { return s.off }

func (s *declStmt) offset() int   { return s.off }
func (s *assignStmt) offset() int { return s.off }
func (s *returnStmt) offset() int { return s.off }
func (s *ifStmt) offset() int     { return s.off }
func (s *exprStmt) offset() int   { return s.off }
