package memory

import (
	"sync"
	"time"
)

// queue is one FIFO of requests with its consumers, modelled on a RabbitMQ
// queue: a request goes straight to a consumer with free prefetch credit,
// chosen round-robin, or waits in the backlog until one frees up.
type queue struct {
	name     string
	limit    int                 // most requests in the backlog
	bindings map[string]struct{} // guarded by Transport.mu

	mu        sync.Mutex
	backlog   []*message // FIFO; head at index 0
	consumers []*consumer
	next      int // round-robin cursor into consumers
}

// consumer is one subscription's share of a queue: it may hold at most
// prefetch unsettled requests, delivered on ch.
type consumer struct {
	ch       chan *message // capacity prefetch; never blocks a sender that has credit
	credit   int           // free prefetch slots; guarded by queue.mu
	detached bool          // guarded by queue.mu
}

func newQueue(name string, limit int) *queue {
	return &queue{name: name, limit: limit, bindings: make(map[string]struct{})}
}

// publish hands m to a consumer with credit or appends it to the backlog. It
// returns false when the backlog is full (reject-publish). It never blocks.
// expired says whether m is past its deadline (read once by the sender for
// every queue): it would be at the head of an empty backlog, where RabbitMQ
// drops an expired message unseen, so it is dropped.
func (q *queue) publish(m *message, expired bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.backlog) == 0 {
		if expired {
			return true
		}
		if c := q.pick(); c != nil {
			c.credit--
			c.ch <- m
			return true
		}
	}
	if len(q.backlog) >= q.limit {
		q.dropExpired(time.Now())
		if len(q.backlog) >= q.limit {
			return false
		}
	}
	q.backlog = append(q.backlog, m)
	return true
}

// pick returns the next consumer with credit, round-robin. Call with q.mu held.
func (q *queue) pick() *consumer {
	n := len(q.consumers)
	for i := range n {
		c := q.consumers[(q.next+i)%n]
		if c.credit > 0 {
			q.next = (q.next + i + 1) % n
			return c
		}
	}
	return nil
}

// attach adds a consumer and feeds it from the backlog.
func (q *queue) attach(c *consumer) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.consumers = append(q.consumers, c)
	q.feed(c)
}

// settle returns one credit to c (its request is done) and feeds it the next
// request waiting in the backlog.
func (q *queue) settle(c *consumer) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c.credit++
	if !c.detached {
		q.feed(c)
	}
}

// feed moves backlog requests to c while it has credit, dropping expired
// ones. Call with q.mu held.
func (q *queue) feed(c *consumer) {
	if len(q.backlog) == 0 {
		return
	}
	now := time.Now()
	for c.credit > 0 && len(q.backlog) > 0 {
		m := q.backlog[0]
		q.backlog[0] = nil
		q.backlog = q.backlog[1:]
		if m.req.Expired(now) {
			continue
		}
		c.credit--
		c.ch <- m
	}
	if len(q.backlog) == 0 {
		q.backlog = q.backlog[:0:0] // let a drained backlog's array go
	}
}

// detach takes c out of the rotation. Requests delivered to it but not
// started go back to the head of the backlog, in order, and on to the other
// consumers.
func (q *queue) detach(c *consumer) {
	q.mu.Lock()
	defer q.mu.Unlock()
	c.detached = true
	for i, x := range q.consumers {
		if x == c {
			q.consumers = append(q.consumers[:i], q.consumers[i+1:]...)
			break
		}
	}
	if q.next >= len(q.consumers) {
		q.next = 0
	}
	var unstarted []*message
	for len(c.ch) > 0 {
		unstarted = append(unstarted, <-c.ch)
	}
	close(c.ch) // nobody sends to a detached consumer: its workers end
	q.requeue(unstarted...)
}

// requeue puts requests back at the head of the backlog and feeds the
// consumers. Call with q.mu held.
func (q *queue) requeue(ms ...*message) {
	if len(ms) == 0 {
		return
	}
	q.backlog = append(ms, q.backlog...)
	for _, c := range q.consumers {
		q.feed(c)
	}
}

// dropExpired removes backlog requests past their deadline. Call with q.mu held.
func (q *queue) dropExpired(now time.Time) {
	kept := q.backlog[:0]
	for _, m := range q.backlog {
		if !m.req.Expired(now) {
			kept = append(kept, m)
		}
	}
	clear(q.backlog[len(kept):])
	q.backlog = kept
}
