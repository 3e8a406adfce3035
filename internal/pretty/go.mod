// apimguard's own stand-in for github.com/tidwall/pretty (see doc.go): the
// main module's go.mod replaces that module with this directory.
module github.com/tidwall/pretty

go 1.26.7
