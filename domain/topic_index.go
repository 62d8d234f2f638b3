package domain

import "slices"

// Index holds bindings from topic patterns to values and finds the values whose
// patterns match a routing key, with the same semantics as Match, in time that
// depends on the key and the shape of the patterns rather than on how many
// bindings there are.
//
// Each (pattern, value) pair is reference-counted: adding it twice and removing
// it once leaves it bound, as RabbitMQ keeps bindings that differ only in their
// arguments.
//
// An Index is not safe for concurrent use: callers serialise Add and Remove
// with every other call. Match does not modify the Index, so concurrent Match
// calls are safe under a read lock.
//
// The zero value is an empty Index ready to use.
type Index[V comparable] struct {
	root node[V]
	n    int // bindings held, counting duplicates
}

// node is one trie node; the path from the root spells a pattern word by word.
type node[V comparable] struct {
	words map[string]*node[V] // children for literal words
	star  *node[V]            // child for "*"
	hash  *node[V]            // child for "#"
	loop  bool                // this node is a "#" child, so it absorbs any word
	refs  map[V]int           // values whose pattern ends here, with binding counts
}

// NewIndex returns an empty Index.
func NewIndex[V comparable]() *Index[V] {
	return &Index[V]{}
}

// Len returns the number of bindings held, counting a (pattern, value) pair
// added twice as two.
func (ix *Index[V]) Len() int {
	return ix.n
}

// Add binds v to the pattern binding. Adding a pair that is already bound
// increments its count. Add does not validate the pattern; see ValidateBinding.
func (ix *Index[V]) Add(binding string, v V) {
	n := &ix.root
	for w := range words(binding) {
		n = n.childOrNew(w)
	}
	if n.refs == nil {
		n.refs = make(map[V]int, 1)
	}
	n.refs[v]++
	ix.n++
}

// Remove undoes one Add of (binding, v) and reports whether the pair was bound.
// Trie nodes left with neither values nor children are freed.
func (ix *Index[V]) Remove(binding string, v V) bool {
	type step struct {
		parent *node[V]
		word   string
	}
	var buf [16]step
	path := buf[:0]
	n := &ix.root
	for w := range words(binding) {
		c := n.child(w)
		if c == nil {
			return false
		}
		path = append(path, step{n, w})
		n = c
	}
	count, ok := n.refs[v]
	if !ok {
		return false
	}
	switch {
	case count > 1:
		n.refs[v] = count - 1
	case len(n.refs) == 1:
		n.refs = nil
	default:
		delete(n.refs, v)
	}
	ix.n--
	for i := len(path) - 1; i >= 0 && n.empty(); i-- {
		n = path[i].parent
		n.unlink(path[i].word)
	}
	return true
}

// Match appends to dst every distinct value bound to a pattern that matches
// key, and returns the extended slice. A value bound by several matching
// patterns appears once. The order is unspecified.
//
// Match does not allocate when dst has room for the result, unless an unusual
// set of patterns keeps more than 16 trie nodes live at once.
func (ix *Index[V]) Match(key string, dst []V) []V {
	// Run the trie as an automaton over the key's words, one set of live nodes
	// per position. Keeping the sets free of duplicates bounds the work by the
	// number of nodes, however many ways "#" words could split the key.
	var bufA, bufB [16]*node[V]
	live := addLive(bufA[:0], &ix.root)
	next := bufB[:0]
	for i := firstWord(key); i <= len(key) && len(live) > 0; {
		w, after := wordAt(key, i)
		next = next[:0]
		for _, n := range live {
			if n.loop {
				next = addLive(next, n)
			}
			if c := n.words[w]; c != nil {
				next = addLive(next, c)
			}
			if n.star != nil {
				next = addLive(next, n.star)
			}
		}
		live, next = next, live
		i = after
	}
	for k, n := range live {
		for v := range n.refs {
			if !boundAtAny(live[:k], v) {
				dst = append(dst, v)
			}
		}
	}
	return dst
}

// addLive adds n to the set live, with the "#" children that follow it, since
// "#" matches zero words.
func addLive[V comparable](live []*node[V], n *node[V]) []*node[V] {
	for ; n != nil; n = n.hash {
		if slices.Contains(live, n) {
			break // its "#" children are already in too
		}
		live = append(live, n)
	}
	return live
}

func boundAtAny[V comparable](nodes []*node[V], v V) bool {
	for _, n := range nodes {
		if _, ok := n.refs[v]; ok {
			return true
		}
	}
	return false
}

func (n *node[V]) child(w string) *node[V] {
	switch w {
	case "*":
		return n.star
	case "#":
		return n.hash
	}
	return n.words[w]
}

func (n *node[V]) childOrNew(w string) *node[V] {
	if c := n.child(w); c != nil {
		return c
	}
	c := &node[V]{loop: w == "#"}
	switch w {
	case "*":
		n.star = c
	case "#":
		n.hash = c
	default:
		if n.words == nil {
			n.words = make(map[string]*node[V])
		}
		n.words[w] = c
	}
	return c
}

func (n *node[V]) unlink(w string) {
	switch w {
	case "*":
		n.star = nil
	case "#":
		n.hash = nil
	default:
		delete(n.words, w)
		if len(n.words) == 0 {
			n.words = nil // a Go map never shrinks; drop it so churn cannot leak
		}
	}
}

func (n *node[V]) empty() bool {
	return n.words == nil && n.star == nil && n.hash == nil && n.refs == nil
}
