package policy

// The gateway's own refusals, before any policy of the route runs: a
// request the router will not route (request_shape.go), one below the TLS
// floor (tls_floor.go), one without a valid subscription key
// (subscription.go).

// rejectRequest fails a request before any policy runs: it is the whole
// inbound of a refusal program (400 by default).
type rejectRequest struct {
	stmtMeta
	reason, message string
	status          int    // 0: 400
	body            string // "": {"statusCode":400,"message":"Bad request."}
}

func (r *rejectRequest) run(*Exec) error {
	status, body := r.status, r.body
	if status == 0 {
		status, body = 400, errorBody(400, "Bad request.")
	}
	return &Failure{Source: r.element, Reason: r.reason, Status: status, Body: body, Message: r.message, scope: r.scope}
}
