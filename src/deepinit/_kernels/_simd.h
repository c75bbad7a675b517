/* Register-blocked micro-kernels for deepinit's dense layers (used by _dense.pyx).
 *
 * Written with GCC/Clang vector extensions so that the accumulators are local
 * vector variables, which the compiler keeps in registers; plain C arrays are
 * spilled to the stack and every multiply-add then loads and stores memory.
 * The same source compiles for any instruction set. Vectors are 32 bytes on
 * every target (lowered to pairs of SSE registers on baseline x86-64): wider
 * vectors would leave long scalar tails on the paper's 1000-unit layers
 * (1000 = 62 x 16 + 8), and AVX-512 builds still gain its 32 registers. The
 * exception is the wide kernels of AVX-512 builds (64-byte vectors, masked tails),
 * which run on CPUs with two 512-bit FMA units and give the same bits.
 *
 * Determinism: every output element is a sum in a fixed order: over i for the
 * forward tile, over the batch rows for the weight gradient, and over fixed
 * lanes (j modulo the vector width, counted from the start of the row) for the
 * back-propagated dot products, combined in a fixed order. Scalar tails round
 * each multiply-add as the vector code does (DI_MADD). Nothing depends on how work
 * is split between threads.
 */
#ifndef DEEPINIT_SIMD_H
#define DEEPINIT_SIMD_H

#include <stddef.h>
#include <string.h>

#define DI_VBYTES 32

typedef float di_vf __attribute__((vector_size(DI_VBYTES)));
typedef double di_vd __attribute__((vector_size(DI_VBYTES)));

#define DI_NF ((ptrdiff_t)(DI_VBYTES / sizeof(float)))
#define DI_ND ((ptrdiff_t)(DI_VBYTES / sizeof(double)))
#define DI_INLINE static inline __attribute__((always_inline))
/* Not every module that includes this header calls every kernel. */
#define DI_KERNEL static __attribute__((unused))

/* Unaligned vector load/store (memcpy compiles to one vmovups/vmovupd). */
DI_INLINE di_vf di_ld_f(const float *p) { di_vf v; memcpy(&v, p, sizeof v); return v; }
DI_INLINE di_vd di_ld_d(const double *p) { di_vd v; memcpy(&v, p, sizeof v); return v; }
DI_INLINE void di_st_f(float *p, di_vf v) { memcpy(p, &v, sizeof v); }
DI_INLINE void di_st_d(double *p, di_vd v) { memcpy(p, &v, sizeof v); }

/* 64-byte vectors, for the wide kernels of AVX-512 builds (below). */
#if defined(__AVX512F__)
#define DI_WIDE 1
#include <immintrin.h>
typedef float di_wf __attribute__((vector_size(64)));
typedef double di_wd __attribute__((vector_size(64)));
#define DI_NWF ((ptrdiff_t)16)
#define DI_NWD ((ptrdiff_t)8)
DI_INLINE di_wf di_ldw_f(const float *p) { di_wf v; memcpy(&v, p, sizeof v); return v; }
DI_INLINE di_wd di_ldw_d(const double *p) { di_wd v; memcpy(&v, p, sizeof v); return v; }
DI_INLINE void di_stw_f(float *p, di_wf v) { memcpy(p, &v, sizeof v); }
DI_INLINE void di_stw_d(double *p, di_wd v) { memcpy(p, &v, sizeof v); }
/* AVX-512 masks: the first n lanes of a vector of `width` (all for n >= width,
 * none for n <= 0). Masked loads and stores neither read nor write the other lanes
 * (nor fault on them), so a row's tail needs no scalar loop, and a tile's partial
 * vectors no code of their own; with a full mask they cost what plain ones do. */
DI_INLINE unsigned di_lanes(ptrdiff_t n, ptrdiff_t width) {
    return n <= 0 ? 0u : n >= width ? (1u << width) - 1 : (1u << n) - 1;
}
DI_INLINE di_wf di_ldwm_f(const float *p, unsigned k) {
    return (di_wf)_mm512_maskz_loadu_ps((__mmask16)k, p);
}
DI_INLINE di_wd di_ldwm_d(const double *p, unsigned k) {
    return (di_wd)_mm512_maskz_loadu_pd((__mmask8)k, p);
}
DI_INLINE void di_stwm_f(float *p, di_wf v, unsigned k) {
    _mm512_mask_storeu_ps(p, (__mmask16)k, (__m512)v);
}
DI_INLINE void di_stwm_d(double *p, di_wd v, unsigned k) {
    _mm512_mask_storeu_pd(p, (__mmask8)k, (__m512d)v);
}
#else
#define DI_WIDE 0
#endif

/* a * b + c for the scalar tails of the forward and backward kernels, rounded as
 * their vector code rounds it: once, by an FMA, where the target has FMA (GCC left
 * the scalar loops' multiply-adds uncontracted, so a layer's last columns differed
 * from what a vector gives, and the wide kernels could not match them), twice where
 * it has none (nor does the vector code). */
#if defined(__FMA__)
#define DI_MADD(a, b, c) _Generic((c), float: __builtin_fmaf, double: __builtin_fma)((a), (b), (c))
#else
#define DI_MADD(a, b, c) ((a) * (b) + (c))
#endif

/* Widest forward tile: DI_RB batch rows x 2 vectors of columns. 6 x 2 accumulators
 * + 2 weight vectors + 1 broadcast fit the 16 registers of AVX2. */
#define DI_RB 6

/* The packed forward's tiles prefetch a row piece of the next panel every
 * DI_PF_PANEL rows of W (see di_forward_wide). */
#ifndef DI_PF_PANEL
#define DI_PF_PANEL 4
#endif
/* The backward's dot products write dz 8 (wide) or 2 columns of a batch row at a
 * time, the rows ldo apart, past the hardware prefetcher, into lines last held by
 * another core or L3: the lines DI_PF_DZ_COLS columns on are prefetched for
 * writing (the 9-output layer's few dot products at batch 100 had waited on each
 * line, 0.58 of its 0.8 ms on one thread). */
#ifndef DI_PF_DZ_COLS
#define DI_PF_DZ_COLS 16
#endif
#define DI_PREFETCH_DZ(dz, ldo, n_rows)                                               \
    do {                                                                              \
        for (ptrdiff_t r_ = 0; r_ < (n_rows); r_++)                                   \
            __builtin_prefetch((dz) + r_ * (ldo) + DI_PF_DZ_COLS, 1, 3);              \
    } while (0)
/* Software prefetch of the weight tile DI_PF_ROWS rows ahead: a tile walks down a
 * 16-row block of W in 128-byte pieces 4 kB apart, a pattern the hardware prefetcher
 * follows too late (+15-35% forward speed at batch 10 on Zen 4). Prefetching past the
 * end of W is harmless: a prefetch never faults. */
#ifndef DI_PF_ROWS
#define DI_PF_ROWS 16
#endif
#define DI_PREFETCH_FWD(p, NV)                                                        \
    do { __builtin_prefetch((p), 0, 3); __builtin_prefetch((p) + 2 * (NV) - 1, 0, 3); } while (0)

/* ------------------------------------------------------------------------ */
/* Forward tile: out[r, 0:2V] = b[0:2V] + sum_i z[r, i] * W[i, 0:2V], r < RB.  */
/* ------------------------------------------------------------------------ */
#define DI_DEFINE_FWD_TILE(T, V, NV, LD, ST, RB)                                      \
    DI_INLINE void di_fwd_tile_##T##_##RB(const T *z, ptrdiff_t ldz, const T *W,      \
                                          ptrdiff_t ldw, ptrdiff_t n_in, const T *b,  \
                                          T *out, ptrdiff_t ldo) {                    \
        V acc[RB][2];                                                                 \
        for (int r = 0; r < RB; r++) {                                                \
            acc[r][0] = b ? LD(b) : LD(out + r * ldo);                                \
            acc[r][1] = b ? LD(b + NV) : LD(out + r * ldo + NV);                      \
        }                                                                             \
        for (ptrdiff_t i = 0; i < n_in; i++) {                                        \
            const V w0 = LD(W + i * ldw), w1 = LD(W + i * ldw + NV);                  \
            DI_PREFETCH_FWD(W + (i + DI_PF_ROWS) * ldw, NV);                          \
            for (int r = 0; r < RB; r++) {                                            \
                const T zr = z[r * ldz + i];                                          \
                acc[r][0] += zr * w0;                                                 \
                acc[r][1] += zr * w1;                                                 \
            }                                                                         \
        }                                                                             \
        for (int r = 0; r < RB; r++) {                                                \
            ST(out + r * ldo, acc[r][0]);                                             \
            ST(out + r * ldo + NV, acc[r][1]);                                        \
        }                                                                             \
    }

/* One vector of columns, for what is left after the 2-vector tiles. */
#define DI_DEFINE_FWD_TILE1(T, V, NV, LD, ST)                                         \
    DI_INLINE void di_fwd_tile1_##T(const T *z, ptrdiff_t ldz, const T *W,            \
                                    ptrdiff_t ldw, ptrdiff_t n_in, const T *b,        \
                                    T *out, ptrdiff_t ldo, ptrdiff_t B) {             \
        for (ptrdiff_t r0 = 0; r0 < B; r0 += 4) {                                     \
            const ptrdiff_t rows = B - r0 < 4 ? B - r0 : 4;                           \
            V acc[4];                                                                 \
            for (int r = 0; r < 4; r++) acc[r] = b ? LD(b) : LD(out + (r0 + r) * ldo); \
            for (ptrdiff_t i = 0; i < n_in; i++) {                                    \
                const V w0 = LD(W + i * ldw);                                         \
                for (ptrdiff_t r = 0; r < rows; r++) acc[r] += z[(r0 + r) * ldz + i] * w0; \
            }                                                                         \
            for (ptrdiff_t r = 0; r < rows; r++) ST(out + (r0 + r) * ldo, acc[r]);    \
        }                                                                             \
    }

#define DI_DEFINE_FWD(T, V, NV, LD, ST)                                               \
    DI_DEFINE_FWD_TILE(T, V, NV, LD, ST, 1)                                           \
    DI_DEFINE_FWD_TILE(T, V, NV, LD, ST, 2)                                           \
    DI_DEFINE_FWD_TILE(T, V, NV, LD, ST, 3)                                           \
    DI_DEFINE_FWD_TILE(T, V, NV, LD, ST, 4)                                           \
    DI_DEFINE_FWD_TILE(T, V, NV, LD, ST, 5)                                           \
    DI_DEFINE_FWD_TILE(T, V, NV, LD, ST, 6)                                           \
    DI_DEFINE_FWD_TILE1(T, V, NV, LD, ST)                                             \
    /* Rows of W i..i+n_in, columns j0..j1 of out (rows 0..B-1): tiles of 2 vectors, \
     * of 1, then scalars; starts from b, or from out when b is NULL.            */\
    DI_INLINE void di_forward_block_##T(const T *z, ptrdiff_t ldz, const T *W,            \
                                    ptrdiff_t ldw, ptrdiff_t n_in, const T *b, T *out,\
                                    ptrdiff_t ldo, ptrdiff_t B, ptrdiff_t j0,         \
                                    ptrdiff_t j1) {                                   \
        ptrdiff_t j = j0;                                                             \
        for (; j + 2 * NV <= j1; j += 2 * NV) {                                       \
            /* Rows in groups of at most DI_RB, sized evenly (10 = 5 + 5). */         \
            ptrdiff_t n_groups = (B + DI_RB - 1) / DI_RB, r0 = 0;                     \
            for (ptrdiff_t g = 0; g < n_groups; g++) {                                \
                ptrdiff_t rows = (B - r0) / (n_groups - g);                           \
                const T *zg = z + r0 * ldz;                                           \
                T *og = out + r0 * ldo + j;                                           \
                switch (rows) {                                                       \
                case 1: di_fwd_tile_##T##_1(zg, ldz, W + j, ldw, n_in, b ? b + j : NULL, og, ldo); break; \
                case 2: di_fwd_tile_##T##_2(zg, ldz, W + j, ldw, n_in, b ? b + j : NULL, og, ldo); break; \
                case 3: di_fwd_tile_##T##_3(zg, ldz, W + j, ldw, n_in, b ? b + j : NULL, og, ldo); break; \
                case 4: di_fwd_tile_##T##_4(zg, ldz, W + j, ldw, n_in, b ? b + j : NULL, og, ldo); break; \
                case 5: di_fwd_tile_##T##_5(zg, ldz, W + j, ldw, n_in, b ? b + j : NULL, og, ldo); break; \
                default: di_fwd_tile_##T##_6(zg, ldz, W + j, ldw, n_in, b ? b + j : NULL, og, ldo); break; \
                }                                                                     \
                r0 += rows;                                                           \
            }                                                                         \
        }                                                                             \
        for (; j + NV <= j1; j += NV)                                                 \
            di_fwd_tile1_##T(z, ldz, W + j, ldw, n_in, b ? b + j : NULL, out + j, ldo, B);       \
        for (; j < j1; j++) {                                                         \
            for (ptrdiff_t r = 0; r < B; r++) {                                       \
                T acc = b ? b[j] : out[r * ldo + j];                                  \
                for (ptrdiff_t i = 0; i < n_in; i++) acc = DI_MADD(z[r * ldz + i], W[i * ldw + j], acc); \
                out[r * ldo + j] = acc;                                               \
            }                                                                         \
        }                                                                             \
    }

/* The wide kernels' batch thresholds. From DI_WIDE_FWD_ROWS rows the forward packs
 * W (below, reading it in place was faster: 1.11-1.13x training step at batch 32,
 * 0.86-0.92x forward at batch 100); from DI_WIDE_BWD_ROWS the backward takes its
 * two-pass tiles (below, one pass per pair of rows of W; that pass holds 10 batch
 * rows, and from 12 rows, which it takes in two passes, the tiles on packed delta
 * were 1.02-1.10x faster a training step, batches 12 to 15, 1 and 2 threads; at
 * 10 rows, 0.91-0.955x). The packed forward goes
 * in chunks of at most DI_MC rows of float (half as many of double): W is read
 * from memory once per chunk (_dense.pyx gives it the whole batch). A
 * chunk's buffers live on the thread's stack, 168 kB (float) or 104 kB (double),
 * and the in-place forward's 198 kB (float) or 204 kB (double), within an
 * OMP_STACKSIZE of 256 kB. */
/* Rows of W per block of the forward (the 32-byte kernels and the wide forward
 * for few rows): the partial sums go through their buffer once a block. 32
 * against 16 rows, training step (bench_ab, Intel): batch 1 1.007x and 1.021x on
 * 1 and 2 threads, batch 4 1.032x, 10 1.003-1.040x, 32 1.015x; the default
 * kernels at batch 10, 2 threads, 1.042x. */
#ifndef DI_IB
#define DI_IB 32
#endif
#ifndef DI_WIDE_FWD_ROWS
#define DI_WIDE_FWD_ROWS 48
#endif
/* Below DI_WIDE_FEW_ROWS rows, bound by the weights' memory traffic, the
 * 32-byte kernels were as fast or faster (batch 1 and 2: 0.86-0.98x wide). */
#ifndef DI_WIDE_FEW_ROWS
#define DI_WIDE_FEW_ROWS 4
#endif
#ifndef DI_WIDE_BWD_ROWS
#define DI_WIDE_BWD_ROWS 12
#endif
#ifndef DI_MC
#define DI_MC 128
#endif
#define DI_MC_ROWS(T) ((ptrdiff_t)(DI_MC * sizeof(float) / sizeof(T)))
#if DI_WIDE
/* ------------------------------------------------------------------------ */
/* Wide forward (64-byte vectors). A tile of R batch rows x up to 2 vectors  */
/* (32 float columns) keeps its 2R accumulators in registers (24 of the 32   */
/* at R = 12) over DI_KC rows of W; the tile's inputs come from a packed      */
/* panel zp[r * DI_KC + i] (constant offsets from one pointer). Columns past the */
/* last full vector use masked loads and stores. Every output element is the  */
/* same sum over i in order as in the tiles above: the same bits.             */
/* ------------------------------------------------------------------------ */
#define DI_RW 12
#ifndef DI_KC
#define DI_KC 64
#endif
#ifndef DI_NC_BYTES
#define DI_NC_BYTES 1024
#endif
#ifndef DI_FEW_NC_BYTES
#define DI_FEW_NC_BYTES 4096
#endif
#define DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, R)                                    \
    /* out[0:R, 0:ncol] (+)= zp-panel @ W-panel over kc rows; ncol <= 2 NV. The   \
     * inputs: zp[r * ldzp + i]; the weights: w[i * ldw + c], either a packed     \
     * panel (ldw = 2 NV, zeros past ncol) or W in place. Meanwhile the tile       \
     * prefetches into L2 the n_nx row pieces of 2 NV columns at nx + q ldnx      \
     * (q < n_nx), one every `every` rows of its loop: on W in place, its own     \
     * rows DI_PF_ROWS ahead, every row (the tile walks down W in 128-byte pieces  \
     * a row apart, a pattern the hardware prefetcher follows too late); on a    \
     * packed panel, the next panel's rows of W, every DI_PF_PANEL rows.           \
     * Always inlined with constant ldzp and every: each caller gets its own code. */\
    DI_INLINE void di_ptile_##T##_##R(const T *zp, ptrdiff_t ldzp, const T *w,        \
                                      ptrdiff_t ldw, ptrdiff_t kc, const T *b,        \
                                      T *out, ptrdiff_t ldo, ptrdiff_t ncol,          \
                                      const T *nx, ptrdiff_t ldnx, ptrdiff_t n_nx,    \
                                      int every) {                                    \
        const unsigned k0 = di_lanes(ncol, NV), k1 = di_lanes(ncol - NV, NV);         \
        V acc[R][2];                                                                  \
        for (int r = 0; r < R; r++) {                                                 \
            const T *start = b ? b : out + r * ldo;                                   \
            acc[r][0] = LDM(start, k0);                                               \
            acc[r][1] = LDM(start + NV, k1);                                          \
        }                                                                             \
        for (ptrdiff_t i = 0; i < kc; i++) {                                          \
            const V w0 = LDM(w + i * ldw, k0), w1 = LDM(w + i * ldw + NV, k1);        \
            if (i % every == 0 && i / every < n_nx) {                                 \
                /* all three lines of a piece not aligned to 64 bytes (the odd    \
                 * rows of a 1000-wide float W)                                 */ \
                const char *piece = (const char *)(nx + i / every * ldnx);            \
                __builtin_prefetch(piece, 0, 2);                                      \
                __builtin_prefetch(piece + 64, 0, 2);                                 \
                __builtin_prefetch(piece + 2 * NV * sizeof(T) - 1, 0, 2);             \
            }                                                                         \
            for (int r = 0; r < R; r++) {                                             \
                const T zr = zp[r * ldzp + i];                                        \
                acc[r][0] += zr * w0;                                                 \
                acc[r][1] += zr * w1;                                                 \
            }                                                                         \
        }                                                                             \
        for (int r = 0; r < R; r++) {                                                 \
            STM(out + r * ldo, acc[r][0], k0);                                        \
            STM(out + r * ldo + NV, acc[r][1], k1);                                   \
        }                                                                             \
    }

#define DI_DEFINE_FWD_WIDE(T, V, NV, LD, ST, LDM, STM)                                \
    /* dst[r * ldd + i] = src[r * lds + i] (r < rows, i < n), in masked vector     \
     * copies: the inputs into a panel of constant stride, the sums out of the     \
     * private buffer. */                                                            \
    DI_INLINE void di_copy_rows_##T(T *dst, ptrdiff_t ldd, const T *src, ptrdiff_t lds, \
                                    ptrdiff_t rows, ptrdiff_t n) {                    \
        for (ptrdiff_t r = 0; r < rows; r++)                                          \
            for (ptrdiff_t i = 0; i < n; i += NV)                                     \
                STM(dst + r * ldd + i, LDM(src + r * lds + i, di_lanes(n - i, NV)), di_lanes(n - i, NV)); \
    }                                                                                 \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 1)                                        \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 2)                                        \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 3)                                        \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 4)                                        \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 5)                                        \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 6)                                        \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 7)                                        \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 8)                                        \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 9)                                        \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 10)                                       \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 11)                                       \
    DI_DEFINE_PTILE(T, V, NV, LD, LDM, STM, 12)                                       \
    /* The tile of R rows (1 to DI_RW).                                           */\
    DI_INLINE void di_ptile_##T(ptrdiff_t R, const T *zp, ptrdiff_t ldzp, const T *w,  \
                                ptrdiff_t ldw, ptrdiff_t kc, const T *b, T *out,      \
                                ptrdiff_t ldo, ptrdiff_t ncol, const T *nx,           \
                                ptrdiff_t ldnx, ptrdiff_t n_nx, int every) {          \
        switch (R) {                                                                  \
        case 1: di_ptile_##T##_1(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        case 2: di_ptile_##T##_2(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        case 3: di_ptile_##T##_3(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        case 4: di_ptile_##T##_4(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        case 5: di_ptile_##T##_5(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        case 6: di_ptile_##T##_6(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        case 7: di_ptile_##T##_7(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        case 8: di_ptile_##T##_8(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        case 9: di_ptile_##T##_9(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        case 10: di_ptile_##T##_10(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        case 11: di_ptile_##T##_11(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        default: di_ptile_##T##_12(zp, ldzp, w, ldw, kc, b, out, ldo, ncol, nx, ldnx, n_nx, every); break; \
        }                                                                             \
    }                                                                                 \
    /* out[0:B, j0:j1] = b + z @ W over all n_in rows of W, B <= DI_MC_ROWS(T),  \
     * a block of DI_NC_BYTES of columns at a time, in blocks of DI_KC rows of W,  \
     * each packed a panel of 2 NV columns at a time (prefetched into L2 by the   \
     * tiles before), then served from L1 to every group of batch rows. A column  \
     * block's sums wait between blocks of rows of W in a private                 \
     * buffer and go to out once: rewriting out after each block of rows (its    \
     * lines shared with the neighbouring threads' columns, and pulled in by     \
     * their prefetchers) made a thread's 496 columns of a 1000 x 1000 layer at   \
     * batch 100 take 1.8-1.9 ms on 2 threads against 1.2-1.55 ms with an output \
     * of its own (C harness).                                                */ \
    static __attribute__((noinline)) void di_forward_wide_##T(const T *z, ptrdiff_t ldz, const T *W, \
                                    ptrdiff_t ldw, ptrdiff_t n_in, const T *b,        \
                                    T *out, ptrdiff_t ldo, ptrdiff_t B,               \
                                    ptrdiff_t j0, ptrdiff_t j1) {                     \
        enum { NC = DI_NC_BYTES / sizeof(T) };                                        \
        T zp[DI_MC_ROWS(T) * DI_KC] __attribute__((aligned(64)));                     \
        T wp[DI_KC * 2 * NV] __attribute__((aligned(64)));                            \
        T ob[DI_MC_ROWS(T) * NC] __attribute__((aligned(64)));                        \
        const ptrdiff_t n_groups = (B + DI_RW - 1) / DI_RW;                           \
        for (ptrdiff_t c0 = j0; c0 < j1; c0 += NC) {                                  \
            const ptrdiff_t nc = j1 - c0 < NC ? j1 - c0 : NC;                         \
            const ptrdiff_t n_pan = (nc + 2 * NV - 1) / (2 * NV);                     \
            for (ptrdiff_t k0 = 0; k0 < n_in; k0 += DI_KC) {                          \
                const ptrdiff_t kc = n_in - k0 < DI_KC ? n_in - k0 : DI_KC;           \
                /* Copy the inputs, row r as zp[r DI_KC + i]: rows of a constant   \
                 * stride the tiles address from one pointer, copied as vectors    \
                 * (the transposed copy it replaced, one scalar at a time, took a  \
                 * tenth of a thread's forward at batch 100 on 2 threads), and no  \
                 * 4 kB aliasing of the 1024-input layer's rows.                 */\
                di_copy_rows_##T(zp, DI_KC, z + k0, ldz, B, kc);                      \
                for (ptrdiff_t p = 0; p < n_pan; p++) {                               \
                    const ptrdiff_t j = c0 + p * 2 * NV;                              \
                    const ptrdiff_t ncol = j1 - j < 2 * NV ? j1 - j : 2 * NV;         \
                    /* Pack W[k0:k0+kc, j:j+2NV] as wp[i 2NV + c], zeros past ncol,  \
                     * just before the panel's tiles: packed a block at a time (64 kB \
                     * at once, more than L1), the panels went back to L2 before    \
                     * their tiles read them.                                     */ \
                    for (ptrdiff_t i = 0; i < kc; i++) {                              \
                        const T *src = W + (k0 + i) * ldw + j;                        \
                        ST(wp + i * 2 * NV, LDM(src, di_lanes(ncol, NV)));            \
                        ST(wp + i * 2 * NV + NV, LDM(src + NV, di_lanes(ncol - NV, NV))); \
                    }                                                                 \
                    /* The next panel's rows of W (the next block's first, after the \
                     * last), prefetched into L2 while this one computes: its tiles  \
                     * share them out, each prefetching a row every DI_PF_PANEL steps \
                     * of its loop. (A block's lines prefetched in a burst before    \
                     * each tile stalled the tiles on the core's fill buffers: 1.11x \
                     * faster spread like this at batch 100, C harness.)           */ \
                    ptrdiff_t nk0 = k0, nj = j + 2 * NV;                              \
                    if (p + 1 == n_pan) {                                             \
                        nk0 = k0 + DI_KC < n_in ? k0 + DI_KC : 0;                     \
                        nj = nk0 ? c0 : c0 + NC;                                      \
                    }                                                                 \
                    const ptrdiff_t nkc = nj < j1 ? (n_in - nk0 < DI_KC ? n_in - nk0 : DI_KC) : 0; \
                    const T *nx = W + nk0 * ldw + nj;                                 \
                    const T *bj = k0 == 0 ? b + j : NULL;                             \
                    for (ptrdiff_t g = 0, r0 = 0; g < n_groups; g++) {                \
                        const ptrdiff_t R = (B - r0) / (n_groups - g);                \
                        const ptrdiff_t q0 = g * nkc / n_groups, q1 = (g + 1) * nkc / n_groups; \
                        const T *zg = zp + r0 * DI_KC;                                \
                        T *og = ob + r0 * NC + p * 2 * NV;                            \
                        di_ptile_##T(R, zg, DI_KC, wp, 2 * NV, kc, bj, og, NC, ncol,   \
                                     nx + q0 * ldw, ldw, q1 - q0, DI_PF_PANEL);       \
                        r0 += R;                                                      \
                    }                                                                 \
                }                                                                     \
            }                                                                         \
            di_copy_rows_##T(out + c0, ldo, ob, NC, B, nc);                           \
        }                                                                             \
    }                                                                                 \
    /* out[0:B, j0:j1] = b + z @ W for B < DI_WIDE_FWD_ROWS: W read in place (a    \
     * packed copy costs a pass over W that so few rows cannot repay), in blocks   \
     * of DI_IB rows over chunks of up to DI_FEW_NC_BYTES of columns (a thread's    \
     * whole range on the paper's layers: row segments of 4 kB, in the order the  \
     * hardware prefetcher follows; 1 kB chunks were 20-25% slower at batch 10),  \
     * partial sums in a private buffer between blocks. Every row group reads     \
     * the block of W in turn (from L1 or L2 after the first).                 */ \
    static __attribute__((noinline)) void di_forward_wide_few_##T(                    \
            const T *z, ptrdiff_t ldz, const T *W, ptrdiff_t ldw, ptrdiff_t n_in,     \
            const T *b, T *out, ptrdiff_t ldo, ptrdiff_t B, ptrdiff_t j0, ptrdiff_t j1) { \
        enum { NC = DI_FEW_NC_BYTES / sizeof(T) };                                    \
        T zp[DI_WIDE_FWD_ROWS * DI_IB] __attribute__((aligned(64)));                  \
        T ob[DI_WIDE_FWD_ROWS * NC] __attribute__((aligned(64)));                     \
        const ptrdiff_t n_groups = (B + DI_RW - 1) / DI_RW;                           \
        for (ptrdiff_t c0 = j0; c0 < j1; c0 += NC) {                                  \
            const ptrdiff_t nc = j1 - c0 < NC ? j1 - c0 : NC;                         \
            for (ptrdiff_t i0 = 0; i0 < n_in; i0 += DI_IB) {                          \
                const ptrdiff_t ni = n_in - i0 < DI_IB ? n_in - i0 : DI_IB;           \
                di_copy_rows_##T(zp, DI_IB, z + i0, ldz, B, ni);                      \
                for (ptrdiff_t p = 0; p < nc; p += 2 * NV) {                          \
                    const ptrdiff_t ncol = nc - p < 2 * NV ? nc - p : 2 * NV;         \
                    const T *bj = i0 == 0 ? b + c0 + p : NULL;                        \
                    for (ptrdiff_t g = 0, r0 = 0; g < n_groups; g++) {                \
                        const ptrdiff_t R = (B - r0) / (n_groups - g);                \
                        const T *wi = W + i0 * ldw + c0 + p;                          \
                        di_ptile_##T(R, zp + r0 * DI_IB, DI_IB, wi, ldw, ni, bj, ob + r0 * NC + p, \
                                     NC, ncol, wi + DI_PF_ROWS * ldw, ldw, ni, 1);    \
                        r0 += R;                                                      \
                    }                                                                 \
                }                                                                     \
            }                                                                         \
            di_copy_rows_##T(out + c0, ldo, ob, NC, B, nc);                           \
        }                                                                             \
    }
DI_DEFINE_FWD_WIDE(float, di_wf, DI_NWF, di_ldw_f, di_stw_f, di_ldwm_f, di_stwm_f)
DI_DEFINE_FWD_WIDE(double, di_wd, DI_NWD, di_ldw_d, di_stw_d, di_ldwm_d, di_stwm_d)
#else /* no AVX-512: never called (di_wide_kernels stays 0) */
#define di_forward_wide_float(...) ((void)0)
#define di_forward_wide_double(...) ((void)0)
#define di_forward_wide_few_float(...) ((void)0)
#define di_forward_wide_few_double(...) ((void)0)
#endif /* DI_WIDE */

/* Whether di_forward_cols and di_backward_rows take the wide kernels for large
 * batches: set once at import (deepinit._kernels), on CPUs whose 512-bit FMA units
 * do twice the work of 256-bit ones (Intel's; AMD Zen 4 splits each 512-bit FMA in
 * two). Either kernel gives the same bits (the same sums in the same order), so
 * the choice never changes a result. */
static int di_wide_kernels = 0;
/* Returns whether the wide kernels are now in use (never without AVX-512). */
DI_KERNEL int di_set_wide_kernels(int on) { di_wide_kernels = DI_WIDE && on; return di_wide_kernels; }
/* Whether di_backward_rows takes the wide backward at batch B, which reads delta
 * packed by di_pack_delta. */
DI_KERNEL int di_backward_packs(ptrdiff_t B) { return di_wide_kernels && B >= DI_WIDE_BWD_ROWS; }

/* The forward over columns j0..j1 goes in chunks of DI_OB_BYTES of columns and
 * DI_OB_ROWS batch rows. W is walked in blocks of DI_IB rows, each row segment read
 * as one sequential run (prefetch-friendly); the partial sums wait between blocks
 * in a stack buffer of the chunk's width, whose row stride is a compile-time
 * constant (with out's runtime stride the tiles spent registers on row addresses:
 * +10-15% forward speed at batch 100), and which stays in L1. The block's inputs are
 * copied to a small contiguous buffer too (constant offsets; rows of z 4 kB apart no
 * longer evict one another from L1). Chunks are multiples of the widest tile, so
 * every column is computed by the same code path as without them: the values and
 * the order of every sum are unchanged. */
#ifndef DI_OB_BYTES
#define DI_OB_BYTES 1024
#endif
#define DI_OB_ROWS 32
/* Batches of at most DI_STREAM_ROWS rows skip the chunks when a thread's column
 * range spans more than two of them (one thread on a 1000-unit layer): at batch 1
 * to 3 the forward is bound by the weights' memory traffic, and whole row segments
 * stream better than 1 kB pieces of each row taken in 4 passes (training step
 * +8-10% at batch 1, about +5% at 3, on one thread; bench/bench_ab.py, same bits;
 * inlined, +18-21%, but batch 10 then lost about 3%). On ranges of 500 columns
 * (2 threads) streaming was 5-15% slower, hence the width condition. */
#ifndef DI_STREAM_ROWS
#define DI_STREAM_ROWS 3
#endif
#define DI_DEFINE_FWD_COLS(T, V, NV, LD, ST)                                          \
    /* A few rows over a long column range: no chunks, each 16-row block of W   \
     * read in whole row segments, partial sums in out. Not inlined, so that the \
     * chunked path below compiles as it did without it.                         */\
    static __attribute__((noinline)) void di_forward_stream_##T(                      \
            const T *z, ptrdiff_t ldz, const T *W, ptrdiff_t ldw, ptrdiff_t n_in,     \
            const T *b, T *out, ptrdiff_t ldo, ptrdiff_t B, ptrdiff_t j0, ptrdiff_t j1) { \
        for (ptrdiff_t i0 = 0; i0 < n_in; i0 += DI_IB) {                              \
            const ptrdiff_t ni = n_in - i0 < DI_IB ? n_in - i0 : DI_IB;               \
            di_forward_block_##T(z + i0, ldz, W + i0 * ldw, ldw, ni,                  \
                                 i0 == 0 ? b : NULL, out, ldo, B, j0, j1);            \
        }                                                                             \
    }                                                                                 \
    /* The 32-byte kernels over chunks of columns (see above). Each path of       \
     * di_forward_cols is a function of its own, with its own stack buffers: a     \
     * worker thread's stack holds one path's at a time.                          */\
    static __attribute__((noinline)) void di_forward_chunks_##T(                      \
            const T *z, ptrdiff_t ldz, const T *W, ptrdiff_t ldw, ptrdiff_t n_in,     \
            const T *b, T *out, ptrdiff_t ldo, ptrdiff_t B, ptrdiff_t j0, ptrdiff_t j1) { \
        enum { OBC = DI_OB_BYTES / sizeof(T) };                                       \
        T zp[DI_OB_ROWS * DI_IB];                                                     \
        T ob[DI_OB_ROWS * OBC];                                                       \
        for (ptrdiff_t r0 = 0; r0 < B; r0 += DI_OB_ROWS) {                            \
            const ptrdiff_t nr = B - r0 < DI_OB_ROWS ? B - r0 : DI_OB_ROWS;           \
            for (ptrdiff_t c0 = j0; c0 < j1; c0 += OBC) {                             \
                const ptrdiff_t nc = j1 - c0 < OBC ? j1 - c0 : OBC;                   \
                for (ptrdiff_t i0 = 0; i0 < n_in; i0 += DI_IB) {                      \
                    const ptrdiff_t ni = n_in - i0 < DI_IB ? n_in - i0 : DI_IB;       \
                    for (ptrdiff_t r = 0; r < nr; r++) {                              \
                        const T *src = z + (r0 + r) * ldz + i0;                       \
                        if (ni == DI_IB) /* vector moves: memcpy compiled to rep movs */ \
                            for (ptrdiff_t k = 0; k < DI_IB; k += NV)                 \
                                ST(zp + r * DI_IB + k, LD(src + k));                  \
                        else                                                          \
                            memcpy(zp + r * DI_IB, src, (size_t)ni * sizeof(T));      \
                    }                                                                 \
                    di_forward_block_##T(zp, DI_IB, W + i0 * ldw + c0, ldw, ni,       \
                                         i0 == 0 ? b + c0 : NULL, ob, OBC, nr, 0, nc); \
                }                                                                     \
                for (ptrdiff_t r = 0; r < nr; r++)                                    \
                    memcpy(out + (r0 + r) * ldo + c0, ob + r * OBC, (size_t)nc * sizeof(T)); \
            }                                                                         \
        }                                                                             \
    }                                                                               \
    DI_KERNEL void di_forward_cols_##T(const T *z, ptrdiff_t ldz, const T *W,         \
                                       ptrdiff_t ldw, ptrdiff_t n_in, const T *b,     \
                                       T *out, ptrdiff_t ldo, ptrdiff_t B,            \
                                       ptrdiff_t j0, ptrdiff_t j1) {                  \
        if (B <= DI_STREAM_ROWS && j1 - j0 > 2 * (ptrdiff_t)(DI_OB_BYTES / sizeof(T))) { \
            di_forward_stream_##T(z, ldz, W, ldw, n_in, b, out, ldo, B, j0, j1);      \
        } else if (di_wide_kernels && B >= DI_WIDE_FWD_ROWS) {                        \
            for (ptrdiff_t r0 = 0, n_chunks = (B + DI_MC_ROWS(T) - 1) / DI_MC_ROWS(T), c = 0; c < n_chunks; c++) { \
                const ptrdiff_t nr = (B - r0) / (n_chunks - c);                       \
                di_forward_wide_##T(z + r0 * ldz, ldz, W, ldw, n_in, b, out + r0 * ldo, ldo, nr, j0, j1); \
                r0 += nr;                                                             \
            }                                                                         \
        } else if (di_wide_kernels && B >= DI_WIDE_FEW_ROWS) {                        \
            di_forward_wide_few_##T(z, ldz, W, ldw, n_in, b, out, ldo, B, j0, j1);    \
        } else {                                                                      \
            di_forward_chunks_##T(z, ldz, W, ldw, n_in, b, out, ldo, B, j0, j1);      \
        }                                                                             \
    }
DI_DEFINE_FWD(float, di_vf, DI_NF, di_ld_f, di_st_f)
DI_DEFINE_FWD_COLS(float, di_vf, DI_NF, di_ld_f, di_st_f)
DI_DEFINE_FWD(double, di_vd, DI_ND, di_ld_d, di_st_d)
DI_DEFINE_FWD_COLS(double, di_vd, DI_ND, di_ld_d, di_st_d)

/* ------------------------------------------------------------------------ */
/* Shared work ranges (the backward pass's blocks of rows of W, _dense.pyx): */
/* each thread takes the blocks of its own range from the front, in order;   */
/* a thread done with its own takes the others' from the back. On a shared   */
/* machine one core often runs slower than the other for a while; this way  */
/* the faster one takes over the tail of the slower one's work, and a block  */
/* computes the same values whichever thread takes it. lo and hi share one   */
/* 64-bit word, so that a block is taken once (compare-and-swap).            */
/* ------------------------------------------------------------------------ */
typedef struct { unsigned long long lohi; char pad[56]; } __attribute__((aligned(64))) di_range;
DI_KERNEL void di_range_init(di_range *r, ptrdiff_t lo, ptrdiff_t hi) {
    __atomic_store_n(&r->lohi, ((unsigned long long)lo << 32) | (unsigned long long)hi, __ATOMIC_RELAXED);
}
/* The next block of the range (the first if back is 0), or -1 when none is left.
 * From the back, only while 2 or more are: the owner, already working on the one
 * before them, would finish the last one about as soon as a thread that has to
 * fetch its lines of W from the owner's cache. */
DI_KERNEL ptrdiff_t di_range_take(di_range *r, int back) {
    unsigned long long v = __atomic_load_n(&r->lohi, __ATOMIC_RELAXED);
    for (;;) {
        const unsigned long long lo = v >> 32, hi = v & 0xffffffffULL;
        if (lo + (back ? 1 : 0) >= hi) return -1;
        const unsigned long long nv = back ? v - 1 : v + (1ULL << 32);
        if (__atomic_compare_exchange_n(&r->lohi, &v, nv, 1, __ATOMIC_ACQ_REL, __ATOMIC_RELAXED))
            return (ptrdiff_t)(back ? hi - 1 : lo);
    }
}

/* ------------------------------------------------------------------------ */
/* Back-propagation through rows i0..i1 of W (n columns), batch of B rows:   */
/*   dz[r * ldo + i] = sum_j delta[r, j] * W[i, j]         (when dz != NULL) */
/*   g[j]            = sum_r z[r * ldz + i] * delta[r, j]  (r in order)       */
/*   then W[i, j] -= lr * g[j]  (dW == NULL: fused SGD step)                  */
/*   or   dW[i * ldw + j] = g[j]                                             */
/* Columns go in blocks of DI_JB from column 0 (one block for layers up to   */
/* 1024 wide: whole rows stream best from memory, and delta, B x n, stays in */
/* L2); within a block, one pass over each row segment reads each weight     */
/* once for the dot products, the gradient and the update (the dots use it   */
/* before it moves).                                                          */
/* Sums: dz adds the blocks in order, each block's vector lanes (j mod V     */
/* from the block start) then its scalar tail; g runs over r in order.        */
/* Where di_backward_packs(B), pk must hold delta packed by di_pack_delta    */
/* (with pairs when dz != NULL), which the wide backward reads; otherwise pk  */
/* is not read.                                                               */
/* ------------------------------------------------------------------------ */
#define DI_JB 1024
/* Batch rows per pass: at most DI_BR. Without dots (the first layer), a pass
 * holds R broadcasts + g + w + delta in registers; with dots it also holds R
 * (AVX-512: 2 R) dot accumulators, and 10 rows spilled them to the stack: 5 rows
 * a pass ran batch 100 30% faster (AVX-512 and AVX2 alike). The order of every
 * sum is the same for any grouping: g carries over between passes in g_buf. */
#define DI_BR 10
#define DI_BR_DOTS 5
/* The backward pass prefetches, for writing, the weights DI_PF_BWD elements ahead
 * (about two rows): the read-modify-write stream otherwise stalls on each new row
 * (+10-15% at batch 10). */
#ifndef DI_PF_BWD
#define DI_PF_BWD 2048
#endif

#define DI_DEFINE_SEG(T, V, NV, LD, ST, R)                                            \
    /* Rows r0..r0+R of the batch over one row segment w[0:len]; first/last: is    \
     * this the first/last group of batch rows (g starts at 0 / is applied).    */ \
    DI_INLINE void di_seg_##T##_##R(const T *zc, ptrdiff_t ldz, const T *delta,        \
                                    ptrdiff_t ldd, T *w, ptrdiff_t len, T lr,          \
                                    T *g_buf, T *g_out, int first, int last,           \
                                    T *dots, int want_dots) {                          \
        V acc[R];                                                                      \
        /* z's column (one value per batch row) copied once: rows of z 4 kB apart  \
         * (the 1024-input layer) evict one another from L1 when read in the loop. */\
        T tail[R], zl[R];                                                              \
        for (int r = 0; r < R; r++) { acc[r] = (V){0}; tail[r] = 0; zl[r] = zc[r * ldz]; } \
        const ptrdiff_t n_vec = len - len % NV;                                        \
        for (ptrdiff_t j = 0; j < n_vec; j += NV) {                                    \
            const V wv = LD(w + j);                                                    \
            if (first) __builtin_prefetch(w + DI_PF_BWD + j, 1, 3);                   \
            V g = first ? (V){0} : LD(g_buf + j);                                      \
            for (int r = 0; r < R; r++) {                                              \
                const V d = LD(delta + r * ldd + j);                                   \
                if (want_dots) acc[r] += d * wv;                                       \
                g += zl[r] * d;                                                        \
            }                                                                          \
            if (!last) ST(g_buf + j, g);                                               \
            else if (g_out) ST(g_out + j, g);                                          \
            else ST(w + j, wv - lr * g);                                               \
        }                                                                              \
        for (ptrdiff_t j = n_vec; j < len; j++) {                                      \
            const T wj = w[j];                                                         \
            T g = first ? 0 : g_buf[j];                                                \
            for (int r = 0; r < R; r++) {                                              \
                const T d = delta[r * ldd + j];                                        \
                if (want_dots) tail[r] = DI_MADD(d, wj, tail[r]);                      \
                g = DI_MADD(zl[r], d, g);                                              \
            }                                                                          \
            if (!last) g_buf[j] = g;                                                   \
            else if (g_out) g_out[j] = g;                                              \
            else w[j] = DI_MADD(-lr, g, wj);                                           \
        }                                                                              \
        if (want_dots)                                                                 \
            for (int r = 0; r < R; r++) {                                              \
                T s = 0;                                                               \
                for (ptrdiff_t k = 0; k < NV; k++) s += acc[r][k];                     \
                dots[r] = s + tail[r];                                                 \
            }                                                                          \
    }


/* Two rows of W at once (i and i + 1), when there are registers for 2R dot
 * accumulators (AVX-512's 32): each delta vector, read from L2 for large batches,
 * serves both rows. Every sum runs in the same order as in di_seg, so results
 * are the same bits as one row at a time. */
#if defined(__AVX512F__)
#define DI_ROW_PAIRS 1
#else
#define DI_ROW_PAIRS 0
#endif

#define DI_DEFINE_SEG2(T, V, NV, LD, ST, R)                                           \
    DI_INLINE void di_seg2_##T##_##R(const T *zc, ptrdiff_t ldz, const T *delta,       \
                                     ptrdiff_t ldd, T *w, ptrdiff_t ldw, ptrdiff_t len, \
                                     T lr, T *g_buf, T *g_out, ptrdiff_t ldg,          \
                                     int first, int last, T *dots, int want_dots) {    \
        V acc0[R], acc1[R];                                                            \
        T tail0[R], tail1[R];                                                          \
        T *w1 = w + ldw, *g_buf1 = g_buf + DI_JB, *g_out1 = g_out ? g_out + ldg : NULL; \
        T zl0[R], zl1[R];                                                              \
        for (int r = 0; r < R; r++) {                                                  \
            acc0[r] = (V){0}; acc1[r] = (V){0}; tail0[r] = 0; tail1[r] = 0;            \
            zl0[r] = zc[r * ldz]; zl1[r] = zc[r * ldz + 1];                            \
        }                                                                              \
        const ptrdiff_t n_vec = len - len % NV;                                        \
        ptrdiff_t j_start = 0;                                                         \
        /* Without dots, each g is one chain of R dependent multiply-adds: two     \
         * column vectors at a time give the core independent chains to overlap. */\
        if (!want_dots)                                                                \
            for (; j_start + 2 * NV <= n_vec; j_start += 2 * NV) {                     \
                const ptrdiff_t j = j_start, k = j_start + NV;                         \
                const V wa0 = LD(w + j), wa1 = LD(w1 + j);                             \
                const V wb0 = LD(w + k), wb1 = LD(w1 + k);                             \
                if (first) {                                                           \
                    __builtin_prefetch(w + DI_PF_BWD + j, 1, 3);                       \
                    __builtin_prefetch(w1 + DI_PF_BWD + j, 1, 3);                      \
                }                                                                      \
                V ga0 = first ? (V){0} : LD(g_buf + j);                                \
                V ga1 = first ? (V){0} : LD(g_buf1 + j);                               \
                V gb0 = first ? (V){0} : LD(g_buf + k);                                \
                V gb1 = first ? (V){0} : LD(g_buf1 + k);                               \
                for (int r = 0; r < R; r++) {                                          \
                    const V da = LD(delta + r * ldd + j), db = LD(delta + r * ldd + k);\
                    ga0 += zl0[r] * da;                                                \
                    ga1 += zl1[r] * da;                                                \
                    gb0 += zl0[r] * db;                                                \
                    gb1 += zl1[r] * db;                                                \
                }                                                                      \
                if (!last) {                                                           \
                    ST(g_buf + j, ga0); ST(g_buf1 + j, ga1);                           \
                    ST(g_buf + k, gb0); ST(g_buf1 + k, gb1);                           \
                } else if (g_out) {                                                    \
                    ST(g_out + j, ga0); ST(g_out1 + j, ga1);                           \
                    ST(g_out + k, gb0); ST(g_out1 + k, gb1);                           \
                } else {                                                               \
                    ST(w + j, wa0 - lr * ga0); ST(w1 + j, wa1 - lr * ga1);             \
                    ST(w + k, wb0 - lr * gb0); ST(w1 + k, wb1 - lr * gb1);             \
                }                                                                      \
            }                                                                          \
        for (ptrdiff_t j = j_start; j < n_vec; j += NV) {                              \
            const V wv0 = LD(w + j), wv1 = LD(w1 + j);                                 \
            if (first) {                                                               \
                __builtin_prefetch(w + DI_PF_BWD + j, 1, 3);                           \
                __builtin_prefetch(w1 + DI_PF_BWD + j, 1, 3);                          \
            }                                                                          \
            V g0 = first ? (V){0} : LD(g_buf + j);                                     \
            V g1 = first ? (V){0} : LD(g_buf1 + j);                                    \
            for (int r = 0; r < R; r++) {                                              \
                const V d = LD(delta + r * ldd + j);                                   \
                if (want_dots) { acc0[r] += d * wv0; acc1[r] += d * wv1; }             \
                g0 += zl0[r] * d;                                                      \
                g1 += zl1[r] * d;                                                      \
            }                                                                          \
            if (!last) { ST(g_buf + j, g0); ST(g_buf1 + j, g1); }                      \
            else if (g_out) { ST(g_out + j, g0); ST(g_out1 + j, g1); }                 \
            else { ST(w + j, wv0 - lr * g0); ST(w1 + j, wv1 - lr * g1); }              \
        }                                                                              \
        for (ptrdiff_t j = n_vec; j < len; j++) {                                      \
            const T wj0 = w[j], wj1 = w1[j];                                           \
            T g0 = first ? 0 : g_buf[j], g1 = first ? 0 : g_buf1[j];                   \
            for (int r = 0; r < R; r++) {                                              \
                const T d = delta[r * ldd + j];                                        \
                if (want_dots) {                                                       \
                    tail0[r] = DI_MADD(d, wj0, tail0[r]);                              \
                    tail1[r] = DI_MADD(d, wj1, tail1[r]);                              \
                }                                                                      \
                g0 = DI_MADD(zl0[r], d, g0);                                           \
                g1 = DI_MADD(zl1[r], d, g1);                                           \
            }                                                                          \
            if (!last) { g_buf[j] = g0; g_buf1[j] = g1; }                              \
            else if (g_out) { g_out[j] = g0; g_out1[j] = g1; }                         \
            else { w[j] = DI_MADD(-lr, g0, wj0); w1[j] = DI_MADD(-lr, g1, wj1); }      \
        }                                                                              \
        if (want_dots)                                                                 \
            for (int r = 0; r < R; r++) {                                              \
                T s0 = 0, s1 = 0;                                                      \
                for (ptrdiff_t k = 0; k < NV; k++) { s0 += acc0[r][k]; s1 += acc1[r][k]; } \
                dots[r] = s0 + tail0[r];                                               \
                dots[DI_BR + r] = s1 + tail1[r];                                       \
            }                                                                          \
    }

#if DI_WIDE
/* ------------------------------------------------------------------------ */
/* Wide backward (AVX-512, batches of DI_WIDE_BWD_ROWS or more): rows i0..i1 */
/* of W in two passes while they stay in L2, with the same sums in the same   */
/* order as di_backward_rows below, hence the same bits.                      */
/* 1. dz: the dot products keep the 32-byte kernel's lanes (lane k of row i   */
/*    sums j = k, k + NV, ... of each DI_JB block): a 64-byte vector holds     */
/*    those lanes of two batch rows, [delta[r, j:j+NV] | delta[r+1, j:j+NV]]   */
/*    (delta's pairs, di_pack_delta), against W[i, j:j+NV] broadcast to both   */
/*    halves; tiles of 3 such pairs x 8 rows of W. (Pairs of rows of W in one  */
/*    vector, against delta broadcast, cost a shuffle per pair of rows: 1.02-  */
/*    1.035x slower a hidden layer at batch 100 and 32, C harness.)           */
/* 2. g and the update: tiles of R rows of W x 2 vectors of columns whose sums */
/*    over the batch (in order) stay in registers, then W -= lr g (or dW = g); */
/*    delta comes from its panels (di_pack_delta), read in one run a tile.     */
/* ------------------------------------------------------------------------ */
DI_INLINE di_wf di_ldpair_f(const float *a, const float *b) {
    return (di_wf)_mm512_insertf32x8(_mm512_castps256_ps512(_mm256_loadu_ps(a)), _mm256_loadu_ps(b), 1);
}
DI_INLINE di_wd di_ldpair_d(const double *a, const double *b) {
    return (di_wd)_mm512_insertf64x4(_mm512_castpd256_pd512(_mm256_loadu_pd(a)), _mm256_loadu_pd(b), 1);
}
/* w - lr * g with one rounding, as the 32-byte kernel's contracted update (GCC did
 * not contract it here everywhere: spelled out). */
DI_INLINE di_wf di_sgd_f(di_wf w, float lr, di_wf g) {
    return (di_wf)_mm512_fnmadd_ps(_mm512_set1_ps(lr), (__m512)g, (__m512)w);
}
DI_INLINE di_wd di_sgd_d(di_wd w, double lr, di_wd g) {
    return (di_wd)_mm512_fnmadd_pd(_mm512_set1_pd(lr), (__m512d)g, (__m512d)w);
}
DI_INLINE di_wf di_bcast_half_f(const float *p) { return (di_wf)_mm512_broadcast_f32x8(_mm256_loadu_ps(p)); }
DI_INLINE di_wd di_bcast_half_d(const double *p) { return (di_wd)_mm512_broadcast_f64x4(_mm256_loadu_pd(p)); }
/* The dot products' lane sums, 16 at a time: a[0..7] each hold the NV lanes of
 * two dot products, x_k (low half) and y_k (high half); out[s] = 0 + lane 0 +
 * lane 1 + ... in order, as the scalar loop of the 32-byte kernel adds them, for
 * x_m, y_m, x_{4+m}, y_{4+m} at s = m, 4 + m, 8 + m, 12 + m (m < 4). For float,
 * an 8 x 8 transpose of both halves at once (unpacks and shuffles within 128-bit
 * lanes, then 128-bit lane shuffles) and 8 vector adds: the scalar lane sums had
 * been 9% of the backward at batch 100. */
DI_INLINE void di_pairsums_f(const di_wf a[8], float out[16]) {
    __m512 t[8], u[8];
    for (int k = 0; k < 8; k += 2) {
        t[k] = _mm512_unpacklo_ps((__m512)a[k], (__m512)a[k + 1]);
        t[k + 1] = _mm512_unpackhi_ps((__m512)a[k], (__m512)a[k + 1]);
    }
    for (int h = 0; h < 8; h += 4) { /* rows 0-3, then rows 4-7: u[h + k] holds lanes k, 4 + k */
        u[h] = _mm512_shuffle_ps(t[h], t[h + 2], 0x44);
        u[h + 1] = _mm512_shuffle_ps(t[h], t[h + 2], 0xEE);
        u[h + 2] = _mm512_shuffle_ps(t[h + 1], t[h + 3], 0x44);
        u[h + 3] = _mm512_shuffle_ps(t[h + 1], t[h + 3], 0xEE);
    }
    __m512 sum = _mm512_setzero_ps();
    for (int k = 0; k < 4; k++) sum = _mm512_add_ps(sum, _mm512_shuffle_f32x4(u[k], u[k + 4], 0x88));
    for (int k = 0; k < 4; k++) sum = _mm512_add_ps(sum, _mm512_shuffle_f32x4(u[k], u[k + 4], 0xDD));
    _mm512_storeu_ps(out, sum);
}
DI_INLINE void di_pairsums_d(const di_wd a[8], double out[16]) {
    for (int s = 0; s < 16; s++) {
        const int k = (s / 8) * 4 + s % 4, half = (s / 4) % 2;
        double sum = 0;
        for (int l = 0; l < DI_ND; l++) sum += a[k][half * DI_ND + l];
        out[s] = sum;
    }
}
/* The dot products' tails, added to their lane sums (as di_pairsums lays them
 * out): sums[s] += sum over j in j0..j1, in order and from 0, of d[j] rows[q][j]
 * (d = d0 for the x's, d1 for the y's; q = (s / 8) * 4 + s % 4), each term one
 * fused multiply-add, as the scalar tail loop of the 32-byte kernel. For float,
 * all 16 at once (the scalar loop had been 0.4 of the 9-output layer's dot
 * products at batch 100). */
DI_INLINE void di_pairtails_f(const float *d0, const float *d1, const float *const rows[8],
                              ptrdiff_t j0, ptrdiff_t j1, float sums[16]) {
    const __m512i order = _mm512_setr_epi32(0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7);
    __m512 t = _mm512_setzero_ps();
    for (ptrdiff_t j = j0; j < j1; j++) {
        float w8[8];
        for (int q = 0; q < 8; q++) w8[q] = rows[q][j];
        const __m512 w = _mm512_permutexvar_ps(order, _mm512_castps256_ps512(_mm256_loadu_ps(w8)));
        const __m512 d = _mm512_mask_blend_ps(0xF0F0, _mm512_set1_ps(d0[j]), _mm512_set1_ps(d1[j]));
        t = _mm512_fmadd_ps(d, w, t);
    }
    _mm512_storeu_ps(sums, _mm512_add_ps(_mm512_loadu_ps(sums), t));
}
DI_INLINE void di_pairtails_d(const double *d0, const double *d1, const double *const rows[8],
                              ptrdiff_t j0, ptrdiff_t j1, double sums[16]) {
    for (int s = 0; s < 16; s++) {
        const double *d = (s / 4) % 2 ? d1 : d0, *w = rows[(s / 8) * 4 + s % 4];
        double tail = 0;
        for (ptrdiff_t j = j0; j < j1; j++) tail = DI_MADD(d[j], w[j], tail);
        sums[s] += tail;
    }
}
/* The two halves of a pair vector to two rows. */
DI_INLINE void di_sthalves_f(float *lo, float *hi, di_wf v) {
    _mm256_storeu_ps(lo, _mm512_castps512_ps256((__m512)v));
    _mm256_storeu_ps(hi, _mm512_extractf32x8_ps((__m512)v, 1));
}
DI_INLINE void di_sthalves_d(double *lo, double *hi, di_wd v) {
    _mm256_storeu_pd(lo, _mm512_castpd512_pd256((__m512d)v));
    _mm256_storeu_pd(hi, _mm512_extractf64x4_pd((__m512d)v, 1));
}
/* Wide backward for few rows (B < DI_WIDE_BWD_ROWS, with dots): di_seg2's one   */
/* pass over rows i and i + 1 of W, on pair vectors [row i | row i + 1] of the    */
/* 32-byte kernel's lanes: the dot accumulators of a batch row, its delta         */
/* (broadcast to both halves), z's values [z[r, i] | z[r, i + 1]] and g are one    */
/* 64-byte vector each, so that all of batch 10 fits the registers in one pass   */
/* (di_seg2 takes two passes of 5 and reads each row twice). Each g is a chain  */
/* of R multiply-adds, in order over the batch: DI_SEGW_J pair vectors (32       */
/* columns) at a time keep enough of them in flight (one at a time: 0.9x). The  */
/* same sums in the same order as di_seg2: the same bits.                       */
#define DI_SEGW_J 4
#define DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, R)           \
    /* Columns j .. j + nj NV of both rows (nj a constant where inlined). */           \
    DI_INLINE void di_segw_cols_##T##_##R(const int nj, ptrdiff_t j, const T *delta,   \
                                          ptrdiff_t ldd, const T *w, const T *w1, T lr, \
                                          const T *g_buf, const T *g_buf1, T *o0, T *o1, \
                                          int first, int update, WV *acc, const WV *zz) { \
        WV wp[DI_SEGW_J], g[DI_SEGW_J];                                                \
        for (int u = 0; u < nj; u++) {                                                 \
            wp[u] = LDPAIR(w + j + u * NV, w1 + j + u * NV);                           \
            g[u] = first ? (WV){0} : LDPAIR(g_buf + j + u * NV, g_buf1 + j + u * NV);  \
        }                                                                              \
        if (first)                                                                     \
            for (int u = 0; u < nj * NV; u += 64 / (int)sizeof(T)) {                   \
                __builtin_prefetch(w + DI_PF_BWD + j + u, 1, 3);                       \
                __builtin_prefetch(w1 + DI_PF_BWD + j + u, 1, 3);                      \
            }                                                                          \
        /* Fully unrolled (GCC's default limits left 40 steps in a loop, its     \
         * vectors on the stack: half the speed).                               */  \
        _Pragma("GCC unroll 16")                                                       \
        for (int r = 0; r < R; r++)                                                    \
            _Pragma("GCC unroll 16")                                                   \
            for (int u = 0; u < nj; u++) {                                             \
                const WV d = BCAST(delta + r * ldd + j + u * NV);                      \
                acc[r] += d * wp[u];                                                   \
                g[u] += zz[r] * d;                                                     \
            }                                                                          \
        for (int u = 0; u < nj; u++)                                                   \
            STHALVES(o0 + j + u * NV, o1 + j + u * NV, update ? SGD(wp[u], lr, g[u]) : g[u]); \
    }                                                                                  \
    DI_INLINE void di_segw_##T##_##R(const T *zc, ptrdiff_t ldz, const T *delta,       \
                                     ptrdiff_t ldd, T *w, ptrdiff_t ldw, ptrdiff_t len, \
                                     T lr, T *g_buf, T *g_out, ptrdiff_t ldg,          \
                                     int first, int last, T *dots) {                   \
        WV acc[R], zz[R];                                                              \
        T tail0[R], tail1[R];                                                          \
        T *w1 = w + ldw, *g_buf1 = g_buf + DI_JB, *g_out1 = g_out ? g_out + ldg : NULL; \
        /* g goes to g_buf (more rows to come), to g_out, or updates W.          */  \
        T *o0 = !last ? g_buf : g_out ? g_out : w;                                     \
        T *o1 = !last ? g_buf1 : g_out ? g_out1 : w1;                                  \
        const int update = last && !g_out;                                             \
        for (int r = 0; r < R; r++) {                                                  \
            acc[r] = (WV){0};                                                          \
            tail0[r] = 0;                                                              \
            tail1[r] = 0;                                                              \
            for (int k = 0; k < NV; k++) {                                             \
                zz[r][k] = zc[r * ldz];                                                \
                zz[r][NV + k] = zc[r * ldz + 1];                                       \
            }                                                                          \
        }                                                                              \
        const ptrdiff_t n_vec = len - len % NV;                                        \
        ptrdiff_t j = 0;                                                               \
        for (; j + DI_SEGW_J * NV <= n_vec; j += DI_SEGW_J * NV)                       \
            di_segw_cols_##T##_##R(DI_SEGW_J, j, delta, ldd, w, w1, lr, g_buf, g_buf1, \
                                   o0, o1, first, update, acc, zz);                    \
        for (; j < n_vec; j += NV)                                                     \
            di_segw_cols_##T##_##R(1, j, delta, ldd, w, w1, lr, g_buf, g_buf1,         \
                                   o0, o1, first, update, acc, zz);                    \
        for (j = n_vec; j < len; j++) {                                                \
            const T wj0 = w[j], wj1 = w1[j];                                           \
            T g0 = first ? 0 : g_buf[j], g1 = first ? 0 : g_buf1[j];                   \
            for (int r = 0; r < R; r++) {                                              \
                const T d = delta[r * ldd + j];                                        \
                tail0[r] = DI_MADD(d, wj0, tail0[r]);                                  \
                tail1[r] = DI_MADD(d, wj1, tail1[r]);                                  \
                g0 = DI_MADD(zc[r * ldz], d, g0);                                      \
                g1 = DI_MADD(zc[r * ldz + 1], d, g1);                                  \
            }                                                                          \
            o0[j] = update ? DI_MADD(-lr, g0, wj0) : g0;                               \
            o1[j] = update ? DI_MADD(-lr, g1, wj1) : g1;                               \
        }                                                                              \
        /* Lane sums, 8 batch rows (16 dot products) at a time. */                    \
        for (int r0 = 0; r0 < R; r0 += 8) {                                            \
            WV a[8];                                                                   \
            T sums[16];                                                                \
            for (int k = 0; k < 8; k++) a[k] = r0 + k < R ? acc[r0 + k] : (WV){0};     \
            PAIRSUMS(a, sums);                                                         \
            for (int k = 0; k < 8 && r0 + k < R; k++) {                                \
                const int s = k < 4 ? k : 4 + k; /* row i's; row i + 1's is s + 4 */   \
                dots[r0 + k] = sums[s] + tail0[r0 + k];                                \
                dots[DI_BR + r0 + k] = sums[s + 4] + tail1[r0 + k];                    \
            }                                                                          \
        }                                                                              \
    }
#define DI_DEFINE_SEGWS(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES)            \
    DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, 1)              \
    DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, 2)              \
    DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, 3)              \
    DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, 4)              \
    DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, 5)              \
    DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, 6)              \
    DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, 7)              \
    DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, 8)              \
    DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, 9)              \
    DI_DEFINE_SEGW(T, WV, NV, LDPAIR, BCAST, PAIRSUMS, SGD, STHALVES, 10)             \
    DI_INLINE void di_segw_##T(ptrdiff_t R, const T *zc, ptrdiff_t ldz, const T *delta, \
                               ptrdiff_t ldd, T *w, ptrdiff_t ldw, ptrdiff_t len, T lr, \
                               T *g_buf, T *g_out, ptrdiff_t ldg, int first, int last, \
                               T *dots) {                                              \
        switch (R) {                                                                   \
        case 1: di_segw_##T##_1(zc, ldz, delta, ldd, w, ldw, len, lr, g_buf, g_out, ldg, first, last, dots); break; \
        case 2: di_segw_##T##_2(zc, ldz, delta, ldd, w, ldw, len, lr, g_buf, g_out, ldg, first, last, dots); break; \
        case 3: di_segw_##T##_3(zc, ldz, delta, ldd, w, ldw, len, lr, g_buf, g_out, ldg, first, last, dots); break; \
        case 4: di_segw_##T##_4(zc, ldz, delta, ldd, w, ldw, len, lr, g_buf, g_out, ldg, first, last, dots); break; \
        case 5: di_segw_##T##_5(zc, ldz, delta, ldd, w, ldw, len, lr, g_buf, g_out, ldg, first, last, dots); break; \
        case 6: di_segw_##T##_6(zc, ldz, delta, ldd, w, ldw, len, lr, g_buf, g_out, ldg, first, last, dots); break; \
        case 7: di_segw_##T##_7(zc, ldz, delta, ldd, w, ldw, len, lr, g_buf, g_out, ldg, first, last, dots); break; \
        case 8: di_segw_##T##_8(zc, ldz, delta, ldd, w, ldw, len, lr, g_buf, g_out, ldg, first, last, dots); break; \
        case 9: di_segw_##T##_9(zc, ldz, delta, ldd, w, ldw, len, lr, g_buf, g_out, ldg, first, last, dots); break; \
        default: di_segw_##T##_10(zc, ldz, delta, ldd, w, ldw, len, lr, g_buf, g_out, ldg, first, last, dots); break; \
        }                                                                              \
    }
DI_DEFINE_SEGWS(float, di_wf, DI_NF, di_ldpair_f, di_bcast_half_f, di_pairsums_f, di_sgd_f, di_sthalves_f)
DI_DEFINE_SEGWS(double, di_wd, DI_ND, di_ldpair_d, di_bcast_half_d, di_pairsums_d, di_sgd_d, di_sthalves_d)

/* The dot-product tiles prefetch the next 8 rows of W into L2, a line every
 * DI_PF_DZ vectors: the first tile of each 8 rows otherwise waited on W from L3
 * row by row (each row its own page, where the hardware prefetcher starts over). */
#ifndef DI_PF_DZ
#define DI_PF_DZ 4
#endif
#define DI_DEFINE_DZTILE(T, WV, NV, LDW, BCAST, PAIRSUMS, PAIRTAILS, RP)                        \
    /* dots[r * 8 + q] = delta[r, 0:len] . rows[q][0:len], r < nr <= 2 RP, q < 8: \
     * a vector holds the NV lanes of two batch rows, [delta[r, j:j+NV] |           \
     * delta[r + 1, j:j+NV]], one load from dq (di_pack_delta's pairs: pair p at   \
     * dq + p ldq, its columns j at 2 j), against W[q, j:j+NV] broadcast to both   \
     * halves (one load, no shuffle). The tail columns (len - len % NV on) come   \
     * from delta in place. With out (not NULL), a full tile (nr = 2 RP) stores   \
     * its dots straight to out[r * ldo + q] instead and returns 1 (through dots, \
     * one scalar at a time, they had been a tenth of the backward at batch 100,  \
     * and 0.8 of the 0.97 ms of the 9-output layer's). Meanwhile it prefetches  \
     * the n_pf lines from pf.                                                 */ \
    DI_INLINE int di_dztile_##T##_##RP(const T *const *rows, const T *dq, ptrdiff_t ldq, \
                                        const T *delta, ptrdiff_t ldd, ptrdiff_t len,  \
                                        ptrdiff_t nr, T *dots, T *out, ptrdiff_t ldo,  \
                                        const char *pf, ptrdiff_t n_pf) {             \
        WV acc[RP][8];                                                                \
        for (int p = 0; p < RP; p++)                                                  \
            for (int q = 0; q < 8; q++) acc[p][q] = (WV){0};                          \
        const ptrdiff_t n_vec = len - len % NV;                                       \
        for (ptrdiff_t j = 0, v = 0; j < n_vec; j += NV, v++) {                       \
            if (v % DI_PF_DZ == 0 && v / DI_PF_DZ < n_pf)                             \
                __builtin_prefetch(pf + 64 * (v / DI_PF_DZ), 0, 2);                   \
            WV d[RP];                                                                 \
            for (int p = 0; p < RP; p++) d[p] = LDW(dq + p * ldq + 2 * j);            \
            for (int q = 0; q < 8; q++) {                                             \
                const WV w = BCAST(rows[q] + j);                                      \
                for (int p = 0; p < RP; p++) acc[p][q] += d[p] * w;                   \
            }                                                                         \
        }                                                                             \
        const int direct = out && nr == 2 * RP;                                       \
        for (int p = 0; p < RP; p++) {                                                \
            T sums[16];                                                               \
            PAIRSUMS(acc[p], sums);                                                   \
            /* Row 2p + 1 past nr (an odd last row): its sums are not stored.  */ \
            if (n_vec < len)                                                          \
                PAIRTAILS(delta + 2 * p * ldd, delta + (2 * p + (2 * p + 1 < nr)) * ldd, \
                          rows, n_vec, len, sums);                                    \
            if (direct) {                                                             \
                /* PAIRSUMS' out[s]: batch row 2p (s < 4 and 8-11) or 2p + 1, W row \
                 * s % 4 (+ 4 from s = 8): four runs of 4 dots.                  */ \
                T *o0 = out + 2 * p * ldo, *o1 = o0 + ldo;                            \
                memcpy(o0, sums, 4 * sizeof(T));                                      \
                memcpy(o1, sums + 4, 4 * sizeof(T));                                  \
                memcpy(o0 + 4, sums + 8, 4 * sizeof(T));                              \
                memcpy(o1 + 4, sums + 12, 4 * sizeof(T));                             \
            } else {                                                                  \
                for (int s = 0; s < 16; s++) {                                        \
                    /* s = m: row 2p, W row m; 4 + m: row 2p + 1, m; 8 + m, 12 + m: 4 + m */ \
                    const int r = 2 * p + (s / 4) % 2, q = (s / 8) * 4 + s % 4;       \
                    if (r < nr) dots[r * 8 + q] = sums[s];                            \
                }                                                                     \
            }                                                                         \
        }                                                                             \
        return direct;                                                                \
    }
#define DI_DEFINE_GTILE(T, WV, NWV, LDM, STM, SGD, RI)                                \
    /* Rows i..i+RI of W, columns 0..ncol (<= 2 NWV): g = z[:, i+ii] @ delta,     \
     * then W -= lr g, or dW = g. */                                             \
    DI_INLINE void di_gtile_##T##_##RI(const T *z, ptrdiff_t ldz, const T *delta,     \
                                       ptrdiff_t ldd, ptrdiff_t B, T *w, ptrdiff_t ldw, \
                                       T lr, T *g_out, ptrdiff_t ncol) {              \
        const unsigned k0 = di_lanes(ncol, NWV), k1 = di_lanes(ncol - NWV, NWV);      \
        WV acc[RI][2];                                                                \
        for (int ii = 0; ii < RI; ii++) { acc[ii][0] = (WV){0}; acc[ii][1] = (WV){0}; } \
        for (ptrdiff_t r = 0; r < B; r++) {                                           \
            const WV d0 = LDM(delta + r * ldd, k0), d1 = LDM(delta + r * ldd + NWV, k1); \
            for (int ii = 0; ii < RI; ii++) {                                         \
                const T zr = z[r * ldz + ii];                                         \
                acc[ii][0] += zr * d0;                                                \
                acc[ii][1] += zr * d1;                                                \
            }                                                                         \
        }                                                                             \
        for (int ii = 0; ii < RI; ii++) {                                             \
            T *wr = w + ii * ldw;                                                     \
            if (g_out) {                                                              \
                STM(g_out + ii * ldw, acc[ii][0], k0);                                \
                STM(g_out + ii * ldw + NWV, acc[ii][1], k1);                          \
            } else {                                                                  \
                STM(wr, SGD(LDM(wr, k0), lr, acc[ii][0]), k0);                        \
                STM(wr + NWV, SGD(LDM(wr + NWV, k1), lr, acc[ii][1]), k1);            \
            }                                                                         \
        }                                                                             \
    }
#define DI_GROWS 8
/* The gradient tiles read a packed copy of z's columns for batches of up to
 * DI_ZP_ROWS rows (a stack buffer of DI_ZP_ROWS x DI_GROWS values). */
#ifndef DI_ZP_ROWS
#define DI_ZP_ROWS 256
#endif
/* delta packed for the wide backward, at pk (B x n values), then, with pairs, at
 * pk + B n ((B + 1) x n at most):
 * - panels of the gradient tiles' 2 NWV columns: panel p (columns p 2NWV .. p 2NWV
 *   + w, w = min(2NWV, n - p 2NWV)) at pk + p 2NWV B, its row r at r w, so that a
 *   tile reads its panel in one run. Read in place, its rows 4 kB apart came from
 *   L2 at one line's latency each (the gradient tiles: 1.15x faster on panels in
 *   a C harness at batch 100, the packing included).
 * - rows in pairs for the dot products (di_dztile): pair p (rows 2p and 2p + 1,
 *   zeros past row B) at pk + B n + p 2n, its columns j .. j + NV (j a multiple of
 *   NV below n - n % NV) at 2j: [delta[2p, j:j+NV] | delta[2p + 1, j:j+NV]].
 * Thread t of nt packs panels and pairs t k / nt to (t + 1) k / nt of the k there. */
#define DI_DEFINE_PACK(T, NV, NWV)                                                    \
    DI_KERNEL void di_pack_delta_##T(const T *delta, ptrdiff_t ldd, ptrdiff_t B,      \
                                     ptrdiff_t n, int pairs, ptrdiff_t t, ptrdiff_t nt, \
                                     T *pk) {                                         \
        const ptrdiff_t pw = 2 * NWV, n_panels = (n + pw - 1) / pw;                   \
        for (ptrdiff_t p = t * n_panels / nt; p < (t + 1) * n_panels / nt; p++) {     \
            const ptrdiff_t j = p * pw, w = n - j < pw ? n - j : pw;                  \
            T *o = pk + j * B;                                                        \
            for (ptrdiff_t r = 0; r < B; r++)                                         \
                memcpy(o + r * w, delta + r * ldd + j, (size_t)w * sizeof(T));         \
        }                                                                             \
        if (!pairs) return;                                                           \
        const ptrdiff_t n_pairs = (B + 1) / 2, n_vec = n - n % NV;                    \
        for (ptrdiff_t p = t * n_pairs / nt; p < (t + 1) * n_pairs / nt; p++) {       \
            T *o = pk + B * n + p * 2 * n;                                            \
            const T *d0 = delta + 2 * p * ldd, *d1 = d0 + ldd;                        \
            const int two = 2 * p + 1 < B;                                            \
            for (ptrdiff_t j = 0; j < n_vec; j += NV) {                               \
                memcpy(o + 2 * j, d0 + j, NV * sizeof(T));                            \
                if (two) memcpy(o + 2 * j + NV, d1 + j, NV * sizeof(T));              \
                else memset(o + 2 * j + NV, 0, NV * sizeof(T));                       \
            }                                                                         \
        }                                                                             \
    }
DI_DEFINE_PACK(float, DI_NF, DI_NWF)
DI_DEFINE_PACK(double, DI_ND, DI_NWD)
#define DI_DEFINE_BWD_WIDE(T, WV, NV, NWV, LDW, LDWM, STWM, SGD, BCAST, PAIRSUMS, PAIRTAILS)     \
    DI_DEFINE_DZTILE(T, WV, NV, LDW, BCAST, PAIRSUMS, PAIRTAILS, 1)                              \
    DI_DEFINE_DZTILE(T, WV, NV, LDW, BCAST, PAIRSUMS, PAIRTAILS, 2)                              \
    DI_DEFINE_DZTILE(T, WV, NV, LDW, BCAST, PAIRSUMS, PAIRTAILS, 3)                              \
    DI_DEFINE_GTILE(T, WV, NWV, LDWM, STWM, SGD, 1)                                   \
    DI_DEFINE_GTILE(T, WV, NWV, LDWM, STWM, SGD, 2)                                   \
    DI_DEFINE_GTILE(T, WV, NWV, LDWM, STWM, SGD, 3)                                   \
    DI_DEFINE_GTILE(T, WV, NWV, LDWM, STWM, SGD, 4)                                   \
    DI_DEFINE_GTILE(T, WV, NWV, LDWM, STWM, SGD, 5)                                   \
    DI_DEFINE_GTILE(T, WV, NWV, LDWM, STWM, SGD, 6)                                   \
    DI_DEFINE_GTILE(T, WV, NWV, LDWM, STWM, SGD, 7)                                   \
    DI_DEFINE_GTILE(T, WV, NWV, LDWM, STWM, SGD, 8)                                   \
    static void di_backward_wide_##T(const T *z, ptrdiff_t ldz, const T *delta,       \
                                     ptrdiff_t ldd, T *W, ptrdiff_t n, ptrdiff_t B,   \
                                     ptrdiff_t i0, ptrdiff_t i1, T lr, T *dW,         \
                                     T *dz, ptrdiff_t ldo, const T *pk) {             \
        const T *dp = pk, *dq = pk + B * n;                                           \
        if (dz) {                                                                     \
            enum { RP = 3 };       /* row pairs a tile: 24 accumulators */               \
            T dots[2 * RP * 8];                                                       \
            const T *rows[8];                                                         \
            const ptrdiff_t np = (B + 1) / 2, n_groups = (np + RP - 1) / RP;          \
            /* The lines of 8 rows of W, prefetched over a group's tiles (when    \
             * the rows are one column block).                                 */ \
            const ptrdiff_t n_pf = n <= DI_JB ? (8 * n * (ptrdiff_t)sizeof(T) + 63) / 64 : 0; \
            for (ptrdiff_t i = i0; i < i1; i += 8) {                                  \
                const ptrdiff_t nq = i1 - i < 8 ? i1 - i : 8;                         \
                /* Past the last row: repeat it (its results are not stored). */      \
                for (ptrdiff_t q = 0; q < 8; q++) rows[q] = W + (i + (q < nq ? q : nq - 1)) * n; \
                /* The next 8 rows (past i1, usually this thread's next block). */   \
                const char *next = (const char *)(W + (i + 8) * n);                   \
                for (ptrdiff_t jb = 0; jb < n; jb += DI_JB) {                         \
                    const ptrdiff_t len = n - jb < DI_JB ? n - jb : DI_JB;            \
                    const T *blk[8];                                                  \
                    for (ptrdiff_t q = 0; q < 8; q++) blk[q] = rows[q] + jb;          \
                    for (ptrdiff_t g = 0, p0 = 0; g < n_groups; g++) {                \
                        const ptrdiff_t rp = (np - p0) / (n_groups - g);              \
                        const ptrdiff_t r0 = 2 * p0, nr = B - r0 < 2 * rp ? B - r0 : 2 * rp; \
                        const T *dqg = dq + p0 * 2 * n + 2 * jb;                      \
                        const T *dl = delta + r0 * ldd + jb;                          \
                        /* dz directly where this block is all of the row and all 8  \
                         * rows are there; else through dots.                     */ \
                        T *direct = len == n && nq == 8 ? dz + r0 * ldo + i : NULL;    \
                        if (jb == 0) DI_PREFETCH_DZ(dz + r0 * ldo + i, ldo, nr);     \
                        const ptrdiff_t l0 = g * n_pf / n_groups, l1 = (g + 1) * n_pf / n_groups; \
                        const char *pf = next + 64 * l0;                              \
                        int done;                                                     \
                        switch (rp) {                                                 \
                        case 1: done = di_dztile_##T##_1(blk, dqg, 2 * n, dl, ldd, len, nr, dots, direct, ldo, pf, l1 - l0); break; \
                        case 2: done = di_dztile_##T##_2(blk, dqg, 2 * n, dl, ldd, len, nr, dots, direct, ldo, pf, l1 - l0); break; \
                        default: done = di_dztile_##T##_3(blk, dqg, 2 * n, dl, ldd, len, nr, dots, direct, ldo, pf, l1 - l0); break; \
                        }                                                             \
                        for (ptrdiff_t r = 0; r < nr && !done; r++)                   \
                            for (ptrdiff_t q = 0; q < nq; q++) {                      \
                                T *o = dz + (r0 + r) * ldo + i + q;                   \
                                *o = jb == 0 ? dots[r * 8 + q] : *o + dots[r * 8 + q]; \
                            }                                                         \
                        p0 += rp;                                                     \
                    }                                                                 \
                }                                                                     \
            }                                                                         \
        }                                                                             \
        T zp[DI_ZP_ROWS * DI_GROWS];                                                  \
        for (ptrdiff_t i = i0; i < i1; i += DI_GROWS) {                               \
            const ptrdiff_t ri = i1 - i < DI_GROWS ? i1 - i : DI_GROWS;               \
            /* z's ri columns, packed row by row (zp[r ri + ii]) for batches that  \
             * fit: the tiles' loads of them, rows of z 4 kB apart, missed L1      \
             * (+25% gradient speed at batch 100 in a C harness).               */ \
            const T *zi = z + i;                                                      \
            ptrdiff_t ldzi = ldz;                                                     \
            if (B <= DI_ZP_ROWS) {                                                    \
                for (ptrdiff_t r = 0; r < B; r++) /* one vector a row when ri is whole */ \
                    if (ri == DI_GROWS) memcpy(zp + r * DI_GROWS, z + r * ldz + i, DI_GROWS * sizeof(T)); \
                    else for (ptrdiff_t ii = 0; ii < ri; ii++) zp[r * ri + ii] = z[r * ldz + i + ii]; \
                zi = zp; ldzi = ri;                                                   \
            }                                                                         \
            for (ptrdiff_t j = 0; j < n; j += 2 * NWV) {                              \
                const ptrdiff_t ncol = n - j < 2 * NWV ? n - j : 2 * NWV;             \
                const T *dl = dp + j * B; /* delta's panel, ncol wide */              \
                T *w = W + i * n + j, *go = dW ? dW + i * n + j : NULL;               \
                switch (ri) {                                                         \
                case 1: di_gtile_##T##_1(zi, ldzi, dl, ncol, B, w, n, lr, go, ncol); break; \
                case 2: di_gtile_##T##_2(zi, ldzi, dl, ncol, B, w, n, lr, go, ncol); break; \
                case 3: di_gtile_##T##_3(zi, ldzi, dl, ncol, B, w, n, lr, go, ncol); break; \
                case 4: di_gtile_##T##_4(zi, ldzi, dl, ncol, B, w, n, lr, go, ncol); break; \
                case 5: di_gtile_##T##_5(zi, ldzi, dl, ncol, B, w, n, lr, go, ncol); break; \
                case 6: di_gtile_##T##_6(zi, ldzi, dl, ncol, B, w, n, lr, go, ncol); break; \
                case 7: di_gtile_##T##_7(zi, ldzi, dl, ncol, B, w, n, lr, go, ncol); break; \
                default: di_gtile_##T##_8(zi, ldzi, dl, ncol, B, w, n, lr, go, ncol); break; \
                }                                                                     \
            }                                                                         \
        }                                                                             \
    }
DI_DEFINE_BWD_WIDE(float, di_wf, DI_NF, DI_NWF, di_ldw_f, di_ldwm_f, di_stwm_f, di_sgd_f, di_bcast_half_f, di_pairsums_f, di_pairtails_f)
DI_DEFINE_BWD_WIDE(double, di_wd, DI_ND, DI_NWD, di_ldw_d, di_ldwm_d, di_stwm_d, di_sgd_d, di_bcast_half_d, di_pairsums_d, di_pairtails_d)
#else /* no AVX-512: never called (di_wide_kernels stays 0) */
#define di_backward_wide_float(...) ((void)0)
#define di_backward_wide_double(...) ((void)0)
#define di_pack_delta_float(...) ((void)0)
#define di_pack_delta_double(...) ((void)0)
#define di_segw_float(...) ((void)0)
#define di_segw_double(...) ((void)0)
#endif /* DI_WIDE */

#define DI_DEFINE_BACKWARD(T, V, NV, LD, ST)                                          \
    DI_DEFINE_SEG(T, V, NV, LD, ST, 1)                                                \
    DI_DEFINE_SEG(T, V, NV, LD, ST, 2)                                                \
    DI_DEFINE_SEG(T, V, NV, LD, ST, 3)                                                \
    DI_DEFINE_SEG(T, V, NV, LD, ST, 4)                                                \
    DI_DEFINE_SEG(T, V, NV, LD, ST, 5)                                                \
    DI_DEFINE_SEG(T, V, NV, LD, ST, 6)                                                \
    DI_DEFINE_SEG(T, V, NV, LD, ST, 7)                                                \
    DI_DEFINE_SEG(T, V, NV, LD, ST, 8)                                                \
    DI_DEFINE_SEG(T, V, NV, LD, ST, 9)                                                \
    DI_DEFINE_SEG(T, V, NV, LD, ST, 10)                                               \
    DI_DEFINE_SEG2(T, V, NV, LD, ST, 1)                                               \
    DI_DEFINE_SEG2(T, V, NV, LD, ST, 2)                                               \
    DI_DEFINE_SEG2(T, V, NV, LD, ST, 3)                                               \
    DI_DEFINE_SEG2(T, V, NV, LD, ST, 4)                                               \
    DI_DEFINE_SEG2(T, V, NV, LD, ST, 5)                                               \
    DI_DEFINE_SEG2(T, V, NV, LD, ST, 6)                                               \
    DI_DEFINE_SEG2(T, V, NV, LD, ST, 7)                                               \
    DI_DEFINE_SEG2(T, V, NV, LD, ST, 8)                                               \
    DI_DEFINE_SEG2(T, V, NV, LD, ST, 9)                                               \
    DI_DEFINE_SEG2(T, V, NV, LD, ST, 10)                                              \
    DI_KERNEL void di_backward_rows_##T(const T *z, ptrdiff_t ldz, const T *delta,         \
                                     ptrdiff_t ldd, T *W, ptrdiff_t n, ptrdiff_t B,     \
                                     ptrdiff_t i0, ptrdiff_t i1, T lr, T *dW,           \
                                     T *dz, ptrdiff_t ldo, const T *pk) {               \
        if (di_backward_packs(B)) {                                                    \
            di_backward_wide_##T(z, ldz, delta, ldd, W, n, B, i0, i1, lr, dW, dz, ldo, pk); \
            return;                                                                    \
        }                                                                              \
        T g_buf[2 * DI_JB];                                                            \
        T dots[2 * DI_BR];                                                             \
        /* Passes of DI_BR rows in the wide kernels' one pass per row pair.      */  \
        const int wide_few = di_wide_kernels && B >= DI_WIDE_FEW_ROWS;                 \
        const ptrdiff_t br = dz && !wide_few ? DI_BR_DOTS : DI_BR;                     \
        for (ptrdiff_t jb = 0; jb < n; jb += DI_JB) {                                  \
            const ptrdiff_t len = n - jb < DI_JB ? n - jb : DI_JB;                     \
            for (ptrdiff_t i = i0; i < i1; ) {                                         \
                const int pair = DI_ROW_PAIRS && i + 1 < i1;                           \
                T *w = W + i * n + jb;                                                 \
                T *g_out = dW ? dW + i * n + jb : NULL;                                \
                for (ptrdiff_t r0 = 0; r0 < B; r0 += br) {                             \
                    const ptrdiff_t rows = B - r0 < br ? B - r0 : br;                  \
                    const int first = r0 == 0, last = r0 + rows == B;                  \
                    const T *zc = z + r0 * ldz + i;                                    \
                    const T *dl = delta + r0 * ldd + jb;                               \
                    const int want = dz != NULL;                                       \
                    if (pair && want && wide_few)                                      \
                        di_segw_##T(rows, zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots); \
                    else if (pair) switch (rows) {                                     \
                    case 1: di_seg2_##T##_1(zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots, want); break;\
                    case 2: di_seg2_##T##_2(zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots, want); break;\
                    case 3: di_seg2_##T##_3(zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots, want); break;\
                    case 4: di_seg2_##T##_4(zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots, want); break;\
                    case 5: di_seg2_##T##_5(zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots, want); break;\
                    case 6: di_seg2_##T##_6(zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots, want); break;\
                    case 7: di_seg2_##T##_7(zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots, want); break;\
                    case 8: di_seg2_##T##_8(zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots, want); break;\
                    case 9: di_seg2_##T##_9(zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots, want); break;\
                    default: di_seg2_##T##_10(zc, ldz, dl, ldd, w, n, len, lr, g_buf, g_out, n, first, last, dots, want); break;\
                    } else switch (rows) {                                             \
                    case 1: di_seg_##T##_1(zc, ldz, dl, ldd, w, len, lr, g_buf, g_out, first, last, dots, want); break;\
                    case 2: di_seg_##T##_2(zc, ldz, dl, ldd, w, len, lr, g_buf, g_out, first, last, dots, want); break;\
                    case 3: di_seg_##T##_3(zc, ldz, dl, ldd, w, len, lr, g_buf, g_out, first, last, dots, want); break;\
                    case 4: di_seg_##T##_4(zc, ldz, dl, ldd, w, len, lr, g_buf, g_out, first, last, dots, want); break;\
                    case 5: di_seg_##T##_5(zc, ldz, dl, ldd, w, len, lr, g_buf, g_out, first, last, dots, want); break;\
                    case 6: di_seg_##T##_6(zc, ldz, dl, ldd, w, len, lr, g_buf, g_out, first, last, dots, want); break;\
                    case 7: di_seg_##T##_7(zc, ldz, dl, ldd, w, len, lr, g_buf, g_out, first, last, dots, want); break;\
                    case 8: di_seg_##T##_8(zc, ldz, dl, ldd, w, len, lr, g_buf, g_out, first, last, dots, want); break;\
                    case 9: di_seg_##T##_9(zc, ldz, dl, ldd, w, len, lr, g_buf, g_out, first, last, dots, want); break;\
                    default: di_seg_##T##_10(zc, ldz, dl, ldd, w, len, lr, g_buf, g_out, first, last, dots, want); break;\
                    }                                                                  \
                    if (want && jb == 0 && i % 8 == 0)                                 \
                        DI_PREFETCH_DZ(dz + r0 * ldo + i, ldo, rows);                  \
                    if (want)                                                          \
                        for (ptrdiff_t r = 0; r < rows; r++) {                         \
                            T *o = dz + (r0 + r) * ldo + i;                            \
                            *o = jb == 0 ? dots[r] : *o + dots[r];                     \
                            if (pair) o[1] = jb == 0 ? dots[DI_BR + r] : o[1] + dots[DI_BR + r];\
                        }                                                              \
                }                                                                      \
                i += pair ? 2 : 1;                                                     \
            }                                                                          \
        }                                                                              \
    }

DI_DEFINE_BACKWARD(float, di_vf, DI_NF, di_ld_f, di_st_f)
DI_DEFINE_BACKWARD(double, di_vd, DI_ND, di_ld_d, di_st_d)

/* ------------------------------------------------------------------------ */
/* Vectorized float32 tanh and sigmoid (libm's scalar tanhf costs ~17 ns a   */
/* value, as much as a fifth of a training step on the paper's network).     */
/* exp: Cephes expf (range reduction by ln 2, degree-5 polynomial), relative */
/* error ~1e-7 on [-87, 88]. tanh: x + x^3 P(x^2) for |x| < 0.625 (Cephes    */
/* tanhf), else sign(x) (1 - 2 / (exp(2|x|) + 1)). NaN stays NaN. float64    */
/* keeps libm (the gradient checks run in float64).                          */
/* ------------------------------------------------------------------------ */
typedef int di_vi __attribute__((vector_size(DI_VBYTES)));

DI_INLINE di_vf di_select_f(di_vi mask, di_vf a, di_vf b) { /* mask ? a : b */
    return (di_vf)(((di_vi)a & mask) | ((di_vi)b & ~mask));
}

DI_INLINE di_vf di_exp_vf(di_vf x) {
    const di_vf hi = (di_vf){0} + 88.3762626647949f, lo = (di_vf){0} - 87.3365447504019f;
    x = di_select_f(x > hi, hi, x);
    x = di_select_f(x < lo, lo, x);
    di_vf fx = x * 1.44269504088896341f + 0.5f;
    di_vi n = __builtin_convertvector(fx, di_vi);           /* truncation toward 0 */
    di_vf fn = __builtin_convertvector(n, di_vf);
    const di_vi above = fn > fx;                              /* floor for negatives */
    n = n + above;                                            /* above is -1 where true */
    fn = __builtin_convertvector(n, di_vf);
    x = x - fn * 0.693359375f;
    x = x - fn * -2.12194440e-4f;
    const di_vf z = x * x;
    di_vf p = (di_vf){0} + 1.9875691500e-4f;
    p = p * x + 1.3981999507e-3f;
    p = p * x + 8.3334519073e-3f;
    p = p * x + 4.1665795894e-2f;
    p = p * x + 1.6666665459e-1f;
    p = p * x + 5.0000001201e-1f;
    p = p * z + x + 1.0f;
    const di_vi pow2n = (n + 127) << 23;
    return p * (di_vf)pow2n;
}

DI_INLINE di_vf di_tanh_vf(di_vf x) {
    const di_vi sign = (di_vi)x & (int)0x80000000;
    const di_vf ax = (di_vf)((di_vi)x & 0x7fffffff);
    const di_vf z = x * x;
    di_vf p = (di_vf){0} - 5.70498872745e-3f;
    p = p * z + 2.06390887954e-2f;
    p = p * z - 5.37397155531e-2f;
    p = p * z + 1.33314422036e-1f;
    p = p * z - 3.33332819422e-1f;
    const di_vf small = p * z * x + x;
    const di_vf t = 1.0f - 2.0f / (di_exp_vf(ax + ax) + 1.0f);
    const di_vf large = (di_vf)((di_vi)t | sign);
    return di_select_f(ax < 0.625f, small, large);
}

DI_INLINE di_vf di_sigmoid_vf(di_vf x) { return 1.0f / (1.0f + di_exp_vf(-x)); }

/* In place over n values: full vectors, then the tail through a padded vector. */
#define DI_DEFINE_MAP_F(NAME, FN)                                                     \
    static void NAME(float *x, ptrdiff_t n) {                                         \
        ptrdiff_t k = 0;                                                              \
        for (; k + DI_NF <= n; k += DI_NF) di_st_f(x + k, FN(di_ld_f(x + k)));        \
        if (k < n) {                                                                  \
            float buf[DI_NF] = {0};                                                   \
            memcpy(buf, x + k, (size_t)(n - k) * sizeof(float));                      \
            di_st_f(buf, FN(di_ld_f(buf)));                                           \
            memcpy(x + k, buf, (size_t)(n - k) * sizeof(float));                      \
        }                                                                             \
    }

DI_DEFINE_MAP_F(di_tanh_f, di_tanh_vf)
DI_DEFINE_MAP_F(di_sigmoid_f, di_sigmoid_vf)

#endif /* DEEPINIT_SIMD_H */
