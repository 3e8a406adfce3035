package policy

// setVariable is APIM's set-variable policy: it stores a value in
// context.Variables for the rest of the request.
// Reference: https://learn.microsoft.com/azure/api-management/set-variable-policy
//
// # Notes
//
// A literal value is stored as a string, as in APIM ("true" is the string
// "true"); an expression's result keeps its type. The name may not contain
// named values or expressions.
type setVariable struct {
	stmtMeta
	name  string
	value Value
}

func compileSetVariable(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "name", "value"); err != nil {
		return nil, err
	}
	nameAttr, err := c.required(n, "name")
	if err != nil {
		return nil, err
	}
	if !validName(nameAttr.Value) {
		return nil, c.errf(n, nameAttr.Pos, "attribute \"name\" must be a plain variable name (letters, digits, '-', '_', '.'), not %q", abbreviate(nameAttr.Value))
	}
	valueAttr, err := c.required(n, "value")
	if err != nil {
		return nil, err
	}
	v, err := c.value(n, valueAttr.Value, valueAttr.ValuePos)
	if err != nil {
		return nil, err
	}
	if err := c.empty(n); err != nil {
		return nil, err
	}
	return &setVariable{stmtMeta: c.meta(n), name: nameAttr.Value, value: v}, nil
}

func (s *setVariable) run(x *Exec) error {
	v, err := s.value.EvalAny(x)
	if err != nil {
		return err
	}
	x.setVariable(s.name, v)
	return nil
}
