package policy

import (
	"strings"

	"github.com/apimguard/apimguard/policy/expr"
)

// compileValidateAzureADToken is APIM's validate-azure-ad-token: a
// validate-jwt against the tenant's Microsoft Entra ID metadata, with this
// element's name, position and path, and two hooks of validate-jwt for what
// Entra adds (v1 issuers, the calling application).
// Reference: https://learn.microsoft.com/azure/api-management/validate-azure-ad-token-policy
//
// # Notes
//
//   - Keys and the v2 issuer come from
//     {authentication-endpoint}/{tenant-id}/v2.0/.well-known/openid-configuration;
//     v1 tokens (issuer https://sts.windows.net/{tid}/) of the same tenant
//     are accepted too.
//   - client-application-ids must contain the token's azp (v2) or appid (v1).
//   - backend-application-ids are accepted as audiences, as the GUID and as
//     api://GUID.
func compileValidateAzureADToken(c *compiler, n *Node) (statement, error) {
	if err := c.attrs(n, "tenant-id", "header-name", "query-parameter-name", "token-value", "authentication-endpoint",
		"failed-validation-httpcode", "failed-validation-error-message", "output-token-variable-name"); err != nil {
		return nil, err
	}
	tenantAttr, err := c.required(n, "tenant-id")
	if err != nil {
		return nil, err
	}
	tenant, err := c.constant(n, tenantAttr)
	if err != nil {
		return nil, err
	}
	tenant = strings.Trim(strings.TrimSpace(tenant), "/")
	if tenant == "" || strings.ContainsAny(tenant, "/?# ") {
		return nil, c.errf(n, tenantAttr.Pos, "attribute \"tenant-id\" must be a tenant GUID or domain, not %q", tenant)
	}
	endpoint := "https://login.microsoftonline.com/"
	if a, ok := n.Attr("authentication-endpoint"); ok {
		if endpoint, err = c.constant(n, a); err != nil {
			return nil, err
		}
		if _, err := parseCallURL(endpoint); err != nil {
			return nil, c.errf(n, a.Pos, "attribute \"authentication-endpoint\" needs an absolute https URL")
		}
	}
	discovery := strings.TrimRight(endpoint, "/") + "/" + tenant + "/v2.0/.well-known/openid-configuration"

	// The equivalent validate-jwt element; it keeps this element's name,
	// positions and path, so errors and LastError name it.
	jwtNode := &Node{Name: n.Name, Pos: n.Pos, Doc: n.Doc, Scope: n.Scope, Path: n.Path}
	hasSource := false
	for _, a := range n.Attrs {
		switch a.Name {
		case "tenant-id", "authentication-endpoint":
			continue
		case "header-name", "query-parameter-name", "token-value":
			hasSource = true
		}
		jwtNode.Attrs = append(jwtNode.Attrs, a)
	}
	if !hasSource {
		jwtNode.Attrs = append(jwtNode.Attrs, Attr{Name: "header-name", Value: "Authorization", Pos: n.Pos})
	}
	jwtNode.Children = append(jwtNode.Children, &Node{Name: "openid-config", Pos: n.Pos, Doc: n.Doc, Scope: n.Scope,
		Attrs: []Attr{{Name: "url", Value: discovery, Pos: n.Pos, ValuePos: n.Pos}}})
	var clientApps []string
	var backendAuds []*Node
	for _, ch := range n.Children {
		switch ch.Name {
		case "client-application-ids", "backend-application-ids":
			ids, err := c.itemConstants(ch, "application-id")
			if err != nil {
				return nil, err
			}
			if ch.Name == "client-application-ids" {
				clientApps = append(clientApps, ids...)
				continue
			}
			for _, id := range ids {
				for _, aud := range []string{id, "api://" + id} {
					backendAuds = append(backendAuds, &Node{Name: "audience", Pos: ch.Pos, Doc: ch.Doc, Text: aud, TextPos: ch.Pos})
				}
			}
		case "audiences", "required-claims":
			jwtNode.Children = append(jwtNode.Children, ch)
		default:
			return nil, c.errf(n, ch.Pos, "unexpected element <%s>", ch.Name)
		}
	}
	if backendAuds != nil {
		merged := false
		for _, ch := range jwtNode.Children {
			if ch.Name == "audiences" {
				ch.Children = append(append([]*Node(nil), ch.Children...), backendAuds...)
				merged = true
			}
		}
		if !merged {
			jwtNode.Children = append(jwtNode.Children, &Node{Name: "audiences", Pos: n.Pos, Doc: n.Doc, Children: backendAuds})
		}
	}
	s, err := compileValidateJWT(c, jwtNode)
	if err != nil {
		return nil, err
	}
	v := s.(*validateJWT)
	v.issuersOf = azureIssuers
	if len(clientApps) > 0 {
		v.admit = func(j *expr.Jwt) bool { return clientAllowed(j, clientApps) }
	}
	return v, nil
}

// azureIssuers adds the v1 issuer of the tenant of a v2 issuer
// (https://{host}/{tid}/v2.0).
func azureIssuers(v2 string) []string {
	parts := strings.Split(strings.TrimSuffix(v2, "/"), "/")
	if len(parts) < 2 || parts[len(parts)-1] != "v2.0" {
		return []string{v2}
	}
	return []string{v2, "https://sts.windows.net/" + parts[len(parts)-2] + "/"}
}

// clientAllowed checks client-application-ids against azp or appid.
func clientAllowed(j *expr.Jwt, clientApps []string) bool {
	for _, claim := range []string{"azp", "appid"} {
		got, _ := j.Claim(claim)
		for _, got := range got {
			for _, want := range clientApps {
				if strings.EqualFold(got, want) {
					return true
				}
			}
		}
	}
	return false
}
