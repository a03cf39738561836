package cutout

import "math"

// Tuning. Distances are Euclidean over premultiplied R, G, B, A (0..255
// each), so a fully transparent pixel is the same "colour" whatever its RGB.
const (
	// Global tolerance: how far a background pixel may be from the colour
	// the background surface (fitted to the border) predicts there. Derived
	// from how well the surface fits the border: tight on a clean backdrop,
	// loose on a textured one.
	globalMin, globalMax, globalBase, globalSpread = 20, 90, 16, 2.5
	// Local tolerance: how far a pixel may be from the background it is
	// reached from. Derived from the pixel-to-pixel noise along the border
	// (JPEG noise, paper texture) so it stops at real edges.
	localMin, localMax, localBase, localNoise = 10, 40, 8, 2.0
	// The fill's reference colour follows the background slowly (1/refLag
	// of each step), so it crosses gradients but not soft edges.
	refLag = 4
)

// subjectAlpha returns, for a premultiplied RGBA buffer of w×h pixels
// (stride 4w), the subject's alpha: 0 on background, 255 inside the
// subject, partial along the subject's edge, whose pixels it also rewrites
// in pix with the backdrop's colour removed (see refineEdge).
func subjectAlpha(pix []uint8, w, h int) []uint8 {
	// Compare colours on a slightly smoothed copy: sensor and JPEG noise
	// would otherwise force a tolerance loose enough to leak through faint
	// edges (glass, white products on white).
	soft := smooth(pix, w, h)
	m := backgroundModel(soft, w, h)
	mark := make([]uint8, w*h)
	fillBackground(soft, w, h, &m, mark)
	dropSpecks(mark, w, h, max(16, w*h/2500))
	alpha := feather(mark, w, h, featherRadius(w, h))
	refineEdge(pix, mark, alpha, w, h, &m)
	return alpha
}

// Marks in the fill's working array.
const (
	unseen     = 0
	background = 1
	subject    = 2
)

// model is what the fill knows about the background: the colour expected
// at each pixel and two squared tolerances.
type model struct {
	surface         surface
	rows            []rowQuad // the surface evaluated per row
	global2, local2 float32
}

// rowQuad is the surface along one row: a + b·u + c·u² per channel.
type rowQuad [4][3]float32

// dist2 is the squared distance of colour p from the background expected
// at (x, y).
func (m *model) dist2(x, y int, p []uint8) float32 {
	q := &m.rows[y]
	u := float32(x)*m.surface.su - 1
	var d float32
	for c := range 4 {
		e := q[c][0] + u*(q[c][1]+u*q[c][2]) - float32(p[c])
		d += e * e
	}
	return d
}

// backgroundModel fits the background surface to a ring along the border
// and derives the tolerances from how well it fits (global) and from the
// pixel-to-pixel noise of the border's background part (local).
func backgroundModel(pix []uint8, w, h int) model {
	ring := max(1, min(8, min(w, h)/100))
	// At most ~40k samples: plenty for six coefficients per channel.
	total := 0
	forRing(w, h, ring, func(int) { total++ })
	every := max(1, total/40000)
	var xs, ys []int32
	var cs [][4]float32
	k := 0
	forRing(w, h, ring, func(i int) {
		if k++; k%every != 0 {
			return
		}
		xs, ys = append(xs, int32(i%w)), append(ys, int32(i/w))
		p := pix[4*i : 4*i+4 : 4*i+4]
		cs = append(cs, [4]float32{float32(p[0]), float32(p[1]), float32(p[2]), float32(p[3])})
	})
	s := newSurface(w, h)
	in := make([]bool, len(cs))
	for i := range in {
		in[i] = true
	}
	var spread float32
	var hist quantiles
	// Fit, drop the samples far from the fit (the subject where it touches
	// the border, a shadow), refit.
	for range 4 {
		s.fit(xs, ys, cs, in)
		hist.reset()
		res := make([]float32, len(cs))
		for i := range cs {
			res[i] = float32(math.Sqrt(float64(s.dist2(int(xs[i]), int(ys[i]), cs[i]))))
			hist.add(res[i])
		}
		cut := max(6, 2.5*hist.at(0.5))
		hist.reset()
		for i, r := range res {
			if in[i] = r < cut; in[i] {
				hist.add(r)
			}
		}
		spread = hist.at(0.9)
	}
	g := clamp(globalBase+globalSpread*float64(spread), globalMin, globalMax)
	m := model{surface: s, rows: s.rows(h), global2: float32(g * g)}

	// Noise between neighbouring background pixels of the outermost ring.
	hist.reset()
	step := func(x0, y0, x1, y1 int) {
		i, j := y0*w+x0, y1*w+x1
		p, q := pix[4*i:4*i+4:4*i+4], pix[4*j:4*j+4:4*j+4]
		if m.dist2(x0, y0, p) >= m.global2 || m.dist2(x1, y1, q) >= m.global2 {
			return
		}
		d := 0
		for c := range 4 {
			v := int(p[c]) - int(q[c])
			d += v * v
		}
		hist.add(float32(math.Sqrt(float64(d))))
	}
	for x := 1; x < w; x++ {
		step(x-1, 0, x, 0)
		step(x-1, h-1, x, h-1)
	}
	for y := 1; y < h; y++ {
		step(0, y-1, 0, y)
		step(w-1, y-1, w-1, y)
	}
	l := clamp(localBase+localNoise*float64(hist.at(0.9)), localMin, localMax)
	m.local2 = float32(l * l)
	return m
}

// quantiles estimates quantiles of colour distances (0..~512) to within
// half a level, without sorting.
type quantiles struct {
	bins [1024]int32
	n    int
}

func (q *quantiles) reset() { *q = quantiles{} }

func (q *quantiles) add(v float32) {
	q.bins[min(len(q.bins)-1, max(0, int(v*2)))]++
	q.n++
}

// at returns the p-quantile, 0 when nothing was added.
func (q *quantiles) at(p float64) float32 {
	want := int(p * float64(q.n))
	seen := 0
	for i, c := range q.bins {
		if seen += int(c); seen > want {
			return float32(i) / 2
		}
	}
	return 0
}

// surface is a per-channel quadratic over the image, in coordinates
// normalised to [-1, 1]: it captures a plain backdrop, a gradient and a
// vignette with six coefficients per channel.
type surface struct {
	coef   [4][6]float32 // per channel, for 1, u, v, u², v², uv
	su, sv float32       // u = x*su - 1, v = y*sv - 1
}

func newSurface(w, h int) surface {
	return surface{su: 2 / float32(max(1, w-1)), sv: 2 / float32(max(1, h-1))}
}

func (s *surface) basis(x, y int) [6]float32 {
	u, v := float32(x)*s.su-1, float32(y)*s.sv-1
	return [6]float32{1, u, v, u * u, v * v, u * v}
}

// dist2 is the squared distance of colour c from the surface at (x, y).
func (s *surface) dist2(x, y int, c [4]float32) float32 {
	b := s.basis(x, y)
	var d float32
	for ch := range 4 {
		k := &s.coef[ch]
		e := k[0] + k[1]*b[1] + k[2]*b[2] + k[3]*b[3] + k[4]*b[4] + k[5]*b[5]
		e -= c[ch]
		d += e * e
	}
	return d
}

// rows evaluates the surface's v terms for each of h rows.
func (s *surface) rows(h int) []rowQuad {
	out := make([]rowQuad, h)
	for y := range out {
		v := float32(y)*s.sv - 1
		for c := range 4 {
			k := &s.coef[c]
			out[y][c] = [3]float32{k[0] + k[2]*v + k[4]*v*v, k[1] + k[5]*v, k[3]}
		}
	}
	return out
}

// fit sets the coefficients by least squares over the samples marked in.
// A small ridge keeps the system solvable when the samples cannot pin down
// every term (a 1-pixel-high image); it pulls those terms to 0, i.e. a flat
// backdrop.
func (s *surface) fit(xs, ys []int32, cs [][4]float32, in []bool) {
	var ata [6][6]float64
	var aty [6][4]float64
	n := 0
	for i := range cs {
		if !in[i] {
			continue
		}
		n++
		b := s.basis(int(xs[i]), int(ys[i]))
		for r := range 6 {
			for c := range 6 {
				ata[r][c] += float64(b[r] * b[c])
			}
			for ch := range 4 {
				aty[r][ch] += float64(b[r] * cs[i][ch])
			}
		}
	}
	if n == 0 {
		return
	}
	for r := 1; r < 6; r++ {
		ata[r][r] += 1e-3 * float64(n)
	}
	sol, ok := solve6(ata, aty)
	if !ok {
		return
	}
	for ch := range 4 {
		for r := range 6 {
			s.coef[ch][r] = float32(sol[r][ch])
		}
	}
}

// solve6 solves a x = b by Gauss-Jordan elimination with partial pivoting.
func solve6(a [6][6]float64, b [6][4]float64) ([6][4]float64, bool) {
	for col := range 6 {
		p := col
		for r := col + 1; r < 6; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[p][col]) {
				p = r
			}
		}
		if math.Abs(a[p][col]) < 1e-12 {
			return b, false
		}
		a[col], a[p] = a[p], a[col]
		b[col], b[p] = b[p], b[col]
		for r := range 6 {
			if r == col {
				continue
			}
			f := a[r][col] / a[col][col]
			for c := col; c < 6; c++ {
				a[r][c] -= f * a[col][c]
			}
			for ch := range 4 {
				b[r][ch] -= f * b[col][ch]
			}
		}
	}
	for r := range 6 {
		for ch := range 4 {
			b[r][ch] /= a[r][r]
		}
	}
	return b, true
}

// forRing calls f with the index of every pixel within width pixels of
// the border, each once.
func forRing(w, h, width int, f func(i int)) {
	width = min(width, (w+1)/2, (h+1)/2)
	for y := 0; y < h; y++ {
		if y < width || y >= h-width {
			for x := 0; x < w; x++ {
				f(y*w + x)
			}
			continue
		}
		for x := 0; x < width; x++ {
			f(y*w + x)
			f(y*w + w - 1 - x)
		}
	}
}

func clamp(v, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, v)) }

// fillItem is a pixel the fill has claimed, with the reference colour the
// fill carried to it; carrying the reference in the frontier keeps memory
// proportional to the frontier, not the image.
type fillItem struct {
	x, y int32
	ref  [4]uint8
}

// fillBackground marks as background every pixel connected to the border
// through pixels that stay within the global tolerance of the background
// surface and within the local tolerance of the (slowly following) colour
// the fill arrived with.
func fillBackground(pix []uint8, w, h int, m *model, mark []uint8) {
	// Breadth first, one frontier at a time: the frontier stays about as
	// long as the subject's outline, where a depth-first stack can grow to
	// the whole image.
	stack := make([]fillItem, 0, 4*(w+h))
	seed := func(x, y int) {
		i := y*w + x
		p := pix[4*i : 4*i+4 : 4*i+4]
		if mark[i] == unseen && m.dist2(x, y, p) < m.global2 {
			mark[i] = background
			stack = append(stack, fillItem{int32(x), int32(y), [4]uint8(p)})
		}
	}
	for x := 0; x < w; x++ {
		seed(x, 0)
		seed(x, h-1)
	}
	for y := 0; y < h; y++ {
		seed(0, y)
		seed(w-1, y)
	}
	local2 := int(m.local2)
	next := make([]fillItem, 0, cap(stack))
	for len(stack) > 0 {
		for _, it := range stack {
			x, y := int(it.x), int(it.y)
			var nb [4][2]int
			n := 0
			if x > 0 {
				nb[n] = [2]int{x - 1, y}
				n++
			}
			if x < w-1 {
				nb[n] = [2]int{x + 1, y}
				n++
			}
			if y > 0 {
				nb[n] = [2]int{x, y - 1}
				n++
			}
			if y < h-1 {
				nb[n] = [2]int{x, y + 1}
				n++
			}
			for _, q := range nb[:n] {
				j := q[1]*w + q[0]
				if mark[j] != unseen {
					continue
				}
				p := pix[4*j : 4*j+4 : 4*j+4]
				d0 := int(p[0]) - int(it.ref[0])
				d1 := int(p[1]) - int(it.ref[1])
				d2 := int(p[2]) - int(it.ref[2])
				d3 := int(p[3]) - int(it.ref[3])
				if d0*d0+d1*d1+d2*d2+d3*d3 >= local2 || m.dist2(q[0], q[1], p) >= m.global2 {
					continue
				}
				mark[j] = background
				next = append(next, fillItem{int32(q[0]), int32(q[1]), [4]uint8{
					uint8(int(it.ref[0]) + d0/refLag),
					uint8(int(it.ref[1]) + d1/refLag),
					uint8(int(it.ref[2]) + d2/refLag),
					uint8(int(it.ref[3]) + d3/refLag),
				}})
			}
		}
		stack, next = next, stack[:0]
	}
}

// dropSpecks turns subject components (4-connected) smaller than minArea
// pixels into background: dust on the backdrop, JPEG blocks, noise.
// Afterwards every pixel is background or subject.
func dropSpecks(mark []uint8, w, h, minArea int) {
	var comp, stack []int32
	for start := range mark {
		if mark[start] != unseen {
			continue
		}
		comp, stack = comp[:0], append(stack[:0], int32(start))
		mark[start] = subject
		for len(stack) > 0 {
			i := int(stack[len(stack)-1])
			stack = stack[:len(stack)-1]
			comp = append(comp, int32(i))
			x := i % w
			push := func(j int) {
				if mark[j] == unseen {
					mark[j] = subject
					stack = append(stack, int32(j))
				}
			}
			if x > 0 {
				push(i - 1)
			}
			if x < w-1 {
				push(i + 1)
			}
			if i >= w {
				push(i - w)
			}
			if i < (h-1)*w {
				push(i + w)
			}
		}
		if len(comp) < minArea {
			for _, i := range comp {
				mark[i] = background
			}
		}
	}
}

func featherRadius(w, h int) int {
	if min(w, h) >= 1500 {
		return 2
	}
	return 1
}

// feather turns the subject/background marks into an alpha mask whose edge
// ramps over r pixels: each subject pixel's alpha is the share of subject
// pixels in the (2r+1)² box around it (counting only the part of the box
// inside the image, so a subject cut by the frame stays opaque there).
// Background stays 0, so the ramp lies inside the subject and no background
// colour bleeds into the edge.
func feather(mark []uint8, w, h, r int) []uint8 {
	counts := boxCount(mark, subject, w, h, r)
	alpha := counts // reuse: each value is read once before it is written
	for y := 0; y < h; y++ {
		bh := min(h-1, y+r) - max(0, y-r) + 1
		for x := 0; x < w; x++ {
			i := y*w + x
			if mark[i] != subject {
				alpha[i] = 0
				continue
			}
			n := bh * (min(w-1, x+r) - max(0, x-r) + 1)
			alpha[i] = uint8((int(counts[i])*255 + n/2) / n)
		}
	}
	return alpha
}

// boxCount returns, for every pixel, how many pixels of the (2r+1)² box
// around it (inside the image) are marked v. r must be at most 7.
func boxCount(mark []uint8, v uint8, w, h, r int) []uint8 {
	rows := make([]uint8, w*h)
	for y := 0; y < h; y++ {
		row := mark[y*w : y*w+w]
		out := rows[y*w : y*w+w]
		s := 0
		for x := 0; x <= min(r, w-1); x++ {
			if row[x] == v {
				s++
			}
		}
		for x := 0; x < w; x++ {
			out[x] = uint8(s)
			if x+r+1 < w && row[x+r+1] == v {
				s++
			}
			if x-r >= 0 && row[x-r] == v {
				s--
			}
		}
	}
	counts := make([]uint8, w*h)
	col := make([]int, w)
	for y := 0; y <= min(r, h-1); y++ {
		for x := range col {
			col[x] += int(rows[y*w+x])
		}
	}
	for y := 0; y < h; y++ {
		out := counts[y*w : y*w+w]
		for x, c := range col {
			out[x] = uint8(c)
		}
		if y+r+1 < h {
			for x, a := range rows[(y+r+1)*w : (y+r+2)*w] {
				col[x] += int(a)
			}
		}
		if y-r >= 0 {
			for x, a := range rows[(y-r)*w : (y-r+1)*w] {
				col[x] -= int(a)
			}
		}
	}
	return counts
}

// smooth returns a 3×3 box-filtered copy of a 4-channel w×h buffer, the
// image's edge pixels repeated outward. Horizontal sums are kept for three
// rows at a time only.
func smooth(pix []uint8, w, h int) []uint8 {
	stride := 4 * w
	var ring [3][]uint16
	for i := range ring {
		ring[i] = make([]uint16, stride)
	}
	rowSums := func(y int) []uint16 {
		out := ring[y%3]
		row := pix[y*stride : (y+1)*stride]
		if w == 1 {
			for c := range 4 {
				out[c] = 3 * uint16(row[c])
			}
			return out
		}
		for c := range 4 {
			out[c] = 2*uint16(row[c]) + uint16(row[4+c])
			out[stride-4+c] = uint16(row[stride-8+c]) + 2*uint16(row[stride-4+c])
		}
		for i := 4; i < stride-4; i++ {
			out[i] = uint16(row[i-4]) + uint16(row[i]) + uint16(row[i+4])
		}
		return out
	}
	out := make([]uint8, len(pix))
	prev, cur := rowSums(0), rowSums(0)
	for y := range h {
		next := cur
		if y+1 < h {
			next = rowSums(y + 1)
		}
		dst := out[y*stride : (y+1)*stride]
		for i := range dst {
			s := uint32(prev[i]) + uint32(cur[i]) + uint32(next[i])
			dst[i] = uint8((s*7282 + 1<<15) >> 16) // s/9, rounded
		}
		prev, cur = cur, next
	}
	return out
}
