// Package web is the web console: a primary adapter, beside the command
// line (cmd/internal/cli, which wires it as `topicrpc web`), that shows the
// fleet register live and runs calls from a browser. It depends on app and
// domain only: the transport, the signing key and discovery are the
// client's, built by the command line exactly as for `topicrpc call`.
//
// What the browser gets:
//   - GET /: the page (html/template), the fleet as last read, a call form.
//   - GET /api/fleet: server-sent events, one "fleet" event per reading of
//     the register (every Config.FleetEvery while someone watches).
//   - GET /api/preview?target=T[&any=1]: who a call to T would reach, by
//     the register and the domain's topic matching.
//   - POST /api/calls: starts a call; GET /api/calls/{id}/events streams it
//     (server-sent events, resumable with Last-Event-ID); GET /calls/{id}
//     renders it as a page.
//   - GET /jobs, /jobs/{id}: the results store, when Config.Jobs has one.
//
// Safety, in the order a request meets it (handler.go): security headers
// with a strict Content-Security-Policy (scripts and styles from this
// origin only, no inline script, no framing); the Host check (a console
// without authentication answers only to loopback host names, so a DNS
// rebinding page cannot reach it); authentication (a session cookie given
// for the token, when Config.Token is set); CSRF on every state-changing
// request (the session's token in a header or form field, and Origin and
// Sec-Fetch-Site naming this origin). Results are text everywhere:
// html/template escapes what the server renders and the script writes
// only textContent, never HTML.
package web
