package amqp

import (
	"regexp"
	"strings"
)

// Permissions are a RabbitMQ user's configure, write and read permissions
// on a vhost: regular expressions over the names of the exchanges and queues
// the user may declare or delete (Configure), publish to or bind a queue to
// (Write), and consume, get from, or bind from (Read).
type Permissions struct {
	Configure, Write, Read string
}

// LeastPrivilege returns the permissions a fleet's servers and its callers
// need on namespace ns (Config.Exchange ns, Config.QueuePrefix ns+"."), and
// no more:
//
//   - servers declare and consume their own queues, the work and presence
//     exchanges and the register, bind to the request exchange, reply
//     through the default exchange: everything under the namespace;
//   - callers publish requests (to ns and ns.work) and presence queries,
//     read the register, watch presence on a server-named queue of their
//     own, take replies on direct reply-to, and write their call records
//     to, and read jobs from, the results store (ns.jobs, ns.jobs.results:
//     every caller reads every job; stored replies are signed). They may not bind a queue to
//     the request exchange (no read on ns), consume a server's queue (no
//     read on ns.<server>), nor publish to a queue directly (no write on
//     the default exchange): a caller account can neither read other calls
//     nor answer in a server's name.
//
// Retiring servers (topicrpc forget) deletes their queues: it needs the
// server permissions.
func LeastPrivilege(ns string) (servers, callers Permissions) {
	q := regexp.QuoteMeta(ns)
	servers = Permissions{
		Configure: "^(" + q + `|` + q + `\..*|amq\.gen-.*)$`,
		Write:     "^(" + q + `|` + q + `\..*|amq\.gen-.*|amq\.default)$`,
		Read:      "^(" + q + `|` + q + `\..*|amq\.gen-.*)$`,
	}
	// A presence watcher's own queue: QueuePrefix + "presence." + a random
	// base32 word (upper case, so never the "presence.query" exchange).
	watcher := q + `\.presence\.[A-Z2-7]+`
	callers = Permissions{
		Configure: "^(" + watcher + `|amq\.gen-.*)$`,
		Write:     "^(" + strings.Join([]string{q, q + `\.work`, q + `\.presence`, q + `\.presence\.query`, q + `\.jobs`, watcher, `amq\.gen-.*`}, "|") + ")$",
		Read:      "^(" + strings.Join([]string{q + `\.presence`, q + `\.fleet\.register`, q + `\.jobs\.results`, watcher, `amq\.gen-.*`, `amq\.rabbitmq\.reply-to`}, "|") + ")$",
	}
	return servers, callers
}
