//! A 4x8 f32 matrix-multiply kernel for wasm32 SIMD, put ahead of tract's 8x8 in its dispatch.
//!
//! Why: wasmtime's deadline (epoch interruption) puts a check at every loop header whose cold
//! path calls out, and a call clobbers every `xmm` register. Cranelift then keeps every value
//! carried around a loop in memory: tract's 8x8 kernel loads and stores its 16 accumulators on
//! every k step. This kernel runs two k steps per loop iteration, so only every second step
//! goes through memory, and uses a 4x8 tile so that the unrolled steps' operands (two A
//! vectors, four B vectors, eight broadcasts) and an accumulator fit the 16 registers.
//! Measured against tract's 8x8 (BENCHMARKS.md, goal 2): in wasmtime with the deadline,
//! 0.91-1.01x the time on eight models (YOLOv8n and OpenNSFW 0.91x); without it
//! (`--deadline 0`) 0.91-0.99x; in V8 0.94-1.02x. Not unrolled, this tile was 1.15-1.23x
//! slower with the deadline.
//!
//! Registered through tract-linalg's public registries (`MmmRoutine`, `MmmTier`), so tract
//! itself is not patched. The tier is consulted when a plan is built (at pack time, and for
//! each shape a free dim takes): it names this kernel for f32 products with more than one
//! column and k >= 64, and leaves the rest (matrix-vector, short k, integers) to tract's tiers.
//! Tests: `tests/tests/parity.rs` (`gemm_kernel_tiles_match_onnxruntime`: partial tiles, odd
//! k, every fused step), and every model test whose products qualify (most CNNs).

use std::arch::wasm32::*;
use tract_nnef::internal::inventory;
use tract_nnef::tract_core::tract_linalg as linalg;

use linalg::Scaler;
use linalg::isa::{Arch, IsaSet};
use linalg::mmm::{DynKernel, FusedKerSpec, MatMatMul, Query, Suitable};
use linalg::pack::Packing;
use tract_nnef::prelude::DatumType;

const NAME: &str = "edgeinfer_wasm_f32_4x8";

/// 4 rows (M, from A) by 8 columns (N, from B): row `r` is `tile[r] = [cols 0-3, cols 4-7]`.
type Tile = [[v128; 2]; 4];

fn map(tile: &mut Tile, f: impl Fn(v128) -> v128) {
    for row in tile.iter_mut() {
        row[0] = f(row[0]);
        row[1] = f(row[1]);
    }
}

/// `f(splat(rows[r]), acc)` on row `r`.
unsafe fn per_row(tile: &mut Tile, rows: *const f32, f: impl Fn(v128, v128) -> v128) {
    for (r, row) in tile.iter_mut().enumerate() {
        let s = f32x4_splat(unsafe { *rows.add(r) });
        row[0] = f(s, row[0]);
        row[1] = f(s, row[1]);
    }
}

/// `f(cols[0..4], acc_lo)` and `f(cols[4..8], acc_hi)` on every row.
unsafe fn per_col(tile: &mut Tile, cols: *const f32, f: impl Fn(v128, v128) -> v128) {
    let p = cols as *const v128;
    let (lo, hi) = unsafe { (v128_load(p), v128_load(p.add(1))) };
    for row in tile.iter_mut() {
        row[0] = f(lo, row[0]);
        row[1] = f(hi, row[1]);
    }
}

#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
fn madd(acc: v128, a: v128, b: v128) -> v128 {
    f32x4_add(acc, f32x4_mul(a, b))
}

#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
fn madd(acc: v128, a: v128, b: v128) -> v128 {
    f32x4_relaxed_madd(a, b, acc)
}

/// One k step: `tile += A[i][4] x B[i][8]`.
#[inline(always)]
unsafe fn step(t: &mut [v128; 8], pa: *const v128, pb: *const v128, i: usize) {
    let a = unsafe { v128_load(pa.add(i)) };
    let bl = unsafe { v128_load(pb.add(2 * i)) };
    let bh = unsafe { v128_load(pb.add(2 * i + 1)) };
    let s = i32x4_shuffle::<0, 0, 0, 0>(a, a);
    t[0] = madd(t[0], s, bl);
    t[1] = madd(t[1], s, bh);
    let s = i32x4_shuffle::<1, 1, 1, 1>(a, a);
    t[2] = madd(t[2], s, bl);
    t[3] = madd(t[3], s, bh);
    let s = i32x4_shuffle::<2, 2, 2, 2>(a, a);
    t[4] = madd(t[4], s, bl);
    t[5] = madd(t[5], s, bh);
    let s = i32x4_shuffle::<3, 3, 3, 3>(a, a);
    t[6] = madd(t[6], s, bl);
    t[7] = madd(t[7], s, bh);
}

/// `tile += A[k][4] x B[k][8]`, the packed panels tract hands the kernel. Its own function:
/// in the kernel's dispatch loop the tile lives across arms that call out (`powi`, the
/// scaler), and Cranelift then keeps it in memory everywhere, the k loop included.
/// Two steps per iteration: the epoch check at the loop header keeps the values carried
/// around the loop in memory, and the step in between carries fresh ones in registers. (Four
/// steps spill the operands: 1.10-1.13x slower than tract's 8x8.)
#[inline(never)]
unsafe fn add_mat_mul(tile: &mut Tile, k: usize, pa: *const v128, pb: *const v128) {
    const UNROLL: usize = 2;
    let [[c0l, c0h], [c1l, c1h], [c2l, c2h], [c3l, c3h]] = *tile;
    let mut t = [c0l, c0h, c1l, c1h, c2l, c2h, c3l, c3h];
    let mut i = 0;
    while i + UNROLL <= k {
        for u in 0..UNROLL {
            unsafe { step(&mut t, pa, pb, i + u) };
        }
        i += UNROLL;
    }
    while i < k {
        unsafe { step(&mut t, pa, pb, i) };
        i += 1;
    }
    *tile = [[t[0], t[1]], [t[2], t[3]], [t[4], t[5]], [t[6], t[7]]];
}

unsafe fn kernel(specs: &[FusedKerSpec<f32>]) -> isize {
    let zero = f32x4_splat(0.0);
    let mut tile: Tile = [[zero; 2]; 4];
    for spec in specs {
        unsafe {
            match *spec {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => tile = [[zero; 2]; 4],
                FusedKerSpec::LoadTile(_cols, rows) => {
                    let p = rows as *const v128;
                    for (r, row) in tile.iter_mut().enumerate() {
                        *row = [*p.add(2 * r), *p.add(2 * r + 1)];
                    }
                }
                FusedKerSpec::ScalarMin(a) => map(&mut tile, |v| f32x4_min(f32x4_splat(a), v)),
                FusedKerSpec::ScalarMax(a) => map(&mut tile, |v| f32x4_max(f32x4_splat(a), v)),
                FusedKerSpec::ScalarAdd(a) => map(&mut tile, |v| f32x4_add(f32x4_splat(a), v)),
                FusedKerSpec::ScalarMul(a) => map(&mut tile, |v| f32x4_mul(f32x4_splat(a), v)),
                FusedKerSpec::ScalarSub(a) => map(&mut tile, |v| f32x4_sub(f32x4_splat(a), v)),
                FusedKerSpec::ScalarSubF(a) => map(&mut tile, |v| f32x4_sub(v, f32x4_splat(a))),
                FusedKerSpec::LeakyRelu(a) => map(&mut tile, |v| {
                    let positive = f32x4_gt(v, zero);
                    v128_bitselect(v, f32x4_mul(f32x4_splat(a), v), positive)
                }),
                FusedKerSpec::PerRowMin(rows) => per_row(&mut tile, rows, |s, v| f32x4_min(s, v)),
                FusedKerSpec::PerRowMax(rows) => per_row(&mut tile, rows, |s, v| f32x4_max(s, v)),
                FusedKerSpec::PerRowAdd(rows) => per_row(&mut tile, rows, |s, v| f32x4_add(s, v)),
                FusedKerSpec::PerRowMul(rows) => per_row(&mut tile, rows, |s, v| f32x4_mul(s, v)),
                FusedKerSpec::PerRowSub(rows) => per_row(&mut tile, rows, |s, v| f32x4_sub(s, v)),
                FusedKerSpec::PerRowSubF(rows) => per_row(&mut tile, rows, |s, v| f32x4_sub(v, s)),
                FusedKerSpec::PerColMin(cols) => per_col(&mut tile, cols, |c, v| f32x4_min(c, v)),
                FusedKerSpec::PerColMax(cols) => per_col(&mut tile, cols, |c, v| f32x4_max(c, v)),
                FusedKerSpec::PerColAdd(cols) => per_col(&mut tile, cols, |c, v| f32x4_add(c, v)),
                FusedKerSpec::PerColMul(cols) => per_col(&mut tile, cols, |c, v| f32x4_mul(c, v)),
                FusedKerSpec::PerColSub(cols) => per_col(&mut tile, cols, |c, v| f32x4_sub(c, v)),
                FusedKerSpec::PerColSubF(cols) => per_col(&mut tile, cols, |c, v| f32x4_sub(v, c)),
                FusedKerSpec::QScale(shift, rp, mult) => {
                    let s = f32x4_splat(Scaler::from_fuse_params(shift, rp, mult).scale);
                    map(&mut tile, |v| f32x4_mul(s, v))
                }
                FusedKerSpec::RoundingShiftRight(shift, _rp) => {
                    let s = f32x4_splat(2f32.powi(-(shift as i32)));
                    map(&mut tile, |v| f32x4_mul(s, v))
                }
                FusedKerSpec::ShiftLeft(shift) => {
                    let s = f32x4_splat(2f32.powi(shift as i32));
                    map(&mut tile, |v| f32x4_mul(s, v))
                }
                FusedKerSpec::AddUnicast(out) => {
                    for (r, row) in tile.iter_mut().enumerate() {
                        let at = |c: isize| {
                            let p = out.ptr.offset(r as isize * out.row_byte_stride);
                            *(p.offset(c * out.col_byte_stride) as *const f32)
                        };
                        row[0] = f32x4_add(row[0], f32x4(at(0), at(1), at(2), at(3)));
                        row[1] = f32x4_add(row[1], f32x4(at(4), at(5), at(6), at(7)));
                    }
                }
                FusedKerSpec::AddRowColProducts(rows, cols) => {
                    let p = cols as *const v128;
                    let (lo, hi) = (v128_load(p), v128_load(p.add(1)));
                    for (r, row) in tile.iter_mut().enumerate() {
                        let s = f32x4_splat(*rows.add(r));
                        row[0] = madd(row[0], s, lo);
                        row[1] = madd(row[1], s, hi);
                    }
                }
                FusedKerSpec::Store(out) => {
                    for (r, row) in tile.iter().enumerate() {
                        let p = out.ptr.offset(r as isize * out.row_byte_stride);
                        let put =
                            |c: isize, x: f32| *(p.offset(c * out.col_byte_stride) as *mut f32) = x;
                        put(0, f32x4_extract_lane::<0>(row[0]));
                        put(1, f32x4_extract_lane::<1>(row[0]));
                        put(2, f32x4_extract_lane::<2>(row[0]));
                        put(3, f32x4_extract_lane::<3>(row[0]));
                        put(4, f32x4_extract_lane::<0>(row[1]));
                        put(5, f32x4_extract_lane::<1>(row[1]));
                        put(6, f32x4_extract_lane::<2>(row[1]));
                        put(7, f32x4_extract_lane::<3>(row[1]));
                    }
                }
                FusedKerSpec::AddMatMul {
                    k,
                    pa,
                    pb,
                    packing: _,
                } => add_mat_mul(&mut tile, k, pa as *const v128, pb as *const v128),
            }
        }
    }
    0
}

fn make() -> Box<dyn MatMatMul> {
    let mut k = DynKernel::<4, 8, f32>::new(NAME, kernel, f32::packing(4), f32::packing(8));
    k.arch = Some(Arch::Wasm32Simd128);
    k.mmm()
}

inventory::submit! {
    linalg::mmm_routines::MmmRoutine { make }
}

/// Called where plans are built: wasm-ld drops an object that nothing references, registry
/// entries included, and then tract would silently run its own kernel.
pub(crate) fn keep_linked() {
    std::hint::black_box(make as fn() -> Box<dyn MatMatMul>);
}

/// Below this k a product is a few steps long, and the per-tile work (half the tile, so
/// twice the tiles of tract's 8x8) outweighs the loop: without this bound
/// paraphrase-MiniLM-L3, whose attention products have k = 32 and k = the sequence length,
/// ran 1.15x slower.
const MIN_K: usize = 64;

fn preferred(
    _isa: &IsaSet,
    accumulator: DatumType,
    query: &Query,
    _suitable: &[Suitable],
) -> Option<&'static str> {
    match (accumulator, query.n) {
        (DatumType::F32, Some(1)) => None,
        (DatumType::F32, _) if query.k.is_some_and(|k| k < MIN_K) => None,
        (DatumType::F32, _) => Some(NAME),
        _ => None,
    }
}

inventory::submit! {
    linalg::mmm_tiers::MmmTier {
        arch: Some(Arch::Wasm32Simd128),
        precedence: 2,
        name: "edgeinfer-wasm-4x8",
        applies: |_| true,
        preferred,
    }
}
