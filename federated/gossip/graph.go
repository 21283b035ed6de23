package gossip

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Graph is an undirected peer graph on nodes 0..N-1 without self-loops or
// parallel edges. Neighbour lists are sorted.
type Graph struct {
	adj [][]int
}

// N returns the number of nodes.
func (g Graph) N() int { return len(g.adj) }

// Neighbors returns node i's neighbours in ascending order. The slice must not
// be modified.
func (g Graph) Neighbors(i int) []int { return g.adj[i] }

// Degree returns the number of neighbours of node i.
func (g Graph) Degree(i int) int { return len(g.adj[i]) }

// Edges returns each edge once as (i, j) with i < j, in order.
func (g Graph) Edges() [][2]int {
	var es [][2]int
	for i, nb := range g.adj {
		for _, j := range nb {
			if i < j {
				es = append(es, [2]int{i, j})
			}
		}
	}
	return es
}

// Connected reports whether every node can reach every other.
func (g Graph) Connected() bool {
	n := g.N()
	if n == 0 {
		return true
	}
	seen := make([]bool, n)
	stack := []int{0}
	seen[0] = true
	count := 1
	for len(stack) > 0 {
		i := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		for _, j := range g.adj[i] {
			if !seen[j] {
				seen[j] = true
				count++
				stack = append(stack, j)
			}
		}
	}
	return count == n
}

// FromEdges builds a graph on n nodes from an edge list; it refuses
// self-loops and out-of-range nodes and merges duplicate edges.
func FromEdges(n int, edges [][2]int) (Graph, error) {
	if n < 0 {
		return Graph{}, fmt.Errorf("gossip: %d nodes", n)
	}
	sets := make([]map[int]bool, n)
	for i := range sets {
		sets[i] = map[int]bool{}
	}
	for _, e := range edges {
		a, b := e[0], e[1]
		if a < 0 || b < 0 || a >= n || b >= n {
			return Graph{}, fmt.Errorf("gossip: edge (%d, %d) outside 0..%d", a, b, n-1)
		}
		if a == b {
			return Graph{}, fmt.Errorf("gossip: self-loop at node %d", a)
		}
		sets[a][b] = true
		sets[b][a] = true
	}
	g := Graph{adj: make([][]int, n)}
	for i, s := range sets {
		nb := make([]int, 0, len(s))
		for j := range s {
			nb = append(nb, j)
		}
		slices.Sort(nb)
		g.adj[i] = nb
	}
	return g, nil
}

func mustEdges(n int, edges [][2]int) Graph {
	g, err := FromEdges(n, edges)
	if err != nil {
		panic(err) // unreachable: callers build valid edges
	}
	return g
}

// Ring connects node i to i±1 (mod n). A ring of 2 is one edge; of 1, no edge.
func Ring(n int) Graph {
	var es [][2]int
	if n >= 2 {
		for i := 0; i < n; i++ {
			if j := (i + 1) % n; i != j {
				es = append(es, [2]int{i, j})
			}
		}
	}
	return mustEdges(max(n, 0), es)
}

// Torus is a rows x cols grid with wrap-around; node (r, c) is r*cols+c and
// has up to four neighbours (fewer where a side has length 1 or 2).
func Torus(rows, cols int) Graph {
	rows, cols = max(rows, 0), max(cols, 0)
	var es [][2]int
	id := func(r, c int) int { return ((r+rows)%rows)*cols + (c+cols)%cols }
	for r := 0; r < rows; r++ {
		for c := 0; c < cols; c++ {
			if cols > 1 {
				es = append(es, [2]int{id(r, c), id(r, c+1)})
			}
			if rows > 1 {
				es = append(es, [2]int{id(r, c), id(r+1, c)})
			}
		}
	}
	return mustEdges(rows*cols, es)
}

// Complete connects every pair of nodes.
func Complete(n int) Graph {
	var es [][2]int
	for i := 0; i < n; i++ {
		for j := i + 1; j < n; j++ {
			es = append(es, [2]int{i, j})
		}
	}
	return mustEdges(max(n, 0), es)
}

// ErrNoRegularGraph is returned when RandomRegular cannot build the graph.
var ErrNoRegularGraph = errors.New("gossip: no random regular graph")

// RandomRegular returns a uniformly-ish random d-regular simple graph on n
// nodes, by the pairing (configuration) model with restarts: stubs are
// matched at random, and a matching with a self-loop or a repeated edge is
// thrown away. It needs 0 <= d < n and n*d even. The result depends only on
// (n, d, seed). Pairing is practical for the small degrees gossip uses; for
// d close to n it may give up (ErrNoRegularGraph) after many restarts.
func RandomRegular(n, d int, seed uint64) (Graph, error) {
	if n < 1 || d < 0 || d >= n || (n*d)%2 != 0 {
		return Graph{}, fmt.Errorf("%w: n=%d, d=%d (need 0 <= d < n, n*d even)", ErrNoRegularGraph, n, d)
	}
	if d == n-1 {
		return Complete(n), nil
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed_9055))
	stubs := make([]int, 0, n*d)
	const attempts = 10000
	for try := 0; try < attempts; try++ {
		stubs = stubs[:0]
		for i := 0; i < n; i++ {
			for k := 0; k < d; k++ {
				stubs = append(stubs, i)
			}
		}
		rng.Shuffle(len(stubs), func(i, j int) { stubs[i], stubs[j] = stubs[j], stubs[i] })
		seen := map[[2]int]bool{}
		ok := true
		es := make([][2]int, 0, len(stubs)/2)
		for k := 0; k < len(stubs); k += 2 {
			a, b := stubs[k], stubs[k+1]
			if a == b {
				ok = false
				break
			}
			if a > b {
				a, b = b, a
			}
			if seen[[2]int{a, b}] {
				ok = false
				break
			}
			seen[[2]int{a, b}] = true
			es = append(es, [2]int{a, b})
		}
		if ok {
			return mustEdges(n, es), nil
		}
	}
	return Graph{}, fmt.Errorf("%w: pairing failed %d times for n=%d, d=%d", ErrNoRegularGraph, attempts, n, d)
}
