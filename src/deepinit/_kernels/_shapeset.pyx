"""Shapeset-3x2 renderer: 32x32 grey images of 1 or 2 triangles, parallelograms, ellipses.

The dataset of Glorot & Bengio (2010), section 2.1; the distributions the paper
leaves open are chosen here and documented in docs/shapeset.md. The Python side
(validation, allocation, streams, splits) is ``deepinit.datasets.shapeset``.

Determinism
-----------
Example ``i`` of stream ``(seed, stream)`` is a pure function of those three
integers. Its random numbers come from a counter-based generator: the example's
key is ``mix(mix(mix(seed ^ C) ^ stream) ^ i)`` and its ``d``-th uniform draw is
``mix(key + d * GAMMA)`` (SplitMix64 addressed by counter), so no state is
shared between examples. The work of one example never depends on which thread
renders it or on which other examples are in the same call: outputs are
bitwise identical for any ``n_threads``, any chunking of the index range, any
process. (Bitwise identity across *builds* additionally needs the same
floating-point code generation, e.g. no FMA contraction from ``-march=native``.)

Rendering
---------
Every shape is convex and is tested on a 16-sample sub-pixel pattern (a rank-1
lattice: sample ``k`` at ``((k + 0.5) / 16, ((5 k) mod 16 + 0.5) / 16)`` within
the pixel, so an axis-aligned edge still has 16 coverage levels). A shape's
coverage of a pixel is kept as a 16-bit mask, one bit per sub-sample: the overlap
of two shapes is then exact at sub-sample resolution (``popcount(m1 & m2)``),
and so is the composite, which colours each sub-sample by the topmost object
covering it. Polygons are tested with normalized edge functions, ellipses with
the quadratic form of their canonical disk; pixels whose centre is farther than
the pixel's half-diagonal from the boundary are classified whole without
sub-sampling, so only boundary pixels cost 16 tests.
"""

from cython cimport floating
from cython.parallel cimport prange
from libc.math cimport sin, cos, sqrt, floor, ceil, NAN, M_PI
from libc.stdint cimport int32_t, int64_t, uint16_t, uint64_t
from libc.string cimport memset

cdef extern from *:
    """
    #include <stdint.h>
    /* SplitMix64 finalizer (Stafford's Mix13): a bijection on 64-bit words. */
    static inline uint64_t deepinit_mix64(uint64_t z) {
        z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
        return z ^ (z >> 31);
    }
    #define DEEPINIT_GAMMA UINT64_C(0x9E3779B97F4A7C15)
    #define DEEPINIT_SHAPESET_SALT UINT64_C(0x5348415045534554) /* "SHAPESET" */
    static inline int deepinit_popcount16(unsigned int x) {
        x = x - ((x >> 1) & 0x5555u);
        x = (x & 0x3333u) + ((x >> 2) & 0x3333u);
        x = (x + (x >> 4)) & 0x0F0Fu;
        return (int)((x + (x >> 8)) & 0x1Fu);
    }
    """
    uint64_t mix64 "deepinit_mix64"(uint64_t z) noexcept nogil
    uint64_t GAMMA "DEEPINIT_GAMMA"
    uint64_t SALT "DEEPINIT_SHAPESET_SALT"
    int popcount16 "deepinit_popcount16"(unsigned int x) noexcept nogil


GENERATOR_VERSION = "shapeset-3x2/1"

cdef enum:
    SIZE = 32            # image side, pixels
    NPIX = 1024
    NSUB = 16            # sub-samples per pixel (one bit each in a uint16 mask)
    FULL_MASK = 0xFFFF
    N_SHAPE_CLASSES = 9
    TRIANGLE = 0
    PARALLELOGRAM = 1
    ELLIPSE = 2
    NONE = -1
    # Rejection of the second object: MAX_TRIES candidates per first object, and
    # the first object itself is redrawn up to MAX_RESTARTS times (in practice a
    # handful of tries suffice; see the ``attempts`` metadata field).
    MAX_TRIES = 32
    MAX_RESTARTS = 64
    META_OBJ = 5         # first per-object metadata column
    META_OBJ_K = 16      # columns per object
    META_K = META_OBJ + 2 * META_OBJ_K

# Distribution parameters (module globals so that nogil code reads them; the
# Python dict PARAMS below is built from these same values).
cdef double EXTENT_MIN = 8.0          # larger side of the rotated bounding box, px
cdef double EXTENT_MAX = 24.0
cdef double MARGIN = 1.0              # free border kept around every object, px
cdef double MIN_CONTRAST = 0.2        # |grey - grey underneath| lower bound
cdef double MAX_OVERLAP = 0.5         # of the first object's covered area
cdef double TRI_MIN_ANGLE_DEG = 30.0
cdef double PAR_RATIO_MIN = 0.5       # short side / long side
cdef double PAR_ANGLE_MIN_DEG = 50.0  # angle between the sides, both chiralities
cdef double PAR_ANGLE_MAX_DEG = 130.0
cdef double TRI_MIN_ANGLE = TRI_MIN_ANGLE_DEG * M_PI / 180.0
cdef double PAR_ANGLE_MIN = PAR_ANGLE_MIN_DEG * M_PI / 180.0
cdef double PAR_ANGLE_MAX = PAR_ANGLE_MAX_DEG * M_PI / 180.0
cdef double ELL_RATIO_MIN = 0.4       # minor axis / major axis

# Class c -> (first shape, second shape or NONE), in the documented label order.
cdef int CLASS_A[9]
cdef int CLASS_B[9]
CLASS_A[:] = [TRIANGLE, PARALLELOGRAM, ELLIPSE, TRIANGLE, TRIANGLE, TRIANGLE,
              PARALLELOGRAM, PARALLELOGRAM, ELLIPSE]
CLASS_B[:] = [NONE, NONE, NONE, TRIANGLE, PARALLELOGRAM, ELLIPSE,
              PARALLELOGRAM, ELLIPSE, ELLIPSE]

cdef double SUB_X[16]
cdef double SUB_Y[16]
SUB_X[:] = [(k + 0.5) / 16 for k in range(16)]
SUB_Y[:] = [((5 * k) % 16 + 0.5) / 16 for k in range(16)]

SHAPE_NAMES = ("triangle", "parallelogram", "ellipse")
CLASS_SHAPES = tuple(
    tuple(SHAPE_NAMES[k] for k in (a, b) if k != NONE) for a, b in zip(CLASS_A, CLASS_B)
)
N_CLASSES = N_SHAPE_CLASSES
IMAGE_SIZE = SIZE
PARAMS = {
    "image_size": SIZE,
    "subsamples_per_pixel": NSUB,
    "subsample_pattern": "rank-1 lattice ((k+0.5)/16, ((5k mod 16)+0.5)/16)",
    "class_prior": "uniform over the 9 classes",
    "background_grey": [0.0, 1.0],
    "min_contrast": MIN_CONTRAST,
    "extent_px": [EXTENT_MIN, EXTENT_MAX],
    "margin_px": MARGIN,
    "rotation_deg": [0.0, 360.0],
    "max_overlap": MAX_OVERLAP,
    "triangle_min_angle_deg": TRI_MIN_ANGLE_DEG,
    "parallelogram_side_ratio": [PAR_RATIO_MIN, 1.0],
    "parallelogram_angle_deg": [PAR_ANGLE_MIN_DEG, PAR_ANGLE_MAX_DEG],
    "ellipse_axis_ratio": [ELL_RATIO_MIN, 1.0],
    "max_tries": MAX_TRIES,
    "max_restarts": MAX_RESTARTS,
}

# Columns of the optional metadata array (see ``render``).
META_FIELDS = ("label", "n_objects", "overlap", "background", "attempts") + tuple(
    name
    for j in (1, 2)
    for name in ([f"{field}{j}" for field in ("kind", "grey", "area", "mass", "xmin", "ymin", "xmax", "ymax")]
                 + [f"geom{j}_{k}" for k in range(8)])
)
assert len(META_FIELDS) == META_K


# --------------------------------------------------------------------------- #
# Counter-based random numbers
# --------------------------------------------------------------------------- #

cdef struct Rng:
    uint64_t key
    uint64_t counter


cdef inline uint64_t example_key(uint64_t seed, uint64_t stream, uint64_t index) noexcept nogil:
    # Each step is a bijection, so distinct indices of one stream get distinct keys.
    return mix64(mix64(mix64(seed ^ SALT) ^ stream) ^ index)


cdef inline double uniform(Rng* rng) noexcept nogil:
    """The next uniform draw in [0, 1) (53 random bits)."""
    rng.counter += 1
    return <double>(mix64(rng.key + rng.counter * GAMMA) >> 11) * (1.0 / 9007199254740992.0)


# --------------------------------------------------------------------------- #
# Shapes: geometry and rasterization
# --------------------------------------------------------------------------- #

cdef struct Shape:
    int kind
    int n_edges                  # 3 or 4 for polygons, 0 for the ellipse
    double ea[4]                 # polygon: inside iff ea x + eb y + ec >= 0 for all
    double eb[4]                 # edges, (ea, eb) a unit normal, so the value is a
    double ec[4]                 # signed distance in pixels
    double cx, cy                # ellipse: (u, v) = Q (p - c), inside iff u^2 + v^2 <= 1
    double q00, q01, q10, q11
    double qr                    # largest change of |(u, v)| within a pixel
    double xmin, ymin, xmax, ymax    # bounding box, continuous pixel coordinates
    double area                  # analytic area, px^2
    double geom[8]               # polygon: vertices x0, y0, x1, y1, ... (NaN-padded);
                                 # ellipse: centre, then the two semi-axis vectors
    int px0, py0, px1, py1       # pixels [px0, px1) x [py0, py1) that may be covered


cdef void make_shape(Shape* s, int kind, Rng* rng) noexcept nogil:
    """Draw one object of the given kind: shape parameters, rotation, scale, position.

    Always consumes exactly six uniform draws. The shape is built at unit size,
    rotated, scaled so that the larger side of its rotated bounding box equals
    the drawn extent, then translated uniformly among the positions that keep
    the box ``MARGIN`` pixels inside the image.
    """
    cdef double p0 = uniform(rng), p1 = uniform(rng)
    cdef double rot = 2 * M_PI * uniform(rng)
    cdef double extent = EXTENT_MIN + (EXTENT_MAX - EXTENT_MIN) * uniform(rng)
    cdef double tx = uniform(rng), ty = uniform(rng)
    cdef double cr = cos(rot), sr = sin(rot)
    cdef double vx[4]
    cdef double vy[4]
    cdef double x, y, lo, hi, span, A, B, C, side, ratio, phi
    cdef double xmin, xmax, ymin, ymax, scale, ox, oy, hx, hy, sa, sg, a, b, norm
    cdef int n, i, j
    s.kind = kind
    if kind == ELLIPSE:
        # Axes 1 and ratio, rotated: M = R(rot) diag(1, ratio) maps the unit disk.
        ratio = ELL_RATIO_MIN + (1 - ELL_RATIO_MIN) * p0
        hx = sqrt(cr * cr + sr * sr * ratio * ratio)
        hy = sqrt(sr * sr + cr * cr * ratio * ratio)
        scale = extent / (2 * (hx if hx > hy else hy))
        ox = MARGIN + tx * (SIZE - 2 * MARGIN - 2 * hx * scale)
        oy = MARGIN + ty * (SIZE - 2 * MARGIN - 2 * hy * scale)
        s.n_edges = 0
        s.cx = ox + hx * scale
        s.cy = oy + hy * scale
        # Q = (scale M)^-1 = diag(1, 1/ratio) R^T / scale
        s.q00 = cr / scale
        s.q01 = sr / scale
        s.q10 = -sr / (ratio * scale)
        s.q11 = cr / (ratio * scale)
        # |Q d| <= |d| / (ratio scale) and |d| <= sqrt(2)/2 within a pixel.
        s.qr = 0.7071067811865476 / (ratio * scale)
        s.xmin = s.cx - hx * scale
        s.xmax = s.cx + hx * scale
        s.ymin = s.cy - hy * scale
        s.ymax = s.cy + hy * scale
        s.area = M_PI * scale * scale * ratio
        s.geom[0] = s.cx
        s.geom[1] = s.cy
        s.geom[2] = scale * cr
        s.geom[3] = scale * sr
        s.geom[4] = -scale * ratio * sr
        s.geom[5] = scale * ratio * cr
        s.geom[6] = NAN
        s.geom[7] = NAN
    else:
        if kind == TRIANGLE:
            # Angles: TRI_MIN_ANGLE + (pi - 3 TRI_MIN_ANGLE) * Dirichlet(1, 1, 1),
            # the Dirichlet as the spacings of two sorted uniforms.
            lo = p0 if p0 < p1 else p1
            hi = p1 if p0 < p1 else p0
            span = M_PI - 3 * TRI_MIN_ANGLE
            A = TRI_MIN_ANGLE + span * lo
            B = TRI_MIN_ANGLE + span * (hi - lo)
            C = TRI_MIN_ANGLE + span * (1 - hi)
            side = sin(B) / sin(C)       # law of sines, with the side opposite C = 1
            n = 3
            vx[0] = 0; vy[0] = 0
            vx[1] = 1; vy[1] = 0
            vx[2] = side * cos(A); vy[2] = side * sin(A)
        else:
            # Sides 1 and ratio at angle phi; phi on both sides of 90 degrees
            # gives both chiralities.
            ratio = PAR_RATIO_MIN + (1 - PAR_RATIO_MIN) * p0
            phi = PAR_ANGLE_MIN + (PAR_ANGLE_MAX - PAR_ANGLE_MIN) * p1
            n = 4
            vx[0] = 0; vy[0] = 0
            vx[1] = 1; vy[1] = 0
            vx[2] = 1 + ratio * cos(phi); vy[2] = ratio * sin(phi)
            vx[3] = ratio * cos(phi); vy[3] = ratio * sin(phi)
        for i in range(n):
            x = cr * vx[i] - sr * vy[i]
            y = sr * vx[i] + cr * vy[i]
            vx[i] = x
            vy[i] = y
        xmin = xmax = vx[0]
        ymin = ymax = vy[0]
        for i in range(1, n):
            xmin = vx[i] if vx[i] < xmin else xmin
            xmax = vx[i] if vx[i] > xmax else xmax
            ymin = vy[i] if vy[i] < ymin else ymin
            ymax = vy[i] if vy[i] > ymax else ymax
        scale = extent / ((xmax - xmin) if (xmax - xmin) > (ymax - ymin) else (ymax - ymin))
        ox = MARGIN + tx * (SIZE - 2 * MARGIN - (xmax - xmin) * scale)
        oy = MARGIN + ty * (SIZE - 2 * MARGIN - (ymax - ymin) * scale)
        for i in range(n):
            vx[i] = ox + (vx[i] - xmin) * scale
            vy[i] = oy + (vy[i] - ymin) * scale
            s.geom[2 * i] = vx[i]
            s.geom[2 * i + 1] = vy[i]
        if n == 3:
            s.geom[6] = NAN
            s.geom[7] = NAN
        s.xmin = ox
        s.ymin = oy
        s.xmax = ox + (xmax - xmin) * scale
        s.ymax = oy + (ymax - ymin) * scale
        sa = 0
        for i in range(n):
            j = (i + 1) % n
            sa += vx[i] * vy[j] - vx[j] * vy[i]
        s.area = 0.5 * (sa if sa > 0 else -sa)
        sg = 1.0 if sa > 0 else -1.0
        s.n_edges = n
        for i in range(n):
            j = (i + 1) % n
            # cross(v_j - v_i, p - v_i) >= 0 for p inside a positively oriented polygon
            a = -(vy[j] - vy[i]) * sg
            b = (vx[j] - vx[i]) * sg
            norm = sqrt(a * a + b * b)
            s.ea[i] = a / norm
            s.eb[i] = b / norm
            s.ec[i] = -(s.ea[i] * vx[i] + s.eb[i] * vy[i])
    s.px0 = <int>floor(s.xmin)
    s.py0 = <int>floor(s.ymin)
    s.px1 = <int>ceil(s.xmax)
    s.py1 = <int>ceil(s.ymax)
    s.px0 = 0 if s.px0 < 0 else s.px0
    s.py0 = 0 if s.py0 < 0 else s.py0
    s.px1 = SIZE if s.px1 > SIZE else s.px1
    s.py1 = SIZE if s.py1 > SIZE else s.py1


cdef void raster_polygon(const Shape* s, uint16_t* mask) noexcept nogil:
    """Coverage masks of a convex polygon over its pixel range.

    Sub-sample k of pixel (r, c) is inside edge j iff e_j(c, r) + d_jk >= 0,
    where e_j is the edge function at the pixel's corner and d_jk its change to
    the sub-sample. For one edge the inside set is therefore a step function of
    e_j alone: with the thresholds -d_jk sorted, the mask is the cumulative mask
    of the thresholds <= e_j. A pixel costs one comparison per edge when it is
    wholly inside or outside, and a 16-way count otherwise.
    """
    cdef double thr[4][16]               # sorted thresholds -d_jk, per edge
    cdef unsigned int cum[4][17]         # cum[j][i]: samples of the i smallest thresholds
    cdef int order[16]
    cdef double e, t
    cdef int r, c, j, k, i, n = s.n_edges, count, empty, ok
    cdef unsigned int m
    for j in range(n):
        for k in range(NSUB):
            thr[j][k] = -(s.ea[j] * SUB_X[k] + s.eb[j] * SUB_Y[k])
            order[k] = k
        # insertion sort of the 16 thresholds, carrying the sample index
        for k in range(1, NSUB):
            t = thr[j][k]
            i = order[k]
            ok = k - 1
            while ok >= 0 and thr[j][ok] > t:
                thr[j][ok + 1] = thr[j][ok]
                order[ok + 1] = order[ok]
                ok -= 1
            thr[j][ok + 1] = t
            order[ok + 1] = i
        cum[j][0] = 0
        for k in range(NSUB):
            cum[j][k + 1] = cum[j][k] | ((<unsigned int>1) << order[k])
    for r in range(s.py0, s.py1):
        for c in range(s.px0, s.px1):
            m = FULL_MASK
            empty = 0
            for j in range(n):
                e = s.ea[j] * c + s.eb[j] * r + s.ec[j]        # at the pixel corner
                if e >= thr[j][NSUB - 1]:
                    continue                                   # every sample inside this edge
                if e < thr[j][0]:
                    empty = 1                                  # every sample outside
                    break
                count = 0
                for k in range(NSUB):
                    count += thr[j][k] <= e
                m &= cum[j][count]
            if not empty:
                mask[r * SIZE + c] = <uint16_t>m


cdef void raster_ellipse(const Shape* s, uint16_t* mask) noexcept nogil:
    cdef double du[16]
    cdef double dv[16]
    cdef double u0, v0, uc, vc, rr, u, v, lo2, hi2
    cdef int r, c, k
    cdef unsigned int m
    for k in range(NSUB):
        du[k] = s.q00 * SUB_X[k] + s.q01 * SUB_Y[k]
        dv[k] = s.q10 * SUB_X[k] + s.q11 * SUB_Y[k]
    lo2 = (1 - s.qr) * (1 - s.qr) if s.qr < 1 else -1.0
    hi2 = (1 + s.qr) * (1 + s.qr)
    for r in range(s.py0, s.py1):
        for c in range(s.px0, s.px1):
            u0 = s.q00 * (c - s.cx) + s.q01 * (r - s.cy)
            v0 = s.q10 * (c - s.cx) + s.q11 * (r - s.cy)
            uc = u0 + 0.5 * (s.q00 + s.q01)
            vc = v0 + 0.5 * (s.q10 + s.q11)
            rr = uc * uc + vc * vc
            if rr > hi2:
                continue
            if rr <= lo2:
                mask[r * SIZE + c] = FULL_MASK
                continue
            m = 0
            for k in range(NSUB):
                u = u0 + du[k]
                v = v0 + dv[k]
                m |= (<unsigned int>(u * u + v * v <= 1)) << k
            mask[r * SIZE + c] = <uint16_t>m


cdef inline void raster(const Shape* s, uint16_t* mask) noexcept nogil:
    """Set the coverage masks of the shape's pixels; ``mask`` must be zeroed."""
    memset(mask, 0, NPIX * sizeof(uint16_t))
    if s.kind == ELLIPSE:
        raster_ellipse(s, mask)
    else:
        raster_polygon(s, mask)


cdef int mask_count(const uint16_t* m1, const uint16_t* m2, int px0, int py0,
                    int px1, int py1) noexcept nogil:
    """Sub-samples set in m1 (and in m2, when m2 is not NULL) over a pixel range."""
    cdef int r, c, total = 0
    for r in range(py0, py1):
        for c in range(px0, px1):
            if m2 == NULL:
                total += popcount16(m1[r * SIZE + c])
            else:
                total += popcount16(m1[r * SIZE + c] & m2[r * SIZE + c])
    return total


cdef double grey_avoiding(double u, double a0, double a1, int n_avoid) noexcept nogil:
    """Map a uniform draw u to [0, 1] minus the intervals (a - MIN_CONTRAST, a + MIN_CONTRAST).

    Uniform over what remains. With two values to avoid, at least
    1 - 4 * MIN_CONTRAST of [0, 1] remains (0.2 with MIN_CONTRAST = 0.2).
    """
    cdef double lo0, hi0, lo1, hi1, t, seg0, seg1, seg2, total, tmp
    if n_avoid == 1:
        a1 = a0
    if a1 < a0:
        tmp = a0
        a0 = a1
        a1 = tmp
    lo0 = a0 - MIN_CONTRAST
    hi0 = a0 + MIN_CONTRAST
    lo1 = a1 - MIN_CONTRAST
    hi1 = a1 + MIN_CONTRAST
    if lo1 < hi0:                 # the two forbidden intervals overlap: merge them
        lo1 = hi0
    lo0 = 0 if lo0 < 0 else lo0
    hi1 = 1 if hi1 > 1 else hi1
    hi0 = 1 if hi0 > 1 else hi0
    lo1 = 1 if lo1 > 1 else lo1
    seg0 = lo0                    # [0, lo0)
    seg1 = lo1 - hi0              # [hi0, lo1)
    seg2 = 1 - hi1                # [hi1, 1]
    total = seg0 + seg1 + seg2
    t = u * total
    if t < seg0:
        return t
    t -= seg0
    if t < seg1:
        return hi0 + t
    t -= seg1
    t = hi1 + t
    return 1.0 if t > 1 else t


cdef void write_shape_meta(double* meta, const Shape* s, double grey, int mass) noexcept nogil:
    cdef int k
    for k in range(8):
        meta[8 + k] = s.geom[k]
    meta[0] = s.kind
    meta[1] = grey
    meta[2] = s.area
    meta[3] = mass / <double>NSUB
    meta[4] = s.xmin
    meta[5] = s.ymin
    meta[6] = s.xmax
    meta[7] = s.ymax


cdef void render_one(uint64_t key, floating* x, int32_t* y, double* meta) noexcept nogil:
    """Render the example whose random draws are addressed by ``key``.

    x : (1024,) output image, row-major; y : its label; meta : (META_K,) or NULL.
    """
    cdef Rng rng
    cdef uint16_t m1[NPIX]
    cdef uint16_t m2[NPIX]
    cdef Shape s1, s2
    cdef int label, kind1, kind2, tmp, n_obj, restart, t, attempts = 0, accepted
    cdef int mass1 = 0, mass2 = 0, ov = 0, px0, py0, px1, py1, p, n1, n2, j, r, c
    cdef unsigned int b1, b2
    cdef double bg, g1, g2 = NAN, v, swap
    rng.key = key
    rng.counter = 0
    label = <int>(uniform(&rng) * N_SHAPE_CLASSES)
    label = N_SHAPE_CLASSES - 1 if label >= N_SHAPE_CLASSES else label
    bg = uniform(&rng)
    swap = uniform(&rng)           # which of two different shapes is drawn first (under)
    kind1 = CLASS_A[label]
    kind2 = CLASS_B[label]
    if kind2 != NONE and swap < 0.5:
        tmp = kind1
        kind1 = kind2
        kind2 = tmp
    n_obj = 1 if kind2 == NONE else 2
    memset(m2, 0, NPIX * sizeof(uint16_t))
    for restart in range(MAX_RESTARTS):
        make_shape(&s1, kind1, &rng)
        raster(&s1, m1)
        mass1 = mask_count(m1, NULL, s1.px0, s1.py0, s1.px1, s1.py1)
        if n_obj == 1:
            break
        accepted = 0
        for t in range(MAX_TRIES):
            attempts += 1
            make_shape(&s2, kind2, &rng)
            raster(&s2, m2)
            px0 = s1.px0 if s1.px0 > s2.px0 else s2.px0
            py0 = s1.py0 if s1.py0 > s2.py0 else s2.py0
            px1 = s1.px1 if s1.px1 < s2.px1 else s2.px1
            py1 = s1.py1 if s1.py1 < s2.py1 else s2.py1
            ov = mask_count(m1, m2, px0, py0, px1, py1)
            if ov <= MAX_OVERLAP * mass1:
                accepted = 1
                break
        if accepted:
            break
    # After MAX_RESTARTS * MAX_TRIES rejections (never observed) the last candidate
    # stays; the metadata's overlap column would show it.
    g1 = grey_avoiding(uniform(&rng), bg, bg, 1)
    if n_obj == 2:
        mass2 = mask_count(m2, NULL, s2.px0, s2.py0, s2.px1, s2.py1)
        # Object 2 must stand out from the first object too where it covers it.
        g2 = grey_avoiding(uniform(&rng), bg, g1, 2 if ov > 0 else 1)
    # Composite per sub-sample: object 2 on top of object 1 on top of the background.
    # Only the pixels of the objects' bounding boxes can differ from the background.
    for p in range(NPIX):
        x[p] = <floating>bg
    px0, py0, px1, py1 = s1.px0, s1.py0, s1.px1, s1.py1
    if n_obj == 2:
        px0 = s2.px0 if s2.px0 < px0 else px0
        py0 = s2.py0 if s2.py0 < py0 else py0
        px1 = s2.px1 if s2.px1 > px1 else px1
        py1 = s2.py1 if s2.py1 > py1 else py1
    for r in range(py0, py1):
        for c in range(px0, px1):
            p = r * SIZE + c
            b1 = m1[p]
            b2 = m2[p]
            if (b1 | b2) == 0:
                continue
            n2 = popcount16(b2)
            n1 = popcount16(b1 & ~b2 & FULL_MASK)
            v = (bg * (NSUB - n1 - n2) + g1 * n1 + (g2 * n2 if n2 > 0 else 0.0)) * (1.0 / NSUB)
            x[p] = <floating>(0.0 if v < 0 else (1.0 if v > 1 else v))
    y[0] = label
    if meta != NULL:
        meta[0] = label
        meta[1] = n_obj
        meta[2] = ov / <double>mass1 if (n_obj == 2 and mass1 > 0) else 0.0
        meta[3] = bg
        meta[4] = attempts
        write_shape_meta(meta + META_OBJ, &s1, g1, mass1)
        if n_obj == 2:
            write_shape_meta(meta + META_OBJ + META_OBJ_K, &s2, g2, mass2)
        else:
            meta[META_OBJ + META_OBJ_K] = NONE
            for j in range(1, META_OBJ_K):
                meta[META_OBJ + META_OBJ_K + j] = NAN


# --------------------------------------------------------------------------- #
# Python entry point: caller-allocated buffers, n_threads
# --------------------------------------------------------------------------- #

def render(uint64_t seed, uint64_t stream, uint64_t start, floating[:, ::1] X_out,
           int32_t[::1] y_out, double[:, ::1] meta_out=None, int n_threads=1):
    """Render examples ``start .. start + n - 1`` of stream ``(seed, stream)``.

    Parameters
    ----------
    seed, stream : int in [0, 2**64)
        Together they select an independent stream of examples.
    start : int in [0, 2**64)
        Index of the first example; example ``start + i`` goes to row ``i``.
        Indices wrap modulo 2**64.
    X_out : (n, 1024) float32 or float64, C-contiguous
        Receives the images, row-major 32x32, values in [0, 1].
    y_out : (n,) int32
        Receives the labels in [0, 9) (class order in ``CLASS_SHAPES``).
    meta_out : (n, 37) float64 or None
        Receives per-example metadata, columns named by ``META_FIELDS``:
        label, n_objects, overlap (fraction of object 1's covered sub-samples
        that object 2 covers; 0 with one object), background grey, attempts
        (second-object candidates drawn; 0 with one object), then 16 columns
        for each object j = 1, 2: kind (0 triangle, 1 parallelogram, 2 ellipse;
        -1 when absent), grey, analytic area (px^2), rasterized coverage mass
        (px^2, before occlusion), bounding box xmin, ymin, xmax, ymax, and the
        geometry geom0..geom7: a polygon's vertices x0, y0, x1, y1, ... (NaN
        after a triangle's third), or an ellipse's centre (cx, cy) and its
        semi-axis vectors (a1x, a1y, a2x, a2y), the ellipse being
        {c + cos(t) a1 + sin(t) a2}. Coordinates in pixels: pixel (r, c) spans
        [c, c+1] x [r, r+1]. Absent object: NaN after the kind.
    n_threads : int
        OpenMP threads (examples are split in static contiguous blocks).
    """
    cdef Py_ssize_t n = X_out.shape[0], i
    cdef double* meta_ptr = NULL
    cdef Py_ssize_t meta_stride = 0
    if X_out.shape[1] != NPIX:
        raise ValueError(f"X_out must have {NPIX} columns, got {X_out.shape[1]}")
    if y_out.shape[0] != n:
        raise ValueError(f"y_out has {y_out.shape[0]} rows, X_out {n}")
    if meta_out is not None:
        if meta_out.shape[0] != n or meta_out.shape[1] != META_K:
            raise ValueError(f"meta_out must have shape ({n}, {META_K})")
        if n > 0:
            meta_ptr = &meta_out[0, 0]
        meta_stride = META_K
    if n_threads < 1:
        raise ValueError(f"n_threads must be >= 1, got {n_threads}")
    if n == 0:
        return
    with nogil:
        for i in prange(n, schedule="static", num_threads=n_threads):
            render_one(example_key(seed, stream, start + <uint64_t>i),
                       &X_out[i, 0], &y_out[i],
                       meta_ptr + i * meta_stride if meta_ptr != NULL else NULL)
