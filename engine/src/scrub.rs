//! The global allocator, shaped for Wizer's snapshot: at pack time the guest parses, optimizes
//! and warms up the model, and every non-zero byte of its memory then lands in the packed
//! component. So while `wizer-initialize` runs:
//!
//! - freed memory is zeroed, or the freed NNEF tensors and parse buffers would ride along
//!   next to the optimized plan;
//! - small blocks (<= 4 KiB, the graph's nodes, names and facts: hundreds of thousands of
//!   them) come from an arena of size classes whose free lists are dropped at the end, so the
//!   plan's small objects sit densely in a few slabs and no allocator bookkeeping (dlmalloc
//!   writes sizes and links into every free chunk) is left between them. Big blocks go to the
//!   system allocator, whose few free chunks cost a header each.
//!
//! After init every allocation goes to a second heap (the `dlmalloc` crate) on memory grown
//! past the end of the snapshot; a freed arena block (a part of the plan, rarely freed) is
//! left where it is, and a freed system block goes back to the system allocator. Why a second
//! heap: the system allocator marks the end of memory, so the snapshot's memory image spans
//! all of its free space too. A call's scratch tensors placed there would land on image pages:
//! a copy-on-write fault per page in a fresh instance, and a copy back from the image per page
//! when a pool slot is reset. Above the snapshot they cost a zero-fill fault, or a memset.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::UnsafeCell;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

static PREINIT: AtomicBool = AtomicBool::new(false);

/// End of linear memory when pre-initialization ended: memory at or above it belongs to the
/// runtime heap. `usize::MAX` until then, and for good in a guest never pre-initialized.
static SNAPSHOT_END: AtomicUsize = AtomicUsize::new(usize::MAX);

/// Block sizes of the arena; a request takes the smallest that fits.
const CLASSES: [usize; 16] = [
    16, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096,
];
const ALIGN: usize = 16;
/// Arena memory is asked of the system allocator in slabs of this size.
const SLAB: usize = 1 << 20;
/// Slabs the arena may own (4 GiB: all of wasm32's memory).
const MAX_SLABS: usize = 4096;

struct Arena {
    /// Head of each class's free list; a free block holds the next one in its first word.
    free: [*mut u8; CLASSES.len()],
    /// Bump allocation in the current slab.
    cursor: usize,
    end: usize,
    /// Start addresses of the slabs, sorted, to tell arena blocks from the system's.
    slabs: [usize; MAX_SLABS],
    n_slabs: usize,
}

/// wasm32 guests run one thread: the arena needs no lock.
struct SingleThreaded(UnsafeCell<Arena>);
unsafe impl Sync for SingleThreaded {}

static ARENA: SingleThreaded = SingleThreaded(UnsafeCell::new(Arena {
    free: [std::ptr::null_mut(); CLASSES.len()],
    cursor: 0,
    end: 0,
    slabs: [0; MAX_SLABS],
    n_slabs: 0,
}));

fn arena() -> &'static mut Arena {
    // SAFETY: single-threaded (see `SingleThreaded`), and no caller keeps the reference
    // across another call into the allocator.
    unsafe { &mut *ARENA.0.get() }
}

fn class_of(layout: Layout) -> Option<usize> {
    if layout.align() > ALIGN {
        return None;
    }
    CLASSES.iter().position(|&c| c >= layout.size())
}

impl Arena {
    fn contains(&self, ptr: *mut u8) -> bool {
        let addr = ptr as usize;
        let slabs = &self.slabs[..self.n_slabs];
        match slabs.binary_search(&addr) {
            Ok(_) => true,
            Err(0) => false,
            Err(i) => addr < slabs[i - 1] + SLAB,
        }
    }

    /// A zeroed block of class `c`, or null when no slab can be had.
    unsafe fn alloc(&mut self, c: usize) -> *mut u8 {
        let head = self.free[c];
        if !head.is_null() {
            unsafe {
                self.free[c] = (head as *mut *mut u8).read();
                (head as *mut *mut u8).write(std::ptr::null_mut());
            }
            return head;
        }
        let size = CLASSES[c];
        if self.cursor + size > self.end && !unsafe { self.new_slab() } {
            return std::ptr::null_mut();
        }
        let block = self.cursor as *mut u8;
        self.cursor += size;
        block
    }

    unsafe fn new_slab(&mut self) -> bool {
        if self.n_slabs == MAX_SLABS {
            return false;
        }
        let slab = unsafe { System.alloc_zeroed(Layout::from_size_align_unchecked(SLAB, ALIGN)) };
        if slab.is_null() {
            return false;
        }
        let start = slab as usize;
        let at = self.slabs[..self.n_slabs].partition_point(|&s| s < start);
        self.slabs.copy_within(at..self.n_slabs, at + 1);
        self.slabs[at] = start;
        self.n_slabs += 1;
        self.cursor = start;
        self.end = start + SLAB;
        true
    }

    /// Zeroes a freed block and keeps it for the next request of its class.
    unsafe fn free(&mut self, ptr: *mut u8, c: usize) {
        unsafe {
            zero(ptr, CLASSES[c]);
            (ptr as *mut *mut u8).write(self.free[c]);
        }
        self.free[c] = ptr;
    }

    /// Forgets the free lists, zeroing the links they wrote: what is free is all zeros now.
    fn drop_free_lists(&mut self) {
        for head in &mut self.free {
            let mut block = std::mem::replace(head, std::ptr::null_mut());
            while !block.is_null() {
                // SAFETY: every block on a free list is an arena block holding the next link.
                unsafe {
                    let next = (block as *mut *mut u8).read();
                    zero(block, std::mem::size_of::<*mut u8>());
                    block = next;
                }
            }
        }
    }
}

/// Zeroes memory that is about to be freed or forgotten. `black_box` keeps LLVM from
/// removing the stores as dead (it knows what `free` means).
unsafe fn zero(ptr: *mut u8, len: usize) {
    unsafe { ptr.write_bytes(0, len) };
    std::hint::black_box(ptr);
}

/// The heap of allocations made after init, above [`SNAPSHOT_END`].
#[cfg(target_arch = "wasm32")]
mod runtime_heap {
    use std::cell::UnsafeCell;

    struct SingleThreaded(UnsafeCell<dlmalloc::Dlmalloc>);
    // SAFETY: wasm32 guests run one thread.
    unsafe impl Sync for SingleThreaded {}

    static HEAP: SingleThreaded = SingleThreaded(UnsafeCell::new(dlmalloc::Dlmalloc::new()));

    pub(super) fn get() -> &'static mut dlmalloc::Dlmalloc {
        // SAFETY: single-threaded, and no caller keeps the reference across another call
        // into the allocator.
        unsafe { &mut *HEAP.0.get() }
    }

    /// Where linear memory ends now.
    pub(super) fn memory_end() -> usize {
        core::arch::wasm32::memory_size(0) * 65536
    }
}

/// Whether allocations now go to the runtime heap.
fn after_init() -> bool {
    cfg!(target_arch = "wasm32") && SNAPSHOT_END.load(Ordering::Relaxed) != usize::MAX
}

/// Whether `ptr` came from the runtime heap; never before init ([`SNAPSHOT_END`] is
/// `usize::MAX` until then).
#[cfg(target_arch = "wasm32")]
fn in_runtime_heap(ptr: *mut u8) -> bool {
    ptr as usize >= SNAPSHOT_END.load(Ordering::Relaxed)
}

pub struct SnapshotAllocator;

unsafe impl GlobalAlloc for SnapshotAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        #[cfg(target_arch = "wasm32")]
        if after_init() {
            return unsafe { runtime_heap::get().malloc(layout.size(), layout.align()) };
        }
        if PREINIT.load(Ordering::Relaxed)
            && let Some(c) = class_of(layout)
        {
            let block = unsafe { arena().alloc(c) };
            if !block.is_null() {
                return block;
            }
        }
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        #[cfg(target_arch = "wasm32")]
        if after_init() {
            return unsafe { runtime_heap::get().calloc(layout.size(), layout.align()) };
        }
        if PREINIT.load(Ordering::Relaxed)
            && let Some(c) = class_of(layout)
        {
            // Arena blocks are zero when handed out.
            let block = unsafe { arena().alloc(c) };
            if !block.is_null() {
                return block;
            }
        }
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        #[cfg(target_arch = "wasm32")]
        if in_runtime_heap(ptr) {
            return unsafe { runtime_heap::get().free(ptr, layout.size(), layout.align()) };
        }
        let preinit = PREINIT.load(Ordering::Relaxed);
        let arena = arena();
        if arena.contains(ptr) {
            if preinit && let Some(c) = class_of(layout) {
                unsafe { arena.free(ptr, c) };
            }
            // After init an arena block stays where it is.
            return;
        }
        if preinit {
            unsafe { zero(ptr, layout.size()) };
        }
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        #[cfg(target_arch = "wasm32")]
        if in_runtime_heap(ptr) {
            return unsafe {
                runtime_heap::get().realloc(ptr, layout.size(), layout.align(), new_size)
            };
        }
        if !PREINIT.load(Ordering::Relaxed) && !after_init() && !arena().contains(ptr) {
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        // By hand, so the old block is zeroed, or returned to the arena, on the way; after
        // init, so the new one comes from the runtime heap.
        let new_layout = unsafe { Layout::from_size_align_unchecked(new_size, layout.align()) };
        let new = unsafe { self.alloc(new_layout) };
        if !new.is_null() {
            unsafe {
                std::ptr::copy_nonoverlapping(ptr, new, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        new
    }
}

/// Runs `f` as the pack-time initialization: arena and zeroing on; then leaves no free-list
/// links behind and clears the stack below it of what `f`'s deep calls left.
pub fn preinitializing<T>(f: impl FnOnce() -> T) -> T {
    PREINIT.store(true, Ordering::Relaxed);
    let out = f();
    PREINIT.store(false, Ordering::Relaxed);
    arena().drop_free_lists();
    #[cfg(target_arch = "wasm32")]
    SNAPSHOT_END.store(runtime_heap::memory_end(), Ordering::Relaxed);
    scrub_stack();
    out
}

/// Largest read of the pack payload at once: bounds the temporary buffer each read lands in.
pub(crate) const SMALL_READ: usize = 64 << 10;

/// Caps each read at [`SMALL_READ`] bytes.
pub(crate) struct SmallReads<R>(pub(crate) R);

impl<R: std::io::Read> std::io::Read for SmallReads<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(SMALL_READ);
        self.0.read(&mut buf[..n])
    }
}

/// Zeroes 512 KiB of stack below the caller (the guest's stack is 1 MiB and init runs near
/// its top), where parsing and the warm-up left their frames.
#[inline(never)]
fn scrub_stack() {
    let mut zeros = [0u8; 512 << 10];
    std::hint::black_box(&mut zeros);
}
